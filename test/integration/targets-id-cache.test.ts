// The SCIM id cache against the IIJ emulator over real HTTP: what a change costs with and without it (the emulator's
// request log), every path that makes a cached id stop being used, and rename-and-reuse through the delivery worker.
// Directory Sync's side (users deleted, re-created, renamed) is played with the emulator's own SCIM API.

import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { startEmulator, type Emulator } from '../../emulator/server.js';
import { iijTargetSchema, userAttributeSchema } from '../../src/config/schema.js';
import { DeliveryWorker } from '../../src/delivery/worker.js';
import { StaticDirectory, type StaticUser } from '../../src/directory/static-directory.js';
import { NotProvisionedError, RejectedChangeError } from '../../src/errors.js';
import { EV } from '../../src/journal/catalogue.js';
import { Journal, type JournalEntry } from '../../src/journal/journal.js';
import { Outbox } from '../../src/outbox/store.js';
import { createTarget } from '../../src/targets/index.js';
import type { Target, TargetUser } from '../../src/targets/target.js';

const TOKEN = 'iij-token-idcache-7d41c2a9e35b';
const GA = '3f2b1c0d-1111-4aaa-8bbb-00000000000a';
const GB = '3f2b1c0d-1111-4aaa-8bbb-00000000000b';

describe('id cache against the IIJ emulator', () => {
  let emu: Emulator;
  const open: Target[] = [];
  let events: JournalEntry[];
  const journal = { write: (ev: { id: number; level: JournalEntry['level']; message: string }, fields: Record<string, unknown> = {}) => {
    const e = { ts: '', id: ev.id, level: ev.level, msg: ev.message, ...fields } as JournalEntry;
    events.push(e);
    return e;
  } };

  const target = (extra: Record<string, unknown> = {}): Target => {
    const cfg = iijTargetSchema.parse({ name: 'iij', type: 'iij', url: emu.scimBase, timeout: '5s', ...extra });
    const t = createTarget(cfg, { access_token: TOKEN }, { journal });
    open.push(t);
    return t;
  };
  const cachedTarget = (extra: Record<string, unknown> = {}) => target({ id_cache: { enabled: true, ttl: '10m' }, ...extra });
  /** Directory Sync's hand, through the emulator's SCIM API. */
  const scim = async (method: string, p: string, body?: unknown): Promise<Record<string, unknown>> => {
    const res = await fetch(`${emu.scimBase}${p}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/scim+json' },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    assert.ok(res.status < 300, `${method} ${p}: ${res.status}`);
    return res.status === 204 ? {} : ((await res.json()) as Record<string, unknown>);
  };
  const setExternalId = (id: string, value: string) =>
    scim('PATCH', `Users/${id}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'externalId', value }] });
  const idOf = (externalId: string) => emu.getUser({ externalId })!.id;
  const log = () => emu.requestLog().map((e) => `${e.method} ${e.path.replace(/^\/scim\/v2\//, '')} ${e.status}`);
  const deliver = async (t: Target, value: string, guid: string, password: string): Promise<TargetUser> => {
    const u = await t.find(value, guid);
    if (!u) throw new NotProvisionedError(`nobody with ${value}`);
    return (await t.setPassword(u, password)) ?? u;
  };

  before(async () => {
    emu = await startEmulator({ seed: { tokens: [{ token: TOKEN, scopes: ['escim_read_users', 'escim_write_users'] }] } });
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((t) => t.close()));
    await emu.reset();
  });
  after(async () => {
    await emu.close();
  });
  const fresh = async () => {
    events = [];
    await emu.addUser({ userName: 'alice@example.jp', externalId: 'alice@example.local' });
    await emu.addUser({ userName: 'bob@example.jp', externalId: 'bob@example.local' });
    emu.clearRequestLog();
  };
  const addUser = async (userName: string, externalId: string) => (await emu.addUser({ userName, externalId })).id;

  it('off by default: every change searches (2 requests), no id-cache event', async () => {
    await fresh();
    const t = target();
    await deliver(t, 'alice@example.local', GA, 'Alice-Pw-1!');
    await deliver(t, 'alice@example.local', GA, 'Alice-Pw-2!');
    const x = idOf('alice@example.local');
    assert.deepEqual(log(), ['POST Users/.search 200', `PATCH Users/${x} 204`, 'POST Users/.search 200', `PATCH Users/${x} 204`]);
    assert.equal(t.requestsSent?.(), 4);
    assert.deepEqual(events, []);
    assert.equal((await emu.verifyPassword({ externalId: 'alice@example.local' }, 'Alice-Pw-2!')).match, true);
  });

  it('on: the second change of a user is one request, the write, to the same id', async () => {
    await fresh();
    const t = cachedTarget();
    await deliver(t, 'alice@example.local', GA, 'Alice-Pw-1!');
    await deliver(t, 'alice@example.local', GA, 'Alice-Pw-2!');
    const x = idOf('alice@example.local');
    assert.deepEqual(log(), ['POST Users/.search 200', `PATCH Users/${x} 204`, `PATCH Users/${x} 204`]);
    assert.equal(t.requestsSent?.(), 3);
    assert.deepEqual(events.map((e) => e.id), [EV.idCacheMiss.id, EV.idCacheHit.id]);
    assert.equal((await emu.verifyPassword({ externalId: 'alice@example.local' }, 'Alice-Pw-2!')).match, true);
  });

  it('404: user deleted and re-created by Directory Sync (new id): searched again and written to the new id in the same attempt', async () => {
    await fresh();
    const t = cachedTarget();
    await deliver(t, 'alice@example.local', GA, 'Alice-Pw-1!');
    const x = idOf('alice@example.local');
    // Deleted for good (past IIJ's retention: the emulator's DELETE only marks pending deletion) and created again.
    await emu.reset();
    const y = await addUser('alice@example.jp', 'alice@example.local');
    assert.notEqual(y, x);
    emu.clearRequestLog();
    const written = await deliver(t, 'alice@example.local', GA, 'Alice-Pw-2!');
    assert.equal(written.id, y);
    assert.deepEqual(log(), [`PATCH Users/${x} 404`, 'POST Users/.search 200', `PATCH Users/${y} 204`]);
    assert.equal((await emu.verifyPassword({ id: y }, 'Alice-Pw-2!')).match, true);
    const inv = events.find((e) => e.id === EV.idCacheInvalidated.id)!;
    assert.equal(inv.code, 'E_NOT_PROVISIONED');
    assert.equal(inv.targetUserId, x);
    // The new id is what the cache holds now.
    emu.clearRequestLog();
    await deliver(t, 'alice@example.local', GA, 'Alice-Pw-3!');
    assert.deepEqual(log(), [`PATCH Users/${y} 204`]);
  });

  it('pending deletion (409) on the cached id: searched again; the user still pending, the change waits (not provisioned)', async () => {
    await fresh();
    const t = cachedTarget();
    await deliver(t, 'alice@example.local', GA, 'Alice-Pw-1!');
    const x = idOf('alice@example.local');
    emu.setPendingDeletion({ id: x }, true);
    emu.clearRequestLog();
    await assert.rejects(deliver(t, 'alice@example.local', GA, 'Alice-Pw-2!'), (e: unknown) => e instanceof NotProvisionedError && e.pendingDeletion);
    assert.deepEqual(log(), [`PATCH Users/${x} 409`, 'POST Users/.search 200', `PATCH Users/${x} 409`]);
    emu.clearRequestLog();
    await assert.rejects(deliver(t, 'alice@example.local', GA, 'Alice-Pw-3!'), NotProvisionedError);
    assert.equal(log()[0], 'POST Users/.search 200', 'nothing cached for a refused id');
  });

  it('any other 4xx (400 policy) on the cached id: the outcome is decided by a fresh search and write', async () => {
    await fresh();
    const t = cachedTarget();
    await deliver(t, 'alice@example.local', GA, 'Alice-Pw-1!');
    const x = idOf('alice@example.local');
    emu.setPolicy({ minLength: 20 });
    emu.clearRequestLog();
    await assert.rejects(deliver(t, 'alice@example.local', GA, 'Short-Pw-2!'), RejectedChangeError);
    assert.deepEqual(log(), [`PATCH Users/${x} 400`, 'POST Users/.search 200', `PATCH Users/${x} 400`]);
    assert.equal(events.filter((e) => e.id === EV.idCacheInvalidated.id)[0]!.code, 'E_REJECTED');
  });

  it('PUT mode: a cached id whose user now carries another externalId is never written; the value is searched again', async () => {
    await fresh();
    const t = cachedTarget({ password_update: 'put' });
    await deliver(t, 'alice@example.local', GA, 'Alice-Pw-1!');
    const x = idOf('alice@example.local');
    // Within the TTL an administrator gives IIJ user x to carol, and alice's value to a new user z.
    await setExternalId(x, 'carol@example.local');
    const z = await addUser('alice2@example.jp', 'alice@example.local');
    const carolBefore = emu.getUser({ id: x })!;
    emu.clearRequestLog();
    const written = await deliver(t, 'alice@example.local', GA, 'Alice-Pw-2!');
    assert.equal(written.id, z);
    assert.deepEqual(log(), [`GET Users/${x} 200`, 'POST Users/.search 200', `GET Users/${z} 200`, `PUT Users/${z} 200`]);
    assert.equal((await emu.verifyPassword({ id: x }, 'Alice-Pw-2!')).match, false, "carol's password was not touched");
    assert.equal(emu.getUser({ id: x })!.passwordSetCount, carolBefore.passwordSetCount);
    assert.equal((await emu.verifyPassword({ id: z }, 'Alice-Pw-2!')).match, true);
  });

  it('warm-up: a paged listing fills the cache, after which each user costs its write', async () => {
    await fresh();
    for (let i = 0; i < 30; i++) emu.addUser({ userName: `w${i}@example.jp`, externalId: `w${i}@example.local` });
    emu.clearRequestLog();
    const t = cachedTarget({ id_cache: { enabled: true, ttl: '10m', warm_up: true } });
    await deliver(t, 'alice@example.local', GA, 'Alice-Pw-1!');
    // The listing runs in the background from the first miss; wait for its event (bounded by the test timeout).
    await new Promise<void>((resolve) => {
      const check = () => (events.some((e) => e.id === EV.idCacheWarmed.id || e.id === EV.idCacheWarmUpFailed.id) ? resolve() : setImmediate(check));
      check();
    });
    assert.equal(events.find((e) => e.id === EV.idCacheWarmed.id)?.users, 32);
    const before = t.requestsSent!();
    for (let i = 0; i < 30; i++) await deliver(t, `w${i}@example.local`, `3f2b1c0d-1111-4aaa-8bbb-${String(100 + i).padStart(12, '0')}`, `Warm-Pw-${i}!x`);
    assert.equal(t.requestsSent!() - before, 30);
    assert.equal(log().filter((l) => l.startsWith('POST Users/.search')).length, 2, 'one search (alice) and one listing page');
    assert.equal((await emu.verifyPassword({ externalId: 'w29@example.local' }, 'Warm-Pw-29!x')).match, true);
  });

  it('rename and reuse through the delivery worker: B, given A\'s old UPN, gets its own IIJ user, never A\'s', async () => {
    await fresh();
    const t = cachedTarget();
    const dir = mkdtempSync(path.join(tmpdir(), 'pwsync-idcache-'));
    const outbox = new Outbox(path.join(dir, 'outbox.sqlite'), Buffer.alloc(32, 7));
    const j = new Journal({ file: path.join(dir, 'journal.jsonl'), stderr: false, level: 'debug' });
    const synced: JournalEntry[] = [];
    const waiters: Array<() => void> = [];
    j.on('event', (e: JournalEntry) => {
      if (e.id === EV.synced.id || e.id >= 3001 && e.id <= 3007) synced.push(e);
      waiters.splice(0).forEach((w) => w());
    });
    const until = async (n: number) => {
      while (synced.length < n) await new Promise<void>((r) => waiters.push(r));
    };
    const users = (u: StaticUser[]) => new StaticDirectory(u);
    const worker = new DeliveryWorker(outbox, users([{ sAMAccountName: 'alice', userPrincipalName: 'alice@example.local', guid: GA }]), [{ target: t, rule: userAttributeSchema.parse({}), ratePerSecond: 1000 }], j, {
      concurrency: 2, retry: { initialMs: 60_000, maxMs: 120_000 }, maxAgeMs: 3_600_000, notProvisionedHorizonMs: 3_600_000,
      fingerprintKey: Buffer.alloc(32, 8), clockSkewMs: 2_000,
    });
    const change = (account: string, password: string) =>
      outbox.insertChange({ account, targets: ['iij'], source: 'cli', capturedAt: new Date().toISOString(), password });
    try {
      worker.start();
      change('alice', 'Alice-Pw-1!');
      worker.notify();
      await until(1);
      const x = idOf('alice@example.local');
      // AD: alice renamed to alice2, a new object B takes alice's UPN. Directory Sync: x follows alice2, y is B's.
      worker.setDirectory(users([
        { sAMAccountName: 'alice', userPrincipalName: 'alice2@example.local', guid: GA },
        { sAMAccountName: 'bea', userPrincipalName: 'alice@example.local', guid: GB },
      ]));
      await setExternalId(x, 'alice2@example.local');
      const y = await addUser('bea@example.jp', 'alice@example.local');
      change('bea', 'Bea-Pw-1!');
      worker.notify();
      await until(2);
      change('alice', 'Alice-Pw-2!');
      worker.notify();
      await until(3);
      assert.deepEqual(synced.map((e) => [e.id, e.account, e.targetUserId]), [
        [EV.synced.id, 'alice', x],
        [EV.synced.id, 'bea', y],
        [EV.synced.id, 'alice', x],
      ]);
      assert.equal((await emu.verifyPassword({ id: y }, 'Bea-Pw-1!')).match, true);
      assert.equal((await emu.verifyPassword({ id: x }, 'Alice-Pw-2!')).match, true);
      assert.equal(emu.getUser({ id: x })!.passwordSetCount, 2, "A's IIJ user got A's passwords only");
    } finally {
      await worker.stop();
      outbox.close();
      j.close();
    }
  });
});
