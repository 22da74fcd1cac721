// Unit tests of the delivery worker with a fake Directory and fake Targets whose calls the test releases by hand
// (deferreds, no sleeps), on a real Outbox and a real Journal: per-key exclusivity, the concurrency bound, the
// staleness check, duplicate suppression, rejections, pausing one target, resume and stop.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import { userAttributeSchema } from '../../src/config/schema.js';
import type { Directory, DirectoryQuery, DirectoryUser } from '../../src/directory/directory.js';
import { limitConcurrency } from '../../src/delivery/concurrency-limit.js';
import { DeliveryWorker, type DeliveryOptions } from '../../src/delivery/worker.js';
import { dateToFiletime } from '../../src/directory/filetime.js';
import { RetryableError, TargetUnusableError } from '../../src/errors.js';
import { EV } from '../../src/journal/catalogue.js';
import { Journal, type JournalEntry } from '../../src/journal/journal.js';
import { Outbox, type NewChange } from '../../src/outbox/store.js';
import { listChanges, targetSummary } from '../../src/outbox/queries.js';
import type { Target, TargetUser } from '../../src/targets/target.js';
import { deferred, seededRandom, type Deferred } from '../support/determinism.js';



/** Re-checks conditions after every journal event and fake call, once the worker's synchronous step is over. */
class Progress {
  private waiters: Array<{ pred: () => boolean; resolve: () => void }> = [];
  poke(): void {
    queueMicrotask(() => {
      this.waiters = this.waiters.filter((w) => (w.pred() ? (w.resolve(), false) : true));
    });
  }
  until(pred: () => boolean): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ pred, resolve }));
  }
}

interface FakeUser {
  kvno?: number;
  /** pwdLastSet as a FILETIME string. */
  pwdLastSet?: string;
  upn?: string;
  inScope?: boolean;
  /** objectGUID; default one derived from the account name. */
  guid?: string;
  /** What AD says the sAMAccountName is (default: the name asked for). */
  sAMAccountName?: string;
  userAccountControl?: number;
}

/** A stable objectGUID-shaped string per account name. */
function guidFor(account: string): string {
  const hex = Buffer.from(account.padEnd(16, '.').slice(0, 16)).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

class FakeDirectory implements Directory {
  users = new Map<string, FakeUser>();
  resolves = 0;
  constructor(private readonly progress: Progress, private readonly onResolve: (account: string) => void = () => {}) {}
  async resolve(q: DirectoryQuery): Promise<DirectoryUser | undefined> {
    this.resolves++;
    this.onResolve(q.account);
    this.progress.poke();
    const u = this.users.get(q.account);
    if (!u) return undefined;
    return {
      dn: `CN=${q.account},OU=Staff,DC=example,DC=test`, guid: u.guid ?? guidFor(q.account), sAMAccountName: u.sAMAccountName ?? q.account,
      attributes: u.upn === undefined ? {} : { userPrincipalName: u.upn },
      version: { ...(u.kvno === undefined ? {} : { kvno: u.kvno }), ...(u.pwdLastSet === undefined ? {} : { pwdLastSet: u.pwdLastSet }) },
      enabled: true, userAccountControl: u.userAccountControl ?? 0x200, inScope: u.inScope ?? true,
    };
  }
  async listInScope(): Promise<[]> {
    return [];
  }
  async probe(): Promise<{ sampleDn?: string }> {
    return {};
  }
  async close(): Promise<void> {}
}

interface HeldCall {
  account: string;
  password: string;
  done: Deferred<void>;
}

/** A target whose setPassword calls wait for the test (when `hold`), and that checks per-account exclusivity. */
class FakeTarget implements Target {
  readonly held: HeldCall[] = [];
  readonly sets: Array<{ account: string; password: string }> = [];
  finds = 0;
  hold = false;
  failWith: (() => Error) | undefined;
  private readonly busy = new Set<string>();
  maxBusyPerAccount = 0;
  violations: string[] = [];
  constructor(readonly name: string, private readonly progress: Progress) {}
  checkPassword(): void {}
  async find(value: string): Promise<TargetUser | undefined> {
    this.finds++;
    const account = value.split('@')[0]!;
    if (this.busy.has(account)) this.violations.push(`${account} twice in flight at ${this.name}`);
    this.busy.add(account);
    this.progress.poke();
    if (value.startsWith('absent')) {
      this.busy.delete(account);
      return undefined;
    }
    return { id: `scim-${account}`, matchedValue: value };
  }
  async setPassword(user: TargetUser, password: string): Promise<void> {
    const account = user.matchedValue.split('@')[0]!;
    // A worker that retries a failing target in a tight loop would never yield: park it so the test fails, not hangs.
    if (this.finds > 500) await new Promise(() => {});
    try {
      if (this.failWith) throw this.failWith();
      if (this.hold) {
        const done = deferred<void>();
        this.held.push({ account, password, done });
        this.progress.poke();
        await done.promise;
      }
      this.sets.push({ account, password });
    } finally {
      this.busy.delete(account);
      this.progress.poke();
    }
  }
  async probe(): Promise<void> {}
  async close(): Promise<void> {}
  /** Releases one held call (chosen by `pick`). */
  release(pick = 0): HeldCall {
    const [c] = this.held.splice(pick, 1);
    assert.ok(c, 'no held call to release');
    c.done.resolve();
    return c;
  }
}

const root = mkdtempSync(path.join(tmpdir(), 'pwsync-worker-'));
after(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
let clock: number;
let outbox: Outbox;
let journal: Journal;
let journalFile: string;
let events: JournalEntry[];
let progress: Progress;
let dir: FakeDirectory;
let workers: DeliveryWorker[];
const rule = userAttributeSchema.parse({});

beforeEach(() => {
  clock = 1_700_000_000_000;
  const d = path.join(root, `w${n++}`);
  outbox = new Outbox(path.join(d, 'outbox.db'), randomBytes(32), () => clock);
  journalFile = path.join(d, 'journal.jsonl');
  journal = new Journal({ file: journalFile, level: 'debug' });
  events = [];
  progress = new Progress();
  journal.on('event', (e: JournalEntry) => {
    events.push(e);
    progress.poke();
  });
  dir = new FakeDirectory(progress);
  workers = [];
});
afterEach(async () => {
  for (const w of workers) await w.stop();
  journal.close();
  outbox.close();
});

function worker(targets: FakeTarget[], concurrency = 4, directory: Directory = dir, extra: Partial<DeliveryOptions> = {}): DeliveryWorker {
  const w = new DeliveryWorker(outbox, directory, targets.map((target) => ({ target, rule, ratePerSecond: 1e6 })), journal, {
    concurrency, retry: { initialMs: 5_000, maxMs: 900_000 }, maxAgeMs: 72 * 3_600_000, notProvisionedHorizonMs: 24 * 3_600_000,
    fingerprintKey: randomBytes(32), clockSkewMs: 2_000, now: () => clock, ...extra,
  });
  workers.push(w);
  return w;
}
function user(account: string, u: FakeUser = {}): void {
  dir.users.set(account, { upn: `${account}@example.test`, ...u });
}
let seq = 0;
function insert(account: string, targets: string[], extra: Partial<NewChange> = {}) {
  return outbox.insertChange({ account, targets, source: 'samba', capturedAt: '2024-05-01T10:00:00Z', password: `pw-${account}-${seq++}`, ...extra });
}
/** Users u0…u(n-1), each with one change queued for iij. */
function queueUsers(n: number): void {
  for (let i = 0; i < n; i++) {
    user(`u${i}`);
    insert(`u${i}`, ['iij']);
  }
}
const open = () => listChanges(outbox.reader, { states: ['pending', 'waiting', 'inflight'], limit: 10_000 });
/**
 * Users u0…u(n-1) with a change each for a target that holds every setPassword, and a worker of `concurrency` started
 * on them: returns the target once `concurrency` calls are held there.
 */
async function heldAtTarget(n: number, concurrency: number, extra: Partial<DeliveryOptions> = {}): Promise<FakeTarget> {
  const t = new FakeTarget('iij', progress);
  t.hold = true;
  queueUsers(n);
  worker([t], concurrency, dir, extra).start();
  await progress.until(() => t.held.length === concurrency);
  return t;
}

/** Lets every held and later call of `t` through, and waits until nothing is left open. */
async function drainAll(t: FakeTarget): Promise<void> {
  t.hold = false;
  while (t.held.length) t.release();
  await progress.until(() => open().length === 0);
}
const ids = (id: number) => events.filter((e) => e.id === id);

describe('DeliveryWorker', () => {
  it('delivers a change: resolve, find, setPassword, done with its fingerprint, event 3000', async () => {
    const t = new FakeTarget('iij', progress);
    user('alice', { kvno: 3 });
    const c = insert('alice', ['iij'], { kvno: 3, password: 'Delivered-1' });
    worker([t]).start();
    await progress.until(() => open().length === 0);
    assert.deepEqual(t.sets, [{ account: 'alice', password: 'Delivered-1' }]);
    const row = outbox.get(c.ids[0]!)!;
    assert.equal(row.state, 'done');
    assert.equal(row.hasSecret, false);
    assert.equal(outbox.lastDelivered('alice', 'iij')?.kvno, 3);
    assert.equal(ids(EV.synced.id).length, 1);
    assert.equal(ids(EV.synced.id)[0]!.change, c.captureId);
  });

  it('never has two changes of one (account, target) in flight, and never more than `concurrency`, under churn', async () => {
    const t1 = new FakeTarget('t1', progress);
    const t2 = new FakeTarget('t2', progress);
    t1.hold = t2.hold = true;
    const accounts = ['a', 'b', 'c', 'd', 'e', 'f'];
    let active = 0;
    let maxActive = 0;
    // an attempt is active from its AD lookup until its setPassword settles
    const counting = new FakeDirectory(progress, () => {
      active++;
      maxActive = Math.max(maxActive, active);
    });
    counting.users = dir.users;
    for (const a of accounts) user(a);
    const newest = new Map<string, string>();
    for (const a of accounts) {
      insert(a, ['t1', 't2'], { password: `first-${a}` });
      newest.set(a, `first-${a}`);
    }
    const w = worker([t1, t2], 3, counting);
    w.start();
    const rnd = seededRandom(7);
    let released = 0;
    while (open().length > 0) {
      await progress.until(() => t1.held.length + t2.held.length > 0 && t1.held.length + t2.held.length === active);
      assert.ok(t1.held.length + t2.held.length <= 3);
      // a new password for an account that is in flight right now: it must wait behind the running attempt
      const all = [...t1.held.map((h) => ['t1', h] as const), ...t2.held.map((h) => ['t2', h] as const)];
      if (released < 25) {
        const [, busy] = all[Math.floor(rnd() * all.length)]!;
        const pw = `newer-${busy.account}-${released}`;
        insert(busy.account, ['t1', 't2'], { password: pw });
        newest.set(busy.account, pw);
        w.notify();
      }
      const [which] = all[Math.floor(rnd() * all.length)]!;
      const tgt = which === 't1' ? t1 : t2;
      tgt.release(Math.floor(rnd() * tgt.held.length));
      active--;
      released++;
      // Rows claimed ahead of a slot are in flight in the outbox too: never more than twice the bound.
      await progress.until(() => t1.held.length + t2.held.length === active && (active > 0 || open().length === 0 || open().some((r) => r.state !== 'inflight')));
      assert.ok(open().filter((r) => r.state === 'inflight').length <= 6);
    }
    assert.deepEqual([...t1.violations, ...t2.violations], []);
    assert.ok(maxActive <= 3, `max active ${maxActive}`);
    assert.equal(maxActive, 3, 'the bound was reached');
    // per key, the newest password is the last one set: an older one never lands after it
    for (const a of accounts)
      for (const tg of [t1, t2]) assert.equal(tg.sets.filter((s) => s.account === a).at(-1)?.password, newest.get(a), `${a} at ${tg.name}`);
  });

  it('respects the concurrency bound: with 10 due changes and concurrency 3, exactly 3 run and 3 more are claimed ahead', async () => {
    const t = await heldAtTarget(10, 3);
    assert.equal(dir.resolves, 3);
    assert.equal(open().filter((r) => r.state === 'inflight').length, 6);
    t.release();
    // The slot goes to a row claimed ahead at once; the outcome waits to share a commit (at most 50 ms).
    await progress.until(() => t.held.length === 3 && dir.resolves === 4);
    assert.ok(open().filter((r) => r.state === 'inflight').length <= 6);
    await drainAll(t);
    assert.equal(t.sets.length, 10);
  });

  it('drops a stale change (AD holds a newer password version) without calling setPassword', async () => {
    const t = new FakeTarget('iij', progress);
    user('alice', { kvno: 6 });
    const c = insert('alice', ['iij'], { kvno: 5 });
    worker([t]).start();
    await progress.until(() => open().length === 0);
    assert.equal(t.finds, 0);
    assert.deepEqual(t.sets, []);
    const row = outbox.get(c.ids[0]!)!;
    assert.equal(row.state, 'superseded');
    assert.equal(row.lastErrorCode, 'E_SUPERSEDED');
    assert.match(String(ids(EV.superseded.id)[0]?.reason), /AD password version 6 is newer than this change's 5/);
  });

  it('delivers a change whose version equals AD\'s', async () => {
    const t = new FakeTarget('iij', progress);
    user('alice', { kvno: 6 });
    insert('alice', ['iij'], { kvno: 6 });
    worker([t]).start();
    await progress.until(() => open().length === 0);
    assert.equal(t.sets.length, 1);
  });

  it('records AD\'s version on first sight for a change that carried none', async () => {
    const t = new FakeTarget('iij', progress);
    t.hold = true;
    user('alice', { kvno: 9 });
    const c = insert('alice', ['iij']);
    assert.equal(outbox.get(c.ids[0]!)!.kvno, null);
    worker([t]).start();
    await progress.until(() => t.held.length === 1);
    assert.equal(outbox.get(c.ids[0]!)!.kvno, 9);
    t.release();
    await progress.until(() => open().length === 0);
    assert.equal(outbox.lastDelivered('alice', 'iij')?.kvno, 9);
  });

  it('supersedes a version-less capture taken before AD\'s pwdLastSet (a replayed spool), recording no version', async () => {
    const t = new FakeTarget('iij', progress);
    // AD's password was set 10 s after this change was captured, on another DC.
    user('alice', { kvno: 8, pwdLastSet: dateToFiletime(new Date('2024-05-01T10:00:10Z')) });
    const c = insert('alice', ['iij'], { source: 'passfilt' });
    worker([t]).start();
    await progress.until(() => open().length === 0);
    assert.equal(t.finds, 0);
    const row = outbox.get(c.ids[0]!)!;
    assert.equal(row.state, 'superseded');
    assert.equal(row.kvno, null, 'AD\'s newer version is never stamped on the older change');
    assert.match(String(ids(EV.superseded.id)[0]?.reason), /AD password was set at 2024-05-01T10:00:10.000Z, after this change was captured at 2024-05-01T10:00:00.000Z/);
    assert.equal(outbox.lastDelivered('alice', 'iij'), undefined);
  });

  it('a captured key version above AD\'s never outranks later genuine changes (kvno bounded by AD at delivery)', async () => {
    const t = new FakeTarget('iij', progress);
    user('alice', { kvno: 5 });
    const forged = insert('alice', ['iij'], { kvno: 0xffffffff });
    const w = worker([t]);
    w.start();
    await progress.until(() => open().length === 0);
    assert.equal(outbox.get(forged.ids[0]!)!.kvno, 5);
    assert.equal(outbox.lastDelivered('alice', 'iij')?.kvno, 5, 'delivered version is AD\'s, not the captured one');
    user('alice', { kvno: 6 });
    const genuine = insert('alice', ['iij'], { kvno: 6 });
    assert.deepEqual(genuine.superseded, [], 'the genuine change is not taken for a re-delivery at intake');
    w.notify();
    await progress.until(() => open().length === 0);
    assert.equal(outbox.get(genuine.ids[0]!)!.state, 'done');
    assert.equal(t.sets.length, 2);
  });

  it('re-checks the AD object at delivery: a name AD resolves to krbtgt or a computer account is refused', async () => {
    const t = new FakeTarget('iij', progress);
    user('kr', { sAMAccountName: 'krbtgt' });
    user('pc', { userAccountControl: 0x1000 });
    const a = insert('kr', ['iij']);
    const b = insert('pc', ['iij']);
    worker([t]).start();
    await progress.until(() => open().length === 0);
    assert.equal(t.finds, 0);
    assert.deepEqual(t.sets, []);
    for (const [c, reason] of [[a, 'krbtgt'], [b, 'computer']] as const) {
      const row = outbox.get(c.ids[0]!)!;
      assert.equal(row.state, 'rejected');
      assert.equal(row.lastErrorCode, 'E_REFUSED');
      assert.ok(ids(EV.refused.id).some((e) => e.change === c.captureId && e.reason === reason), reason);
    }
  });

  it('a renamed account is the same user: neither its delivered version nor its password is sent again', async () => {
    const t = new FakeTarget('iij', progress);
    const guid = guidFor('before');
    user('before', { kvno: 2, guid });
    insert('before', ['iij'], { kvno: 2, guid, password: 'Unchanged-Pw-1' });
    const w = worker([t]);
    w.start();
    await progress.until(() => open().length === 0);
    assert.equal(t.sets.length, 1);
    // sAMAccountName renamed: the Samba hook hands over the same object (same objectGUID, same kvno) under its new name.
    user('after', { kvno: 2, guid });
    const renamed = insert('after', ['iij'], { kvno: 2, guid, password: 'Unchanged-Pw-1' });
    assert.equal(renamed.superseded.length, 1, 'superseded at intake: version 2 of this object was delivered');
    // A capture without a version (CLI, filter) under the new name: finished as a duplicate, no request.
    const again = insert('after', ['iij'], { password: 'Unchanged-Pw-1' });
    w.notify();
    await progress.until(() => open().length === 0);
    assert.equal(outbox.get(again.ids[0]!)!.lastErrorCode, 'E_DUPLICATE');
    assert.equal(t.sets.length, 1);
    assert.equal(t.finds, 1);
  });

  it('finishes a change whose password was already delivered as done (E_DUPLICATE) without a request', async () => {
    const t = new FakeTarget('iij', progress);
    user('alice');
    insert('alice', ['iij'], { password: 'Same-Password-1' });
    const w = worker([t]);
    w.start();
    await progress.until(() => open().length === 0);
    assert.equal(t.sets.length, 1);
    const again = insert('alice', ['iij'], { password: 'Same-Password-1' });
    w.notify();
    await progress.until(() => open().length === 0);
    assert.equal(t.sets.length, 1, 'no second setPassword');
    assert.equal(t.finds, 1, 'no second search');
    const row = outbox.get(again.ids[0]!)!;
    assert.equal(row.state, 'done');
    assert.equal(row.lastErrorCode, 'E_DUPLICATE');
    assert.equal(ids(EV.duplicateSuppressed.id).length, 1);
    // a different password goes out again
    insert('alice', ['iij'], { password: 'Other-Password-2' });
    w.notify();
    await progress.until(() => open().length === 0);
    assert.equal(t.sets.length, 2);
  });

  it('rejects an account AD does not know (E_UNKNOWN_ACCOUNT, event 2006)', async () => {
    const t = new FakeTarget('iij', progress);
    const c = insert('ghost', ['iij']);
    worker([t]).start();
    await progress.until(() => open().length === 0);
    assert.equal(outbox.get(c.ids[0]!)!.state, 'rejected');
    assert.equal(outbox.get(c.ids[0]!)!.lastErrorCode, 'E_UNKNOWN_ACCOUNT');
    assert.equal(ids(2006).length, 1);
    assert.equal(t.finds, 0);
  });

  it('rejects an account outside the configured scope (E_OUT_OF_SCOPE, event 2005)', async () => {
    const t = new FakeTarget('iij', progress);
    user('outsider', { inScope: false });
    const c = insert('outsider', ['iij']);
    worker([t]).start();
    await progress.until(() => open().length === 0);
    assert.equal(outbox.get(c.ids[0]!)!.lastErrorCode, 'E_OUT_OF_SCOPE');
    assert.equal(ids(2005).length, 1);
    assert.equal(t.finds, 0);
  });

  it('rejects an account whose external-ID attribute is empty or absent (event 3007), never searching for ""', async () => {
    const t = new FakeTarget('iij', progress);
    user('empty', { upn: '' });
    dir.users.set('none', {});
    insert('empty', ['iij']);
    insert('none', ['iij']);
    worker([t]).start();
    await progress.until(() => open().length === 0);
    assert.deepEqual(listChanges(outbox.reader).map((r) => r.lastErrorCode).sort(), ['E_NO_EXTERNAL_ID', 'E_NO_EXTERNAL_ID']);
    assert.equal(ids(3007).length, 2);
    assert.equal(t.finds, 0);
  });

  it('a user missing at the target waits (E_NOT_PROVISIONED, event 3002) with waiting_since set', async () => {
    const t = new FakeTarget('iij', progress);
    user('absent', { upn: 'absent@example.test' });
    const c = insert('absent', ['iij']);
    worker([t]).start();
    await progress.until(() => ids(3002).length === 1 && outbox.get(c.ids[0]!)!.state === 'waiting');
    const row = outbox.get(c.ids[0]!)!;
    assert.equal(row.lastErrorCode, 'E_NOT_PROVISIONED');
    assert.equal(row.waitingSince, clock);
    assert.equal(row.attempts, 1);
    assert.ok(row.nextAttemptAt > clock);
    assert.equal(row.hasSecret, true);
  });

  it('TargetUnusable pauses only that target; the other keeps delivering; resume() drains the paused one', async () => {
    const bad = new FakeTarget('bad', progress);
    const good = new FakeTarget('good', progress);
    bad.failWith = () => new TargetUnusableError('HTTP 401 from bad', 401);
    for (const a of ['a', 'b', 'c', 'd']) {
      user(a);
      insert(a, ['bad', 'good']);
    }
    const w = worker([bad, good], 2);
    w.start();
    await progress.until(() => good.sets.length === 4 && open().every((r) => r.target === 'bad' && r.state === 'pending'));
    assert.equal(w.targetHealth().get('bad')?.paused, true);
    assert.equal(w.targetHealth().get('good')?.paused, false);
    assert.equal(ids(4000).length, 1, 'one pause event, not one per change');
    assert.equal(ids(4000)[0]!.status, 401);
    const bads = open();
    assert.equal(bads.length, 4);
    assert.ok(bads.every((r) => r.attempts === 0 && r.hasSecret), 'a pause costs no attempt and keeps the password');
    assert.ok(targetSummary(outbox.reader).find((s) => s.target === 'bad')?.paused);
    const findsWhilePaused = bad.finds;
    // while paused, new changes for the bad target are not attempted
    user('e');
    insert('e', ['bad', 'good']);
    w.notify();
    await progress.until(() => good.sets.length === 5);
    assert.equal(bad.finds, findsWhilePaused);
    bad.failWith = undefined;
    w.resume('bad');
    await progress.until(() => open().length === 0);
    assert.deepEqual(bad.sets.map((s) => s.account).sort(), ['a', 'b', 'c', 'd', 'e']);
    assert.equal(ids(4001).length, 1);
    assert.equal(w.targetHealth().get('bad')?.paused, false);
  });

  it('a Retry-After holds the whole target: rows claimed ahead go back unattempted, and none starts during the hold', async () => {
    const t = await heldAtTarget(6, 2);
    assert.equal(open().filter((r) => r.state === 'inflight').length, 4, 'two running, two claimed ahead');
    // The next attempt is answered 429 with a minute's Retry-After; the frozen clock never ends the hold.
    t.hold = false;
    t.failWith = () => new RetryableError('HTTP 429 from iij', 60_000);
    t.release(0);
    await progress.until(() => open().filter((r) => r.state === 'inflight').length === 1 && open().some((r) => r.state === 'waiting'));
    assert.equal(t.finds, 3, 'the two first attempts and the one answered 429: nothing after the hold began');
    const back = open().filter((r) => r.state === 'pending');
    assert.equal(back.length, 3);
    assert.ok(back.every((r) => r.attempts === 0 && r.hasSecret), 'a row given back costs no attempt and keeps its password');
    t.failWith = undefined;
    t.release(0);
    await progress.until(() => open().every((r) => r.state !== 'inflight'));
    assert.equal(t.finds, 3);
  });

  it('stop() waits for attempts in flight and starts no new ones', async () => {
    const t = new FakeTarget('iij', progress);
    t.hold = true;
    for (const a of ['a', 'b', 'c']) {
      user(a);
      insert(a, ['iij']);
    }
    const w = worker([t], 2);
    w.start();
    await progress.until(() => t.held.length === 2);
    let stopped = false;
    const stopping = w.stop().then(() => (stopped = true));
    t.release();
    // let everything that can run run: stop() must still wait for the second attempt
    for (let i = 0; i < 50; i++) await Promise.resolve();
    assert.equal(stopped, false, 'stop() returned while an attempt was in flight');
    assert.equal(t.held.length, 1, 'no new attempt started after stop()');
    t.release();
    await stopping;
    assert.equal(stopped, true);
    assert.equal(t.sets.length, 2);
    const left = open();
    assert.equal(left.length, 1);
    assert.equal(left[0]!.state, 'pending');
  });

  it('never writes a password to the journal', async () => {
    const t = new FakeTarget('iij', progress);
    const bad = new FakeTarget('bad', progress);
    bad.failWith = () => new Error('boom');
    user('alice', { kvno: 2 });
    user('bob', { kvno: 9 });
    insert('alice', ['iij', 'bad'], { password: 'Journal-Canary-AAA' });
    insert('bob', ['iij'], { password: 'Journal-Canary-BBB', kvno: 1 });
    insert('carol', ['iij'], { password: 'Journal-Canary-CCC' });
    worker([t, bad]).start();
    await progress.until(() => open().every((r) => r.state === 'waiting'));
    const text = readFileSync(journalFile, 'utf8');
    assert.ok(text.length > 0);
    assert.ok(!text.includes('Journal-Canary'), text);
  });

  it('batches per event-loop turn: one claim fills every free slot; outcomes that end together commit together', async () => {
    const calls: Array<{ settled: number; claimed: number }> = [];
    const real = outbox.settleAndClaim.bind(outbox);
    outbox.settleAndClaim = (items, limit, allowance) => {
      const rows = real(items, limit, allowance);
      calls.push({ settled: items.length, claimed: rows.length });
      return rows;
    };
    const t = await heldAtTarget(10, 4);
    assert.deepEqual(calls, [{ settled: 0, claimed: 8 }], 'one claim filled all four slots and claimed four rows ahead');
    assert.equal(open().filter((r) => r.state === 'inflight').length, 8);
    // Three answers at once: each slot takes a row claimed ahead without waiting for a turn, and the one turn that
    // follows journals the three outcomes, commits them and tops the claimed rows up, in one transaction.
    for (let i = 0; i < 3; i++) t.release(0);
    await progress.until(() => t.held.length === 4 && calls.length === 2);
    assert.deepEqual(calls[1], { settled: 3, claimed: 2 });
    assert.equal(dir.resolves, 7);
    assert.equal(open().filter((r) => r.state === 'inflight').length, 7);
    assert.equal(listChanges(outbox.reader, { states: ['done'] }).length, 3);
    await drainAll(t);
    assert.equal(t.sets.length, 10);
  });

  it('lets outcomes wait to share a commit while enough rows are claimed ahead, and commits them once those run low', async () => {
    let turns = 0;
    const real = outbox.settleAndClaim.bind(outbox);
    outbox.settleAndClaim = (items, limit, allowance) => (turns++, real(items, limit, allowance));
    // No timer decides here: the outcomes may wait a minute, so only the worker's own rule commits them.
    const t = await heldAtTarget(10, 4, { settleWithinMs: 60_000 });
    for (let i = 1; i <= 2; i++) {
      t.release(0);
      await progress.until(() => t.held.length === 4 && dir.resolves === 4 + i);
      // Still two or more rows claimed ahead: the outcome waits, its row still in flight and its event not written.
      assert.equal(turns, 1, `after answer ${i}`);
      assert.equal(ids(EV.synced.id).length, 0);
      assert.equal(listChanges(outbox.reader, { states: ['done'] }).length, 0);
    }
    t.release(0);
    await progress.until(() => ids(EV.synced.id).length === 3);
    assert.equal(turns, 2);
    assert.equal(listChanges(outbox.reader, { states: ['done'] }).length, 3);
    await drainAll(t);
    assert.equal(t.sets.length, 10);
  });

  it('an outcome waits at most settleWithinMs for company: a lone answer is committed without another', async () => {
    const t = await heldAtTarget(10, 4, { settleWithinMs: 1 });
    t.release(0);
    // Four rows were claimed ahead, so only the time bound can commit this one outcome.
    await progress.until(() => listChanges(outbox.reader, { states: ['done'] }).length === 1);
    assert.equal(ids(EV.synced.id).length, 1);
    assert.equal(t.held.length, 4);
    await drainAll(t);
  });

  it('journals an outcome before its commit, and whoever waits for the event sees the row final', async () => {
    const t = new FakeTarget('iij', progress);
    user('alice', { kvno: 3 });
    const c = insert('alice', ['iij'], { kvno: 3 });
    const seen: string[] = [];
    journal.on('event', (e: JournalEntry) => {
      if (e.id === EV.synced.id) seen.push(`at the event: ${outbox.get(c.ids[0]!)!.state}`);
    });
    const synced = journal.waitFor((e) => e.id === EV.synced.id, 10_000);
    worker([t]).start();
    await synced;
    seen.push(`after the event: ${outbox.get(c.ids[0]!)!.state}`);
    assert.deepEqual(seen, ['at the event: inflight', 'after the event: done']);
  });

  it('reads AD\'s version for unversioned captures after the ack, at most `concurrency` look-ups at once (issue 13 #14)', async () => {
    let inFlight = 0;
    let peak = 0;
    const release: Array<() => void> = [];
    const slow = new FakeDirectory(progress);
    slow.users = dir.users;
    const resolve = slow.resolve.bind(slow);
    slow.resolve = async (q) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise<void>((r) => release.push(r));
      inFlight--;
      return resolve(q);
    };
    const w = worker([new FakeTarget('iij', progress)], 3, slow);
    const committed = [];
    for (let i = 0; i < 200; i++) {
      user(`u${i}`, { kvno: 40 + i });
      const c = insert(`u${i}`, ['iij']);
      committed.push({ captureId: c.captureId, account: `u${i}`, capturedAt: '2024-05-01T10:00:00Z', versioned: false });
    }
    w.committed(committed);
    while (committed.some((c) => outbox.get(c.captureId)!.kvno === null)) {
      for (const r of release.splice(0)) r();
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(peak, 3);
    assert.equal(outbox.get(committed[7]!.captureId)!.kvno, 47, 'AD\'s version is recorded for the capture');
  });

  it('never records a version AD set after the capture (a replayed spool), nor reads one for a versioned capture', async () => {
    user('alice', { kvno: 8, pwdLastSet: dateToFiletime(new Date('2024-05-01T10:00:10Z')) });
    user('bob', { kvno: 3, pwdLastSet: dateToFiletime(new Date('2024-05-01T09:00:00Z')) });
    const a = insert('alice', ['iij']);
    const b = insert('bob', ['iij']);
    const c = insert('carol', ['iij'], { kvno: 2 });
    const w = worker([new FakeTarget('iij', progress)]);
    w.committed([
      { captureId: a.captureId, account: 'alice', capturedAt: '2024-05-01T10:00:00Z', versioned: false },
      { captureId: b.captureId, account: 'bob', capturedAt: '2024-05-01T10:00:00Z', versioned: false },
      { captureId: c.captureId, account: 'carol', capturedAt: '2024-05-01T10:00:00Z', versioned: true },
    ]);
    // The worker is not started, so nothing else happens: a bounded number of turns lets both look-ups end.
    for (let i = 0; i < 20 && outbox.get(b.captureId)!.kvno === null; i++) await new Promise((r) => setImmediate(r));
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    assert.equal(dir.resolves, 2, 'no look-up for the versioned capture');
    assert.equal(outbox.get(b.captureId)!.kvno, 3);
    assert.equal(outbox.get(a.captureId)!.kvno, null, 'AD\'s newer version is never stamped on the older change');
  });
});

describe('limitConcurrency', () => {
  it('never runs more than its limit, and runs everything', async () => {
    let now = 0;
    let peak = 0;
    const gates: Array<() => void> = [];
    const limited = limitConcurrency(8, async (n: number) => {
      now++;
      peak = Math.max(peak, now);
      await new Promise<void>((r) => gates.push(r));
      now--;
      return n * 2;
    });
    const all = Promise.all(Array.from({ length: 2000 }, (_, i) => limited(i)));
    while (gates.length > 0 || now > 0) {
      const g = gates.splice(0);
      for (const r of g) r();
      await new Promise((r) => setImmediate(r));
    }
    const results = await all;
    assert.equal(peak, 8);
    assert.equal(results[1999], 3998);
  });
});
