// Invariant 2 (docs/architecture.md#invariants) across two DCs: agent A (DC A) holds an older password whose delivery is delayed (its path to IIJ is
// down); agent B (DC B) delivers the newer one. When A's path comes back, A's change must be superseded because AD's
// msDS-KeyVersionNumber has moved on — the check is at send time, not at intake — and must never overwrite.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startEmulator } from '../../emulator/server.js';
import { startAgent } from '../../src/agent.js';
import { loadConfig } from '../../src/config/load.js';
import { requireSambaDc, setPassword } from '../support/samba.js';
import { FULL_SCOPES, change, eventFor, submit, waitForJournal } from '../support/stack.js';
import { sendChange } from '../../src/capture/intake-client.js';
import { createTwins, externalIdOf, makeGuaranteeStack, readKvno, runTag, waitUntil, writeSecret } from '../support/guarantees-stack.js';

test('two DCs: the older password captured at DC A never overwrites the newer one delivered by DC B', async (t) => {
  const dc = requireSambaDc(t);
  if (!dc) return;
  const emulator = await startEmulator({});
  t.after(() => emulator.close());
  const tokenA = emulator.addToken({ scopes: FULL_SCOPES });
  const tokenB = emulator.addToken({ scopes: FULL_SCOPES });
  const A = makeGuaranteeStack(dc, emulator.scimBase, tokenA);
  const B = makeGuaranteeStack(dc, emulator.scimBase, tokenB);
  const tag = runTag('gd');
  const withVersion = `${tag}v`; // captured with its version, as the Samba hook sends it
  const versionless = `${tag}n`; // captured without one, as the Windows filter sends it: A reads it from AD
  await createTwins(dc, emulator, [withVersion, versionless]);
  const agentA = await startAgent(loadConfig(A.configFile));
  t.after(() => agentA.stop());
  const agentB = await startAgent(loadConfig(B.configFile));
  t.after(() => agentB.stop());

  // A's path to IIJ is down: its token is refused, so A's first attempt pauses its target (a delay, not a loss).
  emulator.revokeToken(tokenA);

  // 1. Older passwords, changed in AD (kvno k1) and captured at DC A.
  const older = { [withVersion]: 'Old-1!pw-Aa', [versionless]: 'Old-2!pw-Aa' };
  const newer = { [withVersion]: 'New-1!pw-Bb', [versionless]: 'New-2!pw-Bb' };
  await setPassword(dc, withVersion, older[withVersion]!);
  const k1 = await readKvno(dc, withVersion);
  const a1 = await submit(agentA.socketPath, withVersion, older[withVersion]!, { source: 'samba', dc: 'dc-a', version: { kvno: k1 } });
  const paused = await eventFor(agentA, a1, [4000, 3000, 3004], 20_000);
  assert.equal(paused.id, 4000, 'A attempts (AD still at k1, not stale) and pauses at the 401');
  assert.equal(agentA.outbox.get(a1)?.state, 'pending');

  await setPassword(dc, versionless, older[versionless]!);
  const q1 = await readKvno(dc, versionless);
  const a2 = await submit(agentA.socketPath, versionless, older[versionless]!, { source: 'passfilt', dc: 'dc-a' });
  // A is paused, so this change is never attempted yet: its version can only come from the read right after capture.
  const recorded = await waitUntil('A records the AD version of the version-less capture', () => agentA.outbox.get(a2)?.kvno ?? undefined, 10_000);
  assert.equal(recorded, q1);
  assert.equal(agentA.outbox.get(a2)?.attempts, 0);

  // 2. The users change their passwords again, this time on DC B: AD's version advances, B delivers.
  await setPassword(dc, withVersion, newer[withVersion]!);
  const k2 = await readKvno(dc, withVersion);
  await setPassword(dc, versionless, newer[versionless]!);
  const q2 = await readKvno(dc, versionless);
  assert.ok(k2 > k1 && q2 > q1, `AD versions advance (${k1}→${k2}, ${q1}→${q2})`);
  const b1 = await submit(agentB.socketPath, withVersion, newer[withVersion]!, { source: 'samba', dc: 'dc-b', version: { kvno: k2 } });
  const b2 = await submit(agentB.socketPath, versionless, newer[versionless]!, { source: 'passfilt', dc: 'dc-b' });
  assert.equal((await eventFor(agentB, b1, [3000, 3003, 3004], 20_000)).id, 3000);
  assert.equal((await eventFor(agentB, b2, [3000, 3003, 3004], 20_000)).id, 3000);
  const writes = (name: string) => emulator.getUser({ externalId: externalIdOf(dc, name) })!.passwordSetCount;
  const afterB = { [withVersion]: writes(withVersion), [versionless]: writes(versionless) };

  // 3. A's path comes back (new token, hot reload): the delayed older changes are attempted now — and superseded.
  writeSecret(A, dc, emulator.addToken({ scopes: FULL_SCOPES }));
  await waitForJournal(A.journalFile, (e) => e.id === 4001, 20_000);
  const s1 = await eventFor(agentA, a1, [3000, 3004, 3003], 20_000);
  const s2 = await eventFor(agentA, a2, [3000, 3004, 3003], 20_000);
  assert.equal(s1.id, 3004, `the older change must be superseded, got ${s1.id}`);
  assert.equal(s1.reason, `AD password version ${k2} is newer than this change's ${k1}`);
  assert.equal(s2.id, 3004, `the older version-less change must be superseded, got ${s2.id}`);
  assert.equal(s2.reason, `AD password version ${q2} is newer than this change's ${q1}`);

  for (const name of [withVersion, versionless]) {
    assert.equal((await emulator.verifyPassword({ externalId: externalIdOf(dc, name) }, newer[name]!)).match, true, `${name} keeps the newer password`);
    assert.equal(writes(name), afterB[name], `${name}: no write from agent A`);
    assert.equal(agentA.outbox.get(name === withVersion ? a1 : a2)?.hasSecret, false);
  }
});

// Issue 12.1, the replayed spool: DC A's agent is down, so DC A's filter spools P1; the user then changes the password
// on DC B, whose agent delivers P2; DC A's agent comes back and the spool replays P1. Filter frames carry no key
// version, only their capture time: AD's pwdLastSet (set by DC B for P2) lies after it, so P1 is superseded — it must
// neither be stamped with P2's version nor delivered. The Samba variant (the frame carries its kvno) is run beside it.
test('two DCs: a change replayed from DC A\'s spool after DC B delivered a newer password is superseded, never sent', async (t) => {
  const dc = requireSambaDc(t);
  if (!dc) return;
  const emulator = await startEmulator({});
  t.after(() => emulator.close());
  const skewMs = 300;
  const A = makeGuaranteeStack(dc, emulator.scimBase, emulator.addToken({ scopes: FULL_SCOPES }), { clockSkew: `${skewMs}ms` });
  const B = makeGuaranteeStack(dc, emulator.scimBase, emulator.addToken({ scopes: FULL_SCOPES }), { clockSkew: `${skewMs}ms` });
  const tag = runTag('gr');
  const filterUser = `${tag}f`; // Windows filter: capture time only
  const sambaUser = `${tag}s`; // Samba hook: capture time and kvno
  await createTwins(dc, emulator, [filterUser, sambaUser]);
  const older = { [filterUser]: 'Spool-1!pw-Aa', [sambaUser]: 'Spool-2!pw-Aa' };
  const newer = { [filterUser]: 'Later-1!pw-Bb', [sambaUser]: 'Later-2!pw-Bb' };

  // 1. DC A captures P1 while its agent is down: the frames wait in the spool.
  await setPassword(dc, filterUser, older[filterUser]!);
  await setPassword(dc, sambaUser, older[sambaUser]!);
  const k1 = await readKvno(dc, sambaUser);
  const spooledAt = new Date().toISOString();
  const spool = [
    change(filterUser, older[filterUser]!, { source: 'passfilt', dc: 'dc-a', capturedAt: spooledAt }),
    change(sambaUser, older[sambaUser]!, { source: 'samba', dc: 'dc-a', capturedAt: spooledAt, version: { kvno: k1 } }),
  ];

  // 2. The user changes the password on DC B (after the skew allowance has passed: the residual window is documented),
  //    and B's agent delivers P2.
  await waitUntil('the clock passes the capture time plus the skew allowance', () => Date.now() > Date.parse(spooledAt) + skewMs);
  await setPassword(dc, filterUser, newer[filterUser]!);
  await setPassword(dc, sambaUser, newer[sambaUser]!);
  const k2 = await readKvno(dc, sambaUser);
  const agentB = await startAgent(loadConfig(B.configFile));
  t.after(() => agentB.stop());
  const b1 = await submit(agentB.socketPath, filterUser, newer[filterUser]!, { source: 'passfilt', dc: 'dc-b' });
  const b2 = await submit(agentB.socketPath, sambaUser, newer[sambaUser]!, { source: 'samba', dc: 'dc-b', version: { kvno: k2 } });
  assert.equal((await eventFor(agentB, b1, [3000, 3003, 3004], 20_000)).id, 3000);
  assert.equal((await eventFor(agentB, b2, [3000, 3003, 3004], 20_000)).id, 3000);
  const writes = (name: string) => emulator.getUser({ externalId: externalIdOf(dc, name) })!.passwordSetCount;
  const afterB = { [filterUser]: writes(filterUser), [sambaUser]: writes(sambaUser) };

  // 3. DC A's agent comes back and the spool replays P1.
  const agentA = await startAgent(loadConfig(A.configFile));
  t.after(() => agentA.stop());
  const replayed: string[] = [];
  for (const frame of spool) {
    const r = await sendChange(agentA.socketPath, frame);
    assert.ok(r.ok, 'the replayed frame is acked (the spool may forget it)');
    replayed.push(r.id);
  }
  const [a1, a2] = replayed as [string, string];
  const s1 = await eventFor(agentA, a1, [3000, 3003, 3004], 20_000);
  const s2 = await eventFor(agentA, a2, [3000, 3003, 3004], 20_000);
  assert.equal(s1.id, 3004, `the replayed filter change must be superseded, got ${s1.id}`);
  assert.match(String(s1.reason), new RegExp(`^AD password was set at .*, after this change was captured at ${spooledAt.replace(/[.]/g, '\\.')} \\(clock-skew allowance ${skewMs} ms\\)$`));
  assert.equal(agentA.outbox.get(a1)?.kvno, null, 'P2\'s version is never stamped on the replayed P1');
  assert.equal(s2.id, 3004, `the replayed Samba change must be superseded, got ${s2.id}`);
  assert.equal(s2.reason, `AD password version ${k2} is newer than this change's ${k1}`);

  for (const name of [filterUser, sambaUser]) {
    assert.equal((await emulator.verifyPassword({ externalId: externalIdOf(dc, name) }, newer[name]!)).match, true, `${name} keeps the newer password`);
    assert.equal(writes(name), afterB[name], `${name}: no write from agent A`);
  }
  assert.equal(agentA.outbox.get(a1)?.hasSecret, false);
});
