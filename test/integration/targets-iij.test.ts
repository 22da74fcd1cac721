// The IIJ target against the IIJ ID emulator (and, where the emulator cannot show it, a recording stub):
// requests as sent, every classification row, proxy, extra CA, and no secret in any error or server log.

import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import { startEmulator, type Emulator } from '../../emulator/server.js';
import { iijTargetSchema, type IijTargetConfig } from '../../src/config/schema.js';
import { NotProvisionedError, RejectedChangeError, RetryableError, TargetFaultError, TargetUnusableError } from '../../src/errors.js';
import { createIijTarget } from '../../src/targets/iij-target.js';
import type { Target } from '../../src/targets/target.js';
import { startHttpProxy, type TestProxy } from '../support/http-proxy.js';
import { startSelfSignedHttps, type SelfSignedHttps } from '../support/tls-fixture.js';

const TOKEN = 'iij-token-RW-5c1d9e7a3b2f4068';
const READ_ONLY_TOKEN = 'iij-token-RO-8a7b6c5d4e3f2a1b';
const WRITE_ONLY_TOKEN = 'iij-token-WO-1f2e3d4c5b6a7980';
const PROXY_PASSWORD = 'proxy-pass-4d3c2b1a';
const SECRETS = [TOKEN, READ_ONLY_TOKEN, WRITE_ONLY_TOKEN, PROXY_PASSWORD];

/** Every error any test saw; checked for secrets at the end. */
const seenErrors: string[] = [];
/** Every password a test tried; none may appear in an error or in the emulator's request log. */
const passwordsUsed: string[] = [];

function iijConfig(url: string, extra: Record<string, unknown> = {}): IijTargetConfig {
  return iijTargetSchema.parse({ name: 'iij', type: 'iij', url, timeout: '5s', ...extra });
}

async function failure(p: Promise<unknown>): Promise<Error> {
  const err = await p.then(
    () => assert.fail('expected the call to fail'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof Error);
  seenErrors.push(`${err.message} ${(err as { detail?: string }).detail ?? ''}`);
  return err;
}

function pw(p: string): string {
  passwordsUsed.push(p);
  return p;
}

describe('IIJ target against the emulator', () => {
  let emu: Emulator;
  const open: Target[] = [];
  const target = (extra: Record<string, unknown> = {}, token = TOKEN, proxyPassword?: string): Target => {
    const t = createIijTarget(iijConfig(emu.scimBase, extra), token, { proxyPassword });
    open.push(t);
    return t;
  };

  before(async () => {
    emu = await startEmulator({
      seed: {
        tokens: [
          { token: TOKEN, scopes: ['escim_read_users', 'escim_write_users'] },
          { token: READ_ONLY_TOKEN, scopes: ['escim_read_users'] },
          { token: WRITE_ONLY_TOKEN, scopes: ['escim_write_users'] },
        ],
        users: [
          { userName: 'taro@example.jp', externalId: 'taro@example.local', emails: [{ value: 'taro@example.jp', primary: true }] },
          { userName: 'hanako@example.jp', externalId: 'hanako@example.local', emails: [{ value: 'hanako@example.jp', primary: true }] },
          { userName: 'jiro@example.jp', externalId: 'jiro@example.local', emails: [{ value: 'jiro@example.jp', primary: true }] },
        ],
      },
    });
  });
  // reset() clears the request log, so each test's log is kept before it for the final secret check.
  const fullLog: unknown[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((t) => t.close()));
    fullLog.push(...emu.requestLog());
    await emu.reset();
  });
  after(async () => {
    await emu.close();
    // No password and no full token in the emulator's request log (it records method, path, status, token preview).
    assert.ok(fullLog.length > 30, `only ${fullLog.length} requests were logged`);
    const log = JSON.stringify(fullLog);
    for (const s of [...SECRETS, ...passwordsUsed]) assert.ok(!log.includes(s), 'a secret reached the request log');
  });

  it('finds the user and sets the password with PATCH (verified by the emulator)', async () => {
    const t = target();
    const user = await t.find('taro@example.local');
    assert.ok(user);
    assert.equal(user.matchedValue, 'taro@example.local');
    const password = pw('Sync-Passw0rd!');
    t.checkPassword(password);
    await t.setPassword(user, password);
    const check = await emu.verifyPassword({ externalId: 'taro@example.local' }, password);
    assert.equal(check.match, true);
    assert.equal(check.passwordSetCount, 1);
    const log = emu.requestLog().map((e) => `${e.method} ${e.path} ${e.status}`);
    assert.equal(log[0], 'POST /scim/v2/Users/.search 200');
    assert.match(log[1] ?? '', new RegExp(`^PATCH /scim/v2/Users/${user.id} 20[04]$`));
  });

  it('sets the password with GET then PUT when password_update is put', async () => {
    const t = target({ password_update: 'put' });
    const user = await t.find('hanako@example.local');
    assert.ok(user);
    const password = pw('Put-Mode-Passw0rd');
    await t.setPassword(user, password);
    assert.equal((await emu.verifyPassword({ externalId: 'hanako@example.local' }, password)).match, true);
    const methods = emu.requestLog().map((e) => `${e.method} ${e.status}`);
    assert.deepEqual(methods, ['POST 200', 'GET 200', 'PUT 200']);
    // The PUT kept the rest of the user.
    assert.equal(emu.getUser({ externalId: 'hanako@example.local' })?.userName, 'hanako@example.jp');
  });

  it('returns undefined for an absent user', async () => {
    assert.equal(await target().find('nobody@example.local'), undefined);
  });

  it('pending deletion: still found, the write waits as NotProvisioned(pendingDeletion)', async () => {
    emu.setPendingDeletion({ externalId: 'jiro@example.local' }, true);
    for (const mode of ['patch', 'put'] as const) {
      const t = target({ password_update: mode });
      const user = await t.find('jiro@example.local');
      assert.ok(user, 'a user pending deletion still appears in searches');
      const err = await failure(t.setPassword(user, pw('Pending-Passw0rd')));
      assert.ok(err instanceof NotProvisionedError, `${mode}: ${err.message}`);
      assert.equal(err.pendingDeletion, true);
      assert.match(err.message, /pending deletion/);
    }
    assert.equal((await emu.verifyPassword({ externalId: 'jiro@example.local' }, 'Pending-Passw0rd')).match, false);
  });

  it('a multibyte password is rejected before any request', async () => {
    const t = target();
    const user = await t.find('taro@example.local');
    assert.ok(user);
    const before = emu.requestLog().length;
    for (const bad of ['パスワード1Aa', 'Passw0rd-é', 'Tab\tPassw0rd', 'Del\u007fPassw0rd']) {
      assert.throws(() => t.checkPassword(bad), RejectedChangeError);
      const err = await failure(t.setPassword(user, pw(bad)));
      assert.ok(err instanceof RejectedChangeError);
      assert.match(err.message, /IIJ ID does not accept multibyte characters/);
    }
    assert.equal(emu.requestLog().length, before, 'no request was made');
  });

  it('a policy violation (400) is a RejectedChange carrying IIJ\'s detail', async () => {
    emu.setPolicy({ minLength: 16 });
    const t = target();
    const user = await t.find('taro@example.local');
    assert.ok(user);
    const err = await failure(t.setPassword(user, pw('Short-Pw1')));
    assert.ok(err instanceof RejectedChangeError);
    assert.match(err.detail ?? '', /at least 16 characters/);
    assert.match(err.message, /400 invalidValue/);
    assert.match(err.message, /at least 16 characters/);
  });

  it('401 for an unknown, a revoked and an expired token → TargetUnusable', async () => {
    const revoked = emu.addToken({ token: 'iij-token-revoked-0a1b2c3d4e', scopes: ['escim_read_users', 'escim_write_users'] });
    emu.revokeToken(revoked);
    const expired = emu.addToken({
      token: 'iij-token-expired-9f8e7d6c5b',
      scopes: ['escim_read_users', 'escim_write_users'],
      expiresAt: new Date(Date.now() - 60_000),
    });
    for (const [token, said] of [
      ['iij-token-unknown-1234567890', /invalid/],
      [revoked, /revoked/],
      [expired, /expired/],
    ] as const) {
      const err = await failure(target({}, token).find('taro@example.local'));
      assert.ok(err instanceof TargetUnusableError, err.message);
      assert.equal(err.status, 401);
      assert.match(err.message, said);
      assert.ok(!err.message.includes(token), 'the token is not in the message');
    }
  });

  it('403 for a token without escim_write_users → TargetUnusable naming the scope; probe cannot tell', async () => {
    const t = target({}, READ_ONLY_TOKEN);
    assert.deepEqual(await t.probe(), { canRead: true, writeVerified: false });
    const user = await t.find('taro@example.local');
    assert.ok(user);
    const err = await failure(t.setPassword(user, pw('Scope-Passw0rd')));
    assert.ok(err instanceof TargetUnusableError);
    assert.equal(err.status, 403);
    assert.match(err.message, /escim_write_users/);
  });

  it('probe with a token without escim_read_users → TargetUnusable 403', async () => {
    const err = await failure(target({}, WRITE_ONLY_TOKEN).probe());
    assert.ok(err instanceof TargetUnusableError);
    assert.equal(err.status, 403);
    assert.match(err.message, /escim_read_users/);
  });

  it('500, 502, 503 and a connection reset → Retryable', async () => {
    const t = target();
    for (const status of [500, 502, 503, 'reset'] as const) {
      emu.setFaults({ failNext: [{ status }] });
      const err = await failure(t.find('taro@example.local'));
      assert.ok(err instanceof RetryableError, `${status}: ${err.message}`);
    }
    emu.setFaults({ failNext: [{ status: 503, retryAfter: 5, method: 'PATCH' }] });
    const user = await t.find('taro@example.local');
    assert.ok(user);
    const err = await failure(t.setPassword(user, pw('Retry-Passw0rd')));
    assert.ok(err instanceof RetryableError);
    assert.equal(err.retryAfterMs, 5000);
  });

  it('429 with Retry-After: 7 → Retryable with retryAfterMs 7000', async () => {
    emu.setFaults({ failNext: [{ status: 429, retryAfter: 7 }] });
    const err = await failure(target().find('taro@example.local'));
    assert.ok(err instanceof RetryableError);
    assert.equal(err.retryAfterMs, 7000);
  });

  it('a held request → Retryable within the configured timeout', async () => {
    emu.setFaults({ timeoutMs: 20_000, failNext: [{ status: 'timeout' }] });
    const t = target({ timeout: '400ms' });
    const started = performance.now();
    const err = await failure(t.find('taro@example.local'));
    const elapsed = performance.now() - started;
    assert.ok(err instanceof RetryableError, err.message);
    assert.match(err.message, /400 ms/);
    assert.ok(elapsed >= 390 && elapsed < 1500, `gave up after ${Math.round(elapsed)} ms`);
  });

  describe('through an authenticating forward proxy', () => {
    let proxy: TestProxy;
    before(async () => {
      proxy = await startHttpProxy({ user: 'pwsync', password: PROXY_PASSWORD });
    });
    after(() => proxy.close());
    const proxied = { http: { proxy: { use: true, address: '127.0.0.1', port: 0, user: 'pwsync' } } };
    const withPort = () => ({ http: { proxy: { ...proxied.http.proxy, port: proxy.port } } });

    it('sends the requests via the proxy with credentials', async () => {
      const t = target(withPort(), TOKEN, PROXY_PASSWORD);
      const before = proxy.forwarded;
      const user = await t.find('taro@example.local');
      assert.ok(user);
      await t.setPassword(user, pw('Proxy-Passw0rd'));
      assert.equal(proxy.forwarded - before, 2, 'search and PATCH went through the proxy');
      assert.equal((await emu.verifyPassword({ externalId: 'taro@example.local' }, 'Proxy-Passw0rd')).match, true);
    });

    it('a wrong proxy password → TargetUnusable naming the proxy, without the password', async () => {
      const wrong = 'wrong-proxy-pass-77';
      const t = target(withPort(), TOKEN, wrong);
      const err = await failure(t.find('taro@example.local'));
      assert.ok(err instanceof TargetUnusableError, err.message);
      assert.equal(err.status, 407);
      assert.match(err.message, new RegExp(`proxy 127\\.0\\.0\\.1:${proxy.port}`));
      assert.ok(!err.message.includes(wrong));
      assert.ok(proxy.refused >= 1);
    });
  });
});

describe('IIJ target: extra CA (ca_file) and CONNECT tunnel', () => {
  let https: SelfSignedHttps;
  let proxy: TestProxy;
  before(async () => {
    https = await startSelfSignedHttps();
    proxy = await startHttpProxy({ user: 'pwsync', password: PROXY_PASSWORD });
  });
  after(async () => {
    await proxy.close();
    await https.dispose();
  });

  it('rejects the self-signed server without ca_file (TargetUnusable naming ca_file)', async () => {
    const t = createIijTarget(iijConfig(https.scimBase), TOKEN);
    try {
      const err = await failure(t.find('taro@example.local'));
      assert.ok(err instanceof TargetUnusableError, err.message);
      assert.match(err.message, /ca_file/);
      assert.equal(https.requests, 0);
    } finally {
      await t.close();
    }
  });

  it('accepts it with ca_file', async () => {
    const t = createIijTarget(iijConfig(https.scimBase, { ca_file: https.caFile }), TOKEN);
    try {
      assert.equal(await t.find('taro@example.local'), undefined);
      assert.equal(https.requests, 1);
    } finally {
      await t.close();
    }
  });

  it('tunnels HTTPS through the proxy with CONNECT and still verifies with ca_file', async () => {
    const cfg = iijConfig(https.scimBase, {
      ca_file: https.caFile,
      http: { proxy: { use: true, address: '127.0.0.1', port: proxy.port, user: 'pwsync' } },
    });
    const t = createIijTarget(cfg, TOKEN, { proxyPassword: PROXY_PASSWORD });
    try {
      const before = proxy.tunnels;
      assert.equal(await t.find('taro@example.local'), undefined);
      assert.equal(proxy.tunnels - before, 1);
    } finally {
      await t.close();
    }
    const wrong = createIijTarget(cfg, TOKEN, { proxyPassword: 'bad-tunnel-pass' });
    try {
      const err = await failure(wrong.find('taro@example.local'));
      assert.ok(err instanceof TargetUnusableError, err.message);
      assert.equal(err.status, 407);
    } finally {
      await wrong.close();
    }
  });
});

describe('IIJ target: requests byte for byte, and answers the emulator cannot give (recording stub)', () => {
  interface Recorded {
    method: string;
    url: string;
    headers: IncomingMessage['headers'];
    body: string;
  }
  let server: Server;
  let base: string;
  const recorded: Recorded[] = [];
  let answer: (r: Recorded, res: ServerResponse) => void = (_r, res) => res.writeHead(500).end();
  before(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const r = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
        recorded.push(r);
        answer(r, res);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    // No trailing slash on purpose: the target normalises it.
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/scim/v2`;
  });
  after(() => new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  }));
  const json = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/scim+json' }).end(JSON.stringify(body));
  };
  const list = (...resources: unknown[]) => ({
    schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'],
    totalResults: resources.length,
    startIndex: 1,
    itemsPerPage: resources.length,
    Resources: resources,
  });

  it('sends exactly IIJ Password Sync\'s search body and SCIM headers', async () => {
    recorded.length = 0;
    answer = (_r, res) => json(res, 200, list());
    const t = createIijTarget(iijConfig(base), TOKEN);
    try {
      await t.find('a"b\\c@example.local');
    } finally {
      await t.close();
    }
    const r = recorded[0]!;
    assert.equal(r.method, 'POST');
    assert.equal(r.url, '/scim/v2/Users/.search');
    assert.equal(
      r.body,
      '{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"attributes":["id","externalId"],' +
        '"filter":"externalId pr and (externalId eq \\"a\\\\\\"b\\\\\\\\c@example.local\\")"}',
    );
    assert.equal(r.headers['authorization'], `Bearer ${TOKEN}`);
    assert.equal(r.headers['content-type'], 'application/scim+json');
    assert.equal(r.headers['accept'], 'application/scim+json, application/json');
  });

  it('sends the PATCH body and encodes the id in the URL', async () => {
    recorded.length = 0;
    answer = (_r, res) => res.writeHead(204).end();
    const t = createIijTarget(iijConfig(base), TOKEN);
    const password = pw('Stub-Passw0rd"\\');
    try {
      await t.setPassword({ id: 'a/b?c', matchedValue: 'x' }, password);
    } finally {
      await t.close();
    }
    const r = recorded[0]!;
    assert.equal(r.method, 'PATCH');
    assert.equal(r.url, '/scim/v2/Users/a%2Fb%3Fc');
    assert.deepEqual(JSON.parse(r.body), {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations: [{ op: 'replace', path: 'password', value: password }],
    });
  });

  it('PUT mode drops meta and groups, keeps schemas and the rest', async () => {
    recorded.length = 0;
    const user = {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
      id: 'u1',
      externalId: 'x',
      userName: 'x@example.jp',
      meta: { resourceType: 'User' },
      groups: [{ value: 'g1' }],
      active: true,
    };
    answer = (r, res) => (r.method === 'GET' ? json(res, 200, user) : json(res, 200, user));
    const t = createIijTarget(iijConfig(base, { password_update: 'put' }), TOKEN);
    try {
      await t.setPassword({ id: 'u1', matchedValue: 'x' }, pw('Put-Stub-Passw0rd'));
    } finally {
      await t.close();
    }
    assert.deepEqual(recorded.map((r) => r.method), ['GET', 'PUT']);
    const { meta: _m, groups: _g, ...kept } = user;
    assert.deepEqual(JSON.parse(recorded[1]!.body), { ...kept, password: 'Put-Stub-Passw0rd' });
  });

  it('two users with the same externalId → RejectedChange naming the count', async () => {
    // The emulator enforces externalId uniqueness (as IIJ does), so a duplicate can only come from a stub.
    answer = (_r, res) => json(res, 200, list({ id: 'u1', externalId: 'dup' }, { id: 'u2', externalId: 'dup' }));
    const t = createIijTarget(iijConfig(base), TOKEN);
    try {
      const err = await failure(t.find('dup'));
      assert.ok(err instanceof RejectedChangeError);
      assert.match(err.message, /2 users match externalId/);
    } finally {
      await t.close();
    }
  });

  it('a hit whose externalId is not exactly the searched value is not taken', async () => {
    answer = (_r, res) => json(res, 200, list({ id: 'u1', externalId: 'TARO@example.local' }));
    const t = createIijTarget(iijConfig(base), TOKEN);
    try {
      const err = await failure(t.find('taro@example.local'));
      assert.ok(err instanceof NotProvisionedError);
      assert.match(err.message, /not exactly the searched value/);
    } finally {
      await t.close();
    }
  });

  it('a huge non-JSON error body is read only up to 64 KiB and not echoed', async () => {
    answer = (_r, res) => res.writeHead(400, { 'content-type': 'text/html' }).end('<p>' + 'x'.repeat(5 * 1024 * 1024));
    const t = createIijTarget(iijConfig(base), TOKEN);
    try {
      const err = await failure(t.find('taro@example.local'));
      assert.ok(err instanceof RejectedChangeError);
      assert.ok(err.message.length < 300);
    } finally {
      await t.close();
    }
  });

  it('a 200 that is not a ListResponse (maintenance page) → TargetFault, retried, never a pause', async () => {
    answer = (_r, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>down for maintenance</html>');
    const t = createIijTarget(iijConfig(base), TOKEN);
    try {
      const err = await failure(t.find('taro@example.local'));
      assert.ok(err instanceof TargetFaultError, err.message);
      assert.ok(err instanceof RetryableError);
    } finally {
      await t.close();
    }
  });

  it('no error message seen in this file contains a token, the proxy password or a password', () => {
    assert.ok(seenErrors.length > 20, `only ${seenErrors.length} errors were collected`);
    for (const text of seenErrors) {
      for (const s of [...SECRETS, ...passwordsUsed]) assert.ok(!text.includes(s), `secret in: ${text}`);
    }
  });
});
