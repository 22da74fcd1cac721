// The outbox: a SQLite (WAL) store of password changes, one row per (change, target). Commits an ack depends on
// are fsynced (synchronous=FULL); delivery bookkeeping is not (see durable()).
// Passwords are stored only sealed (seal.ts) and erased in the same transaction that makes a row final.
// The write paths live here; reads for status, console and reports are read models (queries.ts) on this store's
// read handle, and the schema and its versions are schema.ts. Nothing here logs; callers journal what happened.

import { randomUUID } from 'node:crypto';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { CorruptDatabaseError, EndCode, NotProvisionedError, StorageError, UnsealError } from '../errors.js';
import { COLUMNS, OPEN_SQL, toRow, type ChangeRow, type RawRow } from './change-row.js';
import { changeById } from './queries.js';
import { OutboxReader, openFailure } from './reader.js';
import { migrateForward, refuseNewer } from './schema.js';
import { openPassword, sealPassword } from './seal.js';
import { openSqlite, type SqlDatabase, type SqliteDriverName, type SqlStatement } from './sqlite-driver.js';
import { WalSync } from './wal-sync.js';
import type { ChangeState, FinalState } from './states.js';

export type { ChangeRow } from './change-row.js';

export interface NewChange {
  account: string;
  targets: readonly string[];
  source: string;
  dc?: string;
  rid?: number;
  guid?: string;
  kvno?: number;
  pwdLastSet?: string;
  capturedAt: string;
  password: string;
}

/** A row claimDue marked inflight, with what the attempt needs to know at its start, read in the same statement. */
export interface ClaimedRow extends ChangeRow {
  /** A newer capture of the same (account, target) that makes this row redundant (see NEWER_CAPTURE). */
  newerCapture: string | undefined;
  /** The state the claim took the row from: a row released unattempted goes back to it (Settled `release`). */
  claimedFrom: 'pending' | 'waiting';
}

/** The outbox's file name inside `agent.data_dir`: the agent, `status`, `queue` and the reports all open this one. */
export const OUTBOX_FILE = 'outbox.sqlite';

export interface InsertResult {
  captureId: string;
  ids: string[];
  superseded: SupersededRow[];
}

/**
 * Called inside the insert transaction, before its commit, once per inserted change (`index` in the batch) with the
 * rows that insert made final — possibly among them the new change's own rows (`inserted.captureId`).
 */
export type SupersededCallback = (rows: readonly SupersededRow[], inserted: InsertResult, index: number) => void;

/** One attempt's outcome for Outbox.settleAll: the row (by seq) becomes final, or due again, or is released unattempted. */
export type Settled =
  | {
      kind: 'final'; seq: number; account: string; target: string; state: FinalState; code?: string; error?: string;
      /** A delivered password (also a duplicate): recorded per (AD object, target), see recordDelivered. */
      delivered?: { fingerprint: string; kvno: number | null; guid?: string };
    }
  | { kind: 'again'; seq: number; state: 'pending' | 'waiting'; dueAt: number; code: string | null; error: string | null; countAttempt: boolean }
  /** A claimed row given back without an attempt: its state before the claim, nothing else changed. */
  | { kind: 'release'; seq: number; state: 'pending' | 'waiting' };

/** A row an operator action applies to. */
export interface OperatorRow {
  id: string;
  captureId: string;
  account: string;
  target: string;
  state: ChangeState;
}

export interface SupersededRow {
  id: string;
  captureId: string;
  account: string;
  target: string;
}

/**
 * For a row `c`: the capture ID of a later change of the same (account, target) that is not itself superseded and
 * does not carry an older password version. claimDue reads it with each row (ClaimedRow.newerCapture): insertChange
 * supersedes only open rows, so a row that was in flight when a newer capture arrived (and then failed, or was
 * recovered after a crash) would otherwise be sent after the newer password and overwrite it.
 */
const NEWER_CAPTURE = `SELECT n.capture_id FROM changes n WHERE n.account = c.account AND n.target = c.target AND n.seq > c.seq
  AND n.state <> 'superseded' AND (n.kvno IS NULL OR c.kvno IS NULL OR n.kvno >= c.kvno) ORDER BY n.seq LIMIT 1`;

interface Sealed {
  nonce: Buffer | null;
  box: Buffer | null;
}

/** SQLite's page cache of the agent's connection, in KiB (PRAGMA cache_size takes a negative number for KiB). */
export const PAGE_CACHE_KIB = 2048;
/** WAL pages after which a commit checkpoints (SQLite's default is 1 000; see the constructor). */
export const WAL_CHECKPOINT_PAGES = 8000;

export class Outbox {
  private readonly db: SqlDatabase;
  /** The read handle on this connection, for the read models in queries.ts (status, queue, console, reports). */
  readonly reader: OutboxReader;
  /** The schema version the file had when opened and the one it has now (they differ after an upgrade). */
  readonly schema: { from: number; to: number };
  private readonly statements = new Map<string, SqlStatement>();
  /** Sealed passwords read with a claim, until openSecret() takes them (never part of the row object itself). */
  private readonly sealedOf = new WeakMap<ChangeRow, { nonce: Buffer; box: Buffer }>();
  /** Syncs intake's commits off the event loop; undefined when SQLite is not in WAL mode (then they commit FULL). */
  private walSync: WalSync | undefined;

  /**
   * Opens the outbox for operator actions (`pwsync queue retry|drop`, src/outbox/operator.ts) without the agent's
   * key: its key is empty, so nothing can be sealed or opened through it (AES-256-GCM refuses a key that is not 32
   * bytes) — retry and drop never need a password.
   */
  static openForOperator(file: string): Outbox {
    return new Outbox(file, Buffer.alloc(0));
  }

  /** `driver`: which SQLite binding (sqlite-driver.ts); the default picks the one that loads here. */
  constructor(
    file: string,
    private readonly sealKey: Buffer,
    private readonly now: () => number = Date.now,
    opts: { driver?: SqliteDriverName } = {},
  ) {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    let db: SqlDatabase | undefined;
    try {
      // Created 0600 before SQLite opens it: SQLite gives -wal and -shm the mode of the database file.
      closeSync(openSync(file, 'a', 0o600));
      db = openSqlite(file, {}, opts.driver);
      db.pragma('busy_timeout = 5000');
      // Before any write (even the journal mode, which rewrites the header): a newer pwsync's file stays as it is.
      refuseNewer(db, file);
      const mode = db.pragma('journal_mode = WAL');
      // NORMAL by default: intake acks after its own fsync of the WAL (wal-sync.ts); an operator's drop commits
      // FULL (durable()).
      db.pragma('synchronous = NORMAL');
      // Freed pages (erased ciphertext) are overwritten with zeros instead of lingering in the file.
      db.pragma('secure_delete = ON');
      // SQLite's page cache, per connection. better-sqlite3 builds SQLite with 16 MB (its own default is 2 MB), and
      // every page a scan touches stays cached: with 100 000 queued changes that was most of the agent's memory growth.
      // The hot pages (index roots, the newest rows) fit in far less; the rest comes from the OS's file cache.
      db.pragma(`cache_size = -${PAGE_CACHE_KIB}`);
      // SQLite checkpoints inside the commit that crosses this many WAL pages, on the event loop (two fsyncs and the
      // page copies). An intake change writes ~9 pages (the row and its indexes): at SQLite's default of 1 000 that
      // was one ack in ~110 — the intake p99. Rarer checkpoints take a little longer each (a page is copied once per
      // checkpoint however often it changed), and the WAL stays under ~32 MiB.
      db.pragma(`wal_autocheckpoint = ${WAL_CHECKPOINT_PAGES}`);
      const check = db.pragma('quick_check');
      if (check !== 'ok') throw new CorruptDatabaseError(`outbox ${file} failed its integrity check (${String(check)}): restore it from backup or move it aside`);
      this.schema = migrateForward(db, file);
      // A file system without shared memory keeps SQLite in rollback-journal mode: no WAL file to sync separately.
      if (String(mode).toLowerCase() === 'wal') this.walSync = new WalSync(`${file}-wal`);
    } catch (err) {
      db?.close();
      throw openFailure(file, err);
    }
    this.db = db;
    this.reader = new OutboxReader(db, false);
  }

  /**
   * Commits a captured change for every target in one transaction and supersedes older open rows of the same
   * (account, target) — unless the older row carries a newer password version, in which case the new row is the stale one.
   */
  insertChange(c: NewChange, onSuperseded?: SupersededCallback): InsertResult {
    return this.insertChanges([c], onSuperseded)[0]!;
  }

  /**
   * Group commit: several captured changes in one fsynced transaction (intake batches what arrives together), so
   * concurrent captures share one disk sync instead of queueing behind each other's.
   */
  insertChanges(cs: readonly NewChange[], onSuperseded?: SupersededCallback): InsertResult[] {
    return this.write(() => this.durable(() => this.db.transaction(() => cs.map((c, i) => this.insertOne(c, i, onSuperseded)))()));
  }

  /**
   * Intake's group commit: like insertChanges, but the commit does not wait for the disk on the event loop. It is
   * durable once `synced()` resolves; nothing may be acked before that. Falls back to an fsynced commit without WAL.
   */
  insertChangesUnsynced(cs: readonly NewChange[], onSuperseded?: SupersededCallback): InsertResult[] {
    if (!this.walSync) return this.insertChanges(cs, onSuperseded);
    return this.write(() => this.db.transaction(() => cs.map((c, i) => this.insertOne(c, i, onSuperseded)))());
  }

  /**
   * Resolves once every commit made so far is on disk: one fsync of the WAL on the thread pool, shared by all callers
   * waiting at the time. Rejects with StorageError when the disk refuses, and from then on always (wal-sync.ts).
   */
  synced(): Promise<void> {
    return this.walSync ? this.walSync.sync() : Promise.resolve();
  }

  private insertOne(c: NewChange, index: number, onSuperseded?: SupersededCallback): InsertResult {
    const captureId = randomUUID();
    const account = c.account.toLowerCase();
    const now = this.now();
    const ids: string[] = [];
    const superseded: SupersededRow[] = [];
    const insert = this.stmt(
      `INSERT INTO changes (id, capture_id, account, target, source, dc, rid, guid, kvno, pwd_last_set, captured_at,
         received_at, state, next_attempt_at, nonce, box)
       VALUES (@id, @captureId, @account, @target, @source, @dc, @rid, @guid, @kvno, @pwdLastSet, @capturedAt, @now,
         'pending', @now, @nonce, @box)`,
    );
    const older = this.stmt(
      `SELECT id, capture_id, kvno FROM changes WHERE account = ? AND target = ? AND state IN ${OPEN_SQL} AND id <> ?`,
    );
    {
      for (const target of c.targets) {
        const id = randomUUID();
        const sealed = sealPassword(this.sealKey, id, account, target, c.password);
        insert.run({
          id, captureId, account, target, source: c.source, dc: c.dc ?? null, rid: c.rid ?? null, guid: c.guid ?? null,
          kvno: c.kvno ?? null, pwdLastSet: c.pwdLastSet ?? null, capturedAt: c.capturedAt, now, nonce: sealed.nonce, box: sealed.box,
        });
        ids.push(id);
        const delivered = this.deliveredFor({ account, guid: c.guid }, target);
        if (c.kvno !== undefined && delivered?.kvno != null && delivered.kvno >= c.kvno) {
          // This password version (or a newer one) already reached the target: a re-delivery (syncpasswords after a
          // restart, or an attribute change that re-sends the current object), never a new password.
          this.finishTx(id, 'superseded', EndCode.superseded, `password version ${c.kvno} already delivered`);
          superseded.push({ id, captureId, account, target });
          continue;
        }
        for (const o of older.all(account, target, id) as Array<{ id: string; capture_id: string; kvno: number | null }>) {
          if (c.kvno !== undefined && o.kvno !== null && o.kvno >= c.kvno) {
            // The queued row is as new or newer (a late or repeated capture): the new one is the redundant change.
            this.finishTx(id, 'superseded', EndCode.superseded, `not newer than queued change ${o.capture_id}`);
            superseded.push({ id, captureId, account, target });
          } else {
            this.finishTx(o.id, 'superseded', EndCode.superseded, `superseded by change ${captureId}`);
            superseded.push({ id: o.id, captureId: o.capture_id, account, target });
          }
        }
      }
      // Inside the transaction, before the commit: an acked change that this commit makes final must never end
      // up without its event, even if the process dies right after the commit.
      onSuperseded?.(superseded, { captureId, ids, superseded }, index);
    }
    return { captureId, ids, superseded };
  }

  /**
   * Marks due rows inflight and returns them, oldest first: at most `limit` in all and `allowance.get(target)` per
   * target (targets not in the map, e.g. paused ones, get none); never two rows of one (account, target) in flight.
   * One transaction for the whole claim: the delivery worker fills all its free slots at once.
   */
  claimDue(limit: number, allowance: ReadonlyMap<string, number>): ClaimedRow[] {
    return this.write(() => this.db.transaction(() => this.claimRows(limit, allowance))());
  }

  /**
   * settleAll(items), then claimDue(limit, allowance), in one transaction: the delivery worker's turn commits the
   * outcomes of the attempts that ended and fills their slots with one commit. The claim sees the settled rows final.
   */
  settleAndClaim(items: readonly Settled[], limit: number, allowance: ReadonlyMap<string, number>): ClaimedRow[] {
    return this.write(() =>
      this.db.transaction(() => {
        this.settleRows(items);
        return this.claimRows(limit, allowance);
      })(),
    );
  }

  /** Inside a transaction: claimDue's work. */
  private claimRows(limit: number, allowance: ReadonlyMap<string, number>): ClaimedRow[] {
    const targets = [...allowance].filter(([, n]) => n > 0).map(([t]) => t);
    if (limit <= 0 || targets.length === 0) return [];
    const now = this.now();
    const left = new Map(allowance);
    // `c.state IN ('pending','waiting')` is the partial index's own condition: the plan walks changes_open_due in
    // (next_attempt_at, seq) order and stops after LIMIT rows instead of sorting every due row (bench/REPORT.md §2).
    // The attempt's first reads come with the claim: the newer capture (NEWER_CAPTURE) and the sealed password.
    const select = this.stmt(
      `SELECT ${COLUMNS}, c.nonce, c.box, (${NEWER_CAPTURE}) AS newer_capture FROM changes c INDEXED BY changes_open_due WHERE c.state IN ('pending','waiting') AND c.next_attempt_at <= ?
         AND c.target IN (${targets.map(() => '?').join(',')})
         AND NOT EXISTS (SELECT 1 FROM changes i WHERE i.account = c.account AND i.target = c.target AND i.state = 'inflight')
       ORDER BY c.next_attempt_at, c.seq LIMIT ?`,
    );
    const mark = this.stmt(`UPDATE changes SET state = 'inflight' WHERE seq = ? AND state IN ('pending','waiting')`);
    const picked: ClaimedRow[] = [];
    const keys = new Set<string>();
    for (const r of select.all(now, ...targets, limit * targets.length) as Array<RawRow & Sealed & { newer_capture: string | null }>) {
      if (picked.length >= limit) break;
      const key = `${r.account}\0${r.target}`;
      if ((left.get(r.target) ?? 0) <= 0 || keys.has(key)) continue;
      if (mark.run(r.seq).changes === 1) {
        keys.add(key);
        left.set(r.target, left.get(r.target)! - 1);
        const row: ClaimedRow = { ...toRow(r), state: 'inflight', newerCapture: r.newer_capture ?? undefined, claimedFrom: r.state === 'waiting' ? 'waiting' : 'pending' };
        if (r.nonce && r.box) this.sealedOf.set(row, { nonce: r.nonce, box: r.box });
        picked.push(row);
      }
    }
    return picked;
  }

  /** Per target, the earliest next_attempt_at of a claimable row (for the worker's timer); index lookups only. */
  nextDueByTarget(targets: Iterable<string>): Map<string, number> {
    const q = this.stmt(`SELECT MIN(next_attempt_at) AS at FROM changes WHERE state = ? AND target = ?`);
    const out = new Map<string, number>();
    for (const t of targets) {
      let min: number | undefined;
      for (const state of ['pending', 'waiting']) {
        const at = (q.get(state, t) as { at: number | null }).at;
        if (at !== null && (min === undefined || at < min)) min = at;
      }
      if (min !== undefined) out.set(t, min);
    }
    return out;
  }

  /**
   * Operator retry: the open rows of `id` (a row id, or a change id for all its targets) become due now, and the
   * not-provisioned horizon starts again — only while the sealed password exists (only the user can make a new one).
   * `beforeCommit` sees the rows inside the transaction, before its commit (operators' acts are journaled first).
   */
  retryNow(id: string, beforeCommit?: (rows: readonly OperatorRow[]) => void): OperatorRow[] {
    const where = `(id = ? OR capture_id = ?) AND state IN ('pending','waiting') AND box IS NOT NULL AND nonce IS NOT NULL`;
    return this.operatorUpdate(where, `UPDATE changes SET state = 'pending', next_attempt_at = ?, waiting_since = NULL WHERE id = ? AND ${where}`, id, false, beforeCommit);
  }

  /**
   * Operator drop: open, not in-flight rows of `id` end as `rejected` (E_DROPPED), sealed password erased in the same
   * UPDATE. `beforeCommit` runs inside the (immediate) transaction after the rows are chosen and before the fsynced
   * commit that makes them final: the caller journals there (write-ahead, like delivery; docs/architecture.md).
   */
  drop(id: string, beforeCommit?: (rows: readonly OperatorRow[]) => void): OperatorRow[] {
    const where = `(id = ? OR capture_id = ?) AND state IN ('pending','waiting')`;
    return this.operatorUpdate(
      where,
      `UPDATE changes SET state = 'rejected', final_at = ?, nonce = NULL, box = NULL, last_error_code = ?,
         last_error = 'dropped by an operator' WHERE id = ? AND ${where}`,
      id, true, beforeCommit, [EndCode.dropped],
    );
  }

  private operatorUpdate(where: string, update: string, id: string, fsync: boolean, beforeCommit?: (rows: readonly OperatorRow[]) => void, setParams: readonly unknown[] = []): OperatorRow[] {
    const run = () =>
      // immediate: the write lock is taken before the SELECT, so the delivery worker cannot claim a row in between.
      this.db.transaction(() => {
        const rows = (this.stmt(`SELECT id, capture_id, account, target, state FROM changes WHERE ${where} ORDER BY seq`).all(id, id) as Array<{ id: string; capture_id: string; account: string; target: string; state: ChangeState }>)
          .map((r) => ({ id: r.id, captureId: r.capture_id, account: r.account, target: r.target, state: r.state }));
        if (rows.length === 0) return rows;
        beforeCommit?.(rows);
        const upd = this.stmt(update);
        for (const r of rows) upd.run(this.now(), ...setParams, r.id, id, id);
        return rows;
      }, { immediate: true })();
    return this.write(() => (fsync ? this.durable(run) : run()));
  }

  /** Records, for every row of a capture that has none yet, the AD password version read right after capture. */
  recordCaptureVersion(captureId: string, kvno: number | undefined, pwdLastSet: string | undefined): void {
    this.write(() =>
      this.stmt(`UPDATE changes SET kvno = COALESCE(kvno, ?), pwd_last_set = COALESCE(pwd_last_set, ?) WHERE capture_id = ? AND kvno IS NULL`)
        .run(kvno ?? null, pwdLastSet ?? null, captureId),
    );
  }

  openSecret(row: ChangeRow): string {
    let sealed = this.sealedOf.get(row);
    this.sealedOf.delete(row);
    if (!sealed) {
      const r = this.stmt(`SELECT nonce, box FROM changes WHERE id = ?`).get(row.id) as Sealed | undefined;
      if (!r?.nonce || !r.box) throw new StorageError(`change ${row.id} has no sealed password any more`);
      sealed = { nonce: r.nonce, box: r.box };
    }
    try {
      return openPassword(this.sealKey, row.id, row.account, row.target, sealed);
    } catch (err) {
      throw new UnsealError(`the sealed password of change ${row.captureId} cannot be opened with this agent's key (key file replaced, or the row was altered)`, { cause: err });
    }
  }

  /** A value of the outbox's own `meta` table (outbox id, key check). */
  meta(key: string): string | undefined {
    return (this.stmt(`SELECT value FROM meta WHERE key = ?`).get(key) as { value: string } | undefined)?.value;
  }

  setMeta(key: string, value: string): void {
    this.write(() => this.durable(() => this.stmt(`INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`).run(key, value)));
  }

  /**
   * Inside a transaction: the password delivered for (account, target), one row per (AD object, target) — keyed on
   * the AD object (objectGUID) as well as the name: a rename is not a new password (docs/architecture.md).
   */
  private recordDelivered(account: string, target: string, delivered: { fingerprint: string; kvno: number | null; guid?: string }, now: number): void {
    const guid = delivered.guid?.toLowerCase() ?? null;
    // One row per (object, target): the row under the object's old name goes when it delivers under a new one.
    if (guid !== null) this.stmt(`DELETE FROM delivered WHERE guid = ? AND target = ? AND account <> ?`).run(guid, target, account);
    this.stmt(
        `INSERT INTO delivered (account, target, fingerprint, kvno, at, guid) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (account, target) DO UPDATE SET fingerprint = excluded.fingerprint, kvno = excluded.kvno, at = excluded.at, guid = excluded.guid`,
      )
      .run(account, target, delivered.fingerprint, delivered.kvno, now, guid);
  }

  private finishTx(id: string, state: FinalState, code?: string, error?: string): void {
    this.stmt(
        `UPDATE changes SET state = ?, final_at = ?, nonce = NULL, box = NULL, last_error_code = COALESCE(?, last_error_code),
           last_error = COALESCE(?, last_error) WHERE id = ?`,
      )
      .run(state, this.now(), code ?? null, error ?? null, id);
  }

  /**
   * The outcomes of several attempts in one transaction (the delivery worker collects those of one event-loop turn):
   * each row becomes final (sealed password erased; `delivered` recorded) unless it already is, or an in-flight row
   * is due again with a due time (`countAttempt` false when the attempt never reached the target), or a claimed row
   * never attempted goes back to its state before the claim (`release`). All or nothing:
   * on a failure no row changes, and the worker leaves them to the next sweep.
   */
  settleAll(items: readonly Settled[]): void {
    if (items.length === 0) return;
    this.write(() => this.db.transaction(() => this.settleRows(items))());
  }

  /** Inside a transaction: settleAll's work. */
  private settleRows(items: readonly Settled[]): void {
    if (items.length === 0) return;
    const final = this.stmt(
      `UPDATE changes SET state = ?, final_at = ?, nonce = NULL, box = NULL, last_error_code = COALESCE(?, last_error_code),
         last_error = COALESCE(?, last_error) WHERE seq = ? AND state IN ('pending','waiting','inflight')`,
    );
    const again = this.stmt(
      `UPDATE changes SET state = ?, next_attempt_at = ?, attempts = attempts + ?, last_error_code = ?, last_error = ?,
         waiting_since = CASE WHEN ? = ? THEN COALESCE(waiting_since, ?) ELSE waiting_since END
       WHERE seq = ? AND state = 'inflight'`,
    );
    const release = this.stmt(`UPDATE changes SET state = ? WHERE seq = ? AND state = 'inflight'`);
    const now = this.now();
    for (const it of items) {
      if (it.kind === 'release') {
        release.run(it.state, it.seq);
        continue;
      }
      if (it.kind === 'again') {
        again.run(it.state, it.dueAt, it.countAttempt ? 1 : 0, it.code, it.error, it.code, NotProvisionedError.code, now, it.seq);
        continue;
      }
      final.run(it.state, now, it.code ?? null, it.error ?? null, it.seq);
      if (it.delivered) this.recordDelivered(it.account, it.target, it.delivered, now);
    }
  }

  /**
   * Records the AD password version first seen for a change that did not carry one; with `replace`, also lowers a
   * captured version that AD does not know (never above what AD reports).
   */
  recordVersion(id: string, kvno: number | undefined, pwdLastSet: string | undefined, replace = false): void {
    const sql = replace
      ? `UPDATE changes SET kvno = ?, pwd_last_set = COALESCE(?, pwd_last_set) WHERE id = ?`
      : `UPDATE changes SET kvno = COALESCE(kvno, ?), pwd_last_set = COALESCE(pwd_last_set, ?) WHERE id = ?`;
    this.write(() => this.stmt(sql).run(kvno ?? null, pwdLastSet ?? null, id));
  }

  /** Rows marked inflight that no attempt owns any more (an outcome write failed): due again now. */
  releaseInflight(owned: ReadonlySet<string>): number {
    const ids = (this.stmt(`SELECT id FROM changes WHERE state = 'inflight'`).all() as Array<{ id: string }>).map((r) => r.id).filter((id) => !owned.has(id));
    if (ids.length === 0) return 0;
    const release = this.stmt(`UPDATE changes SET state = 'pending', next_attempt_at = ? WHERE id = ? AND state = 'inflight'`);
    return this.write(() => this.db.transaction(() => ids.reduce((n, id) => n + release.run(this.now(), id).changes, 0))());
  }

  /** After a crash or stop: rows left inflight are due again (delivery is at-least-once; setting a password twice is harmless). */
  recoverInflight(): number {
    return this.write(() => this.stmt(`UPDATE changes SET state = 'pending', next_attempt_at = ? WHERE state = 'inflight'`).run(this.now()).changes);
  }

  /**
   * The last password delivered to `target` for this user: by objectGUID when known (a renamed account is the same
   * user), by name otherwise or for a delivery recorded before objectGUIDs were.
   */
  lastDelivered(user: string | { account: string; guid?: string | null }, target: string): { fingerprint: string; kvno: number | null; at: number } | undefined {
    return this.deliveredFor(typeof user === 'string' ? { account: user } : user, target);
  }

  private deliveredFor(user: { account: string; guid?: string | null }, target: string): { fingerprint: string; kvno: number | null; at: number } | undefined {
    type Hit = { fingerprint: string; kvno: number | null; at: number };
    const account = user.account.toLowerCase();
    if (user.guid) {
      // One statement: the object's own row wins; the name's row counts only when it was recorded without a GUID.
      return this.stmt(
          `SELECT fingerprint, kvno, at FROM delivered WHERE target = ? AND (guid = ? OR (account = ? AND guid IS NULL))
           ORDER BY guid IS NULL, at DESC LIMIT 1`,
        )
        .get(target, user.guid.toLowerCase(), account) as Hit | undefined;
    }
    return this.stmt(`SELECT fingerprint, kvno, at FROM delivered WHERE account = ? AND target = ?`).get(account, target) as Hit | undefined;
  }

  /** One change by row ID or change ID (operator actions, tests); the other read models are in queries.ts. */
  get(id: string): ChangeRow | undefined {
    return changeById(this.reader, id);
  }

  /** Open rows received before `cutoff`: delivery's max_age expiry, which makes them final here. */
  olderThan(cutoff: number, limit = 1000): ChangeRow[] {
    return (this.stmt(`SELECT ${COLUMNS} FROM changes WHERE state IN ${OPEN_SQL} AND received_at < ? ORDER BY seq LIMIT ?`).all(cutoff, limit) as RawRow[]).map(toRow);
  }

  /** Persists a target's pause so `pwsync status` (another process) and a restart see it. */
  setTargetPaused(target: string, paused: boolean, reason?: string): void {
    this.write(() =>
      this.stmt(`INSERT INTO target_state (target, paused, reason, since) VALUES (?, ?, ?, ?)
                  ON CONFLICT (target) DO UPDATE SET paused = excluded.paused, reason = excluded.reason, since = excluded.since`)
        .run(target, paused ? 1 : 0, reason ?? null, this.now()),
    );
  }

  /** Prepared once per SQL text: preparing on every call costs more than many of these queries. */
  private stmt(sql: string): SqlStatement {
    let st = this.statements.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      this.statements.set(sql, st);
    }
    return st;
  }

  /**
   * Runs `fn` with every commit fsynced. The connection default is NORMAL: in WAL mode a NORMAL commit survives a
   * process crash (kill -9) and only a power loss can undo it, which for delivery bookkeeping means at worst one
   * repeated delivery of the same password. An ack (intake) or an operator's drop must survive power loss too; a
   * FULL commit also makes every earlier WAL frame durable, since the WAL is one append-only file.
   */
  private durable<T>(fn: () => T): T {
    this.db.pragma('synchronous = FULL');
    try {
      return fn();
    } finally {
      this.db.pragma('synchronous = NORMAL');
    }
  }

  close(): void {
    this.walSync?.close();
    this.db.close();
  }

  /** Turns SQLite failures (disk full, I/O) into StorageError so intake answers the capture with E_STORAGE. */
  private write<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (typeof code === 'string' && code.startsWith('SQLITE_')) throw new StorageError(`outbox write failed (${code})`, { cause: err });
      throw err;
    }
  }
}
