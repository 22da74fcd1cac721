// The outbox's schema as an ordered list of forward migrations, its version kept in SQLite's user_version (in the
// file header, written in the same transaction as the migration). Never alters a file of a newer schema than this
// build knows: such a file is refused untouched, so a downgrade cannot corrupt a queue (docs/operations.md).

import { OutboxSchemaVersionError } from '../errors.js';
import type { SqlDatabase } from './sqlite-driver.js';

interface Migration {
  /** The version a file has once this migration is applied. */
  version: number;
  apply(db: SqlDatabase): void;
}

/**
 * Append only: a released migration is never edited, a new one gets the next version. Migration 1 is the schema of
 * the first release, which recorded no version (schemaVersionOf reads such a file as version 1).
 */
const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    apply: (db) =>
      db.exec(`
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS changes (
          seq INTEGER PRIMARY KEY AUTOINCREMENT,
          id TEXT NOT NULL UNIQUE,
          capture_id TEXT NOT NULL,
          account TEXT NOT NULL,
          target TEXT NOT NULL,
          source TEXT NOT NULL,
          dc TEXT, rid INTEGER, guid TEXT,
          kvno INTEGER, pwd_last_set TEXT,
          captured_at TEXT NOT NULL,
          received_at INTEGER NOT NULL,
          state TEXT NOT NULL,
          attempts INTEGER NOT NULL DEFAULT 0,
          next_attempt_at INTEGER NOT NULL,
          waiting_since INTEGER,
          last_error_code TEXT, last_error TEXT,
          final_at INTEGER,
          nonce BLOB, box BLOB,
          -- a final row never keeps its sealed password
          CHECK (state NOT IN ('done','superseded','rejected','expired') OR (box IS NULL AND nonce IS NULL))
        );
        CREATE INDEX IF NOT EXISTS changes_due ON changes(state, next_attempt_at);
        CREATE INDEX IF NOT EXISTS changes_target_due ON changes(state, target, next_attempt_at);
        CREATE INDEX IF NOT EXISTS changes_account ON changes(account, target, state);
        CREATE INDEX IF NOT EXISTS changes_capture ON changes(capture_id);
        CREATE TABLE IF NOT EXISTS delivered (
          account TEXT NOT NULL, target TEXT NOT NULL, fingerprint TEXT NOT NULL, kvno INTEGER, at INTEGER NOT NULL,
          PRIMARY KEY (account, target)
        );
        CREATE TABLE IF NOT EXISTS target_state (
          target TEXT PRIMARY KEY, paused INTEGER NOT NULL, reason TEXT, since INTEGER NOT NULL
        );
      `),
  },
  {
    // A delivered password is keyed on the AD object too: a rename is not a new password. Builds before versions
    // were recorded added this column in place, so a version-1 file may already have it.
    version: 2,
    apply: (db) => {
      const cols = (db.prepare(`PRAGMA table_info(delivered)`).all() as Array<{ name: string }>).map((c) => c.name);
      if (!cols.includes('guid')) db.exec(`ALTER TABLE delivered ADD COLUMN guid TEXT`);
      db.exec(`CREATE INDEX IF NOT EXISTS delivered_guid ON delivered(guid, target)`);
    },
  },
  {
    // The delivery claim walks the open rows in due order and stops at its LIMIT (Outbox.claimDue names this index):
    // without it, every claim sorted the whole backlog — 25 ms per claim at 20 000 pending rows.
    version: 3,
    apply: (db) => db.exec(`CREATE INDEX IF NOT EXISTS changes_open_due ON changes(next_attempt_at, seq) WHERE state IN ('pending','waiting')`),
  },
  {
    // The worker's max_age sweep (olderThan, every 5 s on the event loop) scanned every open row without it: 190 ms
    // at 100 000 queued changes, with every intake ack waiting behind it.
    version: 4,
    apply: (db) => db.exec(`CREATE INDEX IF NOT EXISTS changes_open_received ON changes(state, received_at)`),
  },
  {
    // No query has used changes_due since the claim got changes_open_due (v3) and state look-ups changes_open_received
    // (v4), yet every insert and every state change still updated it: one B-tree of eight per insert, and a page
    // written to the WAL each time (bench/REPORT.md §2).
    version: 5,
    apply: (db) => db.exec(`DROP INDEX IF EXISTS changes_due`),
  },
];

/** The schema version this build writes. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/**
 * The oldest version this build's read models (queries.ts) read as they are: a read-only open never migrates (it
 * cannot write), so `pwsync status` works on a file the agent has not upgraded yet. Raise it when a migration
 * changes something those queries select; older files are then refused until the agent has opened them once.
 */
export const OLDEST_READABLE_VERSION = 1;

/** The version of the file: user_version; a file with the outbox's tables and no version is the first release's (1); 0 is empty. */
export function schemaVersionOf(db: SqlDatabase): number {
  const recorded = Number(db.pragma('user_version'));
  if (recorded > 0) return recorded;
  const tables = db.prepare(`SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'changes'`).get() as { n: number };
  return tables.n > 0 ? 1 : 0;
}

/** Refuses a file of a newer schema before anything is written to it. Returns the file's version. */
export function refuseNewer(db: SqlDatabase, file: string): number {
  const version = schemaVersionOf(db);
  if (version > SCHEMA_VERSION)
    throw new OutboxSchemaVersionError(
      `outbox ${file} has schema version ${version}, and this pwsync supports versions up to ${SCHEMA_VERSION}: it was written by a newer pwsync. ` +
        `Run that version (or a newer one); the file was left untouched`,
      version,
      SCHEMA_VERSION,
    );
  return version;
}

/** For the writer: applies every migration the file lacks, and records the new version, in one transaction. */
export function migrateForward(db: SqlDatabase, file: string): { from: number; to: number } {
  return db.transaction(
    () => {
      // Read again inside the write lock: another process may have migrated the file since it was opened.
      const from = refuseNewer(db, file);
      for (const m of MIGRATIONS) if (m.version > from) m.apply(db);
      if (from !== SCHEMA_VERSION) db.pragma(`user_version = ${SCHEMA_VERSION}`);
      return { from, to: SCHEMA_VERSION };
    },
    { immediate: true },
  )();
}

/** For a read-only open: refuses a newer file, and one older than OLDEST_READABLE_VERSION (nothing is migrated). */
export function checkReadable(db: SqlDatabase, file: string): number {
  const version = refuseNewer(db, file);
  if (version !== 0 && version < OLDEST_READABLE_VERSION)
    throw new OutboxSchemaVersionError(
      `outbox ${file} has schema version ${version}, and this pwsync reads versions ${OLDEST_READABLE_VERSION} to ${SCHEMA_VERSION} without upgrading: start the agent (pwsync run) once, which upgrades it, then try again`,
      version,
      SCHEMA_VERSION,
    );
  return version;
}
