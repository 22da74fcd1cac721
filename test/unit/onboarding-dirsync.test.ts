// `pwsync init --from-dirsync`: the pure mapping of every documented Directory Sync key and YAML form, every
// "not carried over" reason, the file writer (modes, no overwrite without --force) and the command without a server.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync, writeFileSync, mkdirSync, cpSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { configSchema, secretSchema } from '../../src/config/schema.js';
import { loadConfig } from '../../src/config/load.js';
import { computeExternalId } from '../../src/directory/external-id.js';
import { mapDirSyncConfig, parseDirSyncYaml, type CarryOverNote } from '../../src/onboarding/dirsync-mapping.js';
import { pwsyncEncryption } from '../../src/onboarding/dirsync-assumptions.js';
import { writeInitFiles } from '../../src/onboarding/init-files.js';
import { baseDnFrom } from '../../src/onboarding/questions.js';
import { resolveServiceUser } from '../../src/onboarding/service-user.js';
import { initCommand } from '../../src/cli/init.js';
import type { Prompter } from '../../src/cli/prompt.js';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/fixtures/dirsync');
const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'pwsync-init-'));

const minimal = (over: Record<string, unknown> = {}) => ({
  ad: { ldap: { server: { addresses: ['dc1'], user: 'CN=r,DC=x', ...over }, base_dn: 'DC=x', filter: { user: '(objectClass=user)' } } },
  iid: { scim: { attribute: { user: { ad_bind: { externalId: 'userPrincipalName' } } } } },
});
const noteFor = (notes: CarryOverNote[], key: string) => notes.find((n) => n.key === key);
const target = (config: Record<string, unknown>) => configSchema.parse({ ...config }).targets[0]!;

describe('Directory Sync documented sample', () => {
  const text = readFileSync(path.join(FIXTURES, 'config.yml'), 'utf8');
  const parsed = parseDirSyncYaml(text, 'config.yml');
  const m = mapDirSyncConfig(parsed.value, parseDirSyncYaml(readFileSync(path.join(FIXTURES, 'secret.yml'), 'utf8'), 'secret.yml').value);

  test('AD connection, scope and proxy are carried exactly; the result is a valid pwsync config', () => {
    assert.equal(parsed.legacyListStyle, false);
    const c = configSchema.parse(m.config);
    assert.deepEqual(c.ad.ldap.server.addresses, ['192.168.0.1', '192.168.0.2']);
    assert.equal(c.ad.ldap.server.port, 389);
    assert.equal(c.ad.ldap.server.user, 'CN=IIJ Taro,CN=Users,DC=example,DC=local');
    assert.equal(c.ad.ldap.server.encryption, 'start_tls');
    assert.equal(c.ad.ldap.server.verify_mode, false);
    assert.equal(c.ad.ldap.base_dn, 'DC=example,DC=local');
    assert.equal(c.ad.ldap.filter.user, 'memberOf:1.2.840.113556.1.4.1941:=CN=IID_IDaaS user group,OU=IID_Groups,DC=example,DC=local');
    assert.equal(c.log.loglevel, 'info');
    const t = c.targets[0]!;
    assert.equal(t.type, 'iij');
    assert.equal(t.url, 'https://scim.auth.iij.jp/scim/v2/');
    assert.deepEqual(t.http.proxy, { use: false, address: '192.168.0.10', port: 8080 });
  });

  test('the external-ID rule computes the same value Directory Sync writes', () => {
    const t = target(m.config);
    assert.equal(t.attribute.user.ad_bind.externalId, 'userPrincipalName');
    assert.deepEqual(t.attribute.user.convert.externalId, [{ pattern: '^(.+)@example\\.local$', replacement: '$1@example.jp' }]);
    assert.equal(computeExternalId({ attributes: { userPrincipalName: 'taro@example.local' } }, t.attribute.user), 'taro@example.jp');
    assert.equal(computeExternalId({ attributes: { userPrincipalName: 'taro@other.local' } }, t.attribute.user), 'taro@other.local');
  });

  test('every key not carried over is listed with its reason', () => {
    const keys = m.notes.map((n) => n.key).sort();
    for (const k of [
      'log.logger', 'ad.ldap.server.timeout', 'ad.ldap.filter.group', 'ad.ldap.cache_disabled', 'ad.ldap.server.verify_mode',
      'iid.scim.attribute.user.default.emails', 'iid.scim.attribute.user.default.preferredLanguage', 'iid.scim.attribute.user.default.timezone',
      'iid.scim.attribute.user.ad_bind.userName', 'iid.scim.attribute.user.ad_bind.downstreamId',
      'iid.scim.attribute.user.ad_bind.name.familyName', 'iid.scim.attribute.user.ad_bind.name.givenName',
    ])
      assert.ok(keys.includes(k), `missing note for ${k}: ${keys.join(', ')}`);
    assert.match(noteFor(m.notes, 'ad.ldap.filter.group')!.reason, /users only/);
    assert.match(noteFor(m.notes, 'ad.ldap.server.timeout')!.reason, /each lookup/);
    assert.equal(noteFor(m.notes, 'ad.ldap.server.verify_mode')!.severity, 'warning');
    assert.ok(m.notes.every((n) => n.severity !== 'blocking'));
  });

  test('secrets are taken from secret.yml and never appear in a note', () => {
    assert.deepEqual(m.secrets, { adPassword: 'fixture-bind-password-Secret1', accessToken: 'fixture-access-token-Secret2' });
    const all = JSON.stringify(m.notes) + JSON.stringify(m.config);
    assert.ok(!all.includes('Secret1') && !all.includes('Secret2'));
  });
});

describe('YAML forms', () => {
  test('pre-3.0 style (list item on the key line) is read as a list and flagged', () => {
    const p = parseDirSyncYaml('ad:\n  ldap:\n    server:\n      addresses: - dc1.example.local\n                 - dc2.example.local\n      user: u\n    base_dn: DC=x\n', 'c');
    assert.equal(p.legacyListStyle, true);
    assert.deepEqual((p.value as { ad: { ldap: { server: { addresses: string[] } } } }).ad.ldap.server.addresses, ['dc1.example.local', 'dc2.example.local']);
  });
  test('flow lists, a scalar where a list is expected, quoted numbers and booleans as text', () => {
    const m = mapDirSyncConfig(parseDirSyncYaml(
      "ad:\n  ldap:\n    server:\n      addresses: dc1\n      port: '636'\n      user: u\n      encryption: start_tls\n      verify_mode: 'true'\n    base_dn: DC=x\n    filter: {user: '(objectClass=user)'}\niid:\n  scim:\n    http:\n      proxy: {use: 'true', address: proxy.local, port: '3128'}\n    attribute:\n      user:\n        ad_bind: {externalId: [mail]}\n        convert:\n          externalId: {pattern: '^(.*)$', replacement: 'x-$1'}\n",
      'c').value);
    const c = configSchema.parse(m.config);
    assert.deepEqual(c.ad.ldap.server.addresses, ['dc1']);
    assert.equal(c.ad.ldap.server.port, 636);
    assert.equal(c.ad.ldap.server.encryption, 'ldaps');
    assert.equal(c.ad.ldap.server.verify_mode, true);
    assert.deepEqual(c.targets[0]!.http.proxy, { use: true, address: 'proxy.local', port: 3128 });
    assert.equal(c.targets[0]!.attribute.user.ad_bind.externalId, 'mail');
    assert.deepEqual(c.targets[0]!.attribute.user.convert.externalId, [{ pattern: '^(.*)$', replacement: 'x-$1' }]);
    assert.ok(m.notes.every((n) => n.severity !== 'blocking'), JSON.stringify(m.notes));
  });
  test('invalid YAML is reported by position only (no source line, which could hold a secret)', () => {
    assert.throws(() => parseDirSyncYaml('ad:\n  ldap: [unclosed, "s3cret-value\n', 'secret.yml'), (e: Error) => /line \d+, column \d+/.test(e.message) && !e.message.includes('s3cret'));
  });
});

describe('defaults and encryption', () => {
  test('Directory Sync defaults are written explicitly (pwsync defaults differ): port 389, encryption none', () => {
    const m = mapDirSyncConfig({ ad: { ldap: { server: { addresses: ['dc1'], user: 'u' }, base_dn: 'DC=x' } } });
    const c = configSchema.parse(m.config);
    assert.equal(c.ad.ldap.server.port, 389);
    assert.equal(c.ad.ldap.server.encryption, 'none');
    assert.match(noteFor(m.notes, 'ad.ldap.server.encryption')!.reason, /unencrypted/);
    assert.match(noteFor(m.notes, 'ad.ldap.filter.user')!.reason, /not set/);
    assert.match(noteFor(m.notes, 'iid.scim.attribute.user.ad_bind.externalId')!.reason, /assumes userPrincipalName/);
    assert.equal(c.targets[0]!.attribute.user.ad_bind.externalId, 'userPrincipalName');
  });
  test('start_tls: LDAPS on 636/3269, StartTLS elsewhere', () => {
    assert.equal(pwsyncEncryption('start_tls', 636), 'ldaps');
    assert.equal(pwsyncEncryption('start_tls', 3269), 'ldaps');
    assert.equal(pwsyncEncryption('start_tls', 389), 'start_tls');
    assert.equal(pwsyncEncryption('none', 636), 'none');
  });
  test('a binary external-ID attribute is written as a GUID string and flagged', () => {
    const ds = minimal();
    (ds.iid.scim.attribute.user.ad_bind as Record<string, unknown>).externalId = 'objectGUID';
    const m = mapDirSyncConfig(ds);
    assert.equal(target(m.config).attribute.user.binary_format, 'guid');
    assert.match(noteFor(m.notes, 'iid.scim.attribute.user.ad_bind.externalId')!.reason, /binary/);
  });
});

describe('every "could not carry over" reason', () => {
  const blocking = (ds: unknown, key: string, re: RegExp) => {
    const n = noteFor(mapDirSyncConfig(ds).notes, key);
    assert.ok(n, `no note for ${key}`);
    assert.equal(n.severity, 'blocking');
    assert.match(n.reason, re);
  };
  test('not a mapping', () => blocking('just text', '(top level)', /not a YAML mapping/));
  test('required keys missing', () => {
    blocking({ ad: { ldap: {} } }, 'ad.ldap.server.addresses', /required/);
    blocking({ ad: { ldap: {} } }, 'ad.ldap.server.user', /required/);
    blocking({ ad: { ldap: {} } }, 'ad.ldap.base_dn', /required/);
  });
  test('wrong values', () => {
    blocking(minimal({ port: 70000 }), 'ad.ldap.server.port', /1 to 65535/);
    blocking(minimal({ encryption: 'ldaps' }), 'ad.ldap.server.encryption', /none or start_tls/);
    blocking(minimal({ verify_mode: 'yes' }), 'ad.ldap.server.verify_mode', /true or false/);
    blocking(minimal({ addresses: [{ host: 'x' }] }), 'ad.ldap.server.addresses', /host name/);
    blocking(minimal({ user: ['a', 'b'] }), 'ad.ldap.server.user', /single text/);
  });
  test('proxy on without address/port', () => {
    const ds = { ...minimal(), iid: { scim: { http: { proxy: { use: true } } } } };
    blocking(ds, 'iid.scim.http.proxy', /address and port/);
  });
  test('several externalId attributes cannot be reproduced', () => {
    const ds = minimal();
    (ds.iid.scim.attribute.user.ad_bind as Record<string, unknown>).externalId = ['mS-DS-ConsistencyGuid', 'objectGUID'];
    blocking(ds, 'iid.scim.attribute.user.ad_bind.externalId', /first non-empty wins/);
  });
  test('convert rules pwsync cannot apply the same way', () => {
    const withRules = (rules: unknown) => {
      const ds = minimal() as Record<string, any>;
      ds.iid.scim.attribute.user.convert = { externalId: rules };
      return ds;
    };
    blocking(withRules(['text']), 'iid.scim.attribute.user.convert.externalId[0]', /mapping with pattern/);
    blocking(withRules([{ replacement: 'x' }]), 'iid.scim.attribute.user.convert.externalId[0].pattern', /needs a pattern/);
    blocking(withRules([{ pattern: '(?i)^a' }]), 'iid.scim.attribute.user.convert.externalId[0].pattern', /JavaScript RegExp/);
    blocking(withRules([{ pattern: 'a', replacement: { x: 1 } }]), 'iid.scim.attribute.user.convert.externalId[0].replacement', /text/);
    blocking(withRules([{ pattern: 'a', replacement: 'b', flags: 'i' }]), 'iid.scim.attribute.user.convert.externalId[0]', /unknown key/);
    const warn = mapDirSyncConfig(withRules([{ pattern: '^(.*)@x$', replacement: '\\1@y' }, { pattern: 'z' }])).notes;
    assert.match(noteFor(warn, 'iid.scim.attribute.user.convert.externalId[0].replacement')!.reason, /\$1/);
    assert.match(noteFor(warn, 'iid.scim.attribute.user.convert.externalId[1].replacement')!.reason, /replaced by nothing/);
  });
  test('unknown keys, unknown log level', () => {
    const ds = { ...minimal(), log: { loglevel: 'trace' }, iid: { scim: { filter: 'x', attribute: { user: { ad_bind: { externalId: 'mail' } } } } } };
    const notes = mapDirSyncConfig(ds).notes;
    assert.match(noteFor(notes, 'iid.scim.filter')!.reason, /not a key pwsync knows/);
    assert.match(noteFor(notes, 'log.loglevel')!.reason, /not a level/);
  });
  test('secret.yml: unknown keys and unusable values are listed by path, never by value', () => {
    const m = mapDirSyncConfig(minimal(), { ad: { ldap: { server: { password: 42 } } }, iid: { scim: { access_token: 'two\nlines' } }, other: { key: 'hush-Secret3' } });
    assert.deepEqual(m.secrets, {});
    assert.match(noteFor(m.notes, 'secret.yml:ad.ldap.server.password')!.reason, /not a non-empty text/);
    assert.match(noteFor(m.notes, 'secret.yml:iid.scim.access_token')!.reason, /line break/);
    assert.match(noteFor(m.notes, 'secret.yml:other.key')!.reason, /not a secret.yml key/);
    assert.ok(!JSON.stringify(m.notes).includes('hush-Secret3'));
    assert.match(noteFor(mapDirSyncConfig(minimal(), 'x').notes, 'secret.yml:(top level)')!.reason, /not a YAML mapping/);
  });
});

test('baseDnFrom: UPN and DN', () => {
  assert.equal(baseDnFrom('reader@example.test'), 'DC=example,DC=test');
  assert.equal(baseDnFrom('CN=Reader,CN=Users,DC=example,DC=local'), 'DC=example,DC=local');
  assert.equal(baseDnFrom('reader'), undefined);
});

describe('writing the files', () => {
  const cfg = { ad: { ldap: { server: { addresses: ['dc'], user: 'u' }, base_dn: 'DC=x' } }, targets: [{ name: 'iij', type: 'iij' }] };
  const sec = { ad: { ldap: { server: { password: 'p' } } }, targets: { iij: { access_token: 't' } } };
  test('modes: directory 0700, both files 0600; never overwritten without force', () => {
    const dir = path.join(tmp(), 'etc-pwsync');
    const f = writeInitFiles(dir, cfg, sec, false);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(statSync(f.configPath).mode & 0o777, 0o600);
    assert.equal(statSync(f.secretPath).mode & 0o777, 0o600);
    writeFileSync(f.configPath, 'mine: true\n');
    assert.throws(() => writeInitFiles(dir, cfg, sec, false), /already exist.*--force/);
    assert.equal(readFileSync(f.configPath, 'utf8'), 'mine: true\n');
    writeInitFiles(dir, cfg, sec, true);
    assert.deepEqual(parseYaml(readFileSync(f.configPath, 'utf8')), cfg);
    assert.equal(statSync(f.configPath).mode & 0o777, 0o600);
  });
});

test('with the agent\'s service user (run as root): directory 0750 root:group, config.yml 0640 root:group, secret.yml 0600 user', (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root to give files to another user');
  const dir = path.join(tmp(), 'etc-pwsync');
  const owner = { name: 'svc', uid: 4321, gid: 4322 };
  const f = writeInitFiles(dir, { a: 1 }, { b: 2 }, false, owner);
  const d = statSync(dir);
  assert.deepEqual([d.mode & 0o777, d.uid, d.gid], [0o750, 0, 4322]);
  const c = statSync(f.configPath);
  assert.deepEqual([c.mode & 0o777, c.uid, c.gid], [0o640, 0, 4322]);
  const s = statSync(f.secretPath);
  assert.deepEqual([s.mode & 0o777, s.uid, s.gid], [0o600, 4321, 4322]);
});

test('resolveServiceUser: an explicit user must exist; the default applies only when it exists', () => {
  assert.throws(() => resolveServiceUser('no-such-user-pwsync-x9'), /no such user/);
  if (process.getuid?.() === 0) {
    assert.deepEqual(resolveServiceUser('root'), { name: 'root', uid: 0, gid: 0 });
    const dflt = resolveServiceUser(undefined);
    assert.ok(dflt === undefined || dflt.name === 'pwsync');
  } else assert.throws(() => resolveServiceUser('root'), /only root/);
});

function scripted(answers: string[]): Prompter & { asked: string[]; secretAsked: string[] } {
  const asked: string[] = [];
  const secretAsked: string[] = [];
  return {
    asked,
    secretAsked,
    async ask(q, fallback) {
      asked.push(q);
      const a = answers.shift() ?? '';
      return a === '' ? (fallback ?? '') : a;
    },
    async askSecret(q) {
      secretAsked.push(q);
      return answers.shift() ?? '';
    },
    close() {},
  };
}

describe('pwsync init (command, check replaced)', () => {
  test('--from-dirsync --with-secrets: writes loadable files, lists notes, runs check, asks nothing', async () => {
    const out = tmp();
    const p = scripted([]);
    let err = '';
    let checked = '';
    const code = await initCommand(['--from-dirsync', FIXTURES, '--with-secrets', '--out', out, '--data-dir', path.join(out, 'data')], {
      stdout: () => undefined, stderr: (s) => (err += s), prompter: p, check: async (c) => ((checked = c), 0),
    });
    assert.equal(code, 0);
    assert.equal(checked, path.join(out, 'config.yml'));
    assert.deepEqual(p.secretAsked, []);
    assert.match(err, /SKIP {3}ad\.ldap\.filter\.group/);
    assert.ok(!err.includes('Secret1') && !err.includes('Secret2'));
    const loaded = loadConfig(path.join(out, 'config.yml'));
    assert.equal(loaded.secret.targets.iij!.access_token, 'fixture-access-token-Secret2');
    assert.equal(loaded.secret.ad.ldap.server.password, 'fixture-bind-password-Secret1');
    assert.ok((loaded.secret.console.admin_token ?? '').length >= 16);
    assert.ok(!readFileSync(path.join(out, 'config.yml'), 'utf8').includes('Secret'));
  });

  test('--from-dirsync without --with-secrets asks for both secrets', async () => {
    const out = tmp();
    const p = scripted(['bind-pw-typed', 'token-typed']);
    const code = await initCommand(['--from-dirsync', FIXTURES, '--out', out], { stdout: () => undefined, stderr: () => undefined, prompter: p, check: async () => 0 });
    assert.equal(code, 0);
    assert.equal(p.secretAsked.length, 2);
    const s = secretSchema.parse(parseYaml(readFileSync(path.join(out, 'secret.yml'), 'utf8')));
    assert.equal(s.ad.ldap.server.password, 'bind-pw-typed');
    assert.equal(s.targets.iij!.access_token, 'token-typed');
  });

  test('a blocking note writes nothing and exits 1', async () => {
    const src = tmp();
    writeFileSync(path.join(src, 'config.yml'), 'ad:\n  ldap:\n    server:\n      user: u\n');
    const out = path.join(tmp(), 'o');
    let err = '';
    const code = await initCommand(['--from-dirsync', src, '--out', out], { stdout: () => undefined, stderr: (s) => (err += s), prompter: scripted([]), check: async () => 0 });
    assert.equal(code, 1);
    assert.match(err, /CANNOT ad\.ldap\.server\.addresses/);
    assert.throws(() => statSync(out));
  });

  test('an existing file is kept without --force (exit 2)', async () => {
    const out = tmp();
    mkdirSync(out, { recursive: true });
    writeFileSync(path.join(out, 'secret.yml'), 'keep: me\n', { mode: 0o600 });
    const code = await initCommand(['--from-dirsync', FIXTURES, '--with-secrets', '--out', out], { stdout: () => undefined, stderr: () => undefined, prompter: scripted([]), check: async () => 0 });
    assert.equal(code, 2);
    assert.equal(readFileSync(path.join(out, 'secret.yml'), 'utf8'), 'keep: me\n');
  });

  test('without --from-dirsync: the questions, defaults, secrets by askSecret only', async () => {
    const out = tmp();
    const p = scripted(['dc1.example.test', '/etc/ssl/dc-ca.pem', 'reader@example.test', '', '', 'bind-pw', 'tok']);
    const code = await initCommand(['--out', out], { stdout: () => undefined, stderr: () => undefined, prompter: p, check: async () => 0 });
    assert.equal(code, 0);
    assert.equal(p.asked.length, 5);
    assert.deepEqual(p.secretAsked.length, 2);
    const c = loadConfig(path.join(out, 'config.yml')).config;
    assert.deepEqual(c.ad.ldap.server.addresses, ['dc1.example.test']);
    assert.equal(c.ad.ldap.base_dn, 'DC=example,DC=test');
    assert.equal(c.ad.ldap.server.encryption, 'ldaps');
    assert.equal(c.ad.ldap.server.verify_mode, true);
    assert.equal(c.ad.ldap.server.ca_file, '/etc/ssl/dc-ca.pem');
    assert.equal(c.targets[0]!.attribute.user.ad_bind.externalId, 'userPrincipalName');
  });

  test('a file that is not UTF-8 (e.g. Shift_JIS) is refused, not mangled', async () => {
    const src = tmp();
    writeFileSync(path.join(src, 'config.yml'), Buffer.concat([Buffer.from("ad:\n  ldap:\n    filter:\n      user: 'CN="), Buffer.from([0x97, 0x98, 0x97, 0x70]), Buffer.from("'\n")]));
    let err = '';
    const out = path.join(tmp(), 'o');
    const code = await initCommand(['--from-dirsync', src, '--out', out], { stdout: () => undefined, stderr: (s) => (err += s), prompter: scripted([]), check: async () => 0 });
    assert.equal(code, 2);
    assert.match(err, /not UTF-8/);
  });

  test('legacy copy of the sample is accepted with a note', async () => {
    const src = tmp();
    cpSync(FIXTURES, src, { recursive: true });
    const legacy = readFileSync(path.join(src, 'config.yml'), 'utf8').replace('addresses:\n        - 192.168.0.1\n        - 192.168.0.2', 'addresses: - 192.168.0.1\n                 - 192.168.0.2');
    writeFileSync(path.join(src, 'config.yml'), legacy);
    let err = '';
    const out = tmp();
    const code = await initCommand(['--from-dirsync', src, '--with-secrets', '--out', out], { stdout: () => undefined, stderr: (s) => (err += s), prompter: scripted([]), check: async () => 0 });
    assert.equal(code, 0);
    assert.match(err, /pre-3\.0 style/);
    assert.deepEqual(loadConfig(path.join(out, 'config.yml')).config.ad.ldap.server.addresses, ['192.168.0.1', '192.168.0.2']);
  });
});
