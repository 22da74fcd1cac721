// Invariants 1 and 6 when IIJ revokes the access token mid-run: the target pauses at the first 401 (loud: event
// 4000, `pwsync status` exit 1), nothing is lost, a bad replacement token keeps it paused (4002), a good one written
// into secret.yml resumes it without a restart (1002, 4001) and the queue drains.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startEmulator } from '../../emulator/server.js';
import { startAgent } from '../../src/agent.js';
import { loadConfig } from '../../src/config/load.js';
import { requireSambaDc } from '../support/samba.js';
import { FULL_SCOPES, eventFor, submit, waitForJournal } from '../support/stack.js';
import { createTwins, externalIdOf, journalLines, makeGuaranteeStack, runCli, runTag, waitUntil, writeSecret } from '../support/guarantees-stack.js';
import { countsByState } from '../../src/outbox/queries.js';

const USERS = 8;
const CONCURRENCY = 4;

test('token revoked mid-run: pause at the first 401, nothing lost, hot-reloaded token resumes and drains', async (t) => {
  const dc = requireSambaDc(t);
  if (!dc) return;
  const emulator = await startEmulator({});
  t.after(() => emulator.close());
  const token = emulator.addToken({ scopes: FULL_SCOPES });
  const s = makeGuaranteeStack(dc, emulator.scimBase, token, { concurrency: CONCURRENCY });
  const names = Array.from({ length: USERS }, (_, i) => `${runTag('gt')}${i}`);
  await createTwins(dc, emulator, names, false);
  const agent = await startAgent(loadConfig(s.configFile));
  t.after(() => agent.stop());
  const count = (id: number) => journalLines(s.journalFile).filter((e) => e.id === id).length;

  // Running normally first.
  for (const name of names.slice(0, 2)) assert.equal((await eventFor(agent, await submit(agent.socketPath, name, `Before-${name.slice(-3)}!1a`), [3000, 3001, 4000])).id, 3000);

  // The token is revoked at IIJ (e.g. its admin user was disabled) while changes keep coming.
  emulator.revokeToken(token);
  emulator.clearRequestLog();
  const newest = new Map<string, string>();
  const ids: string[] = [];
  for (const name of names) {
    const password = `Tok-${Math.random().toString(36).slice(2, 8)}!9A`;
    newest.set(name, password);
    ids.push(await submit(agent.socketPath, name, password));
  }
  const paused = await waitForJournal(s.journalFile, (e) => e.id === 4000, 20_000);
  assert.equal(paused.status, 401);
  await waitUntil('no attempt in flight', () => (countsByState(agent.outbox.reader).inflight ?? 0) === 0, 10_000);
  assert.equal(count(4000), 1, 'one alert, not one per change');
  const refused = emulator.requestLog().filter((e) => e.status === 401).length;
  assert.ok(refused >= 1 && refused <= CONCURRENCY, `the target stops at the first 401 (only attempts already in flight may see one): ${refused}`);
  for (const id of ids) {
    const row = agent.outbox.get(id)!;
    assert.equal(row.state, 'pending', `${id} stays queued`);
    assert.equal(row.hasSecret, true, `${id} keeps its sealed password`);
  }
  const status = await runCli(['status', '--config', s.configFile]);
  assert.equal(status.code, 1, `pwsync status exits 1 while a target is paused: ${status.stdout}${status.stderr}`);
  assert.match(status.stdout, /target iij: PAUSED/);

  // A wrong token is written: the probe fails, the target stays paused, nothing is sent.
  writeSecret(s, dc, 'not-the-new-token-0000000000');
  await waitForJournal(s.journalFile, (e) => e.id === 1002, 20_000);
  const stillPaused = await waitForJournal(s.journalFile, (e) => e.id === 4002, 20_000);
  assert.equal(stillPaused.target, 'iij');
  assert.equal(count(4001), 0);
  assert.equal((await runCli(['status', '--config', s.configFile])).code, 1);
  assert.equal(emulator.requestLog().filter((e) => e.method === 'PATCH').length, 0, 'no password write while paused');

  // The right token: hot reload, probe, resume, drain.
  writeSecret(s, dc, emulator.addToken({ scopes: FULL_SCOPES }));
  await waitUntil('a second reload', () => count(1002) >= 2, 20_000);
  await waitForJournal(s.journalFile, (e) => e.id === 4001, 20_000);
  for (const id of ids) assert.equal((await eventFor(agent, id, [3000, 3003, 3005], 30_000)).id, 3000, `${id} is delivered`);
  for (const [name, password] of newest) assert.equal((await emulator.verifyPassword({ externalId: externalIdOf(dc, name) }, password)).match, true, name);
  const after = await runCli(['status', '--config', s.configFile]);
  assert.equal(after.code, 0, after.stdout);
  assert.match(after.stdout, /target iij: running/);
});
