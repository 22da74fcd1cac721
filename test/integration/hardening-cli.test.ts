// The real CLI against hostile input (issue 13 #3, #6): usage errors never echo an unexpected argument, and
// `pwsync submit` refuses a socket squatted by another user, saying so. No DC needed.

import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdtempSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { CLI } from '../support/stack.js';

const SECRET = 'Hunter2-Cli-Secret-77';

function run(args: string[], stdin = ''): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (err += c.toString()));
    p.stdin.end(stdin);
    p.once('exit', (code) => resolve({ code, out, err }));
  });
}

describe('usage errors never echo an unexpected argument (#6)', () => {
  const cases: string[][] = [
    ['submit', '--account', 'bob', SECRET],
    ['submit', `--${SECRET}`],
    ['submit', `--account=bob`, `--password=${SECRET}`],
    [SECRET],
    ['status', '--config', '/nonexistent', SECRET],
    ['check', SECRET],
    ['run', `-${SECRET}`],
    ['queue', 'list', '--config', '/x', `--state`, SECRET],
    ['report', 'coverage', SECRET],
    ['samba', 'setup', SECRET],
    ['emulate', SECRET],
    ['demo', SECRET],
  ];
  for (const args of cases) {
    it(`pwsync ${args.map((a) => (a.includes(SECRET) ? a.replace(SECRET, 'SECRET') : a)).join(' ')}`, async () => {
      const r = await run(args);
      assert.notEqual(r.code, 0);
      assert.ok(!r.err.includes(SECRET) && !r.out.includes(SECRET), `echoed: ${r.err}${r.out}`);
      assert.ok(r.err.length > 0, 'an error message is printed');
    });
  }
  it('still says where the mistake is', async () => {
    const r = await run(['submit', '--account', 'bob', SECRET]);
    assert.match(r.err, /unexpected argument \(argument 3, not shown/);
  });
});

describe('pwsync submit and a squatted socket (#3)', () => {
  it('refuses a socket owned by another user, exits 1, and the squatter receives nothing', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pwsync-squat-cli-'));
    chmodSync(dir, 0o777);
    const sockPath = path.join(dir, 'intake.sock');
    let got = '';
    const squatter = net.createServer((s) => s.on('data', (c: Buffer) => (got += c.toString())));
    await new Promise<void>((r) => squatter.listen(sockPath, r));
    chownSync(sockPath, 65534, 65534);
    try {
      const r = await run(['submit', '--account', 'alice', '--socket', sockPath], `${SECRET}\n`);
      assert.equal(r.code, 1);
      assert.match(r.err, /E_SOCKET_UNTRUSTED/);
      assert.match(r.err, /belongs to uid 65534/);
      assert.equal(got, '');
    } finally {
      squatter.close();
    }
  });
});

describe('pwsync check flags plain http (#5)', () => {
  it('prints FAIL for a target reached over http with allow_insecure_http, and exits non-zero', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pwsync-check-http-'));
    writeFileSync(
      path.join(dir, 'config.yml'),
      `ad:\n  ldap:\n    server:\n      addresses: [127.0.0.1]\n      port: 1\n      user: reader\n      timeout: 1s\n    base_dn: 'DC=x'\n` +
        `targets:\n  - name: t\n    type: scim\n    url: http://u:Url-SECRET-2@127.0.0.2.invalid/v2/\n    timeout: 1s\n    allow_insecure_http: true\n`,
      { mode: 0o600 },
    );
    writeFileSync(path.join(dir, 'secret.yml'), `ad:\n  ldap:\n    server:\n      password: pw\ntargets:\n  t:\n    access_token: tok-0123456789\n`, { mode: 0o600 });
    const r = await run(['check', '--config', path.join(dir, 'config.yml')]);
    assert.notEqual(r.code, 0);
    assert.match(r.out, /FAIL {2}target t transport: http:\/\/\[redacted\]@127\.0\.0\.2\.invalid\/v2\/ is plain http/);
    assert.ok(!r.out.includes('Url-SECRET-2') && !r.err.includes('Url-SECRET-2'));
  });
});
