// Intake on a real Outbox and Journal, without sockets: which DC a change is named with, the order of a change's own
// events, the normalised never-forward check on what the frame parser lets through, and the durable ack: no ack
// before the commit is synced to disk, none after a failed commit or sync, journal lines and delivery's wake-up off
// the ack's path but in order.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import { Intake } from '../../src/intake/intake.js';
import { parseChangeFrame } from '../../src/intake/frame.js';
import { readFileSync } from 'node:fs';
import { RefusedChangeError, StorageError } from '../../src/errors.js';
import { EV } from '../../src/journal/catalogue.js';
import { Journal, type JournalEntry } from '../../src/journal/journal.js';
import { Outbox } from '../../src/outbox/store.js';
import { listChanges } from '../../src/outbox/queries.js';
import { rawConnection } from '../support/outbox-raw.js';
import { settleFinal } from '../support/outbox-settle.js';

const root = mkdtempSync(path.join(tmpdir(), 'pwsync-intake-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
let outbox: Outbox;
let journal: Journal;
let events: JournalEntry[];
let journalFile: string;

beforeEach(() => {
  const d = path.join(root, `i${n++}`);
  journalFile = path.join(d, 'journal.jsonl');
  outbox = new Outbox(path.join(d, 'outbox.db'), randomBytes(32));
  journal = new Journal({ file: journalFile, level: 'debug' });
  events = [];
  journal.on('event', (e: JournalEntry) => events.push(e));
});
afterEach(() => {
  journal.close();
  outbox.close();
});

const frame = (extra: Record<string, unknown> = {}) =>
  parseChangeFrame(Buffer.from(JSON.stringify({ v: 1, type: 'change', source: 'samba', account: 'alice', capturedAt: new Date().toISOString(), password: 'Pw-1-x', ...extra })));

function intake(dc?: string, onCommitted: () => void = () => {}): Intake {
  return new Intake(outbox, journal, { targets: () => ['iij'], onCommitted, dc: () => dc });
}

/** Holds the outbox's disk sync until the test releases or fails it. */
function holdSync(): { release: () => void; fail: (e: Error) => void; calls: () => number } {
  let count = 0;
  let settle: { resolve: () => void; reject: (e: Error) => void } | undefined;
  const gate = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  outbox.synced = () => {
    count++;
    return gate;
  };
  return { release: () => settle!.resolve(), fail: (e) => settle!.reject(e), calls: () => count };
}

function track<T>(p: Promise<T>) {
  const s: { value?: T; error?: unknown; settled: boolean } = { settled: false };
  p.then(
    (v) => Object.assign(s, { value: v, settled: true }),
    (e: unknown) => Object.assign(s, { error: e, settled: true }),
  );
  return s;
}

/** Yields to the event loop until `cond` holds, failing after `ms` (a condition with a deadline, not a sleep). */
async function until(cond: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setImmediate(r));
  assert.ok(cond(), 'condition not reached');
}

const journalIds = () => readFileSync(journalFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as JournalEntry);

describe('Intake', () => {
  it('names the change with the configured agent.dc, whatever the frame says; else the frame\'s; else the host name', async () => {
    const a = await intake('dc-conf').accept(frame({ dc: 'vm' }));
    const b = await intake('dc-conf').accept(frame());
    const c = await intake(undefined).accept(frame({ dc: 'dc-frame' }));
    const d = await intake(undefined).accept(frame());
    const dcOf = (id: string) => events.find((e) => e.id === EV.captured.id && e.change === id)?.dc;
    assert.equal(dcOf(a.id), 'dc-conf');
    assert.equal(dcOf(b.id), 'dc-conf');
    assert.equal(dcOf(c.id), 'dc-frame');
    assert.equal(dcOf(d.id), os.hostname());
    assert.equal(outbox.get(a.id)?.dc, 'dc-conf');
  });

  it('a change superseded by its own insert (version already delivered) journals its 2000 before its 3004', async () => {
    const first = await intake().accept(frame({ version: { kvno: 3 } }));
    const row = outbox.get(first.id)!;
    settleFinal(outbox, row.id, 'done', { delivered: { fingerprint: 'fp', kvno: 3 } });
    // e.g. the account was disabled: syncpasswords hands the object over again with the same kvno
    const again = await intake().accept(frame({ version: { kvno: 3 }, uac: 514 }));
    const mine = events.filter((e) => e.change === again.id).map((e) => e.id);
    assert.deepEqual(mine, [EV.captured.id, EV.superseded.id]);
    assert.equal(outbox.get(again.id)?.state, 'superseded');
  });

  it('refuses look-alike names the parser lets through (full-width, case)', async () => {
    for (const account of ['ＫＲＢＴＧＴ', 'KrbTgt_１', 'ＰＣ０１＄']) {
      await assert.rejects(intake().accept(frame({ account })), (e: unknown) => e instanceof RefusedChangeError, account);
    }
    assert.equal(listChanges(outbox.reader, { limit: 10 }).length, 0);
  });

  it('acks only once the commit is synced to disk: committed and journaled before, acked after', async () => {
    const sync = holdSync();
    const ack = track(intake().accept(frame()));
    const captured = await journal.waitFor((e) => e.id === EV.captured.id, 5_000);
    const row = outbox.get(captured.change as string);
    assert.equal(row?.state, 'pending', 'the change is committed (sealed) before the sync');
    assert.equal(row?.hasSecret, true);
    await until(() => sync.calls() === 1);
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    assert.equal(ack.settled, false, 'no ack while the disk sync is outstanding');
    sync.release();
    await until(() => ack.settled);
    assert.deepEqual(ack.value, { id: captured.change });
  });

  it('a failed disk sync is never acked: E_STORAGE, and 2003 names the change', async () => {
    const sync = holdSync();
    const ack = track(intake().accept(frame({ account: 'bob' })));
    await until(() => sync.calls() === 1);
    sync.fail(new StorageError('the outbox\'s write-ahead log could not be synced to disk (EIO)'));
    await until(() => ack.settled);
    assert.ok(ack.error instanceof StorageError, String(ack.error));
    assert.equal((ack.error as StorageError).code, 'E_STORAGE');
    const captured = events.find((e) => e.id === EV.captured.id)!;
    const failed = events.find((e) => e.id === EV.intakeStorageFailed.id);
    assert.equal(failed?.change, captured.change);
    assert.equal(failed?.account, 'bob');
  });

  it('a failed commit is never acked, never synced and never journaled as captured', async () => {
    const sync = holdSync();
    rawConnection(outbox).exec(`CREATE TRIGGER full BEFORE INSERT ON changes BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`);
    await assert.rejects(intake().accept(frame()), (e: unknown) => e instanceof StorageError && e.code === 'E_STORAGE');
    assert.equal(sync.calls(), 0);
    assert.equal(events.filter((e) => e.id === EV.captured.id).length, 0);
    assert.equal(events.filter((e) => e.id === EV.intakeStorageFailed.id).length, 1);
    assert.equal(listChanges(outbox.reader, { limit: 10 }).length, 0);
  });

  it('a group commit journals its 2000s in frame order before any ack, and wakes delivery only after the acks', async () => {
    const sync = holdSync();
    const order: string[] = [];
    const i = intake(undefined, () => order.push('notify'));
    const accounts = ['u0', 'u1', 'u2', 'u3', 'u4'];
    // One turn of the event loop: one transaction, one sync.
    const acks = accounts.map((account) => i.accept(frame({ account, version: { kvno: 2 } })).then((r) => (order.push(`ack ${account}`), r)));
    await until(() => sync.calls() === 1);
    const lines = journalIds().filter((e) => e.id === EV.captured.id);
    assert.deepEqual(lines.map((e) => e.account), accounts, 'every 2000 is in the file, in order, before the sync ends');
    assert.equal(order.length, 0, 'nothing acked or notified before the sync');
    sync.release();
    const ids = await Promise.all(acks);
    await until(() => order.includes('notify'));
    assert.deepEqual(order, [...accounts.map((a) => `ack ${a}`), 'notify']);
    assert.deepEqual(ids.map((r) => r.id), lines.map((e) => e.change));
    assert.equal(sync.calls(), 1);
  });
});
