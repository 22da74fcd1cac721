// Core agent end to end: real agent + IIJ emulator + real Samba AD DC. Every outcome class of issue 2, the
// malformed-frame contract, and that no password or token reaches the journal or the SQLite files.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { sambaDcForSuite, createUser, uniqueName, type SambaDcInfo } from '../support/samba.js';
import { makeStack, startStackAgent, submit, eventFor, filesContaining, readJournal, type Stack } from '../support/stack.js';
import type { RunningAgent } from '../../src/agent.js';
import { encodeFrame, FrameReader, type IntakeReply } from '../../src/intake/frame.js';

const secrets: string[] = [];
function pw(label: string): string {
  const p = `Pw-${label}-${Math.random().toString(36).slice(2, 8)}A1`;
  secrets.push(p);
  return p;
}

describe('core agent against emulator and Samba DC', () => {
  let dc: SambaDcInfo | undefined;
  let stack: Stack;
  let agent: RunningAgent;

  before(async () => {
    dc = sambaDcForSuite();
    if (!dc) return;
    stack = await makeStack(dc);
    secrets.push(stack.token, dc.readerPassword);
    agent = await startStackAgent(stack);
  });
  after(async () => {
    await agent?.stop();
    await stack?.emulator.close();
  });

  /** An AD user in scope plus its IIJ twin (externalId = UPN, as IIJ Directory Sync sets it). */
  async function twin(opts: { iij?: boolean; pendingDeletion?: boolean } = {}): Promise<string> {
    const name = uniqueName('it');
    await createUser(dc!, name);
    if (opts.iij !== false)
      await stack.emulator.addUser({ userName: `${name}@example.jp`, externalId: `${name}@example.test`, pendingDeletion: opts.pendingDeletion ?? false });
    return name;
  }

  test('happy path: the password arrives at IIJ ID, confirmed by the emulator', async (t) => {
    if (!dc) return t.skip();
    const name = await twin();
    const password = pw('happy');
    const id = await submit(agent.socketPath, name, password);
    const ev = await eventFor(agent, id, [3000, 3001, 3002, 3003]);
    assert.equal(ev.id, 3000, `expected synced, got ${ev.id} ${String(ev.error)}`);
    assert.equal(ev.externalId, `${name}@example.test`);
    assert.equal((await stack.emulator.verifyPassword({ externalId: `${name}@example.test` }, password)).match, true);
    // Sealed row erased once final.
    assert.equal(agent.outbox.get(id)?.hasSecret, false);
    assert.equal(agent.outbox.get(id)?.state, 'done');
  });

  test('user absent in IIJ: waits (not provisioned), then is delivered once Directory Sync creates the user', async (t) => {
    if (!dc) return t.skip();
    const name = await twin({ iij: false });
    const password = pw('absent');
    const id = await submit(agent.socketPath, name, password);
    const waiting = await eventFor(agent, id, [3002, 3000]);
    assert.equal(waiting.id, 3002);
    assert.equal(agent.outbox.get(id)?.state, 'waiting');
    await stack.emulator.addUser({ userName: `${name}@example.jp`, externalId: `${name}@example.test` });
    const synced = await agent.journal.waitFor((e) => e.change === id && e.id === 3000, 15_000);
    assert.equal(synced.id, 3000);
    assert.equal((await stack.emulator.verifyPassword({ externalId: `${name}@example.test` }, password)).match, true);
  });

  test('duplicate externalId at IIJ: rejected with a clear event, nothing written', async (t) => {
    if (!dc) return t.skip();
    const name = await twin();
    await stack.emulator.addUser({ userName: `${name}-2@example.jp`, externalId: `${name}@example.test`, allowDuplicateExternalId: true });
    const id = await submit(agent.socketPath, name, pw('dup'));
    const ev = await eventFor(agent, id, [3000, 3003]);
    assert.equal(ev.id, 3003);
    assert.match(String(ev.error), /2 users/);
    assert.equal(stack.emulator.getUser({ userName: `${name}@example.jp` })?.passwordSetCount, 0);
  });

  test('pending deletion: the change waits instead of failing', async (t) => {
    if (!dc) return t.skip();
    const name = await twin({ pendingDeletion: true });
    const id = await submit(agent.socketPath, name, pw('pending'));
    const ev = await eventFor(agent, id, [3000, 3002, 3003]);
    assert.equal(ev.id, 3002);
    assert.equal(ev.code, 'E_NOT_PROVISIONED');
    assert.equal(agent.outbox.get(id)?.state, 'waiting');
    // Stop its background retries: later tests count requests and consume forced faults.
    assert.equal(agent.outbox.drop(id).length, 1);
  });

  test('multibyte password: rejected before any request to IIJ', async (t) => {
    if (!dc) return t.skip();
    const name = await twin();
    const password = 'Pässwörd-1A';
    secrets.push(password);
    const id = await submit(agent.socketPath, name, password);
    const ev = await eventFor(agent, id, [3000, 3003]);
    assert.equal(ev.id, 3003);
    assert.match(String(ev.error), /multibyte|non-ASCII/i);
    // No search was made for this change (3010 is journaled for every search) and nothing was written.
    assert.equal(readJournal(agent.loaded.config.log.file).filter((e) => e.change === id && e.id === 3010).length, 0, 'no request may reach IIJ for a password it can never accept');
    assert.equal(stack.emulator.getUser({ externalId: `${name}@example.test` })?.passwordSetCount, 0);
  });

  test("policy rejection: IIJ's 400 detail is in the event, the change is final", async (t) => {
    if (!dc) return t.skip();
    const name = await twin();
    const password = 'short';
    secrets.push(password);
    const id = await submit(agent.socketPath, name, password);
    const ev = await eventFor(agent, id, [3000, 3003]);
    assert.equal(ev.id, 3003);
    assert.ok(typeof ev.detail === 'string' && ev.detail.length > 0, 'IIJ detail must be journaled');
    assert.equal(agent.outbox.get(id)?.state, 'rejected');
    assert.equal(agent.outbox.get(id)?.hasSecret, false);
  });

  test('5xx and timeout are retried, then delivered', async (t) => {
    if (!dc) return t.skip();
    const name = await twin();
    const iijId = stack.emulator.getUser({ externalId: `${name}@example.test` })!.id;
    stack.emulator.setFaults({ failNext: [{ status: 503, count: 1, pathContains: '/Users/.search' }, { status: 'timeout', count: 1, method: 'PATCH', pathContains: iijId }] });
    const password = pw('retry');
    const id = await submit(agent.socketPath, name, password);
    const synced = await agent.journal.waitFor((e) => e.change === id && e.id === 3000, 30_000);
    assert.ok(Number(synced.attempt) >= 3, `expected at least 3 attempts, got ${String(synced.attempt)}`);
    assert.equal((await stack.emulator.verifyPassword({ externalId: `${name}@example.test` }, password)).match, true);
  });

  test('429 with Retry-After is honoured before the next attempt', async (t) => {
    if (!dc) return t.skip();
    const name = await twin();
    stack.emulator.setFaults({ failNext: [{ status: 429, retryAfter: 2, count: 1, pathContains: '/Users/.search' }] });
    const id = await submit(agent.socketPath, name, pw('429'));
    const retry = await eventFor(agent, id, [3001]);
    assert.ok(Number(retry.retryInMs) >= 2000, `retry must wait for Retry-After (got ${String(retry.retryInMs)} ms)`);
    const synced = await agent.journal.waitFor((e) => e.change === id && e.id === 3000, 15_000);
    const gap = Date.parse(synced.ts) - Date.parse(retry.ts);
    assert.ok(gap >= 2000, `delivered ${gap} ms after the 429, before Retry-After allowed`);
  });

  test('each malformed frame gets a coded error while the agent keeps serving other clients', async (t) => {
    if (!dc) return t.skip();
    const raw = async (bytes: Buffer): Promise<IntakeReply> =>
      new Promise((resolve, reject) => {
        const s = net.connect(agent.socketPath, () => s.write(bytes));
        const r = new FrameReader();
        s.on('data', (c: Buffer) => {
          const [p] = r.push(c);
          if (p) resolve(JSON.parse(p.toString()) as IntakeReply);
        });
        s.on('error', reject);
      });
    const frame = (s: string) => {
      const b = Buffer.from(s);
      const h = Buffer.alloc(4);
      h.writeUInt32LE(b.length);
      return Buffer.concat([h, b]);
    };
    const huge = Buffer.alloc(4);
    huge.writeUInt32LE(70 * 1024);
    const base = { v: 1, type: 'change', source: 'cli', account: 'alice', capturedAt: new Date().toISOString(), password: 'Secret-Fr4me' };
    secrets.push('Secret-Fr4me');
    const cases: Array<[string, Buffer, string]> = [
      ['over 64 KiB', Buffer.concat([huge, Buffer.alloc(1024, 0x41)]), 'E_FRAME_TOO_LARGE'],
      ['not JSON', frame('{not json'), 'E_BAD_FRAME'],
      ['missing fields', frame(JSON.stringify({ v: 1, type: 'change' })), 'E_BAD_FRAME'],
      ['wrong version', frame(JSON.stringify({ ...base, v: 2 })), 'E_BAD_FRAME'],
      ['wrong types', frame(JSON.stringify({ ...base, rid: 'x' })), 'E_BAD_FRAME'],
      ['invalid UTF-8', Buffer.concat([frame('{"v":1}').subarray(0, 4), Buffer.from([0x7b, 0xff, 0xfe, 0x7d, 0x20, 0x20, 0x20])]), 'E_BAD_FRAME'],
      ['unpaired surrogate', frame(JSON.stringify(base).replace('Secret-Fr4me', 'Secret-Fr4me\\ud800')), 'E_INVALID_UTF16'],
      ['krbtgt', encodeFrame({ ...base, account: 'krbtgt' }), 'E_REFUSED'],
      ['computer account', encodeFrame({ ...base, account: 'WS01$' }), 'E_REFUSED'],
    ];
    const name = await twin();
    const good = pw('concurrent');
    // A slow, never-finished frame holds one connection open while everything else is served.
    const stalled = net.connect(agent.socketPath, () => stalled.write(Buffer.from([0x10, 0x00])));
    const [replies, id] = await Promise.all([Promise.all(cases.map(([, b]) => raw(b))), submit(agent.socketPath, name, good)]);
    stalled.destroy();
    replies.forEach((r, i) => {
      const [label, , code] = cases[i]!;
      assert.equal(r.ok, false, label);
      if (!r.ok) {
        assert.equal(r.code, code, label);
        assert.ok(!r.message.includes('Secret-Fr4me'), `${label}: reply echoes the password`);
      }
    });
    assert.equal((await eventFor(agent, id, [3000, 3003])).id, 3000);
  });

  test('401 (revoked token) and 403 (missing scope) pause the target; nothing is lost', async (t) => {
    if (!dc) return t.skip();
    // Own stack: pausing the shared target would stall the other tests.
    const s2 = await makeStack(dc, { scopes: ['escim_read_users'] });
    secrets.push(s2.token);
    const a2 = await startStackAgent(s2);
    try {
      const name = uniqueName('it');
      await createUser(dc, name);
      await s2.emulator.addUser({ userName: `${name}@example.jp`, externalId: `${name}@example.test` });
      const id = await submit(a2.socketPath, name, pw('403'));
      const paused = await a2.journal.waitFor((e) => e.id === 4000, 15_000);
      assert.equal(paused.status, 403);
      assert.equal(a2.outbox.get(id)?.state, 'pending', 'the change stays queued');
      assert.equal(a2.delivery.targetHealth().get('iij')?.paused, true);

      s2.emulator.revokeToken(s2.token);
      a2.delivery.resume('iij');
      const again = await a2.journal.waitFor((e) => e.id === 4000, 15_000);
      assert.equal(again.status, 401);
      assert.equal(a2.outbox.get(id)?.hasSecret, true);
    } finally {
      await a2.stop();
      await s2.emulator.close();
    }
  });

  test('no password or token in the journal or the SQLite files (db, -wal, -shm)', async (t) => {
    if (!dc) return t.skip();
    assert.ok(secrets.length > 5);
    const journal = readFileSync(agent.loaded.config.log.file, 'utf8');
    assert.ok(journal.includes('"id":3000'), 'the journal has events to check');
    assert.deepEqual(filesContaining(`${stack.dir}/data`, secrets), []);
  });
});
