// Invariant 1 (no loss, docs/architecture.md#invariants) under repeated kill -9: 500 changes for 50 real AD users go through the real socket while
// `pwsync run` is SIGKILLed at seeded-random moments and restarted. Every acked change must end with a final
// journal event, and every user's newest password must be the one at the emulator.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startEmulator } from '../../emulator/server.js';
import { openOutboxReader } from '../../src/outbox/reader.js';
import { countsByState, listChanges } from '../../src/outbox/queries.js';
import { requireSambaDc } from '../support/samba.js';
import { FULL_SCOPES, spawnAgent, waitForJournal, filesContaining, type ChildAgent } from '../support/stack.js';
import {
  DurableCaptureClient, createTwins, externalIdOf, journalLines, makeGuaranteeStack, runTag, seededRandom, waitUntil, withDeadline,
  type PlannedChange,
} from '../support/guarantees-stack.js';
import path from 'node:path';

const USERS = 50;
const PER_USER = 10;
const INTAKE_KILLS = 10; // kills spread over the submission, by acked-change progress
const DRAIN_KILLS = 3; // kills while the queue drains, at a random moment after start
const FINAL_EVENTS = new Set([3000, 3004, 3006]);

test(`${USERS * PER_USER} changes for ${USERS} AD users survive ${INTAKE_KILLS + DRAIN_KILLS} SIGKILLs of pwsync run`, async (t) => {
  const dc = requireSambaDc(t);
  if (!dc) return;
  const seed = Number(process.env.PWSYNC_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
  t.diagnostic(`seed ${seed} (replay with PWSYNC_CRASH_SEED=${seed})`);
  const random = seededRandom(seed);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  const emulator = await startEmulator({});
  t.after(() => emulator.close());
  const token = emulator.addToken({ scopes: FULL_SCOPES });
  const s = makeGuaranteeStack(dc, emulator.scimBase, token, { concurrency: 8 });
  const tag = runTag('gc');
  const names = Array.from({ length: USERS }, (_, i) => `${tag}u${i}`);
  await createTwins(dc, emulator, names, false);

  const byAccount = new Map<string, PlannedChange[]>();
  for (const name of names)
    byAccount.set(name, Array.from({ length: PER_USER }, (_, r) => ({ account: name, password: `Kc${r}-${Math.floor(random() * 36 ** 6).toString(36)}!aA9`, ackIds: [] })));
  const total = USERS * PER_USER;

  const start = async (): Promise<ChildAgent> => {
    const child = spawnAgent(s.configFile);
    const exitedEarly = child.exited.then((code) => {
      throw new Error(`pwsync run exited (${code}) before it started: ${child.stderr()}`);
    });
    // 1000 is written after the intake socket listens; its pid tells this incarnation from the previous ones.
    await Promise.race([waitForJournal(s.journalFile, (e) => e.id === 1000 && e.pid === child.proc.pid, 30_000), exitedEarly]);
    exitedEarly.catch(() => undefined);
    return child;
  };

  const client = new DurableCaptureClient(s.socket, random);
  t.after(() => client.stop());
  let child = await start();
  const submitted = client.run(byAccount, 10);
  submitted.catch(() => undefined); // awaited below; a refusal must not surface as an unhandled rejection first
  let kills = 0;
  try {
    for (let k = 0; k < INTAKE_KILLS + DRAIN_KILLS; k++) {
      if (k < INTAKE_KILLS) await withDeadline(client.ackedAtLeast(Math.floor(((k + 1) * total) / (INTAKE_KILLS + 1))), 60_000, `acked changes before kill ${k + 1}`);
      // A random moment: intake commits, replies, deliveries and their commits are all in progress around here.
      await sleep(Math.floor(random() * 250));
      child.proc.kill('SIGKILL');
      await child.exited;
      kills++;
      child = await start();
    }
    await withDeadline(submitted, 60_000, 'every change acked');

    // Convergence: every id the agent ever acked has a final event (journal is read whole: all incarnations).
    const acked = [...byAccount.values()].flat().flatMap((c) => c.ackIds);
    const finals = await waitUntil(
      'a final event for every acked change',
      () => {
        const m = new Map<string, number>();
        for (const e of journalLines(s.journalFile)) if (typeof e.change === 'string' && FINAL_EVENTS.has(e.id) && !m.has(e.change)) m.set(e.change, e.id);
        return acked.every((id) => m.has(id)) && m;
      },
      60_000,
      250,
    );
    const events = journalLines(s.journalFile);
    const finalEvent = new Set(events.filter((e) => FINAL_EVENTS.has(e.id)).map((e) => e.change));
    const bad = events.filter((e) => e.id === 3003 || e.id === 3005 || e.id === 2003);
    assert.deepEqual(bad.map((e) => `${e.id} ${String(e.account)} ${String(e.error ?? e.reason)}`), [], 'no change may be rejected, expired or fail to commit');
    const missing = acked.filter((id) => !finals.has(id));
    assert.deepEqual(missing, [], 'every acked change has a final event');

    for (const [name, list] of byAccount) {
      const newest = list[list.length - 1]!;
      const lastId = newest.ackIds[newest.ackIds.length - 1]!;
      assert.ok([3000, 3006].includes(finals.get(lastId)!), `${name}: the newest change must be delivered, got ${finals.get(lastId)}`);
      const check = await emulator.verifyPassword({ externalId: externalIdOf(dc, name) }, newest.password);
      assert.equal(check.match, true, `${name}: the emulator must hold the newest password`);
    }

    child.proc.kill('SIGTERM');
    await child.exited;
    const outbox = openOutboxReader(path.join(s.dataDir, 'outbox.sqlite'));
    try {
      const counts = countsByState(outbox);
      // Stronger than the acked ids: every row ever committed (copies whose ack was lost included) has its final event.
      const rows = listChanges(outbox, { limit: 100_000 });
      const noEvent = rows.filter((r) => !finalEvent.has(r.captureId)).map((r) => `${r.captureId} ${r.state}`);
      assert.deepEqual(noEvent, [], 'every committed row has a final event');
      for (const open of ['pending', 'waiting', 'inflight']) assert.equal(counts[open] ?? 0, 0, `no ${open} rows left: ${JSON.stringify(counts)}`);
      const tally = (id: number) => [...finals.values()].filter((v) => v === id).length;
      t.diagnostic(
        `kills=${kills} changes=${total} acks=${acked.length} committed=${rows.length} (the difference: acks lost in a crash, change sent again) sends=${client.sends} ` +
          `synced=${tally(3000)} superseded=${tally(3004)} duplicate=${tally(3006)} recoveredInflight=${events.filter((e) => e.id === 1005).length} ` +
          `emulatorWrites=${emulator.listUsers().reduce((n, u) => n + u.passwordSetCount, 0)} rows=${JSON.stringify(counts)}`,
      );
    } finally {
      outbox.close();
    }
    assert.ok(kills >= 10);
    assert.deepEqual(filesContaining(s.dataDir, names.map((n) => byAccount.get(n)!.at(-1)!.password)), []);
  } finally {
    child.proc.kill('SIGKILL');
    await child.exited;
  }
});
