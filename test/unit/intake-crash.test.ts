// A crash between intake's commit and its disk sync (so before the ack): the change is in the outbox, sealed, with
// its 2000 in the journal — nothing is lost — and the capture side's retry (it got no ack) is superseded by it, so
// the password is delivered once. The child process is SIGKILLed at that exact point, signalled over IPC, no sleeps.

import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, it } from 'node:test';
import { Intake } from '../../src/intake/intake.js';
import { parseChangeFrame } from '../../src/intake/frame.js';
import { EV } from '../../src/journal/catalogue.js';
import { Journal, type JournalEntry } from '../../src/journal/journal.js';
import { listChanges } from '../../src/outbox/queries.js';
import { Outbox } from '../../src/outbox/store.js';
import type { CrashChildStart } from '../support/intake-crash-child.js';

const root = mkdtempSync(path.join(tmpdir(), 'pwsync-intake-crash-'));
after(() => rmSync(root, { recursive: true, force: true }));
const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'support', 'intake-crash-child.js');

it('SIGKILL after the commit and before its sync: the unacked change is kept sealed and journaled, and the retry does not deliver it twice', async () => {
  const dir = path.join(root, 'data');
  mkdirSync(dir, { mode: 0o700 });
  const key = randomBytes(32);
  const account = `crash${randomBytes(3).toString('hex')}`;
  const password = `Cr-${randomBytes(6).toString('base64url')}9a`;
  const child = fork(CHILD, [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  const exited = new Promise<NodeJS.Signals | null>((r) => child.once('exit', (_code, signal) => r(signal)));
  const messages: Array<Record<string, unknown>> = [];
  const captured = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the child did not commit within 20 s')), 20_000);
    child.on('message', (m: Record<string, unknown>) => {
      messages.push(m);
      if (m.ready) child.send({ dir, keyHex: key.toString('hex'), account, password } satisfies CrashChildStart);
      if (typeof m.captured === 'string') {
        clearTimeout(timer);
        resolve(m.captured);
      }
    });
    child.once('exit', () => reject(new Error('the child exited early')));
  });
  child.kill('SIGKILL');
  assert.equal(await exited, 'SIGKILL');
  assert.ok(!messages.some((m) => 'acked' in m), 'the child never acked');

  const outbox = new Outbox(path.join(dir, 'outbox.sqlite'), key);
  const journal = new Journal({ file: path.join(dir, 'journal.jsonl') });
  try {
    const row = outbox.get(captured);
    assert.equal(row?.state, 'pending', 'the committed change survived the crash');
    assert.equal(outbox.openSecret(row!), password);
    const lines = readFileSync(path.join(dir, 'journal.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as JournalEntry);
    assert.ok(lines.some((e) => e.id === EV.captured.id && e.change === captured), 'its 2000 was written before the crash');
    assert.ok(!readFileSync(path.join(dir, 'journal.jsonl'), 'utf8').includes(password));

    // The capture side got no ack and sends the same change again: the retry supersedes the orphan.
    const intake = new Intake(outbox, journal, { targets: () => ['iij'], onCommitted: () => undefined });
    const frame = parseChangeFrame(Buffer.from(JSON.stringify({ v: 1, type: 'change', source: 'samba', account, version: { kvno: 5 }, capturedAt: new Date().toISOString(), password })));
    const retry = await intake.accept(frame);
    assert.notEqual(retry.id, captured);
    // Same password version: one of the two is redundant (the store keeps the queued one), so it is delivered once.
    assert.deepEqual([outbox.get(captured)?.state, outbox.get(retry.id)?.state].sort(), ['pending', 'superseded']);
    assert.equal(listChanges(outbox.reader, { states: ['pending'], account, limit: 10 }).length, 1, 'one change to deliver');
  } finally {
    journal.close();
    outbox.close();
  }
});
