// Operator actions (src/outbox/operator.ts), shared by the console and `pwsync queue`: a drop is journaled before the
// commit that makes the change final. Proved with a real SIGKILL at the moment the event is written: the change must
// still be open then (a crash repeats the event; it never leaves a dropped change without one).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, describe, it } from 'node:test';
import { Journal, type JournalEntry } from '../../src/journal/journal.js';
import { dropChange, retryChange } from '../../src/outbox/operator.js';
import { Outbox } from '../../src/outbox/store.js';

const root = mkdtempSync(path.join(tmpdir(), 'pwsync-operator-'));
after(() => rmSync(root, { recursive: true, force: true }));
const srcDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src');
let n = 0;

const lines = (file: string): JournalEntry[] => readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as JournalEntry);

function fixture() {
  const d = path.join(root, `o${n++}`);
  const file = path.join(d, 'outbox.sqlite');
  const journalFile = path.join(d, 'journal.jsonl');
  const outbox = new Outbox(file, randomBytes(32));
  const c = outbox.insertChange({ account: 'alice', targets: ['iij', 'scim'], source: 'cli', capturedAt: new Date().toISOString(), password: 'Pw-op-1' });
  return { d, file, journalFile, outbox, c };
}

describe('operator actions', () => {
  it('drop: killed (SIGKILL) right after its event is written, the change is still open; a second drop completes', async () => {
    const f = fixture();
    f.outbox.close();
    const script = path.join(f.d, 'child.mjs');
    writeFileSync(script, `
      import { Outbox } from ${JSON.stringify(pathToFileURL(path.join(srcDir, 'outbox/store.js')).href)};
      import { Journal } from ${JSON.stringify(pathToFileURL(path.join(srcDir, 'journal/journal.js')).href)};
      import { dropChange } from ${JSON.stringify(pathToFileURL(path.join(srcDir, 'outbox/operator.js')).href)};
      const journal = new Journal({ file: ${JSON.stringify(f.journalFile)} });
      journal.on('event', (e) => { if (e.id === 5001) process.kill(process.pid, 'SIGKILL'); });
      dropChange(new Outbox(${JSON.stringify(f.file)}, Buffer.alloc(32)), journal, ${JSON.stringify(f.c.captureId)}, 'cli');
      process.stdout.write('not killed');
    `);
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    const signal = await new Promise<NodeJS.Signals | null>((r) => child.once('exit', (_code, sig) => r(sig)));
    assert.equal(signal, 'SIGKILL', out);

    const events = lines(f.journalFile).filter((e) => e.id === 5001);
    assert.equal(events.length, 1, 'the event of the interrupted drop is in the journal');
    const outbox = new Outbox(f.file, randomBytes(32));
    try {
      for (const id of f.c.ids) {
        const row = outbox.get(id)!;
        assert.equal(row.state, 'pending', 'not dropped: the commit came after the event and never happened');
        assert.equal(row.hasSecret, true);
      }
      const journal = new Journal({ file: f.journalFile });
      const r = dropChange(outbox, journal, f.c.captureId, 'cli');
      journal.close();
      assert.equal(r.ok, true);
      for (const id of f.c.ids) assert.equal(outbox.get(id)!.state, 'rejected');
      const after = lines(f.journalFile).filter((e) => e.id === 5001);
      assert.deepEqual(after.slice(1).map((e) => e.target).sort(), ['iij', 'scim'], 'one event per dropped row, each before its commit');
    } finally {
      outbox.close();
    }
  });

  it('retry and drop say why they do not apply; retry journals 5000 per row', () => {
    const f = fixture();
    const journal = new Journal({ file: f.journalFile });
    try {
      assert.deepEqual(dropChange(f.outbox, journal, 'no-such-id', 'cli'), { ok: false, why: 'no-change' });
      const r = retryChange(f.outbox, journal, f.c.captureId, '127.0.0.1');
      assert.equal(r.ok && r.rows.length, 2);
      assert.deepEqual(lines(f.journalFile).filter((e) => e.id === 5000).map((e) => e.remote), ['127.0.0.1', '127.0.0.1']);
      assert.equal(dropChange(f.outbox, journal, f.c.ids[0]!, 'cli').ok, true);
      assert.deepEqual(dropChange(f.outbox, journal, f.c.ids[0]!, 'cli'), { ok: false, why: 'not-open', state: 'rejected' });
      assert.deepEqual(retryChange(f.outbox, journal, f.c.ids[0]!, 'cli'), { ok: false, why: 'not-sealed', state: 'rejected' });
    } finally {
      journal.close();
      f.outbox.close();
    }
  });
});
