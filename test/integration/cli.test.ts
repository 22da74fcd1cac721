// The CLI as an operator runs it (child processes): check, submit (password from stdin), status, demo --once.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { sambaDcForSuite, createUser, uniqueName, type SambaDcInfo } from '../support/samba.js';
import { CLI, makeStack, spawnAgent, waitForJournal, writeStackConfig, type ChildAgent, type Stack } from '../support/stack.js';

const exec = promisify(execFile);

/** Runs the CLI; resolves with exit code and output (never rejects on a non-zero exit). */
function run(args: string[], stdin?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
    p.stdin.end(stdin ?? '');
  });
}

describe('pwsync CLI against the emulator and the Samba DC', () => {
  let dc: SambaDcInfo | undefined;
  let stack: Stack;
  let agent: ChildAgent | undefined;

  before(async () => {
    dc = sambaDcForSuite();
    if (!dc) return;
    stack = await makeStack(dc);
  });
  after(async () => {
    agent?.proc.kill('SIGTERM');
    await agent?.exited;
    await stack?.emulator.close();
  });

  test('check: every item passes with a good configuration', async (t) => {
    if (!dc) return t.skip();
    const r = await run(['check', '--config', stack.configFile]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^PASS {2}configuration/m);
    assert.match(r.stdout, /^PASS {2}active directory: bound as .* found in-scope user CN=/m);
    assert.match(r.stdout, /^PASS {2}target iij: .*answered an authenticated search/m);
    assert.ok(!r.stdout.includes(stack.token) && !r.stdout.includes(dc.readerPassword));
  });

  test('check: StartTLS to the DC passes too', async (t) => {
    if (!dc) return t.skip();
    const cfg = readFileSync(stack.configFile, 'utf8').replace('encryption: ldaps', 'encryption: start_tls').replace(`port: ${dc.ldapsPort}`, `port: ${dc.ldapPort}`);
    const dir = path.join(stack.dir, 'starttls');
    writeStackConfig(dir, dc, stack.emulator.scimBase, stack.token);
    writeFileSync(path.join(dir, 'config.yml'), cfg.replaceAll(`${stack.dir}/`, `${dir}/`), { mode: 0o600 });
    const r = await run(['check', '--config', path.join(dir, 'config.yml')]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /active directory: bound as .*\(start_tls\)/);
  });

  test('check: a token without escim_read_users and a wrong AD password each fail with what to do', async (t) => {
    if (!dc) return t.skip();
    const weak = stack.emulator.addToken({ scopes: ['escim_write_users'] });
    const dir = path.join(stack.dir, 'weak');
    writeStackConfig(dir, { ...dc, readerPassword: 'Wrong-Passw0rd-for-test' }, stack.emulator.scimBase, weak);
    const r = await run(['check', '--config', path.join(dir, 'config.yml')]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^FAIL {2}active directory: .*check ad\.ldap\.server/m);
    assert.match(r.stdout, /^FAIL {2}target iij: .*escim_read_users/m);
    assert.ok(!r.stdout.includes(weak) && !r.stdout.includes('Wrong-Passw0rd-for-test'), 'check output leaks a secret');
  });

  test('status before the agent\'s first start: "not started yet", exit 3 (not 1, which means a paused target)', async (t) => {
    if (!dc) return t.skip();
    const dir = path.join(stack.dir, 'fresh');
    writeStackConfig(dir, dc, stack.emulator.scimBase, stack.token);
    const r = await run(['status', '--config', path.join(dir, 'config.yml')]);
    assert.equal(r.code, 3, r.stdout + r.stderr);
    assert.match(r.stdout, /^not started yet: no outbox at .*outbox\.sqlite/);
    const j = await run(['status', '--config', path.join(dir, 'config.yml'), '--json']);
    assert.equal(j.code, 3);
    assert.equal((JSON.parse(j.stdout) as { state: string }).state, 'not-started');
  });

  test('check: an invalid configuration names the key and exits 2', async (t) => {
    if (!dc) return t.skip();
    const dir = path.join(stack.dir, 'bad');
    writeStackConfig(dir, dc, stack.emulator.scimBase, stack.token);
    const file = path.join(dir, 'config.yml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('type: iij', 'type: iij\n    password_updat: put'));
    const r = await run(['check', '--config', file]);
    assert.equal(r.code, 2);
    assert.match(r.stdout, /FAIL {2}configuration: .*targets\.0: unknown key\(s\) password_updat/s);
  });

  test('submit reads the password from stdin (never argv), the agent delivers it, status reports it', async (t) => {
    if (!dc) return t.skip();
    agent = spawnAgent(stack.configFile);
    const journal = path.join(stack.dir, 'data', 'journal.jsonl');
    await waitForJournal(journal, (e) => e.id === 2004);
    const name = uniqueName('cli');
    await createUser(dc, name);
    await stack.emulator.addUser({ userName: `${name}@example.jp`, externalId: `${name}@example.test` });
    const password = `Cli-${Math.random().toString(36).slice(2, 10)}9Z`;
    const r = await run(['submit', '--config', stack.configFile, '--account', name], `${password}\n`);
    assert.equal(r.code, 0, r.stderr);
    const id = r.stdout.trim();
    assert.match(id, /^[0-9a-f-]{36}$/);
    await waitForJournal(journal, (e) => e.id === 3000 && e.change === id);
    assert.equal((await stack.emulator.verifyPassword({ externalId: `${name}@example.test` }, password)).match, true, 'the trailing newline is not part of the password');

    const s = await run(['status', '--config', stack.configFile]);
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stdout, /queue: .*done=1/);
    assert.match(s.stdout, /target iij: running/);
    const j = JSON.parse((await run(['status', '--config', stack.configFile, '--json'])).stdout) as { counts: Record<string, number> };
    assert.equal(j.counts.done, 1);

    const refused = await run(['submit', '--config', stack.configFile, '--account', 'krbtgt'], 'Whatever-1\n');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /E_REFUSED/);
  });

  test('report coverage lists in-scope users whose password never reached IIJ, not the one just synced', async (t) => {
    if (!dc) return t.skip();
    const synced = (await run(['queue', 'list', '--config', stack.configFile, '--state', 'done', '--json'])).stdout;
    const syncedAccount = (JSON.parse(synced) as Array<{ account: string }>)[0]?.account;
    assert.ok(syncedAccount, 'the submit test left a delivered change');
    const r = await run(['report', 'coverage', '--config', stack.configFile, '--csv']);
    assert.equal(r.code === 0 || r.code === 1, true, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0]!, /^target,account,status/);
    const accounts = lines.slice(1).map((l) => l.split(',')[1]);
    assert.ok(accounts.includes('alice'), 'alice (fixture, never synced) is listed');
    assert.ok(!accounts.includes(syncedAccount), 'the user synced a moment ago is not listed');
    assert.ok(!accounts.includes('mallory'), 'mallory is outside base_dn OU=Staff');
  });

  test('submit refuses a password on the command line', async () => {
    const r = await run(['submit', '--socket', '/nonexistent', '--account', 'x', '--password', 'Secret-1']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /password/);
  });
});

/** The demo's temporary directory, as it prints it. */
function demoDir(stdout: string): string {
  const m = /^ {2}files: +(\S+)/m.exec(stdout);
  assert.ok(m, `the demo says where its files are:\n${stdout}`);
  return m[1]!;
}

test('demo --once delivers one change end to end, exits 0 and removes its files', async () => {
  const { stdout } = await exec(process.execPath, [CLI, 'demo', '--once'], { timeout: 60_000 });
  assert.match(stdout, /✔ delivered in \d+ ms — the emulator confirms alice@example\.test now has the new password/);
  assert.match(stdout, /event 2000 Password change captured and committed \[alice\]/);
  const dir = demoDir(stdout);
  assert.ok(path.isAbsolute(dir));
  assert.equal(existsSync(dir), false, `${dir} (secret.yml, sealed outbox) must be gone after the demo`);
});

test('the interactive demo says where its files are and removes them on Ctrl-C (SIGINT)', async () => {
  const p = spawn(process.execPath, [CLI, 'demo'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => p.on('exit', (code) => resolve(code)));
  let stdout = '';
  const ready = new Promise<void>((resolve, reject) => {
    p.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
      if (stdout.includes('Try more')) resolve();
    });
    void exited.then((code) => reject(new Error(`demo exited (${String(code)}) before it was ready:\n${stdout}`)));
  });
  await ready;
  const dir = demoDir(stdout);
  assert.ok(existsSync(path.join(dir, 'secret.yml')), 'while it runs, the demo keeps its files where it said');
  assert.match(stdout, /removes? .*pwsync-demo-/);
  p.kill('SIGINT');
  assert.equal(await exited, 0);
  assert.equal(existsSync(dir), false, `${dir} must be removed when the demo stops`);
});
