// The mapping report without servers: the pure verdict of every status, the engine over fake AD pages and fake
// targets (listing with server-capped pages, search fallback, rate limit, Retry-After), CSV, the saved copy and the
// console page (escaped, behind the login, CSP headers).

import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdirSync, mkdtempSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { configSchema, secretSchema } from '../../src/config/schema.js';
import { classifyForTarget, HoldingsBuilder, type MappedAdUser } from '../../src/mapping/classify.js';
import { runMappingReport, allMatched, type MappingTarget } from '../../src/mapping/run.js';
import { loadMappingReport, mappingCsv, saveMappingReport } from '../../src/mapping/output.js';
import { ListingPageTooLargeError, ListingUnsupportedError, RejectedChangeError, RetryableError, TargetUnusableError } from '../../src/errors.js';
import { readUserPage } from '../../src/targets/scim-list.js';
import { MAX_RESPONSE_BYTES } from '../../src/targets/classify.js';
import type { TargetHttpClient } from '../../src/targets/http-client.js';
import type { Target, TargetUserPage } from '../../src/targets/target.js';
import { isPendingDeletionOutcome } from '../../src/targets/iij-pending-deletion.js';
import { classifyFailure } from '../../src/targets/classify.js';
import { Journal } from '../../src/journal/journal.js';
import { Outbox } from '../../src/outbox/store.js';
import { startConsole } from '../../src/agent-console.js';

const users: MappedAdUser[] = [
  { account: 'alice', dn: 'CN=alice', externalId: 'alice@x' },
  { account: 'bob', dn: 'CN=bob', externalId: 'bob@x' },
  { account: 'carol', dn: 'CN=carol', externalId: 'carol@x' },
  { account: 'dave', dn: 'CN=dave', externalId: 'dave@x' },
  { account: 'erin', dn: 'CN=erin', externalId: undefined },
  { account: 'fred', dn: 'CN=fred', externalId: 'same@x' },
  { account: 'gina', dn: 'CN=gina', externalId: 'same@x' },
];

function holdings(list: Array<[string, string]>, complete = true) {
  const b = new HoldingsBuilder('exact');
  for (const [id, v] of list) b.add(id, v);
  return b.build(complete);
}

describe('classifyForTarget', () => {
  const held = holdings([['1', 'alice@x'], ['2', 'carol@x'], ['3', 'carol@x'], ['4', 'dave@x'], ['5', 'same@x'], ['6', 'ghost@x'], ['7', 'Bob@x']]);
  const v = classifyForTarget('iij', users, held, new Set(['dave']));
  const status = (account: string) => v.rows.find((r) => r.account === account)!.status;

  test('one status per AD user', () => {
    assert.equal(status('alice'), 'matched');
    assert.equal(status('bob'), 'not-found', 'externalId is case-exact at IIJ: Bob@x is not bob@x');
    assert.equal(status('carol'), 'multiple');
    assert.equal(status('dave'), 'pending-deletion');
    assert.equal(status('erin'), 'no-external-id');
    assert.equal(status('fred'), 'shared');
    assert.deepEqual(v.rows.find((r) => r.account === 'gina')!.sharedWith, ['fred']);
  });
  test('reverse view: target users no AD user produces', () => {
    const orphans = v.rows.filter((r) => r.status === 'orphan').map((r) => r.externalId).sort();
    assert.deepEqual(orphans, ['Bob@x', 'ghost@x']);
    assert.deepEqual(v.counts, { matched: 1, 'not-found': 1, multiple: 1, 'pending-deletion': 1, 'no-external-id': 1, shared: 2, orphan: 2 });
    assert.equal(v.rows.at(-1)!.status, 'matched', 'problems first');
  });
  test('no reverse view from searches; userName compares case-insensitively', () => {
    assert.equal(classifyForTarget('t', users, holdings([['1', 'ghost@x']], false), new Set()).counts.orphan, 0);
    const b = new HoldingsBuilder('case-insensitive');
    b.add('7', 'Bob@X');
    assert.equal(classifyForTarget('t', [users[1]!], b.build(true), new Set()).rows[0]!.status, 'matched');
  });
});

test('pending deletion is recognised exactly from the outcome classify.ts records', () => {
  const ctx = { target: 'iij', purpose: 'write-password' as const, secrets: [], timeoutMs: 1000 };
  const body = JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: '409', scimType: 'mutability', detail: 'User is pending deletion.' });
  const err = classifyFailure({ kind: 'response', status: 409, headers: {}, body }, ctx);
  assert.ok(isPendingDeletionOutcome(err.code, err.message));
  assert.ok(!isPendingDeletionOutcome('E_NOT_PROVISIONED', 'no user with userPrincipalName-derived value "x" at iij'));
  assert.ok(!isPendingDeletionOutcome('E_REJECTED', 'pending deletion'));
});

const cfg = (rate = 1000, extra: Record<string, unknown> = {}) =>
  configSchema.parse({
    ad: { ldap: { server: { addresses: ['dc'], user: 'u' }, base_dn: 'DC=x' } },
    targets: [{ name: 'iij', type: 'iij', rate_limit: rate, attribute: { user: { convert: { externalId: [{ pattern: '@example\\.test$', replacement: '@example.jp' }] } } }, ...extra }],
  }).targets[0]!;

const ad = (n: number) => ({
  async *inScopePages() {
    for (let p = 0; p < n; p += 3) {
      const page = [];
      for (let i = p; i < Math.min(n, p + 3); i++) page.push({ dn: `CN=u${i}`, attributes: { sAMAccountName: `u${i}`, userPrincipalName: `u${i}@example.test` } });
      yield page;
    }
    yield [{ dn: 'CN=krbtgt', attributes: { sAMAccountName: 'krbtgt', userPrincipalName: 'krbtgt@example.test' } }];
  },
});

function fakeTarget(all: Array<{ id: string; value: string }>, opts: { cap?: number; noListing?: boolean; failFirst?: RetryableError; maxCount?: number } = {}) {
  const calls: string[] = [];
  let fail = opts.failFirst;
  const t: Target = {
    name: 'iij',
    checkPassword() {},
    async find(v) {
      calls.push(`find ${v}`);
      const hits = all.filter((u) => u.value === v);
      if (hits.length > 1) throw new RejectedChangeError(`iij: ${hits.length} users match externalId`);
      return hits[0] ? { id: hits[0].id, matchedValue: v } : undefined;
    },
    async setPassword() {
      throw new Error('a read-only report must never write');
    },
    async probe() {},
    async listPage(start, count): Promise<TargetUserPage> {
      calls.push(`list ${start} ${count}`);
      if (fail) {
        const f = fail;
        fail = undefined;
        throw f;
      }
      if (opts.noListing) throw new ListingUnsupportedError('iij: 400');
      if (opts.maxCount !== undefined && count > opts.maxCount) throw new ListingPageTooLargeError('iij: cap');
      const n = Math.min(count, opts.cap ?? count);
      return { users: all.slice(start - 1, start - 1 + n), total: all.length, compare: 'exact' };
    },
    async close() {},
  };
  return { t, calls };
}

describe('runMappingReport', () => {
  const targetUsers = [...Array.from({ length: 7 }, (_, i) => ({ id: `id${i}`, value: `u${i}@example.jp` })), { id: 'x', value: 'left@example.jp' }];

  test('paged listing (server caps the page), convert rules applied as delivery does, krbtgt left out', async () => {
    const { t, calls } = fakeTarget(targetUsers, { cap: 2 });
    const mt: MappingTarget = { config: cfg(), target: t, pendingDeletion: new Set() };
    const r = await runMappingReport(ad(9), [mt], { pageSize: 5 });
    assert.equal(r.adUsers, 9);
    assert.deepEqual(calls, ['list 1 5', 'list 3 5', 'list 5 5', 'list 7 5']);
    assert.equal(r.targets[0]!.method, 'listing');
    assert.equal(r.targets[0]!.targetUsers, 8);
    assert.deepEqual(r.targets[0]!.counts, { matched: 7, 'not-found': 2, multiple: 0, 'pending-deletion': 0, 'no-external-id': 0, shared: 0, orphan: 1 });
    assert.equal(allMatched(r), false);
  });

  test('a page over the response cap is asked again in halves', async () => {
    const { t, calls } = fakeTarget(targetUsers, { maxCount: 25, cap: 5 });
    const r = await runMappingReport(ad(3), [{ config: cfg(), target: t, pendingDeletion: new Set() }], { pageSize: 100 });
    assert.deepEqual(calls, ['list 1 100', 'list 1 50', 'list 1 25', 'list 6 25']);
    assert.equal(r.targets[0]!.method, 'listing');
    assert.equal(r.targets[0]!.targetUsers, 8);
    // Below 10 per page the listing is given up for searches.
    const tiny = fakeTarget(targetUsers, { maxCount: 5 });
    const r2 = await runMappingReport(ad(3), [{ config: cfg(), target: tiny.t, pendingDeletion: new Set() }], { pageSize: 20 });
    assert.deepEqual(tiny.calls.slice(0, 3), ['list 1 20', 'list 1 10', 'find u0@example.jp']);
    assert.equal(r2.targets[0]!.method, 'search');
  });

  test('no listing: one search per distinct external ID; 2+ hits is "multiple"', async () => {
    const { t, calls } = fakeTarget([...targetUsers, { id: 'dup', value: 'u0@example.jp' }], { noListing: true });
    const r = await runMappingReport(ad(3), [{ config: cfg(), target: t, pendingDeletion: new Set() }]);
    assert.equal(r.targets[0]!.method, 'search');
    assert.deepEqual(calls.filter((c) => c.startsWith('find')), ['find u0@example.jp', 'find u1@example.jp', 'find u2@example.jp']);
    assert.equal(r.targets[0]!.counts.multiple, 1);
    assert.equal(r.targets[0]!.counts.matched, 2);
  });

  test('rate limit and Retry-After: the gate waits instead of sending', async () => {
    let clock = 0;
    const waits: number[] = [];
    const sleep = async (ms: number) => {
      waits.push(ms);
      clock += ms;
    };
    const { t } = fakeTarget(targetUsers, { cap: 1, failFirst: new RetryableError('iij: 429', 3000) });
    const r = await runMappingReport(ad(3), [{ config: cfg(2), target: t, pendingDeletion: new Set() }], { now: () => clock, sleep });
    assert.equal(r.targets[0]!.requests, 9, '1 refused + 8 pages of one user');
    assert.ok(waits.some((w) => w >= 3000), `Retry-After honoured: ${waits.join(',')}`);
    // 2 requests/s with a burst of 2: 9 requests need at least 3.5 s of waiting plus the 3 s hold.
    assert.ok(clock >= 6000, `clock ${clock}`);
  });
});

test('readUserPage: statuses, the size cap, empty externalIds', () => {
  const client: TargetHttpClient = { proxyLabel: undefined, timeoutMs: 1000, secrets: ['tok'], sent: 0, send: async () => ({ kind: 'network', code: undefined, message: 'x', timedOut: false }), close: async () => {} };
  const resp = (status: number, body: string) => ({ kind: 'response' as const, status, headers: {}, body });
  for (const s of [400, 404, 405, 501]) assert.throws(() => readUserPage(client, 'iij', resp(s, ''), 'externalId', 'exact'), ListingUnsupportedError);
  assert.throws(() => readUserPage(client, 'iij', resp(401, '{}'), 'externalId', 'exact'), TargetUnusableError);
  assert.throws(() => readUserPage(client, 'iij', resp(429, '{}'), 'externalId', 'exact'), RetryableError);
  assert.throws(() => readUserPage(client, 'iij', resp(200, '{"Resources":[' + 'x'.repeat(MAX_RESPONSE_BYTES)), 'externalId', 'exact'), ListingPageTooLargeError);
  assert.throws(() => readUserPage(client, 'iij', resp(200, '<html>'), 'externalId', 'exact'), TargetUnusableError);
  const page = readUserPage(client, 'iij', resp(200, JSON.stringify({ totalResults: 3, Resources: [{ id: 'a', externalId: 'x' }, { id: 'b', externalId: '' }, { id: 'c' }] })), 'externalId', 'exact');
  assert.deepEqual(page, { users: [{ id: 'a', value: 'x' }], total: 3, compare: 'exact' });
});

test('CSV cells are quoted and formula-safe; the saved copy is 0600 and loads back', () => {
  const v = classifyForTarget('iij', [{ account: '=cmd', dn: 'CN=a,DC=x', externalId: 'a@x' }], holdings([]), new Set());
  const csv = mappingCsv(v.rows);
  assert.match(csv, /^target,status,account,external_id,target_user_ids,shared_with,dn\r\n/);
  assert.match(csv, /iij,not-found,'=cmd,a@x,,,"CN=a,DC=x"/);
  const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'pwsync-map-')), 'data');
  const report = { generatedAt: 'now', durationMs: 1, adUsers: 1, targets: [{ name: 'iij', method: 'listing' as const, targetUsers: 0, requests: 1, counts: v.counts }], rows: v.rows };
  assert.equal(saveMappingReport(dir, report), undefined, 'data_dir is the agent\'s to create');
  assert.throws(() => statSync(dir));
  mkdirSync(dir, { mode: 0o700 });
  const file = saveMappingReport(dir, report)!;
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(loadMappingReport(dir)!.rows[0]!.account, '=cmd');
});

function get(base: string, p: string, cookie?: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(p, base);
    http.get({ host: u.hostname, port: u.port, path: u.pathname, headers: cookie ? { Cookie: cookie } : {} }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    }).on('error', reject);
  });
}
function post(base: string, p: string, form: Record<string, string>, cookie: string): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const u = new URL(p, base);
    const body = new URLSearchParams(form).toString();
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { Cookie: cookie, 'Content-Type': 'application/x-www-form-urlencoded' } }, resolve);
    req.on('error', reject);
    req.end(body);
  });
}

test('console /mapping: none yet, then the saved report, escaped, behind the login', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pwsync-mapcon-'));
  const ADMIN = 'admin-token-0123456789abcdef';
  const config = configSchema.parse({
    agent: { data_dir: dir }, log: { file: path.join(dir, 'journal.jsonl') },
    ad: { ldap: { server: { addresses: ['127.0.0.1'], user: 'reader' }, base_dn: 'DC=x' } },
    targets: [{ name: 'iij', type: 'iij' }], console: { port: 0 },
  });
  const secret = secretSchema.parse({ ad: { ldap: { server: { password: 'bind-SECRET' } } }, targets: { iij: { access_token: 'tok-SECRET' } }, console: { admin_token: ADMIN } });
  const journal = new Journal({ file: config.log.file });
  const outbox = new Outbox(path.join(dir, 'outbox.sqlite'), Buffer.alloc(32, 1));
  const con = await startConsole({
    outbox, journal, config: { config, secret, configPath: path.join(dir, 'c.yml'), secretPath: path.join(dir, 's.yml') },
    delivery: { targetHealth: () => new Map(), notify: () => {} }, directory: { listInScopeUsers: async () => [] },
  });
  try {
    const anon = await get(con.url, '/mapping');
    assert.equal(anon.status, 303);
    const page = await get(con.url, '/login');
    const pre = (page.headers['set-cookie']?.[0] ?? '').split(';')[0]!;
    const csrf = /name="csrf" value="([^"]+)"/.exec(page.body)![1]!;
    const login = await post(con.url, '/login', { token: ADMIN, csrf }, pre);
    const cookie = (login.headers['set-cookie']?.[0] ?? '').split(';')[0]!;
    const none = await get(con.url, '/mapping', cookie);
    assert.equal(none.status, 200);
    assert.match(none.body, /id="mapping-none"/);

    const v = classifyForTarget('iij', [{ account: '<script>x</script>', dn: 'CN=a', externalId: 'a"@x' }, { account: 'ok', dn: 'CN=ok', externalId: 'ok@x' }], holdings([['1', 'ok@x']]), new Set());
    saveMappingReport(dir, { generatedAt: '2026-12-01T00:00:00Z', durationMs: 5, adUsers: 2, targets: [{ name: 'iij', method: 'listing', targetUsers: 1, requests: 1, counts: v.counts }], rows: v.rows });
    const shown = await get(con.url, '/mapping', cookie);
    assert.equal(shown.status, 200);
    assert.match(String(shown.headers['content-security-policy']), /script-src 'self'/);
    assert.ok(!shown.body.includes('<script>x</script>'));
    assert.ok(shown.body.includes('&lt;script&gt;x&lt;/script&gt;'));
    assert.match(shown.body, /<td class="count" data-status="not-found">1<\/td>/);
    assert.match(shown.body, /<td class="count" data-status="matched">1<\/td>/);
    assert.equal((shown.body.match(/class="mapping-row"/g) ?? []).length, 1, 'matched rows are counted, not listed');
    assert.ok(!shown.body.includes('SECRET'));
  } finally {
    await con.close();
    outbox.close();
    journal.close();
  }
});
