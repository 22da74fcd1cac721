// The queue's edges, each ending loud (invariants 1 and 6, docs/architecture.md#invariants): a user never provisioned expires after the horizon (3005),
// a paused target's changes expire by queue.max_age via the sweep, an operator's `pwsync queue retry|drop` acts on a
// running agent, a full disk at intake is refused with E_STORAGE (the capture keeps its copy), a corrupt outbox
// stops `pwsync run` with a message naming the file.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startEmulator } from '../../emulator/server.js';
import type { Emulator } from '../../emulator/types.js';
import { startAgent, type RunningAgent } from '../../src/agent.js';
import { sendChange } from '../../src/capture/intake-client.js';
import { loadConfig } from '../../src/config/load.js';
import { sambaDcForSuite, type SambaDcInfo } from '../support/samba.js';
import { FULL_SCOPES, change, eventFor, spawnAgent, submit } from '../support/stack.js';
import { rawConnection } from '../support/outbox-raw.js';
import {
  createTwins, externalIdOf, journalLines, makeGuaranteeStack, runCli, runTag, withDeadline, type GuaranteeConfig, type GuaranteeStack,
} from '../support/guarantees-stack.js';

describe('queue edges: horizon, max_age, operator retry/drop, full disk, corrupt database', () => {
  let dc: SambaDcInfo | undefined;
  let emulator: Emulator;
  const tag = runTag('gq');
  // AD accounts for the tests below, created in one go; IIJ twins only where a test needs one.
  const user = { absent: `${tag}a`, paused: `${tag}p`, retry: `${tag}r`, drop: `${tag}d`, full: `${tag}f` };

  before(async (t) => {
    dc = sambaDcForSuite();
    if (!dc) return;
    emulator = await startEmulator({});
    await createTwins(dc, undefined, Object.values(user), false);
    for (const name of [user.paused, user.full]) await emulator.addUser({ userName: `${name}@example.jp`, externalId: externalIdOf(dc, name) });
  });
  after(() => emulator?.close());

  async function agentFor(t: { after: (fn: () => Promise<void>) => void }, c: GuaranteeConfig, revoked = false): Promise<{ s: GuaranteeStack; agent: RunningAgent }> {
    const token = emulator.addToken({ scopes: FULL_SCOPES });
    if (revoked) emulator.revokeToken(token);
    const s = makeGuaranteeStack(dc!, emulator.scimBase, token, c);
    const agent = await startAgent(loadConfig(s.configFile));
    t.after(() => agent.stop());
    return { s, agent };
  }

  test('a user never provisioned at IIJ waits, then expires after queue.not_provisioned_horizon with 3005', async (t) => {
    if (!dc) return t.skip();
    const { agent } = await agentFor(t, { horizon: '2s', retryInitial: '200ms', retryMax: '500ms' });
    const id = await submit(agent.socketPath, user.absent, 'Absent-1!aA');
    assert.equal((await eventFor(agent, id, [3002, 3000, 3005])).id, 3002, 'it waits first');
    const expired = await eventFor(agent, id, [3005, 3000], 20_000);
    assert.equal(expired.id, 3005);
    assert.equal(expired.account, user.absent.toLowerCase(), 'the alert names the account');
    assert.equal(expired.code, 'E_NOT_PROVISIONED');
    const row = agent.outbox.get(id)!;
    assert.equal(row.state, 'expired');
    assert.equal(row.hasSecret, false, 'the sealed password is erased');
  });

  test('a paused target: its queued change expires by queue.max_age through the sweep', async (t) => {
    if (!dc) return t.skip();
    const { agent } = await agentFor(t, { maxAge: '3s' }, true);
    const id = await submit(agent.socketPath, user.paused, 'Paused-1!aA');
    assert.equal((await eventFor(agent, id, [4000, 3000])).id, 4000);
    // Never attempted again while paused; only the sweep (every 5 s) can end it.
    const expired = await eventFor(agent, id, [3005, 3000], 20_000);
    assert.equal(expired.id, 3005);
    assert.equal(expired.reason, 'max_age');
    assert.equal(expired.account, user.paused.toLowerCase());
    assert.equal(agent.outbox.get(id)?.state, 'expired');
    assert.equal(agent.outbox.get(id)?.hasSecret, false);
    assert.equal(expired.attempt, undefined, 'ended by the sweep, not by a delivery attempt');
  });

  test('pwsync queue retry on a waiting change: attempted again soon, not after its 60 s backoff', async (t) => {
    if (!dc) return t.skip();
    const { s, agent } = await agentFor(t, { retryInitial: '60s', retryMax: '60s' });
    const password = 'Retry-1!aA';
    const id = await submit(agent.socketPath, user.retry, password);
    const waiting = await eventFor(agent, id, [3002, 3000]);
    assert.equal(waiting.id, 3002);
    assert.ok(Number(waiting.retryInMs) >= 30_000, `backoff ${String(waiting.retryInMs)} ms`);
    const list = await runCli(['queue', 'list', '--config', s.configFile]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`${id}\\s+waiting\\s+${user.retry.toLowerCase()}`));
    // Directory Sync has created the user meanwhile; the operator does not want to wait a minute.
    await emulator.addUser({ userName: `${user.retry}@example.jp`, externalId: externalIdOf(dc, user.retry) });
    const retry = await runCli(['queue', 'retry', id, '--config', s.configFile]);
    assert.equal(retry.code, 0, retry.stderr);
    assert.equal(journalLines(s.journalFile).find((e) => e.id === 5000 && e.change === id)?.remote, 'cli', 'the operator act is journaled (5000)');
    const synced = await eventFor(agent, id, [3000], 15_000);
    assert.equal(synced.id, 3000, 'the retried change is delivered well before its backoff ends');
    assert.equal((await emulator.verifyPassword({ externalId: externalIdOf(dc, user.retry) }, password)).match, true);
  });

  test('pwsync queue drop erases the sealed password; retry is refused afterwards', async (t) => {
    if (!dc) return t.skip();
    const { s, agent } = await agentFor(t, { retryInitial: '60s', retryMax: '60s' });
    const id = await submit(agent.socketPath, user.drop, 'Drop-1!aA');
    assert.equal((await eventFor(agent, id, [3002, 3000])).id, 3002);
    assert.equal(agent.outbox.get(id)?.hasSecret, true);
    const drop = await runCli(['queue', 'drop', id, '--config', s.configFile]);
    assert.equal(drop.code, 0, drop.stderr);
    assert.equal(journalLines(s.journalFile).find((e) => e.id === 5001 && e.change === id)?.account, user.drop.toLowerCase(), 'the drop is journaled (5001)');
    const row = agent.outbox.get(id)!;
    assert.equal(row.state, 'rejected');
    assert.equal(row.lastErrorCode, 'E_DROPPED');
    assert.equal(row.hasSecret, false, 'the sealed password is gone');
    const retry = await runCli(['queue', 'retry', id, '--config', s.configFile]);
    assert.notEqual(retry.code, 0);
    assert.match(retry.stderr, /sealed password is gone/);
  });

  test('a full disk at intake: E_STORAGE to the capture, event 2003, the agent keeps serving', async (t) => {
    if (!dc) return t.skip();
    // Paused target (revoked token): nothing is delivered, so no row frees its space while the disk "fills".
    const { s, agent } = await agentFor(t, {}, true);
    assert.equal((await eventFor(agent, await submit(agent.socketPath, user.full, 'Full-0!aA'), [4000, 3000])).id, 4000);
    const db = rawConnection(agent.outbox);
    db.pragma(`max_page_count = ${Number(db.pragma('page_count'))}`);
    const big = 'B'.repeat(1000); // the largest passwords a frame carries fill pages quickly
    let reply;
    let accepted = 0;
    for (let i = 0; i < 100; i++) {
      reply = await sendChange(s.socket, change(`${tag}x${i}`, big));
      if (!reply.ok) break;
      accepted++;
    }
    assert.ok(reply && !reply.ok, `the outbox must fill up (accepted ${accepted})`);
    assert.equal(reply.code, 'E_STORAGE');
    assert.ok(!reply.message.includes(big));
    const alert = journalLines(s.journalFile).find((e) => e.id === 2003);
    assert.ok(alert, 'event 2003');
    assert.equal(alert.account, `${tag}x${accepted}`);
    // Space comes back (the operator freed the disk): the next change is accepted without a restart.
    db.pragma('max_page_count = 1073741823');
    const next = await sendChange(s.socket, change(user.full, 'Full-1!aA'));
    assert.equal(next.ok, true, JSON.stringify(next));
    assert.equal(agent.outbox.get((next as { id: string }).id)?.state, 'pending');
  });

  test('a corrupt outbox at start: pwsync run exits non-zero naming the file (E_DB_CORRUPT), and leaves it alone', async (t) => {
    if (!dc) return t.skip();
    const s = makeGuaranteeStack(dc, emulator.scimBase, emulator.addToken({ scopes: FULL_SCOPES }));
    mkdirSync(s.dataDir, { recursive: true, mode: 0o700 });
    const file = path.join(s.dataDir, 'outbox.sqlite');
    const garbage = randomBytes(64 * 1024);
    writeFileSync(file, garbage, { mode: 0o600 });
    const child = spawnAgent(s.configFile);
    const code = await withDeadline(child.exited, 20_000, 'pwsync run exits');
    assert.notEqual(code, 0);
    assert.match(child.stderr(), /E_DB_CORRUPT/);
    assert.ok(child.stderr().includes(file), `the message names the file: ${child.stderr()}`);
    assert.deepEqual(readFileSync(file), garbage, 'the damaged file is kept for the operator, not replaced');
  });
});
