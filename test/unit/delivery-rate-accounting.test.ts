// The target's rate limit counts the requests a target really sent (Target.requestsSent), not two per change: a
// change whose id was cached costs one token, a target that does not count is charged two. The clock is frozen,
// so no token ever refills and how many changes a full bucket buys is exact.

import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { userAttributeSchema } from '../../src/config/schema.js';
import { TargetGate } from '../../src/delivery/target-gate.js';
import { DeliveryWorker } from '../../src/delivery/worker.js';
import { StaticDirectory } from '../../src/directory/static-directory.js';
import { EV } from '../../src/journal/catalogue.js';
import { Journal, type JournalEntry } from '../../src/journal/journal.js';
import { countsByState } from '../../src/outbox/queries.js';
import { Outbox } from '../../src/outbox/store.js';
import type { Target, TargetUser } from '../../src/targets/target.js';

describe('TargetGate.settle', () => {
  it('gives back what a change reserved but did not send, charges what it sent beyond, never above the burst', () => {
    const g = new TargetGate(10, 10, 0);
    g.take(0, 2);
    assert.equal(g.available(0, 1), 8);
    g.settle(0, 2, 1);
    assert.equal(g.available(0, 1), 9);
    g.settle(0, 2, 4);
    assert.equal(g.available(0, 1), 7);
    g.settle(0, 2, 0);
    g.settle(0, 2, 0);
    assert.equal(g.available(0, 1), 10, 'capped at the burst');
  });
});

/** requestsPerChange: what one change really costs (undefined: the target does not count its requests). */
function counting(requestsPerChange: number | undefined): Target {
  let sent = 0;
  const t: Target = {
    name: 't',
    checkPassword() {},
    async find(value: string): Promise<TargetUser> {
      // A cached id costs no search: requestsPerChange 1 means the write alone.
      if (requestsPerChange !== undefined && requestsPerChange >= 2) sent += requestsPerChange - 1;
      return { id: `id-${value}`, matchedValue: value };
    },
    async setPassword() {
      sent += 1;
    },
    async probe() {},
    async close() {},
  };
  if (requestsPerChange !== undefined) t.requestsSent = () => sent;
  return t;
}

async function changesOneBucketBuys(target: Target): Promise<number> {
  const clock = 1_700_000_000_000;
  const dir = mkdtempSync(path.join(tmpdir(), 'pwsync-rate-'));
  const outbox = new Outbox(path.join(dir, 'outbox.sqlite'), Buffer.alloc(32, 5), () => clock);
  const journal = new Journal({ file: path.join(dir, 'journal.jsonl'), stderr: false });
  const accounts = Array.from({ length: 20 }, (_, i) => `user${i}`);
  const directory = new StaticDirectory(accounts.map((a, i) => ({ sAMAccountName: a, userPrincipalName: `${a}@example.test`, guid: `6f1c1a2e-0000-4000-8000-${String(i).padStart(12, '0')}` })));
  // rate 10/s, burst 10 tokens; the frozen clock never refills them.
  const worker = new DeliveryWorker(outbox, directory, [{ target, rule: userAttributeSchema.parse({}), ratePerSecond: 10 }], journal, {
    concurrency: 20, retry: { initialMs: 60_000, maxMs: 120_000 }, maxAgeMs: 3_600_000, notProvisionedHorizonMs: 3_600_000,
    fingerprintKey: Buffer.alloc(32, 6), clockSkewMs: 2_000, now: () => clock,
  });
  for (const a of accounts) outbox.insertChange({ account: a, targets: ['t'], source: 'cli', capturedAt: new Date(clock).toISOString(), password: `Pw-${a}-1!` });
  const synced = () => countsByState(outbox.reader)['done'] ?? 0;
  const idle = () => (countsByState(outbox.reader)['inflight'] ?? 0) === 0;
  try {
    worker.start();
    // Wait (bounded) until every started change has finished and nothing more is in flight; the bucket then decides.
    await new Promise<void>((resolve, reject) => {
      const deadline = setTimeout(() => reject(new Error(`still busy: ${JSON.stringify(countsByState(outbox.reader))}`)), 10_000);
      let settled = false;
      const check = () => {
        if (!settled && synced() > 0 && idle()) {
          settled = true;
          clearTimeout(deadline);
          journal.off('event', onEvent);
          resolve();
        }
      };
      const onEvent = (e: JournalEntry) => {
        if (e.id === EV.synced.id) setImmediate(check);
      };
      journal.on('event', onEvent);
    });
    // A pump now would start any change the bucket still allows, synchronously: none may start.
    worker.notify();
    assert.ok(idle(), 'the bucket allowed another change');
    return synced();
  } finally {
    await worker.stop();
    outbox.close();
    journal.close();
  }
}

describe('delivery charges a target\'s rate limit with the requests it really sent', () => {
  it('one request per change (id cached): a bucket of 10 buys 9 changes (each reserves 2 at its start)', async () => {
    assert.equal(await changesOneBucketBuys(counting(1)), 9);
  });
  it('two requests per change (search + write): 5 changes', async () => {
    assert.equal(await changesOneBucketBuys(counting(2)), 5);
  });
  it('a target that does not count its requests is charged two per change: 5 changes', async () => {
    assert.equal(await changesOneBucketBuys(counting(undefined)), 5);
  });
});
