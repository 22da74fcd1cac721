// Unit tests of the retry schedule and of what each delivery failure means for a change (state, delay, event).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DirectoryLookupError,
  DirectoryUnavailableError,
  NotProvisionedError,
  RejectedChangeError,
  RetryableError,
  StorageError,
  TargetUnusableError,
} from '../../src/errors.js';
import { EV } from '../../src/journal/catalogue.js';
import { nextDelayMs, type RetryPolicy } from '../../src/outbox/retry.js';
import { transitionFor, safeMessage, type OutcomeContext } from '../../src/delivery/outcome.js';

const policy: RetryPolicy = { initialMs: 5_000, maxMs: 900_000 };
const HOUR = 3_600_000;

describe('nextDelayMs', () => {
  it('doubles per attempt with random()=1 (the upper bound) and caps at maxMs', () => {
    const one = () => 1;
    assert.deepEqual([1, 2, 3, 4, 5].map((a) => nextDelayMs(policy, a, undefined, one)), [5_000, 10_000, 20_000, 40_000, 80_000]);
    assert.equal(nextDelayMs(policy, 8, undefined, one), 640_000);
    assert.equal(nextDelayMs(policy, 9, undefined, one), 900_000);
    assert.equal(nextDelayMs(policy, 50, undefined, one), 900_000);
    assert.equal(nextDelayMs(policy, 5000, undefined, one), 900_000, 'no overflow to Infinity/NaN');
  });

  it('jitter stays within [step/2, step]: random()=0 gives half the step', () => {
    const zero = () => 0;
    assert.equal(nextDelayMs(policy, 1, undefined, zero), 2_500);
    assert.equal(nextDelayMs(policy, 3, undefined, zero), 10_000);
    assert.equal(nextDelayMs(policy, 50, undefined, zero), 450_000);
    for (const r of [0, 0.25, 0.5, 0.999]) {
      const d = nextDelayMs(policy, 4, undefined, () => r);
      assert.ok(d >= 20_000 && d <= 40_000, `${r} → ${d}`);
    }
  });

  it('treats attempts 0 like 1 (never below the initial step)', () => {
    assert.equal(nextDelayMs(policy, 0, undefined, () => 1), 5_000);
  });

  it('Retry-After is a floor, not a cap', () => {
    assert.equal(nextDelayMs(policy, 1, 60_000, () => 1), 60_000);
    assert.equal(nextDelayMs(policy, 6, 60_000, () => 1), 160_000);
    assert.equal(nextDelayMs(policy, 1, 0, () => 0), 2_500);
    assert.equal(nextDelayMs(policy, 50, 2 * HOUR, () => 0), 2 * HOUR, 'a target-given Retry-After beats the cap');
  });
});

describe('transitionFor', () => {
  const t0 = 1_700_000_000_000;
  const ctx = (extra: Partial<OutcomeContext> = {}): OutcomeContext => ({
    attempts: 0, now: t0, receivedAt: t0, waitingSince: null, maxAgeMs: 72 * HOUR, notProvisionedHorizonMs: 24 * HOUR, retry: policy, random: () => 1,
    ...extra,
  });

  it('TargetUnusable pauses the target (event 4000) and counts no attempt', () => {
    const t = transitionFor(new TargetUnusableError('HTTP 401', 401), ctx());
    assert.deepEqual(t, { kind: 'pause-target', event: EV.targetUnusable });
    assert.equal(t.event.id, 4000);
  });

  it('RejectedChange is final: rejected (event 3003)', () => {
    assert.deepEqual(transitionFor(new RejectedChangeError('policy', 'too short'), ctx()), { kind: 'final', state: 'rejected', event: EV.rejected });
  });

  it('NotProvisioned waits with backoff (event 3002), counting the attempt', () => {
    const t = transitionFor(new NotProvisionedError('absent'), ctx({ attempts: 2 }));
    assert.deepEqual(t, { kind: 'retry', state: 'waiting', delayMs: 20_000, event: EV.notProvisioned, countAttempt: true });
  });

  it('NotProvisioned never waits past the horizon: the last delay is trimmed to it', () => {
    const since = t0 - (24 * HOUR - 60_000);
    const t = transitionFor(new NotProvisionedError('absent'), ctx({ attempts: 30, waitingSince: since, receivedAt: since }));
    assert.equal(t.kind, 'retry');
    assert.equal(t.kind === 'retry' && t.delayMs, 60_000);
  });

  it('NotProvisioned at or beyond the horizon expires (event 3005)', () => {
    for (const waited of [24 * HOUR, 30 * HOUR]) {
      const t = transitionFor(new NotProvisionedError('absent'), ctx({ waitingSince: t0 - waited, receivedAt: t0 - waited }));
      assert.deepEqual(t, { kind: 'final', state: 'expired', event: EV.expired }, `waited ${waited}`);
    }
  });

  it('NotProvisioned expires when the next poll would fall after max_age', () => {
    const t = transitionFor(new NotProvisionedError('absent'), ctx({ receivedAt: t0 - (72 * HOUR - 1_000), waitingSince: t0 - 1_000 }));
    assert.deepEqual(t, { kind: 'final', state: 'expired', event: EV.expired });
  });

  it('Retryable retries with backoff (event 3001) and honours retryAfterMs as a floor', () => {
    assert.deepEqual(transitionFor(new RetryableError('HTTP 503'), ctx()), {
      kind: 'retry', state: 'waiting', delayMs: 5_000, event: EV.retryScheduled, countAttempt: true,
    });
    const t = transitionFor(new RetryableError('HTTP 429', 120_000), ctx());
    assert.equal(t.kind === 'retry' && t.delayMs, 120_000);
  });

  it('DirectoryUnavailable retries with event 4100', () => {
    const t = transitionFor(new DirectoryUnavailableError('ECONNREFUSED'), ctx({ attempts: 1 }));
    assert.deepEqual(t, { kind: 'retry', state: 'waiting', delayMs: 10_000, event: EV.directoryUnavailable, countAttempt: true });
    assert.equal(t.event.id, 4100);
  });

  it('an unknown Error (a bug, a corrupt row) or a non-Error still retries: losing a password is worse', () => {
    for (const err of [new Error('boom'), new TypeError('x'), new StorageError('disk'), 'a string', undefined]) {
      const t = transitionFor(err, ctx());
      assert.equal(t.kind, 'retry', String(err));
      assert.equal(t.event, EV.retryScheduled);
    }
  });

  it('an ambiguous or mismatched AD lookup is final: rejected, not retried until max_age', () => {
    assert.deepEqual(transitionFor(new DirectoryLookupError('2 AD entries match'), ctx()), { kind: 'final', state: 'rejected', event: EV.unknownAccount });
  });

  it('max_age exceeded turns a retryable failure into expired', () => {
    for (const err of [new RetryableError('503'), new DirectoryUnavailableError('down'), new Error('bug')]) {
      assert.deepEqual(transitionFor(err, ctx({ receivedAt: t0 - 72 * HOUR })), { kind: 'final', state: 'expired', event: EV.expired });
      assert.equal(transitionFor(err, ctx({ receivedAt: t0 - 72 * HOUR + 1 })).kind, 'retry');
    }
  });
});

describe('safeMessage', () => {
  it('keeps our own messages and reduces anything else to its class', () => {
    assert.equal(safeMessage(new RetryableError('HTTP 503 from iij')), 'HTTP 503 from iij');
    assert.equal(safeMessage(new TypeError('password=hunter2 leaked')), 'TypeError (unexpected)');
    assert.equal(safeMessage('hunter2'), 'unexpected error');
  });
});
