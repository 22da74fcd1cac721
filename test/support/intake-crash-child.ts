// A process that takes one change in through the real Intake and dies before its ack: the disk sync after the commit
// never completes. For test/unit/intake-crash.test.ts, which SIGKILLs it there. Key and password arrive over IPC
// (never argv or the environment).

import path from 'node:path';
import { Intake } from '../../src/intake/intake.js';
import { parseChangeFrame } from '../../src/intake/frame.js';
import { EV } from '../../src/journal/catalogue.js';
import { Journal, type JournalEntry } from '../../src/journal/journal.js';
import { Outbox } from '../../src/outbox/store.js';

export interface CrashChildStart {
  dir: string;
  keyHex: string;
  account: string;
  password: string;
}

process.once('message', (m: CrashChildStart) => {
  const outbox = new Outbox(path.join(m.dir, 'outbox.sqlite'), Buffer.from(m.keyHex, 'hex'));
  const journal = new Journal({ file: path.join(m.dir, 'journal.jsonl') });
  // The commit is made; the fsync that would allow the ack never ends (the process is killed first).
  outbox.synced = () => new Promise<void>(() => undefined);
  const intake = new Intake(outbox, journal, { targets: () => ['iij'], onCommitted: () => undefined });
  journal.on('event', (e: JournalEntry) => {
    if (e.id === EV.captured.id) process.send!({ captured: e.change });
  });
  const frame = parseChangeFrame(Buffer.from(JSON.stringify({ v: 1, type: 'change', source: 'samba', account: m.account, version: { kvno: 5 }, capturedAt: new Date().toISOString(), password: m.password })));
  void intake.accept(frame).then((r) => process.send!({ acked: r.id }));
});
process.send!({ ready: true });
