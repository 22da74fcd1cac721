// Intake on a real Outbox and Journal, without sockets: which DC a change is named with, the order of a change's own
// events, and the normalised never-forward check on what the frame parser lets through.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import { Intake } from '../../src/intake/intake.js';
import { parseChangeFrame } from '../../src/intake/frame.js';
import { RefusedChangeError } from '../../src/errors.js';
import { EV } from '../../src/journal/catalogue.js';
import { Journal, type JournalEntry } from '../../src/journal/journal.js';
import { Outbox } from '../../src/outbox/store.js';
import { listChanges } from '../../src/outbox/queries.js';

const root = mkdtempSync(path.join(tmpdir(), 'pwsync-intake-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
let outbox: Outbox;
let journal: Journal;
let events: JournalEntry[];

beforeEach(() => {
  const d = path.join(root, `i${n++}`);
  outbox = new Outbox(path.join(d, 'outbox.db'), randomBytes(32));
  journal = new Journal({ file: path.join(d, 'journal.jsonl'), level: 'debug' });
  events = [];
  journal.on('event', (e: JournalEntry) => events.push(e));
});
afterEach(() => {
  journal.close();
  outbox.close();
});

const frame = (extra: Record<string, unknown> = {}) =>
  parseChangeFrame(Buffer.from(JSON.stringify({ v: 1, type: 'change', source: 'samba', account: 'alice', capturedAt: new Date().toISOString(), password: 'Pw-1-x', ...extra })));

function intake(dc?: string): Intake {
  return new Intake(outbox, journal, { targets: () => ['iij'], onCommitted: () => {}, dc: () => dc });
}

describe('Intake', () => {
  it('names the change with the configured agent.dc, whatever the frame says; else the frame\'s; else the host name', async () => {
    const a = await intake('dc-conf').accept(frame({ dc: 'vm' }));
    const b = await intake('dc-conf').accept(frame());
    const c = await intake(undefined).accept(frame({ dc: 'dc-frame' }));
    const d = await intake(undefined).accept(frame());
    const dcOf = (id: string) => events.find((e) => e.id === EV.captured.id && e.change === id)?.dc;
    assert.equal(dcOf(a.id), 'dc-conf');
    assert.equal(dcOf(b.id), 'dc-conf');
    assert.equal(dcOf(c.id), 'dc-frame');
    assert.equal(dcOf(d.id), os.hostname());
    assert.equal(outbox.get(a.id)?.dc, 'dc-conf');
  });

  it('a change superseded by its own insert (version already delivered) journals its 2000 before its 3004', async () => {
    const first = await intake().accept(frame({ version: { kvno: 3 } }));
    const row = outbox.get(first.id)!;
    outbox.finish(row.id, 'done', undefined, undefined, { fingerprint: 'fp', kvno: 3 });
    // e.g. the account was disabled: syncpasswords hands the object over again with the same kvno
    const again = await intake().accept(frame({ version: { kvno: 3 }, uac: 514 }));
    const mine = events.filter((e) => e.change === again.id).map((e) => e.id);
    assert.deepEqual(mine, [EV.captured.id, EV.superseded.id]);
    assert.equal(outbox.get(again.id)?.state, 'superseded');
  });

  it('refuses look-alike names the parser lets through (full-width, case)', async () => {
    for (const account of ['ＫＲＢＴＧＴ', 'KrbTgt_１', 'ＰＣ０１＄']) {
      await assert.rejects(intake().accept(frame({ account })), (e: unknown) => e instanceof RefusedChangeError, account);
    }
    assert.equal(listChanges(outbox.reader, { limit: 10 }).length, 0);
  });
});
