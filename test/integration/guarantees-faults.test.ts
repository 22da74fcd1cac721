// Invariant 1 (docs/architecture.md#invariants) against a flaky IIJ: 30 % of SCIM requests fail (500/502/503, 429, timeouts, connection resets; seeded)
// and every user's newest password still arrives, with no operator action.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startEmulator } from '../../emulator/server.js';
import { startAgent } from '../../src/agent.js';
import { loadConfig } from '../../src/config/load.js';
import { requireSambaDc } from '../support/samba.js';
import { FULL_SCOPES, eventFor, submit } from '../support/stack.js';
import { createTwins, externalIdOf, journalLines, makeGuaranteeStack, runTag, waitUntil } from '../support/guarantees-stack.js';

const USERS = 20;
const ROUNDS = 3;
const ERROR_RATE = 0.3;

test(`${USERS * ROUNDS} changes converge while ${ERROR_RATE * 100} % of IIJ requests fail`, async (t) => {
  const dc = requireSambaDc(t);
  if (!dc) return;
  const seed = Number(process.env.PWSYNC_FAULT_SEED ?? 20240611);
  t.diagnostic(`emulator fault seed ${seed}`);
  const emulator = await startEmulator({
    // The emulator holds a 'timeout' request 1.5 s, longer than the agent's 1 s target timeout.
    faults: { errorRate: ERROR_RATE, kinds: [500, 502, 503, 429, 'timeout', 'reset'], timeoutMs: 1500, seed },
  });
  t.after(() => emulator.close());
  const token = emulator.addToken({ scopes: FULL_SCOPES });
  const s = makeGuaranteeStack(dc, emulator.scimBase, token, { timeout: '1s', retryInitial: '100ms', retryMax: '500ms', concurrency: 8 });
  const names = Array.from({ length: USERS }, (_, i) => `${runTag('gf')}${i}`);
  await createTwins(dc, emulator, names, false);
  const agent = await startAgent(loadConfig(s.configFile));
  t.after(() => agent.stop());

  const newest = new Map<string, string>();
  const ids: string[] = [];
  // Rounds: each round's changes are all delivered (through the faults) before the next round changes again, so
  // every round costs real requests instead of being superseded at intake.
  for (let r = 0; r < ROUNDS; r++) {
    const round: string[] = [];
    for (const name of names) {
      const password = `Ft${r}-${Math.random().toString(36).slice(2, 8)}!Z9`;
      newest.set(name, password);
      round.push(await submit(agent.socketPath, name, password));
    }
    ids.push(...round);
    await waitUntil(
      `round ${r + 1}: a final event for every change`,
      () => {
        const done = new Set(journalLines(s.journalFile).filter((e) => [3000, 3003, 3004, 3005, 3006].includes(e.id)).map((e) => e.change));
        return round.every((id) => done.has(id));
      },
      90_000,
      100,
    );
  }

  const events = journalLines(s.journalFile);
  const finals = new Map(events.filter((e) => [3000, 3003, 3004, 3005, 3006].includes(e.id)).map((e) => [e.change, e.id]));
  assert.deepEqual(ids.filter((id) => finals.get(id) !== 3000).map((id) => `${id}: ${finals.get(id)}`), [], 'every change is delivered, none given up');
  assert.equal(events.filter((e) => e.id === 4000).length, 0, 'transient faults never pause the target');
  for (const [name, password] of newest)
    assert.equal((await emulator.verifyPassword({ externalId: externalIdOf(dc, name) }, password)).match, true, `${name} has the newest password`);

  // The faults really happened, of every kind (otherwise this test proves nothing).
  const log = emulator.requestLog();
  const faulted = log.filter((e) => e.fault);
  const kinds = new Set(faulted.map((e) => e.fault));
  const retries = events.filter((e) => e.id === 3001);
  t.diagnostic(
    `requests=${log.length} faulted=${faulted.length} (${((100 * faulted.length) / log.length).toFixed(0)} %) kinds=${[...kinds].join(',')} ` +
      `retries=${retries.length} maxAttempt=${Math.max(...events.filter((e) => e.id === 3000).map((e) => Number(e.attempt)))}`,
  );
  assert.ok(faulted.length >= log.length * 0.15, `expected about 30 % faults, got ${faulted.length}/${log.length}`);
  assert.ok(kinds.size >= 5, `expected most fault kinds, got ${[...kinds].join(',')}`);
  assert.ok(retries.length >= faulted.length * 0.5, 'faults lead to journaled retries');
});

// Regression (found by guarantees-crash): a change that was in flight when a newer one arrived is not superseded at
// intake; when its attempt then failed, it was retried after the newer change had been delivered — and overwrote it.
test('a failed attempt that was in flight when a newer change arrived never overwrites the newer password', async (t) => {
  const dc = requireSambaDc(t);
  if (!dc) return;
  const emulator = await startEmulator({ faults: { timeoutMs: 1500, failNext: [{ status: 'timeout', method: 'PATCH', count: 1 }] } });
  t.after(() => emulator.close());
  const s = makeGuaranteeStack(dc, emulator.scimBase, emulator.addToken({ scopes: FULL_SCOPES }), { timeout: '1s', retryInitial: '100ms', retryMax: '200ms' });
  const name = `${runTag('gf')}o`;
  await createTwins(dc, emulator, [name], false);
  const agent = await startAgent(loadConfig(s.configFile));
  t.after(() => agent.stop());

  const first = await submit(agent.socketPath, name, 'First-1!aA');
  // 3010 is journaled after the search, right before the PATCH that the emulator holds until the agent times out.
  await eventFor(agent, first, [3010]);
  const second = await submit(agent.socketPath, name, 'Second-2!bB');
  assert.equal(agent.outbox.get(first)?.state, 'inflight', 'the first change is in flight when the second arrives');
  assert.equal((await eventFor(agent, second, [3000, 3003, 3004], 20_000)).id, 3000);
  const firstEnd = await eventFor(agent, first, [3000, 3003, 3004], 20_000);
  assert.equal(firstEnd.id, 3004, `the older change must be superseded, got ${firstEnd.id}`);
  assert.match(String(firstEnd.reason), new RegExp(`newer change ${second}`));
  assert.equal((await emulator.verifyPassword({ externalId: externalIdOf(dc, name) }, 'Second-2!bB')).match, true);
  assert.equal(emulator.getUser({ externalId: externalIdOf(dc, name) })!.passwordSetCount, 1);
});
