// Which secret a target needs is decided once (src/config/target-secret.ts): the config loader, the target factory
// and the HTTP client's credentials all go through it, so a missing secret reads the same wherever it is caught.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { iijTargetSchema, scimTargetSchema } from '../../src/config/schema.js';
import { resolveTargetSecret } from '../../src/config/target-secret.js';
import { ConfigError } from '../../src/errors.js';
import { createTarget } from '../../src/targets/index.js';
import { credentialsOf } from '../../src/targets/http-client.js';

const TOKEN = 'tok-9f1c2e';
const BASIC_PW = 'basic-pw-77aa';
const PROXY_PW = 'proxy-pw-31bd';
const iij = (extra: Record<string, unknown> = {}) => iijTargetSchema.parse({ name: 'iij', type: 'iij', ...extra });
const scim = (extra: Record<string, unknown> = {}) => scimTargetSchema.parse({ name: 'acme', type: 'scim', url: 'https://scim.example.test/v2/', ...extra });
const withProxy = { http: { proxy: { use: true, address: 'proxy.example.test', port: 3128, user: 'svc-proxy' } } };

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a ConfigError');
}

test('a missing access token names the key, the target and (for IIJ) the scopes; the file when known', () => {
  const e = configError(() => resolveTargetSecret(iij(), undefined, '/etc/pwsync/secret.yml'));
  assert.equal(
    e.message,
    'secret.yml (/etc/pwsync/secret.yml): targets.iij.access_token is missing: add the access token for target "iij" (an IIJ ID token with scopes escim_read_users and escim_write_users)',
  );
  assert.match(configError(() => resolveTargetSecret(scim(), {})).message, /^secret\.yml: targets\.acme\.access_token is missing: add the access token for target "acme"$/);
});

test('basic auth needs auth.user in config.yml and basic_password in secret.yml; a token alone does not do', () => {
  assert.match(configError(() => resolveTargetSecret(scim({ auth: { type: 'basic' } }), { basic_password: BASIC_PW })).message, /auth\.type is basic: set auth\.user/);
  assert.match(configError(() => resolveTargetSecret(scim({ auth: { type: 'basic', user: 'svc' } }), { access_token: TOKEN })).message, /targets\.acme\.basic_password is missing/);
  assert.deepEqual(resolveTargetSecret(scim({ auth: { type: 'basic', user: 'svc' } }), { basic_password: BASIC_PW }), { auth: { kind: 'basic', user: 'svc', password: BASIC_PW } });
});

test('a proxy user needs proxy_password; without a proxy user none is asked for or carried', () => {
  assert.match(configError(() => resolveTargetSecret(iij(withProxy), { access_token: TOKEN })).message, /targets\.iij\.proxy_password is missing: add the password of proxy user "svc-proxy"/);
  assert.deepEqual(resolveTargetSecret(iij(withProxy), { access_token: TOKEN, proxy_password: PROXY_PW }).proxy, { user: 'svc-proxy', password: PROXY_PW });
  assert.equal(resolveTargetSecret(iij(), { access_token: TOKEN, proxy_password: PROXY_PW }).proxy, undefined);
});

test('no message carries a secret value', () => {
  const messages = [
    configError(() => resolveTargetSecret(iij(withProxy), { access_token: TOKEN })).message,
    configError(() => resolveTargetSecret(scim({ auth: { type: 'basic', user: 'svc' } }), { access_token: TOKEN, proxy_password: PROXY_PW })).message,
  ];
  for (const m of messages) for (const s of [TOKEN, BASIC_PW, PROXY_PW]) assert.ok(!m.includes(s), m);
});

test('the target factory refuses with the same words as the config loader', () => {
  const direct = configError(() => resolveTargetSecret(iij(withProxy), { access_token: TOKEN })).message;
  assert.equal(configError(() => createTarget(iij(withProxy), { access_token: TOKEN })).message, direct);
  assert.equal(
    configError(() => createTarget(scim({ auth: { type: 'basic', user: 'svc' } }), {})).message,
    configError(() => resolveTargetSecret(scim({ auth: { type: 'basic', user: 'svc' } }), {})).message,
  );
});

test('credentials: the headers carry the secrets, and every secret and its encoding is listed for scrubbing', () => {
  const bearer = credentialsOf(resolveTargetSecret(iij(withProxy), { access_token: TOKEN, proxy_password: PROXY_PW }));
  const proxyBasic = Buffer.from(`svc-proxy:${PROXY_PW}`).toString('base64');
  assert.equal(bearer.authorization, `Bearer ${TOKEN}`);
  assert.equal(bearer.proxyAuthorization, `Basic ${proxyBasic}`);
  assert.deepEqual([...bearer.secrets].sort(), [TOKEN, PROXY_PW, proxyBasic].sort());
  const basic = credentialsOf(resolveTargetSecret(scim({ auth: { type: 'basic', user: 'svc' } }), { basic_password: BASIC_PW }));
  const encoded = Buffer.from(`svc:${BASIC_PW}`).toString('base64');
  assert.equal(basic.authorization, `Basic ${encoded}`);
  assert.equal(basic.proxyAuthorization, undefined);
  assert.deepEqual([...basic.secrets].sort(), [BASIC_PW, encoded].sort());
});
