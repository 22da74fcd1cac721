// The outbox's schema version: a fresh file records this build's version; a file of the first release (no version
// recorded, with or without delivered.guid) is read as version 1 and upgraded in place with its rows intact; a file
// of a newer schema is refused by the writer and by readers and left byte for byte as it was; a read-only open of
// an older file reads it without upgrading it. Once per SQLite driver.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { OutboxSchemaVersionError } from '../../src/errors.js';
import { countsByState } from '../../src/outbox/queries.js';
import { openOutboxReader } from '../../src/outbox/reader.js';
import { SCHEMA_VERSION, schemaVersionOf } from '../../src/outbox/schema.js';
import { openSqlite, type SqliteDriverName } from '../../src/outbox/sqlite-driver.js';
import { Outbox } from '../../src/outbox/store.js';
import { driversUnderTest } from '../support/sqlite-drivers.js';
import { rawConnection } from '../support/outbox-raw.js';
import { settleFinal } from '../support/outbox-settle.js';

const root = mkdtempSync(path.join(tmpdir(), 'pwsync-schema-'));
after(() => rmSync(root, { recursive: true, force: true }));
const KEY = randomBytes(32);
let n = 0;

const columns = (o: Outbox, table: string) => (rawConnection(o).prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>).map((c) => c.name);
/** The indexes on changes, SQLite's own (UNIQUE id) included: each one is written on every insert and state change. */
const changeIndexes = (o: Outbox) =>
  (rawConnection(o).prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'changes' ORDER BY name`).all() as Array<{ name: string }>).map((r) => r.name);
const CHANGE_INDEXES = ['changes_account', 'changes_capture', 'changes_open_due', 'changes_open_received', 'changes_target_due', 'sqlite_autoindex_changes_1'];
const userVersion = (file: string, driver: SqliteDriverName) => {
  const db = openSqlite(file, { readonly: true }, driver);
  try {
    return Number(db.pragma('user_version'));
  } finally {
    db.close();
  }
};

/**
 * An outbox as the first release left it: this build's file with one queued change, then the version erased and,
 * unless `withGuid`, delivered.guid and its index removed (builds between the first release and versioning added them).
 */
function firstReleaseFile(driver: SqliteDriverName, withGuid: boolean): { file: string; id: string } {
  const file = path.join(root, `v1-${n++}`, 'outbox.sqlite');
  const o = new Outbox(file, KEY, Date.now, { driver });
  const { ids } = o.insertChange({ account: 'alice', targets: ['iij'], source: 'samba', kvno: 3, capturedAt: '2026-01-01T00:00:00Z', password: 'Old-Release-Pw1!' });
  const db = rawConnection(o);
  if (!withGuid) db.exec(`DROP INDEX delivered_guid; ALTER TABLE delivered DROP COLUMN guid`);
  db.pragma('user_version = 0');
  o.close();
  return { file, id: ids[0]! };
}

/** A file a future pwsync wrote: this schema with user_version one above this build's, in rollback-journal mode. */
function newerFile(driver: SqliteDriverName): string {
  const file = path.join(root, `newer-${n++}`, 'outbox.sqlite');
  new Outbox(file, KEY, Date.now, { driver }).close();
  const db = openSqlite(file, {}, driver);
  // DELETE mode: a writer that set WAL before looking at the version would rewrite the header and fail the test.
  db.pragma('journal_mode = DELETE');
  db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
  db.close();
  return file;
}

for (const driver of driversUnderTest()) {
  describe(`outbox schema version on ${driver}`, () => {
    it('a fresh file records this build\'s version', () => {
      const file = path.join(root, `fresh-${n++}`, 'outbox.sqlite');
      const o = new Outbox(file, KEY, Date.now, { driver });
      assert.deepEqual(o.schema, { from: 0, to: SCHEMA_VERSION });
      assert.ok(columns(o, 'delivered').includes('guid'));
      assert.deepEqual(changeIndexes(o), CHANGE_INDEXES, 'changes_due (unused) is gone');
      o.close();
      assert.equal(userVersion(file, driver), SCHEMA_VERSION);
      const again = new Outbox(file, KEY, Date.now, { driver });
      assert.deepEqual(again.schema, { from: SCHEMA_VERSION, to: SCHEMA_VERSION }, 'nothing to do on the next open');
      again.close();
    });

    for (const withGuid of [false, true]) {
      it(`a first-release file (no version${withGuid ? ', delivered.guid already added' : ''}) is version 1, upgraded with its rows`, () => {
        const { file, id } = firstReleaseFile(driver, withGuid);
        assert.equal(userVersion(file, driver), 0);
        const o = new Outbox(file, KEY, Date.now, { driver });
        assert.deepEqual(o.schema, { from: 1, to: SCHEMA_VERSION });
        assert.equal(schemaVersionOf(rawConnection(o)), SCHEMA_VERSION);
        assert.ok(columns(o, 'delivered').includes('guid'));
        assert.deepEqual(changeIndexes(o), CHANGE_INDEXES);
        assert.equal(o.openSecret(o.get(id)!), 'Old-Release-Pw1!', 'the queued change and its sealed password survive');
        settleFinal(o, id, 'done', { delivered: { fingerprint: 'fp', kvno: 3, guid: '0B7D5B0C-7E62-4A4A-9B6F-0C1F0E5D7A11' } });
        assert.deepEqual(o.lastDelivered({ account: 'alice', guid: '0b7d5b0c-7e62-4a4a-9b6f-0c1f0e5d7a11' }, 'iij')?.fingerprint, 'fp');
        o.close();
        assert.equal(userVersion(file, driver), SCHEMA_VERSION);
      });
    }

    it('a read-only open of a first-release file reads it without upgrading it (the file stays byte-identical)', () => {
      const { file } = firstReleaseFile(driver, false);
      const before = readFileSync(file);
      const r = openOutboxReader(file, driver);
      assert.deepEqual(countsByState(r), { pending: 1 });
      r.close();
      assert.ok(readFileSync(file).equals(before));
      assert.equal(userVersion(file, driver), 0);
    });

    it('a file of a newer schema is refused by the writer with E_OUTBOX_SCHEMA_VERSION, naming both versions, and left byte-identical', () => {
      const file = newerFile(driver);
      const before = readFileSync(file);
      assert.throws(
        () => new Outbox(file, KEY, Date.now, { driver }),
        (e: unknown) =>
          e instanceof OutboxSchemaVersionError && e.code === 'E_OUTBOX_SCHEMA_VERSION' && e.fileVersion === SCHEMA_VERSION + 1 &&
          e.supportedVersion === SCHEMA_VERSION && e.message.includes(`schema version ${SCHEMA_VERSION + 1}`) &&
          e.message.includes(`versions up to ${SCHEMA_VERSION}`) && e.message.includes('newer pwsync'),
      );
      assert.throws(() => Outbox.openForOperator(file), OutboxSchemaVersionError);
      assert.throws(() => openOutboxReader(file, driver), OutboxSchemaVersionError, 'readers refuse it too');
      assert.ok(readFileSync(file).equals(before), 'not a byte changed');
      assert.equal(existsSync(`${file}-wal`), false, 'no WAL was started on it');
    });

    it('an empty directory gets no outbox from a reader', () => {
      const dir = path.join(root, `none-${n++}`);
      mkdirSync(dir);
      assert.throws(() => openOutboxReader(path.join(dir, 'outbox.sqlite'), driver), /cannot open outbox/);
      assert.equal(existsSync(path.join(dir, 'outbox.sqlite')), false);
    });
  });
}
