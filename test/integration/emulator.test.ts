// Integration tests of the IIJ ID Service emulator, driven over real HTTP with global fetch.
// They never import from src/: the emulator is checked on its own, as a client would see it.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startEmulator, type Emulator, type EmulatorOptions } from '../../emulator/server.js';

const READ = 'escim_read_users';
const WRITE = 'escim_write_users';
const TOKEN = 'tok-full-access-1234567890';
const READ_ONLY_TOKEN = 'tok-read-only-1234567890';
const WRITE_ONLY_TOKEN = 'tok-write-only-1234567890';
const SEARCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';
const PATCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';
const CORE_USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const IIJ_SCHEMAS = [
  CORE_USER,
  'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User',
  'urn:oidfj:params:scim:schemas:extention:enterprisejp:2.0:User',
  'urn:iij:params:scim:schemas:extension:enterprisejp:2.0:User',
];
const ALICE_PASSWORD = 'Alice-Old-Pass1';

const baseSeed = (): NonNullable<EmulatorOptions['seed']> => ({
  tokens: [
    { token: TOKEN, scopes: [READ, WRITE] },
    { token: READ_ONLY_TOKEN, scopes: [READ] },
    { token: WRITE_ONLY_TOKEN, scopes: [WRITE] },
  ],
  users: [
    {
      userName: 'alice@example.jp', externalId: 'alice@example.test', name: { familyName: 'Sato', givenName: 'Alice' },
      emails: [{ value: 'alice@example.jp', primary: true }], active: true, password: ALICE_PASSWORD,
    },
    { userName: 'bob@example.jp', externalId: 'bob@example.test', emails: [{ value: 'bob@example.jp', primary: true }] },
    { userName: 'erin@example.jp', emails: [{ value: 'erin@example.jp', primary: true }] },
  ],
});

async function withEmulator(options: EmulatorOptions, body: (e: Emulator) => Promise<void>): Promise<void> {
  const emulator = await startEmulator({ seed: baseSeed(), ...options });
  try {
    await body(emulator);
  } finally {
    await emulator.close();
  }
}

interface Reply {
  status: number;
  headers: Headers;
  text: string;
  json: Record<string, unknown>;
}

async function call(e: Emulator, method: string, path: string,
  opts: { token?: string | null; body?: unknown; rawBody?: string } = {}): Promise<Reply> {
  const headers: Record<string, string> = { Accept: 'application/scim+json' };
  const token = opts.token === undefined ? TOKEN : opts.token;
  if (token !== null) headers.Authorization = `Bearer ${token}`;
  let body: string | undefined;
  if (opts.rawBody !== undefined || opts.body !== undefined) {
    headers['Content-Type'] = 'application/scim+json';
    body = opts.rawBody ?? JSON.stringify(opts.body);
  }
  const res = await fetch(new URL(path, e.scimBase), { method, headers, ...(body === undefined ? {} : { body }) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

async function control(e: Emulator, method: string, path: string, body?: unknown, key: string = e.adminKey): Promise<Reply> {
  const res = await fetch(`${e.url}/_emulator/${path}`, {
    method,
    headers: { 'X-Emulator-Admin': key, 'Content-Type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

/** The exact body IIJ's Password Sync agent sends (docs/targets.md#find-the-user). */
const iijSearch = (externalId: string): unknown => ({
  schemas: [SEARCH_SCHEMA],
  attributes: ['id', 'externalId'],
  filter: `externalId pr and (externalId eq "${externalId}")`,
});

const passwordPatch = (password: string): unknown => ({
  schemas: [PATCH_SCHEMA],
  Operations: [{ op: 'replace', path: 'password', value: password }],
});

function aliceId(e: Emulator): string {
  const alice = e.getUser({ externalId: 'alice@example.test' });
  assert.ok(alice);
  return alice.id;
}

function assertScimError(reply: Reply, status: number, scimType?: string): void {
  assert.equal(reply.status, status, reply.text);
  assert.match(reply.headers.get('content-type') ?? '', /^application\/scim\+json/);
  assert.deepEqual(reply.json.schemas, [ERROR_SCHEMA]);
  assert.equal(reply.json.status, String(status));
  assert.equal(typeof reply.json.detail, 'string');
  assert.equal(reply.json.scimType, scimType);
}

test('search with the exact IIJ body finds the user and returns only id and externalId', async () => {
  await withEmulator({}, async (e) => {
    const reply = await call(e, 'POST', 'Users/.search', { body: iijSearch('alice@example.test') });
    assert.equal(reply.status, 200);
    assert.match(reply.headers.get('content-type') ?? '', /^application\/scim\+json/);
    assert.deepEqual(reply.json.schemas, ['urn:ietf:params:scim:api:messages:2.0:ListResponse']);
    assert.equal(reply.json.totalResults, 1);
    assert.equal(reply.json.startIndex, 1);
    assert.equal(reply.json.itemsPerPage, 1);
    assert.deepEqual(reply.json.Resources, [{ schemas: IIJ_SCHEMAS, id: aliceId(e), externalId: 'alice@example.test' }]);
  });
});

test('search misses: unknown externalId, other case, and a user whose externalId is empty', async () => {
  await withEmulator({}, async (e) => {
    for (const value of ['nobody@example.test', 'ALICE@example.test', '']) {
      const reply = await call(e, 'POST', 'Users/.search', { body: iijSearch(value) });
      assert.equal(reply.status, 200);
      assert.equal(reply.json.totalResults, 0, value);
      assert.deepEqual(reply.json.Resources, []);
    }
    // `externalId pr` must skip erin, whose externalId is "" (RFC 7644: pr needs a non-empty value).
    const present = await call(e, 'POST', 'Users/.search', { body: { schemas: [SEARCH_SCHEMA], filter: 'externalId pr' } });
    assert.equal(present.json.totalResults, 2);
  });
});

test('search: body without the SearchRequest schema is 400 invalidSyntax; a malformed filter is 400 invalidFilter', async () => {
  await withEmulator({}, async (e) => {
    const noSchema = await call(e, 'POST', 'Users/.search', { body: { filter: 'externalId pr' } });
    assertScimError(noSchema, 400, 'invalidSyntax');
    for (const filter of ['externalId eq', 'externalId xx "a"', '(externalId eq "a"']) {
      const bad = await call(e, 'POST', 'Users/.search', { body: { schemas: [SEARCH_SCHEMA], filter } });
      assertScimError(bad, 400, 'invalidFilter');
      const badGet = await call(e, 'GET', `Users?filter=${encodeURIComponent(filter)}`);
      assertScimError(badGet, 400, 'invalidFilter');
    }
    assertScimError(await call(e, 'POST', 'Users/.search', { rawBody: '{"schemas": [' }), 400, 'invalidSyntax');
  });
});

test('search honours startIndex and count', async () => {
  await withEmulator({}, async (e) => {
    const reply = await call(e, 'POST', 'Users/.search', { body: { schemas: [SEARCH_SCHEMA], startIndex: 2, count: 1 } });
    assert.equal(reply.json.totalResults, 3);
    assert.equal(reply.json.startIndex, 2);
    assert.equal(reply.json.itemsPerPage, 1);
    assert.equal((reply.json.Resources as Array<{ userName: string }>)[0]?.userName, 'bob@example.jp');
  });
});

test('GET /Users with filter (userName is case-insensitive) and attributes', async () => {
  await withEmulator({}, async (e) => {
    const filter = encodeURIComponent('userName eq "ALICE@example.jp"');
    const reply = await call(e, 'GET', `Users?filter=${filter}&attributes=userName,name.givenName`);
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.json.Resources, [
      { schemas: IIJ_SCHEMAS, id: aliceId(e), userName: 'alice@example.jp', name: { givenName: 'Alice' } },
    ]);
    const all = await call(e, 'GET', 'Users');
    assert.equal(all.json.totalResults, 3);
  });
});

test('GET /Users/{id}: IIJ representation, externalId "" when unset, never a password; 404 for an unknown id', async () => {
  await withEmulator({}, async (e) => {
    const erin = e.getUser({ userName: 'erin@example.jp' });
    assert.ok(erin);
    const reply = await call(e, 'GET', `Users/${erin.id}`);
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.json.schemas, IIJ_SCHEMAS);
    assert.equal(reply.json.externalId, '');
    assert.equal(reply.json.active, true);
    const meta = reply.json.meta as Record<string, string>;
    assert.equal(meta.resourceType, 'User');
    assert.equal(meta.location, `${e.scimBase}Users/${erin.id}`);
    assert.match(meta.created ?? '', /\+09:00$/);
    assert.match(meta.lastModified ?? '', /\+09:00$/);
    const alice = await call(e, 'GET', `Users/${aliceId(e)}`);
    assert.ok(!/password/i.test(alice.text));
    assert.ok(!alice.text.includes(ALICE_PASSWORD));
    assertScimError(await call(e, 'GET', 'Users/00000000-0000-0000-0000-000000000000'), 404);
  });
});

test('PATCH password (path form) answers 204; the new password verifies, the old one does not', async () => {
  await withEmulator({}, async (e) => {
    const id = aliceId(e);
    const reply = await call(e, 'PATCH', `Users/${id}`, { body: passwordPatch('New-Pass-2024') });
    assert.equal(reply.status, 204);
    assert.equal(reply.text, '');
    const now = await e.verifyPassword({ id }, 'New-Pass-2024');
    assert.equal(now.match, true);
    assert.equal(now.passwordSetCount, 1);
    assert.ok(now.lastPasswordSetAt);
    assert.equal((await e.verifyPassword({ id }, ALICE_PASSWORD)).match, false);
  });
});

test('PATCH password (Entra value-object form) answers 204; PATCH of another attribute answers 200 with the user', async () => {
  await withEmulator({}, async (e) => {
    const id = aliceId(e);
    const entra = await call(e, 'PATCH', `Users/${id}`, {
      body: { schemas: [PATCH_SCHEMA], Operations: [{ op: 'Replace', value: { password: 'Entra-Style-9' } }] },
    });
    assert.equal(entra.status, 204);
    assert.equal((await e.verifyPassword({ externalId: 'alice@example.test' }, 'Entra-Style-9')).match, true);
    const other = await call(e, 'PATCH', `Users/${id}`, {
      body: { schemas: [PATCH_SCHEMA], Operations: [{ op: 'replace', path: 'active', value: false }] },
    });
    assert.equal(other.status, 200);
    assert.equal(other.json.active, false);
    assert.equal(other.json.id, id);
    const notPatchOp = await call(e, 'PATCH', `Users/${id}`, { body: { Operations: [] } });
    assertScimError(notPatchOp, 400, 'invalidSyntax');
  });
});

test('PUT replaces the user, keeps id and meta.created, and sets the password it carries', async () => {
  await withEmulator({}, async (e) => {
    const id = aliceId(e);
    const before = await call(e, 'GET', `Users/${id}`);
    const reply = await call(e, 'PUT', `Users/${id}`, {
      body: {
        schemas: [CORE_USER], userName: 'alice@example.jp', externalId: 'alice@example.test',
        name: { familyName: 'Sato', givenName: 'Alicia' }, emails: [{ value: 'alice@example.jp', primary: true }],
        password: 'Put-Pass-777',
      },
    });
    assert.equal(reply.status, 200);
    assert.equal(reply.json.id, id);
    assert.deepEqual(reply.json.name, { familyName: 'Sato', givenName: 'Alicia' });
    const metaBefore = before.json.meta as Record<string, string>;
    const metaAfter = reply.json.meta as Record<string, string>;
    assert.equal(metaAfter.created, metaBefore.created);
    assert.notEqual(metaAfter.version, metaBefore.version);
    assert.ok(!reply.text.includes('Put-Pass-777'));
    assert.equal((await e.verifyPassword({ id }, 'Put-Pass-777')).match, true);
  });
});

test('POST /Users creates (201 + Location); a duplicate userName or externalId is 409 uniqueness', async () => {
  await withEmulator({}, async (e) => {
    const user = {
      schemas: [CORE_USER], userName: 'frank@example.jp', externalId: 'frank@example.test',
      emails: [{ value: 'frank@example.jp', primary: true }], password: 'Frank-Pass-1',
    };
    const created = await call(e, 'POST', 'Users', { body: user });
    assert.equal(created.status, 201);
    assert.equal(created.headers.get('location'), `${e.scimBase}Users/${String(created.json.id)}`);
    assert.ok(!created.text.includes('Frank-Pass-1'));
    assertScimError(await call(e, 'POST', 'Users', { body: { ...user, externalId: 'other@example.test' } }), 409, 'uniqueness');
    const sameExternal = await call(e, 'POST', 'Users', { body: { ...user, userName: 'frank2@example.jp' } });
    assertScimError(sameExternal, 409, 'uniqueness');
    assert.equal(sameExternal.json.detail, 'externalId has already been taken');
  });
});

test('password policy: short, no complexity, multibyte, empty are 400 invalidValue naming the rule, never echoing the password', async () => {
  await withEmulator({}, async (e) => {
    const id = aliceId(e);
    const cases: Array<[string, RegExp]> = [
      ['Ab1!x', /at least 8 characters/],
      ['alllowercase', /3 of these 4/],
      ['Pässwörd-123', /ASCII/],
      ['パスワードPass1', /ASCII/],
      ['Aa1!'.repeat(7), /at most 24 characters/],
      ['', /empty/],
    ];
    for (const [password, rule] of cases) {
      const reply = await call(e, 'PATCH', `Users/${id}`, { body: passwordPatch(password) });
      assertScimError(reply, 400, 'invalidValue');
      assert.match(String(reply.json.detail), rule);
      if (password !== '') assert.ok(!reply.text.includes(password), 'the detail must not echo the password');
    }
    const check = await e.verifyPassword({ id }, ALICE_PASSWORD);
    assert.deepEqual([check.match, check.passwordSetCount], [true, 0]);
  });
});

test('password policy is configurable: minimum length and history', async () => {
  await withEmulator({ policy: { minLength: 12, history: 2 } }, async (e) => {
    const id = aliceId(e);
    assertScimError(await call(e, 'PATCH', `Users/${id}`, { body: passwordPatch('Short-Pass1') }), 400, 'invalidValue');
    assert.equal((await call(e, 'PATCH', `Users/${id}`, { body: passwordPatch('Long-Enough-Pass1') })).status, 204);
    const reused = await call(e, 'PATCH', `Users/${id}`, { body: passwordPatch(ALICE_PASSWORD) });
    assertScimError(reused, 400, 'invalidValue');
    assert.match(String(reused.json.detail), /last 2 passwords/);
    await assert.rejects(startEmulator({ policy: { minLength: 4 } }), /between 6 and 24/);
  });
});

test('401 for a missing, unknown, revoked or expired token, with WWW-Authenticate', async () => {
  const t0 = Date.parse('2030-01-01T00:00:00Z');
  let now = t0;
  await withEmulator({ clock: () => now }, async (e) => {
    e.addToken({ token: 'tok-expiring-0000', scopes: [READ, WRITE], expiresAt: new Date(t0 + 60_000) });
    assert.equal((await call(e, 'GET', 'Users', { token: 'tok-expiring-0000' })).status, 200);
    now = t0 + 60_000;
    const revoked = e.addToken({ scopes: [READ, WRITE] });
    assert.equal((await control(e, 'POST', 'tokens/revoke', { token: revoked })).status, 200);
    for (const token of [null, 'tok-unknown-0000', revoked, 'tok-expiring-0000']) {
      const reply = await call(e, 'POST', 'Users/.search', { token, body: iijSearch('alice@example.test') });
      assertScimError(reply, 401);
      assert.equal(reply.headers.get('www-authenticate'), 'Bearer error="invalid_token"');
      if (token) assert.ok(!reply.text.includes(token));
    }
  });
});

test('403 when the token lacks the scope of the operation; the detail names the scope', async () => {
  await withEmulator({}, async (e) => {
    const id = aliceId(e);
    const user = { schemas: [CORE_USER], userName: 'g@example.jp', emails: [{ value: 'g@example.jp' }] };
    const writes: Array<[string, string, unknown]> = [
      ['PATCH', `Users/${id}`, passwordPatch('Never-Set-123')],
      ['PUT', `Users/${id}`, { ...user, userName: 'alice@example.jp' }],
      ['POST', 'Users', user],
      ['DELETE', `Users/${id}`, undefined],
    ];
    for (const [method, path, body] of writes) {
      const reply = await call(e, method, path, { token: READ_ONLY_TOKEN, body });
      assertScimError(reply, 403);
      assert.match(String(reply.json.detail), /escim_write_users/, `${method} ${path}`);
    }
    const reads: Array<[string, string, unknown]> = [
      ['POST', 'Users/.search', iijSearch('alice@example.test')],
      ['GET', `Users/${id}`, undefined],
      ['GET', 'Users', undefined],
    ];
    for (const [method, path, body] of reads) {
      const reply = await call(e, method, path, { token: WRITE_ONLY_TOKEN, body });
      assertScimError(reply, 403);
      assert.match(String(reply.json.detail), /escim_read_users/, `${method} ${path}`);
    }
    assert.equal((await e.verifyPassword({ id }, 'Never-Set-123')).match, false);
    assert.equal(e.getUser({ id })?.pendingDeletion, false);
  });
});

test('pending deletion: still found by the search, writes are 409 mutability, re-creation is 409 uniqueness', async () => {
  await withEmulator({}, async (e) => {
    const id = aliceId(e);
    assert.equal((await call(e, 'DELETE', `Users/${id}`)).status, 204);
    const found = await call(e, 'POST', 'Users/.search', { body: iijSearch('alice@example.test') });
    assert.equal(found.json.totalResults, 1);
    const patch = await call(e, 'PATCH', `Users/${id}`, { body: passwordPatch('Pending-Pass-1') });
    assertScimError(patch, 409, 'mutability');
    assert.equal(patch.json.detail, 'User is pending deletion.');
    const put = await call(e, 'PUT', `Users/${id}`, {
      body: { schemas: [CORE_USER], userName: 'alice@example.jp', emails: [{ value: 'alice@example.jp' }] },
    });
    assertScimError(put, 409, 'mutability');
    const recreate = await call(e, 'POST', 'Users', {
      body: { schemas: [CORE_USER], userName: 'alice2@example.jp', externalId: 'alice@example.test', emails: [{ value: 'a@example.jp' }] },
    });
    assertScimError(recreate, 409, 'uniqueness');
    assert.equal((await e.verifyPassword({ id }, 'Pending-Pass-1')).match, false);
    // Leaving pending deletion through the control API makes the user writable again.
    assert.equal((await control(e, 'POST', `users/${id}/pending-deletion`, { pending: false })).status, 200);
    assert.equal((await call(e, 'PATCH', `Users/${id}`, { body: passwordPatch('Pending-Pass-1') })).status, 204);
  });
});

test('rate limit per token: 429 with Retry-After, other tokens unaffected', async () => {
  const now = Date.parse('2030-01-01T00:00:00Z'); // frozen: the bucket cannot refill during the test
  await withEmulator({ clock: () => now, rateLimit: { requestsPerSecond: 0.5, burst: 2 } }, async (e) => {
    assert.equal((await call(e, 'GET', 'Users')).status, 200);
    assert.equal((await call(e, 'GET', 'Users')).status, 200);
    const limited = await call(e, 'GET', 'Users');
    assertScimError(limited, 429);
    assert.equal(limited.headers.get('retry-after'), '2');
    assert.equal((await call(e, 'GET', 'Users', { token: READ_ONLY_TOKEN })).status, 200);
  });
});

test('forced faults: queued statuses with Retry-After, filtered by method, then normal service', async () => {
  await withEmulator({}, async (e) => {
    const id = aliceId(e);
    e.setFaults({ failNext: [{ status: 503, retryAfter: 7, count: 2 }, { status: 500, method: 'PATCH' }] });
    for (let i = 0; i < 2; i++) {
      const reply = await call(e, 'POST', 'Users/.search', { body: iijSearch('alice@example.test') });
      assertScimError(reply, 503);
      assert.equal(reply.headers.get('retry-after'), '7');
    }
    assert.equal((await call(e, 'POST', 'Users/.search', { body: iijSearch('alice@example.test') })).status, 200);
    assertScimError(await call(e, 'PATCH', `Users/${id}`, { body: passwordPatch('Fault-Pass-12') }), 500);
    assert.equal((await e.verifyPassword({ id }, 'Fault-Pass-12')).match, false, 'a faulted request must not be applied');
    assert.equal((await call(e, 'PATCH', `Users/${id}`, { body: passwordPatch('Fault-Pass-12') })).status, 204);
    assert.deepEqual(e.getFaults().failNext, []);
    // Through the control API as well: a forced 429 carries Retry-After.
    const set = await control(e, 'POST', 'faults', { failNext: [{ status: 429, retryAfter: 3 }] });
    assert.equal(set.status, 200);
    const limited = await call(e, 'GET', 'Users');
    assertScimError(limited, 429);
    assert.equal(limited.headers.get('retry-after'), '3');
    assert.equal((await control(e, 'POST', 'faults', { errorRate: 2 })).status, 400);
  });
});

test('forced faults: reset drops the connection, timeout holds the request then drops it', async () => {
  await withEmulator({ faults: { timeoutMs: 150 } }, async (e) => {
    e.setFaults({ failNext: [{ status: 'reset' }, { status: 'timeout' }] });
    await assert.rejects(call(e, 'GET', 'Users'));
    const started = performance.now();
    await assert.rejects(call(e, 'GET', 'Users'));
    assert.ok(performance.now() - started >= 140, 'the timeout fault must hold the request for timeoutMs');
    assert.equal((await call(e, 'GET', 'Users')).status, 200);
    const faults = e.requestLog().map((entry) => [entry.fault, entry.status]);
    assert.deepEqual(faults, [['reset', null], ['timeout', null], [undefined, 200]]);
  });
});

test('random faults are deterministic for a seed and follow the error rate', async () => {
  const statuses = async (): Promise<number[]> => {
    const out: number[] = [];
    await withEmulator({ faults: { errorRate: 0.5, seed: 42, kinds: [500, 502, 503, 429] } }, async (e) => {
      for (let i = 0; i < 30; i++) out.push((await call(e, 'GET', 'Users')).status);
    });
    return out;
  };
  const first = await statuses();
  assert.deepEqual(await statuses(), first);
  const failures = first.filter((s) => s !== 200).length;
  assert.ok(failures >= 5 && failures <= 25, `about half should fail, got ${failures}/30`);
  assert.ok(first.every((s) => [200, 500, 502, 503, 429].includes(s)));
});

test('latency is added to every SCIM request', async () => {
  await withEmulator({ faults: { latencyMs: 80 } }, async (e) => {
    const started = performance.now();
    assert.equal((await call(e, 'GET', 'Users')).status, 200);
    assert.ok(performance.now() - started >= 75);
  });
});

test('request log: method, path, status, token preview — no password, no full token, no query', async () => {
  await withEmulator({}, async (e) => {
    const id = aliceId(e);
    const secrets = ['Logged-Never-1', 'Ab1!x', 'パスワードPass1'];
    for (const password of secrets) await call(e, 'PATCH', `Users/${id}`, { body: passwordPatch(password) });
    await call(e, 'GET', `Users?filter=${encodeURIComponent('userName eq "alice@example.jp"')}`);
    await call(e, 'GET', 'Users', { token: null });
    const reply = await control(e, 'GET', 'requests');
    assert.equal(reply.status, 200);
    for (const secret of [...secrets, TOKEN, ALICE_PASSWORD]) assert.ok(!reply.text.includes(secret), `log leaks ${secret}`);
    const entries = reply.json as unknown as Array<Record<string, unknown>>;
    assert.equal(entries.length, 5);
    assert.deepEqual(entries.map((x) => [x.method, x.path, x.status, x.token]), [
      ['PATCH', `/scim/v2/Users/${id}`, 204, 'tok-…'],
      ['PATCH', `/scim/v2/Users/${id}`, 400, 'tok-…'],
      ['PATCH', `/scim/v2/Users/${id}`, 400, 'tok-…'],
      ['GET', '/scim/v2/Users', 200, 'tok-…'],
      ['GET', '/scim/v2/Users', 401, null],
    ]);
    assert.ok(entries.every((x) => typeof x.at === 'string' && !Number.isNaN(Date.parse(String(x.at)))));
  });
});

test('control API: admin key required; users, tokens, verify, reset over HTTP', async () => {
  await withEmulator({}, async (e) => {
    assert.equal((await control(e, 'GET', 'users', undefined, 'wrong-key')).status, 401);
    const created = await control(e, 'POST', 'users', { userName: 'gina@example.jp', externalId: 'gina@example.test', password: 'x' });
    assert.equal(created.status, 201);
    assert.ok(!created.text.includes('"password"'));
    const token = await control(e, 'POST', 'tokens', { scopes: [READ] });
    assert.equal(token.status, 201);
    const newToken = String(token.json.token);
    const found = await call(e, 'POST', 'Users/.search', { token: newToken, body: iijSearch('gina@example.test') });
    assert.equal(found.json.totalResults, 1);
    const verify = await control(e, 'POST', 'verify', { externalId: 'gina@example.test', password: 'x' });
    assert.deepEqual(verify.json, { match: true, passwordSetCount: 0, lastPasswordSetAt: null });
    assert.equal((await control(e, 'POST', 'verify', { userName: 'nobody@example.jp', password: 'x' })).status, 404);
    assert.equal((await control(e, 'POST', 'reset')).status, 204);
    assert.deepEqual(e.requestLog(), []);
    assert.equal(e.getUser({ externalId: 'gina@example.test' }), undefined);
    assert.equal(e.listUsers().length, 3);
    assert.equal((await call(e, 'GET', 'Users', { token: newToken })).status, 401);
  });
});

test('CLI prints one listening line, serves the seed and the token file, and stops on SIGTERM', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pwsync-emulator-'));
  try {
    const tokenFile = join(dir, 'token');
    const main = fileURLToPath(new URL('../../emulator/main.js', import.meta.url));
    const seed = fileURLToPath(new URL('../../../emulator/seed.example.json', import.meta.url));
    const child = spawn(process.execPath, [main, '--port', '0', '--seed', seed, '--token-file', tokenFile], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    let stdout = '';
    const lines = createInterface({ input: child.stdout });
    const first = await new Promise<string>((resolve, reject) => {
      lines.once('line', resolve);
      child.once('exit', () => reject(new Error('emulator exited before listening')));
    });
    stdout += first;
    lines.on('line', (line) => { stdout += line; });
    const line = JSON.parse(first) as { event: string; url: string; scimBase: string; adminKey: string };
    assert.equal(line.event, 'listening');
    assert.match(line.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(line.scimBase, `${line.url}/scim/v2/`);
    const token = (await readFile(tokenFile, 'utf8')).trim();
    assert.equal((await stat(tokenFile)).mode & 0o777, 0o600);
    const search = await fetch(`${line.scimBase}Users/.search`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/scim+json' },
      body: JSON.stringify(iijSearch('dave@example.test')),
    });
    assert.equal(search.status, 200);
    assert.equal(((await search.json()) as { totalResults: number }).totalResults, 1);
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.ok(!stdout.includes(token), 'the token is never printed');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
