// Unit tests of the journal: JSON lines with id/level/msg/ts, secret-looking fields dropped, level filtering,
// a private file, and waitFor.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { EV, type EventDef } from '../../src/journal/catalogue.js';
import { Journal, type JournalEntry } from '../../src/journal/journal.js';

const root = mkdtempSync(path.join(tmpdir(), 'pwsync-journal-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const lines = (file: string): JournalEntry[] =>
  readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as JournalEntry);

describe('Journal', () => {
  it('writes one JSON line per event with ts, id, level, msg and the fields', () => {
    const file = path.join(root, `j${n++}`, 'journal.jsonl');
    const j = new Journal({ file });
    const before = Date.now();
    j.write(EV.synced, { change: 'c1', account: 'alice', target: 'iij', latencyMs: 12, found: true, dn: null });
    j.write(EV.captured);
    j.close();
    const [a, b] = lines(file);
    assert.ok(a && b);
    assert.equal(a.id, 3000);
    assert.equal(a.level, 'info');
    assert.equal(a.msg, EV.synced.message);
    assert.ok(Date.parse(a.ts) >= before - 1000 && /^\d{4}-\d\d-\d\dT/.test(a.ts));
    assert.deepEqual({ ...a, ts: 0 }, { ts: 0, id: 3000, level: 'info', msg: EV.synced.message, change: 'c1', account: 'alice', target: 'iij', latencyMs: 12, found: true, dn: null });
    assert.equal(b.id, 2000);
  });

  it('child journals bind fields once, write through the parent, and never let a call replace a bound field', () => {
    const file = path.join(root, `j${n++}`, 'journal.jsonl');
    const j = new Journal({ file });
    const seen: JournalEntry[] = [];
    j.on('event', (e: JournalEntry) => seen.push(e));
    const log = j.child({ change: 'c1', account: 'alice', target: 'iij', attempt: 2, dn: undefined, password: 'Bound-Pw-1!', id: 9999, msg: 'forged' });
    log.write(EV.retryScheduled, { code: 'E_X', retryInMs: 5, change: 'c2', account: 'mallory', ts: 'then', level: 'debug' });
    log.write(EV.duplicateSuppressed);
    const grand = log.child({ externalId: 'a@x', target: 'other' });
    grand.write(EV.synced, { latencyMs: 1 });
    j.close();
    const [a, b, c] = lines(file);
    assert.ok(a && b && c);
    assert.deepEqual({ ...a, ts: 0 }, { ts: 0, id: EV.retryScheduled.id, level: EV.retryScheduled.level, msg: EV.retryScheduled.message, change: 'c1', account: 'alice', target: 'iij', attempt: 2, code: 'E_X', retryInMs: 5 });
    assert.notEqual(a.ts, 'then');
    assert.deepEqual({ ...b, ts: 0 }, { ts: 0, id: EV.duplicateSuppressed.id, level: EV.duplicateSuppressed.level, msg: EV.duplicateSuppressed.message, change: 'c1', account: 'alice', target: 'iij', attempt: 2 });
    assert.equal(c.id, EV.synced.id);
    assert.equal(c.target, 'iij', 'a grandchild cannot rebind what its parent bound');
    assert.equal(c.externalId, 'a@x');
    assert.equal(c.latencyMs, 1);
    assert.equal(seen.length, 3, 'the parent emits every child event');
    assert.ok(!readFileSync(file, 'utf8').includes('Bound-Pw-1!'), 'secret-looking bound fields are dropped too');
  });

  it('drops fields with secret-looking keys and undefined values, whatever their case', () => {
    const file = path.join(root, `j${n++}`, 'journal.jsonl');
    const j = new Journal({ file });
    const e = j.write(EV.retryScheduled, {
      password: 'p1', Password: 'p2', newPassword: 'p3', token: 't1', access_token: 't2', accessToken: 't3', Authorization: 'Bearer t4',
      secret: 's1', clientSecret: 's2', cookie: 'c', credential: 'cr', cleartext: 'x', passwd: 'p4', keep: 'yes', pwdLastSet: '133497123456789012', gone: undefined,
    });
    j.close();
    const text = readFileSync(file, 'utf8');
    for (const v of ['p1', 'p2', 'p3', 't1', 't2', 't3', 't4', 's1', 's2', '"c"', 'cr', '"x"', 'p4'])
      assert.ok(!text.includes(v), `${v} reached the file: ${text}`);
    assert.equal(e.keep, 'yes');
    assert.equal(e.pwdLastSet, '133497123456789012', 'a password version is not a secret');
    assert.ok(!('gone' in e));
    assert.ok(!('password' in e) && !('Authorization' in e));
  });

  it('fields cannot overwrite the event id, level, message or timestamp', () => {
    const j = new Journal();
    const e = j.write(EV.refused, { id: 9999, level: 'debug', msg: 'forged', ts: 'then', account: 'a' } as never);
    assert.equal(e.id, 2001);
    assert.equal(e.level, 'warn');
    assert.equal(e.msg, EV.refused.message);
    assert.notEqual(e.ts, 'then');
  });

  it('filters by level: below the configured level nothing is written, but listeners still see it', () => {
    const file = path.join(root, `j${n++}`, 'journal.jsonl');
    const j = new Journal({ file, level: 'warn' });
    const seen: number[] = [];
    j.on('event', (e: JournalEntry) => seen.push(e.id));
    j.write(EV.searchCompleted); // debug
    j.write(EV.synced); // info
    j.write(EV.retryScheduled); // warn
    j.write(EV.rejected); // error
    j.close();
    assert.deepEqual(lines(file).map((e) => e.id), [3001, 3003]);
    assert.deepEqual(seen, [3010, 3000, 3001, 3003]);
    const dbg = path.join(root, `j${n++}`, 'journal.jsonl');
    const d = new Journal({ file: dbg, level: 'debug' });
    d.write(EV.searchCompleted);
    d.close();
    assert.deepEqual(lines(dbg).map((e) => e.id), [3010]);
  });

  it('creates the file 0600 in a private directory, appends to an existing one, and tightens its mode', () => {
    const dir = path.join(root, `j${n++}`, 'deep');
    const file = path.join(dir, 'journal.jsonl');
    const j = new Journal({ file });
    j.write(EV.agentStarted);
    j.close();
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(dir).mode & 0o077, 0);
    const again = new Journal({ file });
    again.write(EV.agentStopped);
    again.close();
    assert.deepEqual(lines(file).map((e) => e.id), [1000, 1001]);
  });

  it('batch appends the events written inside it together when it returns, then tells listeners, file first', () => {
    const file = path.join(root, `j${n++}`, 'journal.jsonl');
    const j = new Journal({ file, level: 'info' });
    j.write(EV.captured, { change: 'c0' });
    const inFileWhenSeen: number[] = [];
    j.on('event', () => inFileWhenSeen.push(lines(file).length));
    const inFileDuring: number[] = [];
    const child = j.child({ target: 'iij' });
    const out = j.batch(() => {
      j.write(EV.synced, { change: 'c1' });
      child.write(EV.searchCompleted, { change: 'c2' }); // debug: filtered from the file, still seen by listeners
      j.batch(() => child.write(EV.synced, { change: 'c3' })); // nested: part of the outer batch
      inFileDuring.push(lines(file).length);
      return 'result';
    });
    assert.equal(out, 'result');
    assert.deepEqual(inFileDuring, [1], 'nothing of the batch reaches the file before it ends');
    assert.deepEqual(lines(file).map((e) => [e.id, e.change]), [[2000, 'c0'], [3000, 'c1'], [3000, 'c3']]);
    assert.deepEqual(inFileWhenSeen, [3, 3, 3], 'listeners hear of each event once all of them are in the file');
    j.close();
  });

  it('batch still writes what it collected when its function throws, and later writes are not batched', () => {
    const file = path.join(root, `j${n++}`, 'journal.jsonl');
    const j = new Journal({ file });
    assert.throws(
      () =>
        j.batch(() => {
          j.write(EV.synced, { change: 'c1' });
          throw new Error('commit failed');
        }),
      /commit failed/,
    );
    assert.deepEqual(lines(file).map((e) => e.change), ['c1']);
    j.write(EV.synced, { change: 'c2' });
    assert.deepEqual(lines(file).map((e) => e.change), ['c1', 'c2']);
    j.close();
  });

  it('waitFor resolves with the first matching event written afterwards', async () => {
    const j = new Journal();
    const p = j.waitFor((e) => e.id === EV.synced.id && e.account === 'bob', 60_000);
    j.write(EV.synced, { account: 'alice' });
    j.write(EV.rejected, { account: 'bob' });
    j.write(EV.synced, { account: 'bob', n: 1 });
    j.write(EV.synced, { account: 'bob', n: 2 });
    const e = await p;
    assert.equal(e.n, 1);
    assert.equal(j.listenerCount('event'), 0, 'the listener is removed');
  });

  it('waitFor rejects when nothing matches within the timeout, and unsubscribes', async () => {
    const j = new Journal();
    const p = j.waitFor((e) => e.id === 1, 1);
    j.write(EV.synced);
    await assert.rejects(p, /no matching journal event within 1 ms/);
    assert.equal(j.listenerCount('event'), 0);
  });

  it('every catalogue event has a unique numeric id, a level and a message', () => {
    const defs = Object.values(EV) as EventDef[];
    assert.equal(new Set(defs.map((d) => d.id)).size, defs.length);
    for (const d of defs) {
      assert.ok(Number.isInteger(d.id) && d.id >= 1000);
      assert.ok(['error', 'warn', 'info', 'debug'].includes(d.level));
      assert.ok(d.message.length > 0);
    }
  });
});
