// Unit tests of the outbox's SQLite seam, once per driver this Node loads: the same SQL gives the same rows
// (plain objects, BLOBs as Buffer), failures carry the same SQLITE_* codes, and transactions nest and roll back alike.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { openSqlite } from '../../src/outbox/sqlite-driver.js';
import { driversUnderTest } from '../support/sqlite-drivers.js';

const root = mkdtempSync(path.join(tmpdir(), 'pwsync-sqlite-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

for (const driver of driversUnderTest()) {
  describe(`sqlite driver ${driver}`, () => {
    const fresh = () => {
      const db = openSqlite(path.join(root, `d${n++}.db`), {}, driver);
      db.exec(`CREATE TABLE t (a INTEGER PRIMARY KEY, b BLOB, c TEXT NOT NULL CHECK (c <> 'bad'))`);
      return db;
    };

    it('names itself, binds named and positional parameters, returns plain rows with Buffers', () => {
      const db = fresh();
      assert.equal(db.driver, driver);
      const r = db.prepare(`INSERT INTO t (b, c) VALUES (@b, @c)`).run({ b: Buffer.from([1, 2, 3]), c: 'x' });
      assert.equal(r.changes, 1);
      const row = db.prepare(`SELECT a, b, c FROM t WHERE c = ?`).get('x') as { a: number; b: Buffer; c: string };
      assert.equal(Object.getPrototypeOf(row), Object.prototype);
      assert.ok(Buffer.isBuffer(row.b));
      assert.deepEqual([...row.b], [1, 2, 3]);
      assert.deepEqual(db.prepare(`SELECT c FROM t`).all(), [{ c: 'x' }]);
      assert.equal(db.prepare(`SELECT c FROM t WHERE c = ?`).get('none'), undefined);
      db.close();
      assert.equal(db.open, false);
    });

    it('pragma returns the first column; journal_mode switches to WAL', () => {
      const db = fresh();
      assert.equal(db.pragma('journal_mode = WAL'), 'wal');
      assert.equal(db.pragma('quick_check'), 'ok');
      db.close();
    });

    it('a CHECK violation carries a SQLITE_CONSTRAINT code (better-sqlite3 adds the extended suffix)', () => {
      const db = fresh();
      assert.throws(() => db.prepare(`INSERT INTO t (c) VALUES (?)`).run('bad'), (e: { code?: string; message: string }) => e.code?.startsWith('SQLITE_CONSTRAINT') === true && /CHECK constraint/.test(e.message));
      db.close();
    });

    it('a failing nested transaction rolls back only itself; a failing outer one rolls back everything', () => {
      const db = fresh();
      const ins = db.prepare(`INSERT INTO t (c) VALUES (?)`);
      db.transaction(() => {
        ins.run('outer');
        assert.throws(() => db.transaction(() => { ins.run('inner'); ins.run('bad'); })(), /CHECK/);
      })();
      assert.deepEqual(db.prepare(`SELECT c FROM t ORDER BY a`).all(), [{ c: 'outer' }]);
      assert.throws(() => db.transaction(() => { ins.run('lost'); throw new Error('boom'); })(), /boom/);
      assert.deepEqual(db.prepare(`SELECT c FROM t ORDER BY a`).all(), [{ c: 'outer' }]);
      assert.equal(db.transaction(() => 42)(), 42);
      db.close();
    });

    it('read-only: a missing file fails to open; writes fail with SQLITE_READONLY', () => {
      assert.throws(() => openSqlite(path.join(root, 'missing.db'), { readonly: true }, driver));
      const f = path.join(root, `ro${n++}.db`);
      const w = openSqlite(f, {}, driver);
      w.exec(`CREATE TABLE t (a)`);
      w.close();
      const ro = openSqlite(f, { readonly: true }, driver);
      assert.equal(ro.readonly, true);
      assert.throws(() => ro.prepare(`INSERT INTO t VALUES (1)`).run(), (e: { code?: string }) => e.code === 'SQLITE_READONLY');
      ro.close();
    });
  });
}
