// One current configuration for every part of the agent (issue 13.16/13.22): after a reload the console's target
// list, the metrics' target labels, the token-expiry dates and the coverage page's bind password are the new ones;
// event 1002 names the file that changed; metrics, /healthz and token warnings exist without a console admin token.
// Real agent + IIJ emulator + the real Samba DC (the coverage page reads AD with the bind password).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startAgent } from '../../src/agent.js';
import { loadConfig } from '../../src/config/load.js';
import { requireSambaDc } from '../support/samba.js';
import { makeStack, readJournal, waitForJournal } from '../support/stack.js';
import { waitUntil } from '../support/guarantees-stack.js';
import { request, cookieOf } from '../support/console-http.js';

const ADMIN = 'reload-admin-token-0123456789';


async function login(base: string): Promise<string> {
  const page = await request(base, '/login');
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.body)?.[1] ?? '';
  const r = await request(base, '/login', { cookie: cookieOf(page), form: { token: ADMIN, csrf } });
  assert.equal(r.status, 303, 'login');
  return cookieOf(r);
}

/** Writes a file the way an operator's tooling should: a temp file renamed over the old one. */
function replaceFile(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

const inDays = (d: number) => new Date(Date.now() + d * 86_400_000).toISOString().slice(0, 10);

test('after a reload, console, metrics, token expiry and coverage all use the new configuration', async (t) => {
  const dc = requireSambaDc(t);
  if (!dc) return;
  const stack = await makeStack(dc);
  t.after(() => stack.emulator.close());
  const configFile = stack.configFile;
  const secretFile = path.join(stack.dir, 'secret.yml');
  const journalFile = path.join(stack.dir, 'data', 'journal.jsonl');
  const secret = (adPassword: string, extra = '') =>
    `ad:\n  ldap:\n    server:\n      password: '${adPassword}'\ntargets:\n  iij:\n    access_token: ${stack.token}\n${extra}console:\n  admin_token: ${ADMIN}\n`;
  replaceFile(secretFile, secret('Wrong-Bind-Passw0rd'));
  const agent = await startAgent(loadConfig(configFile));
  t.after(() => agent.stop());
  const base = agent.console!.url;
  const cookie = await login(base);

  assert.match((await request(base, '/coverage', { cookie })).body, /Cannot read the in-scope users from AD/, 'start-up bind password is wrong');
  const metrics0 = (await request(base, '/metrics')).body;
  assert.match(metrics0, /pwsync_target_paused\{target="iij"\} 0/);
  assert.doesNotMatch(metrics0, /target="iij2"/);

  // 1. Only secret.yml changes: the right bind password and a token for a target config.yml does not name yet.
  const before1 = readJournal(journalFile).filter((e) => e.id === 1002).length;
  replaceFile(secretFile, secret(dc.readerPassword, `  iij2:\n    access_token: ${stack.token}\n`));
  await waitUntil('the secret.yml reload', () => readJournal(journalFile).filter((e) => e.id === 1002).length > before1);
  const r1 = readJournal(journalFile).filter((e) => e.id === 1002).at(-1)!;
  assert.equal(r1.file, agent.current.get().secretPath, '1002 names secret.yml, the only file that changed');
  const coverage = (await request(base, '/coverage', { cookie })).body;
  assert.doesNotMatch(coverage, /Cannot read the in-scope users/, 'the coverage page binds with the new password');

  // 2. Only config.yml changes: a second target whose token expires in 5 days.
  const cfg = readFileSync(configFile, 'utf8').replace(
    /\nqueue:/,
    `\n  - name: iij2\n    type: iij\n    url: ${stack.emulator.scimBase}\n    token_expires: '${inDays(5)}'\nqueue:`,
  );
  replaceFile(configFile, cfg);
  const r2 = await waitForJournal(journalFile, (e) => e.id === 1002 && e.file !== r1.file && e.ts >= r1.ts, 20_000);
  assert.equal(r2.file, agent.current.get().configPath, '1002 names config.yml');

  const overview = (await request(base, '/', { cookie })).body;
  assert.match(overview, /iij2/, 'the console lists the new target');
  const metrics1 = (await request(base, '/metrics')).body;
  assert.match(metrics1, /pwsync_target_paused\{target="iij2"\} 0/, 'metrics label the new target');
  assert.match(metrics1, /pwsync_target_token_expiry_seconds\{target="iij2"\} \d/, 'token expiry of the new target');
  assert.match(metrics1, /pwsync_changes_total\{target="iij2",outcome="synced"\} 0/);
  const warn = await waitForJournal(journalFile, (e) => e.id === 5003 && e.target === 'iij2', 5_000);
  assert.equal(warn.expires, inDays(5));
});

test('without console.admin_token: no console, but /metrics, /healthz and token warnings (agent-owned)', async (t) => {
  const dc = requireSambaDc(t);
  if (!dc) return;
  const stack = await makeStack(dc, { targetYaml: `    token_expires: '${inDays(1)}'` });
  t.after(() => stack.emulator.close());
  const journalFile = path.join(stack.dir, 'data', 'journal.jsonl');
  const agent = await startAgent(loadConfig(stack.configFile));
  t.after(() => agent.stop());
  assert.equal(agent.console, undefined);
  const events = readJournal(journalFile);
  assert.ok(events.some((e) => e.id === 5007));
  const listening = events.find((e) => e.id === 5008);
  assert.ok(listening, 'metrics listening (5008)');
  assert.ok(events.some((e) => e.id === 5003 && e.target === 'iij'), 'token warning without the console');
  const url = String(listening.url);
  const m = await request(url, '/metrics');
  assert.equal(m.status, 200);
  assert.match(m.body, /pwsync_target_token_expiry_seconds\{target="iij"\} \d/);
  assert.equal((await request(url, '/healthz')).status, 200);
  assert.equal((await request(url, '/')).status, 404, 'no console pages without the admin token');
});
