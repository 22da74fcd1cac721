// The outbox's read handle: prepared SELECTs on the store's own connection, or on a read-only connection of its own
// (`pwsync status`, `queue list`, the reports: no key, works while the agent runs). The read models in queries.ts
// take this handle, never the database: it runs nothing but SELECT, so a reader can never change the queue.

import { CorruptDatabaseError, PwsyncError, StorageError } from '../errors.js';
import { checkReadable } from './schema.js';
import { openSqlite, type SqlDatabase, type SqliteDriverName, type SqlStatement } from './sqlite-driver.js';

export class OutboxReader {
  private readonly statements = new Map<string, SqlStatement>();

  /** `owned`: the reader opened this connection (openOutboxReader) and closes it; else it is the store's. */
  constructor(
    private readonly db: SqlDatabase,
    private readonly owned: boolean,
  ) {}

  all<T>(sql: string, ...params: unknown[]): T[] {
    return this.stmt(sql).all(...params) as T[];
  }

  get<T>(sql: string, ...params: unknown[]): T | undefined {
    return this.stmt(sql).get(...params) as T | undefined;
  }

  /** Closes a connection the reader opened; a handle on the store's connection closes with the store. */
  close(): void {
    if (this.owned) this.db.close();
  }

  /** Prepared once per SQL text; only SELECT, so a read model cannot write through a handle it was given. */
  private stmt(sql: string): SqlStatement {
    let st = this.statements.get(sql);
    if (!st) {
      if (!/^\s*SELECT\b/i.test(sql)) throw new TypeError('the outbox read handle runs SELECT statements only');
      st = this.db.prepare(sql);
      this.statements.set(sql, st);
    }
    return st;
  }
}

/** Opens the outbox file read-only, without the key: sealed rows cannot be opened through it. */
export function openOutboxReader(file: string, driver?: SqliteDriverName): OutboxReader {
  let db: SqlDatabase | undefined;
  try {
    db = openSqlite(file, { readonly: true }, driver);
    checkReadable(db, file);
    // Touch the schema now, so a damaged file is reported here with a clear message, not by the first query.
    db.prepare(`SELECT COUNT(*) FROM changes`).get();
    return new OutboxReader(db, true);
  } catch (err) {
    db?.close();
    throw openFailure(file, err);
  }
}

/** What a failed open of `file` means for the operator: a damaged file (CorruptDatabaseError), I/O, or its own error. */
export function openFailure(file: string, err: unknown): Error {
  if (err instanceof PwsyncError) return err;
  const code = (err as { code?: string }).code ?? '';
  if (code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB')
    return new CorruptDatabaseError(`outbox ${file} is not a valid database (${code}): restore it from backup or move it aside`, { cause: err });
  return new StorageError(`cannot open outbox ${file}: ${(err as Error).message}`, { cause: err });
}
