// config.yml decides where passwords and the token go (issue 13 #4, #5): refused when others can write it or its
// directory, at start and at reload; plain http:// to a non-loopback host refused unless explicitly allowed.

import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { UnsafePermissionsError } from '../../src/errors.js';
import { redactUrl } from '../../src/targets/base-url.js';

const AD = `ad:\n  ldap:\n    server:\n      addresses: [dc1]\n      user: reader\n    base_dn: 'DC=x'\n`;
function write(targetUrl = 'https://scim.example/v2/', extra = ''): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'pwsync-cfgtrust-'));
  const file = path.join(dir, 'config.yml');
  writeFileSync(file, `${AD}targets:\n  - name: t\n    type: scim\n    url: ${targetUrl}\n${extra}`, { mode: 0o644 });
  writeFileSync(path.join(dir, 'secret.yml'), `ad:\n  ldap:\n    server:\n      password: pw\ntargets:\n  t:\n    access_token: tok-0123456789\n`, { mode: 0o600 });
  return file;
}

describe('config.yml permissions (#4)', () => {
  it('a world- or group-writable config.yml is refused, naming the fix', () => {
    for (const mode of [0o666, 0o664]) {
      const file = write();
      chmodSync(file, mode);
      assert.throws(() => loadConfig(file), (e: unknown) => e instanceof UnsafePermissionsError && e.code === 'E_CONFIG' && /writable by group or others: run chmod go-w/.test(e.message));
    }
  });

  it('a config directory others can write is refused', () => {
    const file = write();
    chmodSync(path.dirname(file), 0o777);
    assert.throws(() => loadConfig(file), /the directory of config\.yml .* is writable by group or others/);
  });

  it('a config.yml that belongs to another user is refused', () => {
    const file = write();
    chownSync(file, 65534, 65534);
    assert.throws(() => loadConfig(file), /belongs to uid 65534/);
  });

  it('a 0644 config.yml in a 0700 directory is fine', () => {
    assert.equal(loadConfig(write()).config.targets[0]!.name, 't');
  });
});

describe('plain http targets (#5)', () => {
  it('http:// to a remote host is refused without allow_insecure_http', () => {
    assert.throws(() => loadConfig(write('http://scim.example/v2/')), /targets\.0\.url: plain http:\/\/ to a non-loopback host/);
  });
  it('loopback http (the emulator) is accepted', () => {
    for (const u of ['http://127.0.0.1:8080/scim/v2/', 'http://localhost/x/', 'http://[::1]:9/v2/']) loadConfig(write(u));
  });
  it('allow_insecure_http: true accepts it (loudly: event 1023 and pwsync check)', () => {
    const { config } = loadConfig(write('http://scim.example/v2/', '    allow_insecure_http: true\n'));
    assert.equal(config.targets[0]!.allow_insecure_http, true);
  });
});

describe('URL userinfo (#6)', () => {
  it('redactUrl removes user and password', () => {
    const shown = redactUrl('https://user:Url-SECRET-9@scim.example/v2/?k=Query-SECRET');
    assert.equal(shown, 'https://[redacted]@scim.example/v2/');
    assert.equal(redactUrl('https://scim.example/v2/'), 'https://scim.example/v2/');
  });
});
