// The outbox's own seam to SQLite: one small interface, two drivers (better-sqlite3 on Node 20, node:sqlite's
// DatabaseSync on Node >= 22.5 and always on Windows, where pwsync.exe ships no native addon). It must never change
// SQL semantics between drivers: both see the same statements, and failures carry the same `SQLITE_*` codes.

import { createRequire } from 'node:module';

export type SqliteDriverName = 'better-sqlite3' | 'node:sqlite';

export interface SqlRunResult {
  changes: number;
  lastInsertRowid: number | bigint;
}

export interface SqlStatement {
  run(...params: unknown[]): SqlRunResult;
  /** The first row, BLOBs as Buffer; undefined when there is none. */
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}

export interface SqlDatabase {
  readonly driver: SqliteDriverName;
  readonly open: boolean;
  readonly readonly: boolean;
  prepare(sql: string): SqlStatement;
  exec(sql: string): void;
  /** `PRAGMA <text>`; returns the first column of the first row (e.g. 'ok' for quick_check, 'wal' for journal_mode). */
  pragma(text: string): unknown;
  /**
   * Wraps `fn` in a transaction (a savepoint when nested); rolls back and rethrows on error. `immediate` takes the
   * write lock at BEGIN (BEGIN IMMEDIATE), so rows read inside cannot be changed by another connection before the write.
   */
  transaction<T>(fn: () => T, opts?: { immediate?: boolean }): () => T;
  close(): void;
}

export interface OpenOptions {
  readonly?: boolean;
}

const req = createRequire(import.meta.url);

/** SQLite primary result codes by number, for node:sqlite errors (which carry only `errcode`). */
const CODES: Record<number, string> = {
  1: 'SQLITE_ERROR', 2: 'SQLITE_INTERNAL', 3: 'SQLITE_PERM', 4: 'SQLITE_ABORT', 5: 'SQLITE_BUSY', 6: 'SQLITE_LOCKED',
  7: 'SQLITE_NOMEM', 8: 'SQLITE_READONLY', 9: 'SQLITE_INTERRUPT', 10: 'SQLITE_IOERR', 11: 'SQLITE_CORRUPT',
  12: 'SQLITE_NOTFOUND', 13: 'SQLITE_FULL', 14: 'SQLITE_CANTOPEN', 15: 'SQLITE_PROTOCOL', 17: 'SQLITE_SCHEMA',
  18: 'SQLITE_TOOBIG', 19: 'SQLITE_CONSTRAINT', 20: 'SQLITE_MISMATCH', 21: 'SQLITE_MISUSE', 23: 'SQLITE_AUTH',
  25: 'SQLITE_RANGE', 26: 'SQLITE_NOTADB',
};

/** Gives a node:sqlite error the `SQLITE_*` code better-sqlite3 would have given it (callers map codes to errors). */
function normalise(err: unknown): unknown {
  const e = err as { code?: unknown; errcode?: unknown };
  if (e && typeof e === 'object' && typeof e.errcode === 'number') {
    const name = CODES[e.errcode & 0xff];
    if (name) {
      try {
        Object.defineProperty(e, 'code', { value: name, configurable: true, writable: true, enumerable: true });
      } catch {
        // a frozen error keeps its own code; the message still says what failed
      }
    }
  }
  return err;
}

function guard<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw normalise(err);
  }
}

interface NodeSqliteModule {
  DatabaseSync: new (file: string, opts?: { readOnly?: boolean; open?: boolean }) => NodeSqliteDb;
}
interface NodeSqliteDb {
  readonly isOpen?: boolean;
  prepare(sql: string): { run(...p: unknown[]): SqlRunResult; get(...p: unknown[]): unknown; all(...p: unknown[]): unknown[] };
  exec(sql: string): void;
  close(): void;
}

let nodeSqlite: NodeSqliteModule | null | undefined;
type BetterCtor = new (file: string, opts?: { readonly?: boolean; fileMustExist?: boolean }) => BetterDb;
let betterSqlite: BetterCtor | null | undefined;
interface BetterDb {
  readonly open: boolean;
  readonly readonly: boolean;
  prepare(sql: string): SqlStatement;
  exec(sql: string): void;
  pragma(text: string, opts?: { simple?: boolean }): unknown;
  transaction<F extends (...a: never[]) => unknown>(fn: F): F & { immediate: F };
  close(): void;
}

function loadNodeSqlite(): NodeSqliteModule | null {
  if (nodeSqlite !== undefined) return nodeSqlite;
  // Node 22 prints "SQLite is an experimental feature" on load; operators would read it as a problem of pwsync's.
  const emit = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    if (!String(typeof warning === 'string' ? warning : warning.message).startsWith('SQLite is an experimental feature'))
      (emit as (...a: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  try {
    // getBuiltinModule answers undefined (Node 20) instead of throwing; older 22.x need --experimental-sqlite.
    nodeSqlite = (process.getBuiltinModule?.('node:sqlite') as NodeSqliteModule | undefined) ?? null;
  } catch {
    nodeSqlite = null;
  } finally {
    process.emitWarning = emit;
  }
  return nodeSqlite;
}

function loadBetterSqlite(): BetterCtor | null {
  if (betterSqlite !== undefined) return betterSqlite;
  try {
    const Db = req('better-sqlite3') as BetterCtor;
    new Db(':memory:').close(); // the addon binary loads only here: one built for another Node ABI fails now, not later
    betterSqlite = Db;
  } catch {
    // not installed, or built for another Node ABI, or inside pwsync.exe (nothing native is bundled)
    betterSqlite = null;
  }
  return betterSqlite;
}

/** The drivers that load in this process, preferred first. */
export function availableDrivers(): SqliteDriverName[] {
  const out: SqliteDriverName[] = [];
  if (process.platform !== 'win32' && loadBetterSqlite()) out.push('better-sqlite3');
  if (loadNodeSqlite()) out.push('node:sqlite');
  return out;
}

/**
 * The driver the outbox uses: PWSYNC_SQLITE_DRIVER when set (tests, and operators comparing the two), else
 * better-sqlite3 where it loads (Linux, the proven path), else node:sqlite (Windows and pwsync.exe).
 */
export function defaultDriver(): SqliteDriverName {
  const wanted = process.env.PWSYNC_SQLITE_DRIVER;
  const have = availableDrivers();
  if (wanted === 'better-sqlite3' || wanted === 'node:sqlite') {
    if (!have.includes(wanted)) throw new Error(`PWSYNC_SQLITE_DRIVER=${wanted} but that driver does not load in Node ${process.version}`);
    return wanted;
  }
  const first = have[0];
  if (!first) throw new Error(`no SQLite driver: better-sqlite3 does not load and node:sqlite needs Node >= 22.13 (running ${process.version})`);
  return first;
}

export function openSqlite(file: string, opts: OpenOptions = {}, driver: SqliteDriverName = defaultDriver()): SqlDatabase {
  return driver === 'better-sqlite3' ? openBetter(file, opts) : openNode(file, opts);
}

function openBetter(file: string, opts: OpenOptions): SqlDatabase {
  const Db = loadBetterSqlite();
  if (!Db) throw new Error('better-sqlite3 does not load in this process');
  const db = opts.readonly ? new Db(file, { readonly: true, fileMustExist: true }) : new Db(file);
  return {
    driver: 'better-sqlite3',
    get open() {
      return db.open;
    },
    get readonly() {
      return db.readonly;
    },
    prepare: (sql) => db.prepare(sql),
    exec: (sql) => void db.exec(sql),
    pragma: (text) => db.pragma(text, { simple: true }),
    transaction: <T>(fn: () => T, opts?: { immediate?: boolean }) => {
      const tx = db.transaction(fn);
      return (opts?.immediate ? tx.immediate : tx) as () => T;
    },
    close: () => db.close(),
  };
}

/** node:sqlite rows have a null prototype and BLOBs as Uint8Array; the outbox and its callers expect plain objects and Buffers. */
function plainRow(row: unknown): unknown {
  if (!row || typeof row !== 'object') return row;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) out[k] = v instanceof Uint8Array ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : v;
  return out;
}

function openNode(file: string, opts: OpenOptions): SqlDatabase {
  const mod = loadNodeSqlite();
  if (!mod) throw new Error(`node:sqlite is not available in Node ${process.version}`);
  const db = guard(() => new mod.DatabaseSync(file, opts.readonly ? { readOnly: true } : {}));
  let open = true;
  let depth = 0;
  let savepoints = 0;
  return {
    driver: 'node:sqlite',
    get open() {
      return db.isOpen ?? open;
    },
    readonly: opts.readonly === true,
    prepare(sql) {
      const st = guard(() => db.prepare(sql));
      return {
        run: (...p) => guard(() => st.run(...p)),
        get: (...p) => plainRow(guard(() => st.get(...p))),
        all: (...p) => guard(() => st.all(...p)).map(plainRow),
      };
    },
    exec: (sql) => guard(() => db.exec(sql)),
    pragma(text) {
      const row = guard(() => db.prepare(`PRAGMA ${text}`).get()) as Record<string, unknown> | undefined;
      return row ? Object.values(row)[0] : undefined;
    },
    transaction<T>(fn: () => T, opts?: { immediate?: boolean }) {
      return () => {
        // Same shape as better-sqlite3: BEGIN at the outermost level, SAVEPOINT inside.
        const name = depth === 0 ? null : `pwsync_sp${++savepoints}`;
        guard(() => db.exec(name ? `SAVEPOINT ${name}` : opts?.immediate ? 'BEGIN IMMEDIATE' : 'BEGIN'));
        depth++;
        try {
          const result = fn();
          guard(() => db.exec(name ? `RELEASE ${name}` : 'COMMIT'));
          return result;
        } catch (err) {
          try {
            db.exec(name ? `ROLLBACK TO ${name}; RELEASE ${name}` : 'ROLLBACK');
          } catch {
            // SQLite already rolled back (e.g. SQLITE_FULL); the original error is the one to report
          }
          throw normalise(err);
        } finally {
          depth--;
        }
      };
    },
    close() {
      open = false;
      db.close();
    },
  };
}
