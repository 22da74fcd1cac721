// The examples in docs/configuration.md must be valid: an operator copies them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { configSchema, secretSchema } from '../../src/config/schema.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const blocks = [...readFileSync(path.join(root, 'docs/configuration.md'), 'utf8').matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);

test('the documented config.yml validates and keeps its documented values', () => {
  const r = configSchema.safeParse(parse(blocks[0]!));
  assert.ok(r.success, r.success ? '' : JSON.stringify(r.error.issues));
  const iij = r.data.targets[0]!;
  assert.equal(iij.type, 'iij');
  assert.equal(iij.attribute.user.ad_bind.externalId, 'userPrincipalName');
  assert.equal(r.data.queue.max_age, 72 * 3600_000);
  assert.equal(r.data.queue.retry.initial, 5000);
});

test('the documented secret.yml validates', () => {
  const r = secretSchema.safeParse(parse(blocks[1]!));
  assert.ok(r.success, r.success ? '' : JSON.stringify(r.error.issues));
});

test('defaults: a minimal config gets the documented defaults', () => {
  const c = configSchema.parse({
    ad: { ldap: { server: { addresses: ['dc1'], user: 'u' }, base_dn: 'DC=x' } },
    targets: [{ name: 'iij', type: 'iij' }],
  });
  assert.equal(c.agent.concurrency, 8);
  assert.equal(c.ad.ldap.server.encryption, 'ldaps');
  assert.equal(c.ad.ldap.server.verify_mode, true);
  assert.equal(c.targets[0]!.url, 'https://scim.auth.iij.jp/scim/v2/');
  assert.equal(c.targets[0]!.password_update, 'patch');
  assert.equal(c.queue.not_provisioned_horizon, 24 * 3600_000);
  assert.equal(c.queue.retry.max, 15 * 60_000);
  assert.equal(c.log.loglevel, 'info');
});
