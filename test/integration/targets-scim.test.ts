// The generic SCIM target against an independent SCIM server (scimmy): find, set password, classification.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { scimTargetSchema, type ScimTargetConfig } from '../../src/config/schema.js';
import { ConfigError, NotProvisionedError, RejectedChangeError, TargetUnusableError } from '../../src/errors.js';
import { createTarget } from '../../src/targets/index.js';
import { startScimmyServer, type ScimmyServer } from '../support/scimmy-server.js';

const TOKEN = 'scimmy-bearer-7f3a9c1e5d2b4a6f';
const BASIC_PASSWORD = 'basic-pass-9b8c7d6e';

function scimConfig(url: string, extra: Record<string, unknown> = {}): ScimTargetConfig {
  return scimTargetSchema.parse({ name: 'scimmy', type: 'scim', url, timeout: '5s', ...extra });
}

/** Every error message, and everything the server logged, is free of these. */
function assertNoSecret(text: string, secrets: string[]): void {
  for (const s of secrets) assert.ok(!text.includes(s), `a secret leaked into: ${text.slice(0, 200)}`);
}

describe('generic SCIM target against scimmy (bearer)', () => {
  let server: ScimmyServer;
  before(async () => {
    server = await startScimmyServer({ type: 'bearer', token: TOKEN });
    await server.addUser({ userName: 'alice@example.test', externalId: 'ext-alice', password: 'Old-Passw0rd' });
    await server.addUser({ userName: 'bob@example.test', externalId: 'ext-bob' });
    await server.addUser({ userName: 'dup1@example.test', externalId: 'ext-dup' });
    await server.addUser({ userName: 'dup2@example.test', externalId: 'ext-dup' });
  });
  after(() => server.close());

  it('finds by externalId and sets the password (PATCH answered 204)', async () => {
    const target = createTarget(scimConfig(server.scimBase), { access_token: TOKEN });
    try {
      const user = await target.find('ext-alice');
      assert.ok(user);
      assert.equal(user.matchedValue, 'ext-alice');
      const password = 'New-Passw0rd-1';
      target.checkPassword(password);
      await target.setPassword(user, password);
      assert.equal(await server.verifyPassword('alice@example.test', password), true);
      assert.equal(await server.verifyPassword('alice@example.test', 'Old-Passw0rd'), false);
      const patch = server.requests().find((r) => r.method === 'PATCH');
      assert.equal(patch?.status, 204);
      assert.equal(patch?.path, `/scim/v2/Users/${user.id}`);
      assertNoSecret(JSON.stringify(server.requests()), [password, TOKEN]);
    } finally {
      await target.close();
    }
  });

  it('lists users page by page (read-only, for pwsync report mapping)', async () => {
    const target = createTarget(scimConfig(server.scimBase), { access_token: TOKEN });
    try {
      const first = await target.listPage!(1, 2);
      const second = await target.listPage!(3, 2);
      assert.equal(first.total, 4);
      assert.equal(first.compare, 'exact');
      const values = [...first.users, ...second.users].map((u) => u.value).sort();
      assert.deepEqual(values, ['ext-alice', 'ext-bob', 'ext-dup', 'ext-dup']);
      assert.equal(new Set([...first.users, ...second.users].map((u) => u.id)).size, 4);
      const byName = createTarget(scimConfig(server.scimBase, { match: 'userName' }), { access_token: TOKEN });
      try {
        const page = await byName.listPage!(1, 10);
        assert.equal(page.compare, 'case-insensitive');
        assert.ok(page.users.some((u) => u.value === 'alice@example.test'));
      } finally {
        await byName.close();
      }
      assert.ok(server.requests().every((r) => r.method === 'GET' || r.method === 'PATCH'));
    } finally {
      await target.close();
    }
  });

  it('finds by userName (match: userName)', async () => {
    const target = createTarget(scimConfig(server.scimBase, { match: 'userName' }), { access_token: TOKEN });
    try {
      const user = await target.find('bob@example.test');
      assert.ok(user);
      const bob = await target.find('ext-bob');
      assert.equal(bob, undefined, 'match: userName must not search externalId');
      const filters = server.requests().map((r) => r.filter);
      assert.ok(filters.includes('userName eq "bob@example.test"'));
    } finally {
      await target.close();
    }
  });

  it('returns undefined for an absent user', async () => {
    const target = createTarget(scimConfig(server.scimBase), { access_token: TOKEN });
    try {
      assert.equal(await target.find('ext-nobody'), undefined);
    } finally {
      await target.close();
    }
  });

  it('refuses to choose between two users with the same externalId', async () => {
    const target = createTarget(scimConfig(server.scimBase), { access_token: TOKEN });
    try {
      await assert.rejects(target.find('ext-dup'), (e: unknown) => e instanceof RejectedChangeError && /2 users match/.test(e.message));
    } finally {
      await target.close();
    }
  });

  it('classifies 404 on a password write as not provisioned', async () => {
    const target = createTarget(scimConfig(server.scimBase), { access_token: TOKEN });
    try {
      await assert.rejects(
        target.setPassword({ id: '00000000-0000-4000-8000-000000000000', matchedValue: 'x' }, 'Whatever-1'),
        NotProvisionedError,
      );
    } finally {
      await target.close();
    }
  });

  it('401 with a bad token → TargetUnusable, token not echoed', async () => {
    const bad = 'wrong-token-0123456789abcdef';
    const target = createTarget(scimConfig(server.scimBase), { access_token: bad });
    try {
      const err = await target.find('ext-alice').then(
        () => assert.fail('expected a failure'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof TargetUnusableError);
      assert.equal(err.status, 401);
      assertNoSecret(err.message, [bad, TOKEN]);
    } finally {
      await target.close();
    }
  });

  it('accepts and sets a Unicode password (no IIJ restriction here)', async () => {
    const target = createTarget(scimConfig(server.scimBase), { access_token: TOKEN });
    try {
      const password = 'Pässwörd-パスワード-🔑';
      target.checkPassword(password);
      const user = await target.find('ext-bob');
      assert.ok(user);
      await target.setPassword(user, password);
      assert.equal(await server.verifyPassword('bob@example.test', password), true);
    } finally {
      await target.close();
    }
  });

  it('rejects an ill-formed UTF-16 password before any request', async () => {
    const target = createTarget(scimConfig(server.scimBase), { access_token: TOKEN });
    try {
      const before = server.requestCount;
      await assert.rejects(target.setPassword({ id: 'x', matchedValue: 'x' }, 'abc\uD800'), RejectedChangeError);
      assert.equal(server.requestCount, before);
    } finally {
      await target.close();
    }
  });

  it('a filter injection finds nobody and reaches the server as one literal', async () => {
    const target = createTarget(scimConfig(server.scimBase), { access_token: TOKEN });
    try {
      const value = 'x" or userName pr or externalId eq "y';
      // scimmy either finds nobody or refuses the filter (400); it must never return alice, bob or the dups.
      const outcome = await target.find(value).then(
        (u) => u,
        (e: unknown) => e,
      );
      assert.ok(outcome === undefined || outcome instanceof RejectedChangeError, `unexpected ${String(outcome)}`);
      const last = server.requests().at(-1);
      assert.equal(last?.filter, 'externalId eq "x\\" or userName pr or externalId eq \\"y"');
    } finally {
      await target.close();
    }
  });

  it('probe reads but does not claim write rights', async () => {
    const target = createTarget(scimConfig(server.scimBase), { access_token: TOKEN });
    try {
      assert.deepEqual(await target.probe(), { canRead: true, writeVerified: false });
    } finally {
      await target.close();
    }
  });
});

describe('generic SCIM target against scimmy (basic auth)', () => {
  let server: ScimmyServer;
  before(async () => {
    server = await startScimmyServer({ type: 'basic', user: 'scim', password: BASIC_PASSWORD });
    await server.addUser({ userName: 'carol@example.test', externalId: 'ext-carol' });
  });
  after(() => server.close());

  it('authenticates with Basic and sets the password', async () => {
    const cfg = scimConfig(server.scimBase, { auth: { type: 'basic', user: 'scim' } });
    const target = createTarget(cfg, { basic_password: BASIC_PASSWORD });
    try {
      const user = await target.find('ext-carol');
      assert.ok(user);
      await target.setPassword(user, 'Carol-Passw0rd');
      assert.equal(await server.verifyPassword('carol@example.test', 'Carol-Passw0rd'), true);
    } finally {
      await target.close();
    }
  });

  it('a wrong basic password → TargetUnusable without the password in the message', async () => {
    const cfg = scimConfig(server.scimBase, { auth: { type: 'basic', user: 'scim' } });
    const target = createTarget(cfg, { basic_password: 'not-the-basic-pass' });
    try {
      const err = await target.find('ext-carol').then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof TargetUnusableError);
      assertNoSecret(err.message, ['not-the-basic-pass', BASIC_PASSWORD]);
    } finally {
      await target.close();
    }
  });

  it('a missing secret is a ConfigError naming the key', () => {
    const cfg = scimConfig(server.scimBase, { auth: { type: 'basic', user: 'scim' } });
    assert.throws(() => createTarget(cfg, undefined), (e: unknown) => e instanceof ConfigError && /targets\.scimmy\.basic_password/.test(e.message));
  });
});
