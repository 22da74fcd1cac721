// Invariant 1 (docs/architecture.md#invariants) across a crash: a change acked by the agent survives SIGKILL and is delivered after restart.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requireSambaDc, createUser, uniqueName } from '../support/samba.js';
import { makeStack, spawnAgent, submit, waitForJournal, filesContaining } from '../support/stack.js';
import path from 'node:path';

test('SIGKILL right after the ack: the change is delivered after restart', async (t) => {
  const dc = requireSambaDc(t);
  if (!dc) return;
  // Every SCIM request takes 5 s, so the change is certainly still in flight when the agent is killed.
  const stack = await makeStack(dc, { emulator: { faults: { latencyMs: 5000 } } });
  const name = uniqueName('crash');
  await createUser(dc, name);
  await stack.emulator.addUser({ userName: `${name}@example.jp`, externalId: `${name}@example.test` });
  const journal = path.join(stack.dir, 'data', 'journal.jsonl');
  const password = `Cr4sh-${Math.random().toString(36).slice(2, 10)}`;
  const first = spawnAgent(stack.configFile);
  try {
    await waitForJournal(journal, (e) => e.id === 2004);
    const id = await submit(path.join(stack.dir, 'intake.sock'), name, password);
    first.proc.kill('SIGKILL');
    await first.exited;
    assert.equal((await stack.emulator.verifyPassword({ externalId: `${name}@example.test` }, password)).match, false, 'not delivered before the crash');

    stack.emulator.setFaults({ latencyMs: 0 });
    const second = spawnAgent(stack.configFile);
    try {
      const synced = await waitForJournal(journal, (e) => e.id === 3000 && e.change === id, 30_000);
      assert.equal(synced.account, name.toLowerCase());
      assert.equal((await stack.emulator.verifyPassword({ externalId: `${name}@example.test` }, password)).match, true);
      // The agent's real stderr and files carry no secret.
      assert.ok(!second.stderr().includes(password) && !first.stderr().includes(password));
      assert.ok(!second.stderr().includes(stack.token));
      assert.deepEqual(filesContaining(path.join(stack.dir, 'data'), [password, stack.token]), []);
    } finally {
      second.proc.kill('SIGTERM');
      await second.exited;
    }
  } finally {
    first.proc.kill('SIGKILL');
    await stack.emulator.close();
  }
});
