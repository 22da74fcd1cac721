// A target that answers with a maintenance page or a redirect is a passing fault, not refused credentials
// (issue 13 #7): retried with its own event (4020), never paused; a target paused by a real 401 is probed again
// every queue.paused_probe_interval and resumes by itself (4001 by=probe).

import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { userAttributeSchema } from '../../src/config/schema.js';
import { DeliveryWorker } from '../../src/delivery/worker.js';
import { StaticDirectory } from '../../src/directory/static-directory.js';
import { TargetFaultError, TargetUnusableError } from '../../src/errors.js';
import { Journal, type JournalEntry } from '../../src/journal/journal.js';
import { Outbox } from '../../src/outbox/store.js';
import { listChanges } from '../../src/outbox/queries.js';
import type { Target } from '../../src/targets/target.js';

function setup(target: Target, probeEveryMs: number) {
  const dir = mkdtempSync(path.join(tmpdir(), 'pwsync-faults-'));
  const outbox = new Outbox(path.join(dir, 'outbox.sqlite'), Buffer.alloc(32, 5));
  const journal = new Journal({ file: path.join(dir, 'journal.jsonl'), stderr: false });
  const events: JournalEntry[] = [];
  journal.on('event', (e: JournalEntry) => events.push(e));
  const directory = new StaticDirectory([{ sAMAccountName: 'erin', userPrincipalName: 'erin@example.test', guid: '0b7d5b0c-7e62-4a4a-9b6f-0c1f0e5d7a11' }]);
  const worker = new DeliveryWorker(outbox, directory, [{ target, rule: userAttributeSchema.parse({}), ratePerSecond: 100 }], journal, {
    concurrency: 2, retry: { initialMs: 60_000, maxMs: 120_000 }, maxAgeMs: 3_600_000, notProvisionedHorizonMs: 3_600_000,
    fingerprintKey: Buffer.alloc(32, 6), pausedProbeIntervalMs: probeEveryMs, clockSkewMs: 2_000,
  });
  const queue = () => outbox.insertChange({ account: 'erin', targets: ['t'], source: 'cli', capturedAt: new Date().toISOString(), password: 'Erin-Pw-1!' });
  const close = async () => {
    await worker.stop();
    outbox.close();
    journal.close();
  };
  return { outbox, journal, events, worker, queue, close };
}

function fakeTarget(find: () => Promise<{ id: string; matchedValue: string } | undefined>, probe: () => Promise<void>): Target & { writes: number } {
  const t = {
    name: 't',
    writes: 0,
    checkPassword: () => {},
    find,
    async setPassword() {
      t.writes++;
    },
    probe,
    close: async () => {},
  };
  return t;
}

describe('target faults and paused targets (#7)', () => {
  it('a maintenance page is retried with event 4020 and does not pause the target', async () => {
    const target = fakeTarget(async () => {
      throw new TargetFaultError('t: the search answered 200 but not with a SCIM ListResponse (maintenance page or wrong url?)');
    }, async () => {});
    const s = setup(target, 0);
    try {
      s.queue();
      s.worker.start();
      const ev = await s.journal.waitFor((e) => e.id === 4020 || e.id === 4000, 10_000);
      assert.equal(ev.id, 4020);
      assert.equal(ev.code, 'E_TARGET_FAULT');
      assert.equal(s.worker.targetHealth().get('t')?.paused, false);
      assert.equal(listChanges(s.outbox.reader, { states: ['waiting'] }).length, 1, 'the change waits for its retry');
    } finally {
      await s.close();
    }
  });

  it('a target paused by a 401 is probed every paused_probe_interval and resumes by itself when the probe passes', async () => {
    let refused = true;
    const target = fakeTarget(
      async () => {
        if (refused) throw new TargetUnusableError('t: the access token was refused (401)', 401);
        return { id: 'u1', matchedValue: 'erin@example.test' };
      },
      async () => {
        if (refused) throw new TargetUnusableError('t: the access token was refused (401)', 401);
      },
    );
    const s = setup(target, 50);
    try {
      s.queue();
      s.worker.start();
      await s.journal.waitFor((e) => e.id === 4000, 10_000);
      await s.journal.waitFor((e) => e.id === 4002, 10_000); // a probe while still refused: stays paused
      assert.equal(s.worker.targetHealth().get('t')?.paused, true);
      refused = false; // e.g. the token was renewed at the target, or the outage passed
      const resumed = await s.journal.waitFor((e) => e.id === 4001, 10_000);
      assert.equal(resumed.by, 'probe');
      await s.journal.waitFor((e) => e.id === 3000, 10_000);
      assert.equal(target.writes, 1);
    } finally {
      await s.close();
    }
  });
});
