// Unit tests of config.yml + secret.yml loading: documented defaults, and errors that name the key path and the
// fix without ever quoting a secret.

import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError } from '../../src/errors.js';
import { loadConfig } from '../../src/config/load.js';
import { parseDuration } from '../../src/config/duration.js';

const root = mkdtempSync(path.join(tmpdir(), 'pwsync-config-'));
after(() => rmSync(root, { recursive: true, force: true }));

const AD = `ad:
  ldap:
    server:
      addresses: [dc1.example.test]
      user: svc-pwsync@example.test
    base_dn: DC=example,DC=test
`;
const TARGETS = `targets:
  - name: iij
    type: iij
`;
const BIND_PW = 'Bind-Pw-Never-Shown-42';
const TOKEN = 'tok-Never-Shown-0123456789';
const SECRET = `ad:
  ldap:
    server:
      password: ${BIND_PW}
targets:
  iij:
    access_token: ${TOKEN}
`;

let n = 0;
function write(config: string, secret = SECRET, secretMode = 0o600): string {
  const dir = path.join(root, `c${n++}`);
  const cfg = path.join(dir, 'config.yml');
  mkdirSync(dir, { recursive: true });
  writeFileSync(cfg, config);
  writeFileSync(path.join(dir, 'secret.yml'), secret, { mode: secretMode });
  chmodSync(path.join(dir, 'secret.yml'), secretMode);
  return cfg;
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.equal(err.code, 'E_CONFIG');
    assert.ok(!err.message.includes(BIND_PW) && !err.message.includes(TOKEN), `a secret leaked: ${err.message}`);
    return err;
  }
  assert.fail('loadConfig accepted the configuration');
}

describe('loadConfig', () => {
  it('loads a minimal config with every documented default', () => {
    const cfgPath = write(AD + TARGETS);
    const { config, secret, configPath, secretPath } = loadConfig(cfgPath);
    assert.equal(configPath, cfgPath);
    assert.equal(secretPath, path.join(path.dirname(cfgPath), 'secret.yml'));
    assert.deepEqual(config.agent, { data_dir: '/var/lib/pwsync', intake: { socket: '/run/pwsync/intake.sock' }, concurrency: 8, clock_skew: 2000 });
    assert.deepEqual(config.log, { loglevel: 'info', file: '/var/lib/pwsync/journal.jsonl', stderr: true });
    assert.deepEqual(config.ad.ldap.server, {
      addresses: ['dc1.example.test'], user: 'svc-pwsync@example.test', timeout: 10_000, encryption: 'ldaps', verify_mode: true,
    });
    assert.deepEqual(config.ad.ldap.filter, { user: '(&(objectCategory=person)(objectClass=user))' });
    assert.deepEqual(config.queue, {
      max_age: 72 * 3_600_000, not_provisioned_horizon: 24 * 3_600_000, paused_probe_interval: 300_000, retry: { initial: 5_000, max: 900_000 },
    });
    assert.deepEqual(config.console, { enabled: true, listen: '127.0.0.1', port: 8750, allow_insecure_http: false, allowed_hosts: [] });
    const t = config.targets[0]!;
    assert.equal(t.type, 'iij');
    assert.equal(t.url, 'https://scim.auth.iij.jp/scim/v2/');
    assert.equal(t.timeout, 30_000);
    assert.equal(t.rate_limit, 20);
    assert.equal(t.password_update, 'patch');
    assert.deepEqual(t.http, { proxy: { use: false } });
    assert.deepEqual(t.attribute.user, { ad_bind: { externalId: 'userPrincipalName' }, convert: { externalId: [] }, binary_format: 'guid' });
    assert.equal(secret.ad.ldap.server.password, BIND_PW);
    assert.equal(secret.targets.iij?.access_token, TOKEN);
  });

  it('resolves data_dir against the config folder, and the journal and socket against data_dir', () => {
    const cfgPath = write(`agent:\n  data_dir: data\n  intake:\n    socket: intake.sock\nlog:\n  file: j.jsonl\n` + AD + TARGETS);
    const { config } = loadConfig(cfgPath);
    const dataDir = path.join(path.dirname(cfgPath), 'data');
    assert.equal(config.agent.data_dir, dataDir);
    assert.equal(config.log.file, path.join(dataDir, 'j.jsonl'));
    assert.equal(config.agent.intake.socket, path.join(dataDir, 'intake.sock'));
  });

  it('a generic SCIM target with basic auth needs basic_password, not access_token', () => {
    const scim = `targets:\n  - name: corp\n    type: scim\n    url: https://scim.example.test/v2/\n    auth: {type: basic, user: sync}\n`;
    const e = configError(() => loadConfig(write(AD + scim, SECRET + `  corp:\n    access_token: x\n`)));
    assert.match(e.message, /targets\.corp\.basic_password is missing/);
    const { config } = loadConfig(write(AD + scim, SECRET + `  corp:\n    basic_password: pw\n`));
    assert.equal(config.targets[0]!.type, 'scim');
  });

  it('an unknown key (typo) names its path and points at the documentation', () => {
    const e = configError(() => loadConfig(write(AD + `targets:\n  - name: iij\n    type: iij\n    timout: 5s\n`)));
    assert.match(e.message, /targets\.0: unknown key\(s\) timout: check the spelling/);
    const top = configError(() => loadConfig(write(AD + TARGETS + `queu:\n  max_age: 1h\n`)));
    assert.match(top.message, /\(top level\): unknown key\(s\) queu/);
  });

  it('a wrong type names the key path and the expected type', () => {
    const e = configError(() => loadConfig(write(`agent:\n  concurrency: "eight"\n` + AD + TARGETS)));
    assert.match(e.message, /agent\.concurrency: .*expected number/);
    const p = configError(() => loadConfig(write(AD.replace('base_dn: DC=example,DC=test', 'base_dn: [1]') + TARGETS)));
    assert.match(p.message, /ad\.ldap\.base_dn: .*expected string/);
  });

  it('a bad duration names the key and shows valid examples', () => {
    const e = configError(() => loadConfig(write(AD + TARGETS + `queue:\n  max_age: three days\n`)));
    assert.match(e.message, /queue\.max_age: not a duration: use e\.g\. "90s"/);
  });

  it('a bad regex in convert names the rule', () => {
    const e = configError(() =>
      loadConfig(write(AD + `targets:\n  - name: iij\n    type: iij\n    attribute:\n      user:\n        convert:\n          externalId:\n            - pattern: "(unclosed"\n              replacement: x\n`)),
    );
    assert.match(e.message, /targets\.0\.attribute\.user\.convert\.externalId\.0\.pattern: not a valid regular expression/);
  });

  it('a missing access_token names the secret key and the target', () => {
    const e = configError(() => loadConfig(write(AD + TARGETS, `ad:\n  ldap:\n    server:\n      password: ${BIND_PW}\n`)));
    assert.match(e.message, /targets\.iij\.access_token is missing: add the access token for target "iij"/);
  });

  it('duplicate target names are refused at the second one', () => {
    const e = configError(() => loadConfig(write(AD + `targets:\n  - {name: iij, type: iij}\n  - {name: iij, type: iij}\n`)));
    assert.match(e.message, /targets\.1\.name: duplicate target name "iij"/);
  });

  it('proxy.use without address (or port) names the proxy key and the fix', () => {
    for (const proxy of ['{use: true}', '{use: true, address: proxy.example.test}']) {
      const e = configError(() => loadConfig(write(AD + `targets:\n  - {name: iij, type: iij, http: {proxy: ${proxy}}}\n`)));
      assert.match(e.message, /targets\.0\.http\.proxy: proxy\.use is true: set proxy\.address and proxy\.port too/);
    }
  });

  it('a proxy user without proxy_password in secret.yml is refused', () => {
    const e = configError(() =>
      loadConfig(write(AD + `targets:\n  - {name: iij, type: iij, http: {proxy: {use: true, address: p.example.test, port: 3128, user: u}}}\n`)),
    );
    assert.match(e.message, /targets\.iij\.proxy_password is missing/);
  });

  it('secret.yml readable by group or others is refused with the chmod fix', () => {
    for (const mode of [0o644, 0o640]) {
      const cfgPath = write(AD + TARGETS, SECRET, mode);
      const secPath = path.join(path.dirname(cfgPath), 'secret.yml');
      const e = configError(() => loadConfig(cfgPath));
      assert.match(e.message, new RegExp(`readable by group or others: run chmod 600 ${secPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    }
  });

  it('invalid YAML gives the position, never the text of the offending line (it may hold a secret)', () => {
    const badSecret = `ad:\n  ldap:\n    server:\n      password: ${BIND_PW}\ntargets:\n  iij:\n    access_token: "${TOKEN}\n   : [\n`;
    const e = configError(() => loadConfig(write(AD + TARGETS, badSecret)));
    assert.match(e.message, /secret\.yml .*not valid YAML at line \d+, column \d+/);
    const badConfig = `${AD}targets:\n  - name: iij\n    type: iij\n   bad: {${TOKEN}\n`;
    const c = configError(() => loadConfig(write(badConfig)));
    assert.match(c.message, /config\.yml .*not valid YAML at line \d+/);
    assert.ok(!c.message.includes('bad:'));
  });

  it('secret values of the wrong type are reported by key and type, not by value', () => {
    const e = configError(() => loadConfig(write(AD + TARGETS, `ad:\n  ldap:\n    server:\n      password: [${BIND_PW}]\ntargets:\n  iij:\n    access_token: ${TOKEN}\n`)));
    assert.match(e.message, /secret\.yml [\s\S]*ad\.ldap\.server\.password: .*expected string/);
    // a secret.yml that is nothing but a token
    const top = configError(() => loadConfig(write(AD + TARGETS, `${TOKEN}\n`)));
    assert.match(top.message, /secret\.yml/);
  });

  it('a missing config.yml or secret.yml says which file and what to do', () => {
    const e = configError(() => loadConfig(path.join(root, 'nowhere', 'config.yml')));
    assert.match(e.message, /config\.yml \(.*nowhere\/config\.yml\): cannot read it \(ENOENT\); create it or pass --config/);
    const cfgPath = write(AD + TARGETS);
    const s = configError(() => loadConfig(cfgPath, path.join(root, 'nowhere', 'secret.yml')));
    assert.match(s.message, /secret\.yml .*cannot read it \(ENOENT\)/);
  });

  it('required AD settings missing are named', () => {
    const e = configError(() => loadConfig(write(TARGETS)));
    assert.match(e.message, /\n  ad: /);
    const t = configError(() => loadConfig(write(AD)));
    assert.match(t.message, /\n  targets: /);
  });
});

describe('parseDuration', () => {
  it('parses units and plain seconds', () => {
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration('90s'), 90_000);
    assert.equal(parseDuration('15m'), 900_000);
    assert.equal(parseDuration('72h'), 259_200_000);
    assert.equal(parseDuration('7d'), 604_800_000);
    assert.equal(parseDuration('1.5h'), 5_400_000);
    assert.equal(parseDuration(' 30 '), 30_000);
    assert.equal(parseDuration(30), 30_000);
    assert.equal(parseDuration(0), 0);
  });

  it('refuses anything else', () => {
    for (const v of ['', 'h', '-5s', '5 minutes', '5w', '1e3', 'NaN', '5s5']) assert.equal(parseDuration(v), undefined, v);
    for (const v of [-1, Number.NaN, Number.POSITIVE_INFINITY]) assert.equal(parseDuration(v), undefined, String(v));
  });
});
