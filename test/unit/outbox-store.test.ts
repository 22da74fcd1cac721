// Unit tests of the outbox on a real SQLite file: sealed storage (no plaintext on disk, WAL included), supersede
// rules, claiming (per-key exclusivity, paused targets, due order), final-state erasure, bookkeeping and reports,
// once per SQLite driver (better-sqlite3, node:sqlite).

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, beforeEach, describe, it } from 'node:test';
import { CorruptDatabaseError, StorageError } from '../../src/errors.js';
import type { SqliteDriverName } from '../../src/outbox/sqlite-driver.js';
import { Outbox, type NewChange } from '../../src/outbox/store.js';
import { countsByState, listChanges, oldestOpenReceivedAt, targetSummary } from '../../src/outbox/queries.js';
import { openOutboxReader, type OutboxReader } from '../../src/outbox/reader.js';
import { driversUnderTest } from '../support/sqlite-drivers.js';
import { rawConnection } from '../support/outbox-raw.js';
import { claimRows, settleAgain, settleFinal } from '../support/outbox-settle.js';

const root = mkdtempSync(path.join(tmpdir(), 'pwsync-outbox-'));
after(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
let clock = 1_700_000_000_000;
const now = () => clock;
const KEY = randomBytes(32);
let driver: SqliteDriverName;
let file: string;
let box: Outbox;
const opened: Array<Outbox | OutboxReader> = [];

function openBox(f = file): Outbox {
  const o = new Outbox(f, KEY, now, { driver });
  opened.push(o);
  return o;
}

function fresh(d: SqliteDriverName): void {
  for (const o of opened.splice(0)) if (rawConnection(o).open) o.close();
  driver = d;
  clock = 1_700_000_000_000;
  file = path.join(root, `t${n++}`, 'outbox.db');
  box = openBox();
}

const change = (account: string, extra: Partial<NewChange> = {}): NewChange => ({
  account, targets: ['iij'], source: 'samba', capturedAt: '2024-05-01T10:00:00Z', password: `pw-${account}-${n}`, ...extra,
});
const all = (t: ReadonlyArray<string> = ['iij']) => new Map(t.map((x) => [x, 100]));

// Every test runs once per SQLite driver this Node loads (better-sqlite3, node:sqlite): the outbox must not care.
for (const d of driversUnderTest()) {
describe(`outbox on ${d}`, () => {
  beforeEach(() => fresh(d));

  describe('Outbox.insertChange', () => {
    it('creates one sealed pending row per target, sharing the capture id, each opening to the password', () => {
      const r = box.insertChange(change('Alice', { targets: ['iij', 'scim'], kvno: 4, rid: 1104, dc: 'dc1', pwdLastSet: '123' }));
      assert.equal(r.ids.length, 2);
      assert.deepEqual(r.superseded, []);
      for (const id of r.ids) {
        const row = box.get(id)!;
        assert.equal(row.captureId, r.captureId);
        assert.equal(row.account, 'alice', 'accounts are stored lower-case (sAMAccountName is case-insensitive)');
        assert.equal(row.state, 'pending');
        assert.equal(row.hasSecret, true);
        assert.equal(row.kvno, 4);
        assert.equal(row.rid, 1104);
        assert.equal(row.receivedAt, clock);
        assert.equal(row.nextAttemptAt, clock);
        assert.equal(box.openSecret(row), `pw-Alice-${n}`);
      }
      assert.deepEqual(listChanges(box.reader).map((x) => x.target).sort(), ['iij', 'scim']);
    });

    it('never writes the password to the database file or its WAL (UTF-8 or UTF-16LE)', () => {
      const pw = 'Plaintext-Canary-§-0123456789';
      for (let i = 0; i < 20; i++) box.insertChange(change(`user${i}`, { password: pw, targets: ['iij', 'scim'] }));
      const dbFiles = [file, `${file}-wal`].filter(existsSync);
      assert.ok(dbFiles.length >= 1 && existsSync(`${file}-wal`), 'WAL mode');
      for (const f of dbFiles) {
        const bytes = readFileSync(f);
        assert.ok(!bytes.includes(Buffer.from(pw, 'utf8')), `${f} contains the UTF-8 password`);
        assert.ok(!bytes.includes(Buffer.from(pw, 'utf16le')), `${f} contains the UTF-16LE password`);
        assert.ok(!bytes.includes(Buffer.from('Plaintext-Canary')), `${f} contains part of the password`);
      }
    });

    it('a second change for the same account and target supersedes the pending one and erases its box', () => {
      const a = box.insertChange(change('alice'));
      const b = box.insertChange(change('ALICE'));
      assert.deepEqual(b.superseded, [{ id: a.ids[0], captureId: a.captureId, account: 'alice', target: 'iij' }]);
      const old = box.get(a.ids[0]!)!;
      assert.equal(old.state, 'superseded');
      assert.equal(old.hasSecret, false);
      assert.equal(old.lastErrorCode, 'E_SUPERSEDED');
      assert.equal(old.finalAt, clock);
      assert.throws(() => box.openSecret(old), StorageError);
      assert.equal(box.get(b.ids[0]!)!.state, 'pending');
    });

    it('supersedes a waiting (retry-scheduled) row too, but only of the same target', () => {
      const a = box.insertChange(change('alice', { targets: ['iij', 'scim'] }));
      claimRows(box, [a.ids[0]!]);
      settleAgain(box, a.ids[0]!, { state: 'waiting', dueAt: clock + 60_000, code: 'E_RETRYABLE', error: '503', countAttempt: true });
      const b = box.insertChange(change('alice', { targets: ['iij'] }));
      assert.deepEqual(b.superseded.map((s) => s.id), [a.ids[0]]);
      assert.equal(box.get(a.ids[0]!)!.state, 'superseded');
      assert.equal(box.get(a.ids[1]!)!.state, 'pending', 'the scim row is not touched by an iij-only change');
    });

    it('does not supersede an inflight row: it finishes on its own, the new row waits behind it', () => {
      const a = box.insertChange(change('alice'));
      const [claimed] = box.claimDue(10, all());
      assert.equal(claimed?.id, a.ids[0]);
      const b = box.insertChange(change('alice'));
      assert.deepEqual(b.superseded, []);
      const inflight = box.get(a.ids[0]!)!;
      assert.equal(inflight.state, 'inflight');
      assert.equal(inflight.hasSecret, true);
      assert.equal(box.openSecret(inflight), `pw-alice-${n}`);
    });

    it('a late change with a LOWER kvno than the queued one is itself superseded', () => {
      const a = box.insertChange(change('alice', { kvno: 7 }));
      const b = box.insertChange(change('alice', { kvno: 5 }));
      assert.deepEqual(b.superseded, [{ id: b.ids[0], captureId: b.captureId, account: 'alice', target: 'iij' }]);
      assert.equal(box.get(b.ids[0]!)!.state, 'superseded');
      assert.equal(box.get(b.ids[0]!)!.hasSecret, false);
      assert.equal(box.get(a.ids[0]!)!.state, 'pending');
      // a higher kvno supersedes as usual
      const c = box.insertChange(change('alice', { kvno: 8 }));
      assert.deepEqual(c.superseded.map((s) => s.id), [a.ids[0]]);
    });

    it('a change without a version supersedes a queued one that has a version (a newer capture is newer)', () => {
      const a = box.insertChange(change('alice', { kvno: 7 }));
      const b = box.insertChange(change('alice'));
      assert.deepEqual(b.superseded.map((s) => s.id), [a.ids[0]]);
    });

    it('leaves other accounts alone', () => {
      const a = box.insertChange(change('alice'));
      box.insertChange(change('bob'));
      assert.equal(box.get(a.ids[0]!)!.state, 'pending');
    });
  });

  describe('Outbox.claimDue', () => {
    it('marks due rows inflight, oldest due first, up to the limit', () => {
      const ids = ['a', 'b', 'c', 'd'].map((u) => box.insertChange(change(u)).ids[0]!);
      // make d due first, a last; c not due yet (each attempt ended before reaching the target)
      claimRows(box, ids);
      for (const [i, dueAt] of [[3, clock - 3000], [1, clock - 2000], [0, clock - 1000], [2, clock + 1000]] as const)
        settleAgain(box, ids[i]!, { state: 'waiting', dueAt, code: null, error: null, countAttempt: false });
      const got = box.claimDue(2, all());
      assert.deepEqual(got.map((r) => r.account), ['d', 'b']);
      assert.ok(got.every((r) => r.state === 'inflight' && box.get(r.id)!.state === 'inflight'));
      assert.deepEqual(box.claimDue(10, all()).map((r) => r.account), ['a']);
      assert.deepEqual(box.claimDue(10, all()), [], 'c is not due yet');
      clock += 1000;
      assert.deepEqual(box.claimDue(10, all()).map((r) => r.account), ['c']);
    });

    it('returns nothing for limit 0', () => {
      box.insertChange(change('a'));
      assert.deepEqual(box.claimDue(0, all()), []);
    });

    it('never returns a row whose (account, target) already has one in flight, nor two of one key at once', () => {
      const a = box.insertChange(change('alice'));
      assert.equal(box.claimDue(10, all()).length, 1);
      const b = box.insertChange(change('alice'));
      assert.deepEqual(box.claimDue(10, all()), [], 'alice/iij is in flight');
      // a crash leaves both open: after recovery, still only one of them at a time, the older first
      assert.equal(box.recoverInflight(), 1);
      const first = box.claimDue(10, all());
      assert.deepEqual(first.map((r) => r.id), [a.ids[0]]);
      assert.deepEqual(box.claimDue(10, all()), []);
      settleFinal(box, a.ids[0]!, 'done');
      assert.deepEqual(box.claimDue(10, all()).map((r) => r.id), [b.ids[0]]);
    });

    it('claims the same account on two targets at once (the key is account AND target)', () => {
      box.insertChange(change('alice', { targets: ['iij', 'scim'] }));
      assert.deepEqual(box.claimDue(10, all(['iij', 'scim'])).map((r) => r.target).sort(), ['iij', 'scim']);
    });

    it('skips paused targets (absent from the allowance) and honours per-target allowances', () => {
      for (const u of ['a', 'b', 'c']) box.insertChange(change(u, { targets: ['iij', 'scim'] }));
      const got = box.claimDue(10, new Map([['scim', 2]]));
      assert.deepEqual(got.map((r) => `${r.account}/${r.target}`), ['a/scim', 'b/scim']);
      assert.deepEqual(box.claimDue(10, new Map([['iij', 0]])), []);
    });

    it('a paused target with many older due rows does not starve another target', () => {
      for (let i = 0; i < 50; i++) box.insertChange(change(`u${i}`, { targets: ['paused'] }));
      clock += 10;
      const b = box.insertChange(change('late', { targets: ['ok'] }));
      assert.deepEqual(box.claimDue(1, new Map([['ok', 1]])).map((r) => r.id), b.ids);
    });
  });

  describe('Outbox.settleAndClaim (the delivery worker\'s turn)', () => {
    it('commits several outcomes and fills the freed slots in one call; the claim sees the settled rows final', () => {
      const a1 = box.insertChange(change('alice'));
      box.insertChange(change('bob'));
      const [ra, rb] = box.claimDue(10, all());
      const a2 = box.insertChange(change('alice', { kvno: 9 }));
      box.insertChange(change('carol'));
      assert.equal(a2.superseded.length, 0, 'alice\'s first row is in flight, not superseded');
      const got = box.settleAndClaim(
        [
          { kind: 'final', seq: ra!.seq, account: 'alice', target: 'iij', state: 'done', delivered: { fingerprint: 'fp-a', kvno: null } },
          { kind: 'again', seq: rb!.seq, state: 'waiting', dueAt: clock + 60_000, code: 'E_X', error: 'later', countAttempt: true },
        ],
        10,
        all(),
      );
      assert.deepEqual(got.map((r) => r.account).sort(), ['alice', 'carol'], 'alice\'s next row is claimable once the first is final');
      assert.equal(box.get(a1.ids[0]!)!.state, 'done');
      assert.equal(box.get(a1.ids[0]!)!.hasSecret, false);
      assert.equal(box.lastDelivered('alice', 'iij')?.fingerprint, 'fp-a');
      const b = box.get(rb!.id)!;
      assert.deepEqual([b.state, b.attempts, b.nextAttemptAt, b.lastErrorCode], ['waiting', 1, clock + 60_000, 'E_X']);
    });

    it('never makes a final row final again, and reschedules only rows in flight', () => {
      const a = box.insertChange(change('alice'));
      const [r] = box.claimDue(1, all());
      box.settleAll([{ kind: 'final', seq: r!.seq, account: 'alice', target: 'iij', state: 'rejected', code: 'E_DROPPED', error: 'dropped' }]);
      box.settleAll([{ kind: 'final', seq: r!.seq, account: 'alice', target: 'iij', state: 'done' }]);
      box.settleAll([{ kind: 'again', seq: r!.seq, state: 'pending', dueAt: clock, code: null, error: null, countAttempt: false }]);
      assert.equal(box.get(a.ids[0]!)!.state, 'rejected');
    });

    it('a claimed row carries the newer capture that makes it redundant (not an older password version)', () => {
      const a = box.insertChange(change('alice', { kvno: 3 }));
      const [first] = box.claimDue(1, all());
      assert.equal(first!.newerCapture, undefined);
      const b = box.insertChange(change('alice', { kvno: 4 }));
      box.insertChange(change('alice', { kvno: 2 }));
      // the attempt failed: alice's first row is due again, before the newer one
      box.settleAll([{ kind: 'again', seq: first!.seq, state: 'waiting', dueAt: clock, code: null, error: null, countAttempt: true }]);
      const [again] = box.claimDue(10, all());
      assert.equal(again!.id, a.ids[0]);
      assert.equal(again!.newerCapture, b.captureId);
      assert.equal(box.openSecret(again!), `pw-alice-${n}`, 'the sealed password read with the claim opens');
    });
  });

  describe('Outbox.settleAll: final rows and rows due again', () => {
    it('a final row loses nonce and box and records the final state and the delivered fingerprint', () => {
      const a = box.insertChange(change('alice', { kvno: 3 }));
      const [row] = box.claimDue(1, all());
      clock += 500;
      box.settleAll([{ kind: 'final', seq: row!.seq, account: 'alice', target: 'iij', state: 'done', delivered: { fingerprint: 'fp1', kvno: 3 } }]);
      const r = box.get(a.ids[0]!)!;
      assert.equal(r.state, 'done');
      assert.equal(r.finalAt, clock);
      assert.equal(r.hasSecret, false);
      const raw = rawConnection(box).prepare(`SELECT nonce, box FROM changes WHERE id = ?`).get(a.ids[0]) as { nonce: unknown; box: unknown };
      assert.deepEqual(raw, { nonce: null, box: null });
      assert.deepEqual(box.lastDelivered('ALICE', 'iij'), { fingerprint: 'fp1', kvno: 3, at: clock });
      assert.equal(box.lastDelivered('alice', 'scim'), undefined);
    });

    it('a final row without a fingerprint records no delivery; a later delivery replaces the fingerprint', () => {
      const a = box.insertChange(change('alice'));
      settleFinal(box, a.ids[0]!, 'rejected', { code: 'E_REJECTED', error: 'policy' });
      assert.equal(box.lastDelivered('alice', 'iij'), undefined);
      assert.equal(box.get(a.ids[0]!)!.lastErrorCode, 'E_REJECTED');
      const b = box.insertChange(change('alice'));
      settleFinal(box, b.ids[0]!, 'done', { delivered: { fingerprint: 'fp1', kvno: null } });
      const c = box.insertChange(change('alice'));
      settleFinal(box, c.ids[0]!, 'done', { delivered: { fingerprint: 'fp2', kvno: 9 } });
      assert.equal(box.lastDelivered('alice', 'iij')?.fingerprint, 'fp2');
    });

    it('the CHECK constraint forbids a final row that keeps its box (a raw UPDATE fails)', () => {
      const a = box.insertChange(change('alice'));
      for (const state of ['done', 'superseded', 'rejected', 'expired'])
        assert.throws(() => rawConnection(box).prepare(`UPDATE changes SET state = ? WHERE id = ?`).run(state, a.ids[0]), /CHECK constraint/);
      assert.equal(box.get(a.ids[0]!)!.state, 'pending');
    });

    it('a row due again gets its state, due time and error; counts an attempt only when asked', () => {
      const a = box.insertChange(change('alice'));
      const id = a.ids[0]!;
      claimRows(box, [id]);
      settleAgain(box, id, { state: 'waiting', dueAt: clock + 5000, code: 'E_RETRYABLE', error: 'HTTP 503', countAttempt: true });
      let r = box.get(id)!;
      assert.equal(r.state, 'waiting');
      assert.equal(r.nextAttemptAt, clock + 5000);
      assert.equal(r.attempts, 1);
      assert.equal(r.lastErrorCode, 'E_RETRYABLE');
      assert.equal(r.lastError, 'HTTP 503');
      assert.equal(r.waitingSince, null);
      clock += 5000;
      claimRows(box, [id]);
      settleAgain(box, id, { state: 'pending', dueAt: clock, code: 'E_TARGET_UNUSABLE', error: '401', countAttempt: false });
      assert.equal(box.get(id)!.attempts, 1);
      assert.equal(box.get(id)!.hasSecret, true, 'an open row keeps its box');
      // waiting_since starts with the first E_NOT_PROVISIONED and is kept through later ones
      const t0 = clock;
      claimRows(box, [id]);
      settleAgain(box, id, { state: 'waiting', dueAt: clock + 1, code: 'E_NOT_PROVISIONED', error: 'absent', countAttempt: true });
      clock += 60_000;
      claimRows(box, [id]);
      settleAgain(box, id, { state: 'waiting', dueAt: clock + 1, code: 'E_NOT_PROVISIONED', error: 'absent', countAttempt: true });
      r = box.get(id)!;
      assert.equal(r.waitingSince, t0);
      assert.equal(r.attempts, 3);
    });

    it('a claimed row released unattempted goes back to the state it was claimed from, nothing else changed', () => {
      const a = box.insertChange(change('alice'));
      const id = a.ids[0]!;
      claimRows(box, [id]);
      settleAgain(box, id, { state: 'waiting', dueAt: clock, code: 'E_NOT_PROVISIONED', error: 'absent', countAttempt: true });
      const before = box.get(id)!;
      clock += 60_000;
      const [row] = box.claimDue(1, all());
      assert.equal(row!.claimedFrom, 'waiting');
      clock += 1_000;
      box.settleAll([{ kind: 'release', seq: row!.seq, state: row!.claimedFrom }]);
      assert.deepEqual(box.get(id), before, 'state, attempts, due time, error and waiting_since as before the claim');
      // only a row in flight is released: a final one stays final
      box.settleAll([{ kind: 'final', seq: row!.seq, account: 'alice', target: 'iij', state: 'rejected', code: 'E_DROPPED', error: 'dropped' }]);
      box.settleAll([{ kind: 'release', seq: row!.seq, state: 'pending' }]);
      assert.equal(box.get(id)!.state, 'rejected');
      const b = box.insertChange(change('bob'));
      const [fresh] = box.claimDue(1, all());
      assert.equal(fresh!.id, b.ids[0]);
      assert.equal(fresh!.claimedFrom, 'pending');
    });

    it('recordVersion fills a missing version but never overwrites a captured one', () => {
      const a = box.insertChange(change('alice'));
      box.recordVersion(a.ids[0]!, 5, '111');
      assert.equal(box.get(a.ids[0]!)!.kvno, 5);
      box.recordVersion(a.ids[0]!, 9, '222');
      assert.equal(box.get(a.ids[0]!)!.kvno, 5);
      assert.equal(box.get(a.ids[0]!)!.pwdLastSet, '111');
    });

    it('recoverInflight makes in-flight rows pending and due now, and reports how many', () => {
      box.insertChange(change('a'));
      box.insertChange(change('b'));
      box.insertChange(change('c'));
      assert.equal(box.claimDue(2, all()).length, 2);
      clock += 10_000;
      assert.equal(box.recoverInflight(), 2);
      assert.equal(countsByState(box.reader).inflight, undefined);
      const rows = listChanges(box.reader, { states: ['pending'] });
      assert.equal(rows.length, 3);
      assert.equal(box.recoverInflight(), 0);
      assert.equal(box.claimDue(10, all()).length, 3, 'all due again');
    });
  });

  describe('Outbox reports', () => {
    it('countsByState and oldestOpenReceivedAt (open includes inflight, excludes final)', () => {
      assert.equal(oldestOpenReceivedAt(box.reader), undefined);
      const a = box.insertChange(change('a'));
      const t0 = clock;
      clock += 1000;
      box.insertChange(change('b'));
      box.insertChange(change('b'));
      clock += 1000;
      box.insertChange(change('c'));
      assert.deepEqual(countsByState(box.reader), { pending: 3, superseded: 1 });
      assert.equal(oldestOpenReceivedAt(box.reader), t0);
      box.claimDue(1, all());
      assert.equal(oldestOpenReceivedAt(box.reader), t0, 'an inflight row is still open');
      settleFinal(box, a.ids[0]!, 'done');
      assert.equal(oldestOpenReceivedAt(box.reader), t0 + 1000);
      assert.deepEqual(countsByState(box.reader), { pending: 2, superseded: 1, done: 1 });
    });

    it('targetSummary: pause state, last success, last error (superseded rows are not errors)', () => {
      const a = box.insertChange(change('a', { targets: ['iij', 'scim'] }));
      clock += 100;
      settleFinal(box, a.ids[0]!, 'done');
      claimRows(box, [a.ids[1]!]);
      settleAgain(box, a.ids[1]!, { state: 'waiting', dueAt: clock + 5000, code: 'E_RETRYABLE', error: 'HTTP 503', countAttempt: true });
      box.setTargetPaused('scim', true, 'HTTP 401');
      box.insertChange(change('b', { targets: ['iij'] }));
      box.insertChange(change('b', { targets: ['iij'] })); // supersedes: not an error
      const s = targetSummary(box.reader);
      assert.deepEqual(s, [
        { target: 'iij', paused: false, reason: null, since: null, lastSuccessAt: clock, lastErrorAt: null, lastError: null },
        { target: 'scim', paused: true, reason: 'HTTP 401', since: clock, lastSuccessAt: null, lastErrorAt: clock + 5000, lastError: 'HTTP 503' },
      ]);
      box.setTargetPaused('scim', false);
      assert.equal(targetSummary(box.reader)[1]!.paused, false);
    });

    it('openOutboxReader reads counts while the writer has the file open, and cannot write', () => {
      box.insertChange(change('a'));
      const ro = openOutboxReader(file, driver);
      opened.push(ro);
      assert.deepEqual(countsByState(ro), { pending: 1 });
      assert.equal(rawConnection(ro).readonly, true);
      assert.throws(() => rawConnection(ro).prepare(`DELETE FROM changes`).run(), /readonly/i);
      assert.throws(() => ro.all(`DELETE FROM changes`), /SELECT statements only/, 'the read handle runs nothing but SELECT');
      assert.throws(() => box.reader.get(`UPDATE changes SET attempts = 9`), /SELECT statements only/, 'on the writer\'s connection too');
      assert.equal(countsByState(box.reader).pending, 1);
      assert.throws(() => openOutboxReader(path.join(root, 'missing.db'), driver), StorageError);
    });

    it('a file of random bytes is refused with CorruptDatabaseError, and is left untouched', () => {
      const f = path.join(root, `corrupt-${n}.db`);
      const junk = randomBytes(8192);
      writeFileSync(f, junk);
      assert.throws(() => new Outbox(f, KEY, now, { driver }), (e: unknown) => e instanceof CorruptDatabaseError && e.code === 'E_DB_CORRUPT' && e.message.includes('restore it from backup'));
      assert.ok(readFileSync(f).equals(junk));
    });

    it('reopening keeps every row and its sealed password', () => {
      const a = box.insertChange(change('alice'));
      box.close();
      const again = openBox();
      assert.equal(again.openSecret(again.get(a.ids[0]!)!), `pw-alice-${n}`);
    });
  });
});
}
