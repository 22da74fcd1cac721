// What a large queue costs the agent between acks: the outbox's page cache is bounded (better-sqlite3's default kept
// 16 MB of pages resident at 100 000 queued changes), automatic checkpoints are rare, and the max_age sweep, which
// runs on the event loop every 5 s, searches an index instead of scanning every open row — once per SQLite driver.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, it } from 'node:test';
import { Outbox, PAGE_CACHE_KIB, WAL_CHECKPOINT_PAGES } from '../../src/outbox/store.js';
import { rawConnection } from '../support/outbox-raw.js';
import { driversUnderTest } from '../support/sqlite-drivers.js';

const root = mkdtempSync(path.join(tmpdir(), 'pwsync-footprint-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

for (const driver of driversUnderTest()) {
  it(`on ${driver}: the page cache is ${PAGE_CACHE_KIB} KiB, checkpoints every ${WAL_CHECKPOINT_PAGES} WAL pages, the max_age sweep searches an index`, () => {
    const o = new Outbox(path.join(root, `f${n++}`, 'outbox.db'), randomBytes(32), Date.now, { driver });
    try {
      assert.equal(Number(rawConnection(o).pragma('cache_size')), -PAGE_CACHE_KIB);
      assert.ok(PAGE_CACHE_KIB <= 4096, 'a cache that grows with the queue is what the memory budget is about');
      // An automatic checkpoint stalls the commit (and the acks) it runs in: at most one intake change in ~800.
      assert.equal(Number(rawConnection(o).pragma('wal_autocheckpoint')), WAL_CHECKPOINT_PAGES);
      assert.ok(WAL_CHECKPOINT_PAGES >= 8 * 1000);
      assert.deepEqual(o.olderThan(Date.now()), []);
      // The statement olderThan prepared (the outbox caches them by SQL text): its plan, not a copy of its SQL.
      const statements = (o as unknown as { statements: Map<string, unknown> }).statements;
      const sql = [...statements.keys()].find((s) => s.includes('received_at < ?'));
      assert.ok(sql, 'olderThan prepared its statement');
      const plan = (rawConnection(o).prepare(`EXPLAIN QUERY PLAN ${sql}`).all(0, 1) as Array<{ detail: string }>).map((r) => r.detail).join(' | ');
      assert.match(plan, /SEARCH changes USING INDEX changes_open_received/, plan);
      assert.doesNotMatch(plan, /SCAN changes/, plan);
    } finally {
      o.close();
    }
  });
}
