// The SCIM id cache (src/targets/id-cache.ts) and the target that uses it (id-cached-target.ts): every way a
// remembered id stops being used — TTL, a refused write (404, pending deletion, any other 4xx, 401/403), another AD
// object with the same value (rename and reuse) — and that a refused cached id never decides an outcome alone.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configSchema, secretSchema } from '../../src/config/schema.js';
import { Journal } from '../../src/journal/journal.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { ListingUnsupportedError, NotProvisionedError, RejectedChangeError, RetryableError, TargetUnusableError } from '../../src/errors.js';
import { EV } from '../../src/journal/catalogue.js';
import { ScimIdCache } from '../../src/targets/id-cache.js';
import { withIdCache } from '../../src/targets/id-cached-target.js';
import { createTarget } from '../../src/targets/index.js';
import type { Target, TargetUser, TargetUserPage } from '../../src/targets/target.js';

const GA = '6f1c1a2e-0000-4000-8000-00000000000a';
const GB = '6f1c1a2e-0000-4000-8000-00000000000b';
const MIN = 60_000;

describe('ScimIdCache', () => {
  it('answers (objectGUID, value) learnt from a search until the TTL, counted from the search, not from use', () => {
    let now = 1_000_000;
    const c = new ScimIdCache({ ttlMs: 10 * MIN, maxEntries: 10, now: () => now });
    assert.equal(c.lookup(GA, 'alice@x'), undefined);
    c.learn(GA, 'alice@x', 'id-x', now);
    now += 10 * MIN - 1;
    assert.equal(c.lookup(GA, 'alice@x'), 'id-x', 'within the TTL');
    now += 1;
    assert.equal(c.lookup(GA, 'alice@x'), undefined, 'exactly at the TTL it is gone');
    assert.equal(c.size, 0);
    assert.deepEqual(c.counts, { hits: 1, misses: 2, invalidations: 0 });
  });

  it('a mapping seen in the future (clock stepped back) is not used', () => {
    let now = 5_000_000;
    const c = new ScimIdCache({ ttlMs: MIN, maxEntries: 10, now: () => now });
    c.learn(GA, 'alice@x', 'id-x', now);
    now -= 1;
    assert.equal(c.lookup(GA, 'alice@x'), undefined);
  });

  it('rename and reuse: another AD object with the same value never gets the first object\'s id', () => {
    const c = new ScimIdCache({ ttlMs: 10 * MIN, maxEntries: 10, now: () => 0 });
    c.learn(GA, 'alice@x', 'id-x', 0);
    assert.equal(c.lookup(GB, 'alice@x'), undefined, 'B took A\'s old UPN: B misses and searches');
    assert.equal(c.lookup(GA, 'alice2@x'), undefined, 'A renamed: a new value misses');
    assert.equal(c.lookup(GA.toUpperCase(), 'alice@x'), 'id-x', 'the GUID is compared case-insensitively');
  });

  it('an id belongs to one mapping: learning it for another object or value drops the old mapping', () => {
    const c = new ScimIdCache({ ttlMs: 10 * MIN, maxEntries: 10, now: () => 0 });
    c.learn(GA, 'alice@x', 'id-x', 0);
    c.learn(GB, 'alice@x', 'id-x', 0); // IIJ moved the value with its user to B's object
    assert.equal(c.lookup(GA, 'alice@x'), undefined);
    assert.equal(c.lookup(GB, 'alice@x'), 'id-x');
    c.learn(GB, 'bob@x', 'id-x', 0);
    assert.equal(c.lookup(GB, 'alice@x'), undefined);
    assert.equal(c.size, 1);
  });

  it('a listed (warm-up) mapping is tied to the first AD object that uses it, keeping the listing\'s time', () => {
    let now = 0;
    const c = new ScimIdCache({ ttlMs: 10 * MIN, maxEntries: 10, now: () => now });
    c.list('alice@x', 'id-x', 0);
    now = 5 * MIN;
    assert.equal(c.lookup(GA, 'alice@x'), 'id-x');
    assert.equal(c.lookup(GB, 'alice@x'), undefined, 'no longer available to any other object');
    now = 10 * MIN;
    assert.equal(c.lookup(GA, 'alice@x'), undefined, 'using it did not extend it');
  });

  it('a listing that shows a learnt id with another value replaces the out-of-date mapping', () => {
    const c = new ScimIdCache({ ttlMs: 10 * MIN, maxEntries: 10, now: () => 0 });
    c.learn(GA, 'alice@x', 'id-x', 0);
    c.list('carol@x', 'id-x', 0);
    assert.equal(c.lookup(GA, 'alice@x'), undefined);
    assert.equal(c.lookup(GB, 'carol@x'), 'id-x');
  });

  it('invalidate forgets the mapping and anything else pointing at the id', () => {
    const c = new ScimIdCache({ ttlMs: 10 * MIN, maxEntries: 10, now: () => 0 });
    c.learn(GA, 'alice@x', 'id-x', 0);
    c.invalidate(GA, 'alice@x', 'id-x');
    assert.equal(c.lookup(GA, 'alice@x'), undefined);
    assert.equal(c.counts.invalidations, 1);
    assert.equal(c.size, 0);
  });

  it('is bounded: listed mappings go first, then the oldest learnt', () => {
    const c = new ScimIdCache({ ttlMs: 10 * MIN, maxEntries: 3, now: () => 0 });
    c.learn(GA, 'a', 'id-a', 0);
    c.list('l1', 'id-l1', 0);
    c.learn(GB, 'b', 'id-b', 0);
    c.learn(GB, 'c', 'id-c', 0);
    assert.equal(c.size, 3);
    assert.equal(c.lookup(GA, 'l1'), undefined, 'the listed one went first');
    c.learn(GB, 'd', 'id-d', 0);
    assert.equal(c.lookup(GA, 'a'), undefined, 'then the oldest learnt');
    assert.equal(c.lookup(GB, 'd'), 'id-d');
  });
});

/** An inner target over an in-memory directory of users; counts requests as an HTTP target would. */
class FakeScim implements Target {
  readonly name = 'iij';
  users = new Map<string, string>(); // id → externalId
  refuse = new Map<string, Error>(); // id → what a write to it answers
  requests = 0;
  searches: string[] = [];
  writes: Array<{ id: string; password: string }> = [];
  listing: 'ok' | 'unsupported' = 'ok';
  checkPassword(): void {}
  async find(value: string): Promise<TargetUser | undefined> {
    this.requests++;
    this.searches.push(value);
    for (const [id, v] of this.users) if (v === value) return { id, matchedValue: v };
    return undefined;
  }
  async setPassword(user: TargetUser, password: string): Promise<void> {
    this.requests++;
    const refusal = this.refuse.get(user.id);
    if (refusal) throw refusal;
    if (!this.users.has(user.id)) throw new NotProvisionedError(`iij: 404 for ${user.id}`);
    this.writes.push({ id: user.id, password });
  }
  async probe(): Promise<void> {
    this.requests++;
  }
  async listPage(startIndex: number, count: number): Promise<TargetUserPage> {
    this.requests++;
    if (this.listing === 'unsupported') throw new ListingUnsupportedError('iij: 404 to a listing');
    const all = [...this.users].map(([id, value]) => ({ id, value }));
    return { users: all.slice(startIndex - 1, startIndex - 1 + count), total: all.length, compare: 'exact' };
  }
  requestsSent(): number {
    return this.requests;
  }
  async close(): Promise<void> {}
}

function cached(inner: FakeScim, o: { ttlMs?: number; warmUp?: boolean; now?: () => number; pageSize?: number } = {}) {
  const events: Array<{ id: number; fields: Record<string, unknown> }> = [];
  const now = o.now ?? (() => 0);
  const cache = new ScimIdCache({ ttlMs: o.ttlMs ?? 10 * MIN, maxEntries: 100, now });
  const t = withIdCache(inner, {
    cache, ttlMs: o.ttlMs ?? 10 * MIN, warmUp: o.warmUp ?? false, now, ...(o.pageSize ? { pageSize: o.pageSize } : {}),
    journal: { write: (ev, fields = {}) => (events.push({ id: ev.id, fields }), { ts: '', id: ev.id, level: ev.level, msg: ev.message }) },
  });
  return { t, cache, events };
}

/** What delivery does for one change: find by (value, objectGUID), then set; returns the user written. */
async function deliver(t: Target, value: string, guid: string, password: string): Promise<TargetUser> {
  const u = await t.find(value, guid);
  if (!u) throw new NotProvisionedError(`nobody with ${value}`);
  return (await t.setPassword(u, password)) ?? u;
}

describe('a target with an id cache', () => {
  it('a second change of the same user costs one request (the write), to the same id', async () => {
    const inner = new FakeScim();
    inner.users.set('id-x', 'alice@x');
    const { t, events } = cached(inner);
    await deliver(t, 'alice@x', GA, 'Pw-1');
    assert.equal(inner.requests, 2);
    await deliver(t, 'alice@x', GA, 'Pw-2');
    assert.equal(inner.requests, 3, 'no search the second time');
    assert.deepEqual(inner.writes.map((w) => w.id), ['id-x', 'id-x']);
    assert.deepEqual(events.map((e) => e.id), [EV.idCacheMiss.id, EV.idCacheHit.id]);
    assert.equal(t.requestsSent?.(), 3);
  });

  it('an id is remembered only after a write to it succeeded', async () => {
    const inner = new FakeScim();
    inner.users.set('id-x', 'alice@x');
    inner.refuse.set('id-x', new RejectedChangeError('iij: 400 policy'));
    const { t, cache } = cached(inner);
    await assert.rejects(deliver(t, 'alice@x', GA, 'short'), RejectedChangeError);
    assert.equal(cache.size, 0);
  });

  it('without the AD object (no objectGUID) it searches every time', async () => {
    const inner = new FakeScim();
    inner.users.set('id-x', 'alice@x');
    const { t, cache } = cached(inner);
    for (let i = 0; i < 2; i++) {
      const u = await t.find('alice@x');
      await t.setPassword(u!, 'Pw');
    }
    assert.equal(inner.searches.length, 2);
    assert.equal(cache.size, 0);
  });

  it('404 of the write (user deleted and re-created with a new id): forgets the id, searches once more and writes to the new id in the same attempt', async () => {
    const inner = new FakeScim();
    inner.users.set('id-x', 'alice@x');
    const { t, events, cache } = cached(inner);
    await deliver(t, 'alice@x', GA, 'Pw-1');
    inner.users.delete('id-x');
    inner.users.set('id-y', 'alice@x');
    const written = await deliver(t, 'alice@x', GA, 'Pw-2');
    assert.equal(written.id, 'id-y', 'the worker journals the id actually written');
    assert.deepEqual(inner.writes.map((w) => w.id), ['id-x', 'id-y']);
    assert.equal(inner.requests, 2 + 3, 'refused write + search + write');
    const inv = events.find((e) => e.id === EV.idCacheInvalidated.id)!;
    assert.deepEqual(inv.fields, { target: 'iij', externalId: 'alice@x', targetUserId: 'id-x', code: 'E_NOT_PROVISIONED' });
    assert.equal(cache.lookup(GA, 'alice@x'), 'id-y', 'the new id is learnt');
  });

  it('not provisioned (pending deletion) on the cached id: the fresh search and write decide, the outcome is the same as without a cache', async () => {
    const inner = new FakeScim();
    inner.users.set('id-x', 'alice@x');
    const { t, cache } = cached(inner);
    await deliver(t, 'alice@x', GA, 'Pw-1');
    inner.refuse.set('id-x', new NotProvisionedError('iij: user is pending deletion', true));
    await assert.rejects(deliver(t, 'alice@x', GA, 'Pw-2'), (e: unknown) => e instanceof NotProvisionedError && e.pendingDeletion);
    assert.deepEqual(inner.searches, ['alice@x', 'alice@x'], 'searched again');
    assert.equal(cache.size, 0, 'nothing remembered for a refused id');
    inner.users.delete('id-x');
    await assert.rejects(deliver(t, 'alice@x', GA, 'Pw-3'), NotProvisionedError);
    assert.equal(inner.writes.length, 1);
  });

  it('any other 4xx of the write (400): forgets the id and decides on a fresh search and write', async () => {
    const inner = new FakeScim();
    inner.users.set('id-x', 'alice@x');
    const { t, cache } = cached(inner);
    await deliver(t, 'alice@x', GA, 'Pw-1');
    inner.refuse.set('id-x', new RejectedChangeError('iij: 400 invalidValue'));
    await assert.rejects(deliver(t, 'alice@x', GA, 'Pw-2'), RejectedChangeError);
    assert.equal(inner.searches.length, 2);
    assert.equal(cache.counts.invalidations, 1);
    // A 400 that came from the stale id only (the fresh search finds another user): that write decides.
    inner.refuse.clear();
    await deliver(t, 'alice@x', GA, 'Pw-3');
    inner.users.delete('id-x');
    inner.users.set('id-z', 'alice@x');
    inner.refuse.set('id-x', new RejectedChangeError('iij: 400'));
    const w = await deliver(t, 'alice@x', GA, 'Pw-4');
    assert.equal(w.id, 'id-z');
  });

  it('401/403 of a cached write: forgets the id and pauses as usual, without another request', async () => {
    const inner = new FakeScim();
    inner.users.set('id-x', 'alice@x');
    const { t, cache } = cached(inner);
    await deliver(t, 'alice@x', GA, 'Pw-1');
    inner.refuse.set('id-x', new TargetUnusableError('iij: 401', 401));
    const before = inner.requests;
    await assert.rejects(deliver(t, 'alice@x', GA, 'Pw-2'), TargetUnusableError);
    assert.equal(inner.requests, before + 1);
    assert.equal(cache.size, 0);
  });

  it('network errors, 5xx and 429 say nothing about the id: it stays', async () => {
    const inner = new FakeScim();
    inner.users.set('id-x', 'alice@x');
    const { t, cache } = cached(inner);
    await deliver(t, 'alice@x', GA, 'Pw-1');
    inner.refuse.set('id-x', new RetryableError('iij: 429', 1000));
    await assert.rejects(deliver(t, 'alice@x', GA, 'Pw-2'), RetryableError);
    assert.equal(inner.searches.length, 1);
    assert.equal(cache.lookup(GA, 'alice@x'), 'id-x');
  });

  it('rename and reuse end to end: B, given A\'s old UPN, is searched for and never written to A\'s id', async () => {
    const inner = new FakeScim();
    inner.users.set('id-a', 'alice@x');
    const { t } = cached(inner);
    await deliver(t, 'alice@x', GA, 'A-1');
    // AD: A renamed to alice2, B created with alice; Directory Sync followed (A's IIJ user renamed, B's created).
    inner.users.set('id-a', 'alice2@x');
    inner.users.set('id-b', 'alice@x');
    const wb = await deliver(t, 'alice@x', GB, 'B-1');
    assert.equal(wb.id, 'id-b');
    const wa = await deliver(t, 'alice2@x', GA, 'A-2');
    assert.equal(wa.id, 'id-a');
    assert.deepEqual(inner.writes, [{ id: 'id-a', password: 'A-1' }, { id: 'id-b', password: 'B-1' }, { id: 'id-a', password: 'A-2' }]);
    assert.equal(inner.searches.length, 3, 'every one of them searched');
  });

  it('TTL expiry (injected clock): after the TTL the next change searches again', async () => {
    let now = 0;
    const inner = new FakeScim();
    inner.users.set('id-x', 'alice@x');
    const { t } = cached(inner, { ttlMs: MIN, now: () => now });
    await deliver(t, 'alice@x', GA, 'Pw-1');
    now = MIN - 1;
    await deliver(t, 'alice@x', GA, 'Pw-2');
    assert.equal(inner.searches.length, 1);
    now = MIN;
    await deliver(t, 'alice@x', GA, 'Pw-3');
    assert.equal(inner.searches.length, 2);
  });

  it('warm-up: the first miss lists the users (paged), after which other users cost one request each', async () => {
    const inner = new FakeScim();
    for (let i = 0; i < 25; i++) inner.users.set(`id-${i}`, `u${i}@x`);
    const { t, events } = cached(inner, { warmUp: true, pageSize: 10 });
    await deliver(t, 'u0@x', '6f1c1a2e-0000-4000-8000-000000000100', 'Pw');
    await t.close(); // waits for the listing started in the background
    const warmed = events.find((e) => e.id === EV.idCacheWarmed.id)!;
    assert.equal(warmed.fields.users, 25);
    assert.equal(warmed.fields.pages, 3);
    const before = inner.requests;
    for (let i = 1; i < 25; i++) await deliver(t, `u${i}@x`, `6f1c1a2e-0000-4000-8000-${String(100 + i).padStart(12, '0')}`, 'Pw');
    assert.equal(inner.requests - before, 24, 'one request per change');
    assert.equal(inner.searches.length, 1);
  });

  it('a warm-up that failed (timeout, 5xx, 429) is tried again by a miss a minute later, not only after the TTL', async () => {
    let now = 0;
    const inner = new FakeScim();
    inner.users.set('id-x', 'alice@x');
    inner.users.set('id-y', 'bob@x');
    inner.users.set('id-z', 'carol@x');
    let fail = true;
    const listPage = inner.listPage.bind(inner);
    inner.listPage = async (start: number, count: number) => {
      if (fail) throw new RetryableError('iij: no complete answer within 30000 ms (timeout)');
      return listPage(start, count);
    };
    const { t, events } = cached(inner, { warmUp: true, ttlMs: 3_600_000, now: () => now });
    await deliver(t, 'alice@x', GA, 'Pw');
    await t.close();
    assert.equal(events.filter((e) => e.id === EV.idCacheWarmUpFailed.id).length, 1);
    fail = false;
    now = 59_999;
    await deliver(t, 'bob@x', GB, 'Pw');
    await t.close();
    assert.equal(events.filter((e) => e.id === EV.idCacheWarmed.id).length, 0, 'not within the minute');
    now = 60_000;
    await deliver(t, 'alice@x', '6f1c1a2e-0000-4000-8000-0000000000cc', 'Pw');
    await t.close();
    assert.equal(events.filter((e) => e.id === EV.idCacheWarmed.id).length, 1);
    const before = inner.searches.length;
    await deliver(t, 'carol@x', '6f1c1a2e-0000-4000-8000-0000000000dd', 'Pw');
    assert.equal(inner.searches.length, before, 'carol came from the listing');
  });

  it('warm-up against a target that does not list: event 3015 once, then user-by-user searches', async () => {
    const inner = new FakeScim();
    inner.listing = 'unsupported';
    inner.users.set('id-x', 'alice@x');
    inner.users.set('id-y', 'bob@x');
    const { t, events } = cached(inner, { warmUp: true });
    await deliver(t, 'alice@x', GA, 'Pw');
    await t.close();
    await deliver(t, 'bob@x', GB, 'Pw');
    assert.equal(events.filter((e) => e.id === EV.idCacheWarmUpFailed.id).length, 1);
    assert.equal(events.find((e) => e.id === EV.idCacheWarmUpFailed.id)!.fields.code, 'E_LISTING_UNSUPPORTED');
  });

  it('never puts a password in an event or in the cache', async () => {
    const inner = new FakeScim();
    inner.users.set('id-x', 'alice@x');
    const { t, events, cache } = cached(inner);
    await deliver(t, 'alice@x', GA, 'Secret-Pw-42');
    inner.users.delete('id-x');
    inner.users.set('id-y', 'alice@x');
    await deliver(t, 'alice@x', GA, 'Secret-Pw-43');
    assert.doesNotMatch(JSON.stringify(events), /Secret-Pw/);
    assert.doesNotMatch(JSON.stringify([...(cache as unknown as { byId: Map<string, unknown> }).byId]), /Secret-Pw/);
  });
});

describe('id_cache configuration', () => {
  const base = { ad: { ldap: { server: { addresses: ['dc1'], user: 'u' }, base_dn: 'DC=x' } } };
  it('is off by default, and createTarget then returns the plain target (a search for every change)', () => {
    const c = configSchema.parse({ ...base, targets: [{ name: 'iij', type: 'iij' }] });
    assert.deepEqual(c.targets[0]!.id_cache, { enabled: false, ttl: 600_000, max_entries: 100_000, warm_up: false });
    const t = createTarget(c.targets[0]!, { access_token: 'tok-for-a-unit-test' });
    // The plain IIJ target's find takes no owner; the wrapper's does and would answer from memory.
    assert.equal(t.find.length, 1);
  });

  it('TTL bounds: between 1s and 1h, with an error that says why', () => {
    for (const ttl of ['1s', '10m', '1h']) {
      const r = configSchema.safeParse({ ...base, targets: [{ name: 'iij', type: 'iij', id_cache: { enabled: true, ttl } }] });
      assert.ok(r.success, ttl);
    }
    for (const ttl of ['0', '500ms', '61m', '2h']) {
      const r = configSchema.safeParse({ ...base, targets: [{ name: 'iij', type: 'iij', id_cache: { enabled: true, ttl } }] });
      assert.ok(!r.success, ttl);
      const issue = r.error.issues[0]!;
      assert.deepEqual(issue.path, ['targets', 0, 'id_cache', 'ttl']);
      assert.match(issue.message, /between 1s and 1h.*Directory Sync interval/);
    }
    const typo = configSchema.safeParse({ ...base, targets: [{ name: 'iij', type: 'iij', id_cache: { enabled: true, tll: '5m' } }] });
    assert.ok(!typo.success, 'unknown keys are errors');
  });
});

describe('id cache metrics', () => {
  it('pwsync_target_id_cache_total counts hits, misses and invalidations from events 3011-3013, with no value or id in a label', async () => {
    const journal = new Journal();
    const config = configSchema.parse({ ad: { ldap: { server: { addresses: ['dc1'], user: 'u' }, base_dn: 'DC=x' } }, targets: [{ name: 'iij', type: 'iij' }] });
    const secret = secretSchema.parse({ ad: { ldap: { server: { password: 'bind-pw' } } }, targets: { iij: { access_token: 'tok' } } });
    const m = createMetrics({
      outbox: { countsByState: () => ({}), oldestOpenReceivedAt: () => undefined, targetSummary: () => [] },
      journal,
      delivery: { targetHealth: () => new Map() },
      config: { config, secret, configPath: '/x/config.yml', secretPath: '/x/secret.yml' },
    });
    const inner = new FakeScim();
    inner.users.set('id-x', 'alice@x');
    const t = withIdCache(inner, { cache: new ScimIdCache({ ttlMs: MIN, maxEntries: 10, now: () => 0 }), ttlMs: MIN, warmUp: false, now: () => 0, journal });
    await deliver(t, 'alice@x', GA, 'Pw-1');
    await deliver(t, 'alice@x', GA, 'Pw-2');
    inner.users.delete('id-x');
    inner.users.set('id-y', 'alice@x');
    await deliver(t, 'alice@x', GA, 'Pw-3');
    const text = await m.registry.metrics();
    m.close();
    assert.match(text, /^pwsync_target_id_cache_total\{target="iij",result="miss"\} 1$/m);
    assert.match(text, /^pwsync_target_id_cache_total\{target="iij",result="hit"\} 2$/m);
    assert.match(text, /^pwsync_target_id_cache_total\{target="iij",result="invalidated"\} 1$/m);
    assert.doesNotMatch(text, /alice@x|id-x|id-y|Pw-/);
  });
});
