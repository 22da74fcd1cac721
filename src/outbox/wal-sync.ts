// Makes the outbox's commits durable off the event loop: fsyncs its write-ahead log on libuv's thread pool, one fsync
// for every commit made before it started. It must never report a commit durable that a failed fsync may have lost.

import { close, closeSync, fdatasync, fsyncSync, openSync } from 'node:fs';
import path from 'node:path';
import { StorageError } from '../errors.js';

/**
 * The asynchronous sync, replaceable in tests (to hold one in flight, or make it fail). fdatasync: it flushes the
 * data and what is needed to read it back (the file's size), not its timestamps — as PostgreSQL does for its WAL.
 */
export type FsyncFn = (fd: number, done: (err: NodeJS.ErrnoException | null) => void) => void;

/**
 * In WAL mode a commit at synchronous=NORMAL is one append to the `-wal` file: it survives a process crash (kill -9),
 * and an fsync of that file makes it survive a power loss too — what synchronous=FULL would do inside the commit,
 * blocking the event loop for the disk's sync time (docs/architecture.md#durability). Any descriptor of the file will
 * do: fsync flushes the file, not the descriptor.
 */
export class WalSync {
  private fd: number | undefined;
  private running: Promise<void> | undefined;
  private queued: Promise<void> | undefined;
  private failure: StorageError | undefined;
  private closed = false;

  constructor(
    private readonly walFile: string,
    private readonly fsyncFn: FsyncFn = fdatasync,
  ) {}

  /**
   * Resolves once every commit made before this call is on disk. Callers that arrive while an fsync runs share the
   * next one (it may have started before their commit), so N waiting commits cost at most two fsyncs. Rejects with
   * StorageError when the disk refuses — and from then on always, until the agent restarts: after a failed fsync,
   * Linux may report the next one as successful although the earlier pages never reached the disk, and a WAL frame
   * lost in the middle makes SQLite's recovery drop every commit after it.
   */
  sync(): Promise<void> {
    if (!this.running) return (this.running = this.syncOnce());
    this.queued ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined;
        return (this.running ??= this.syncOnce());
      });
    return this.queued;
  }

  /** Closes the descriptor, after an fsync still running (an agent stopping with acks in flight). */
  close(): void {
    this.closed = true;
    const fd = this.fd;
    this.fd = undefined;
    if (fd === undefined) return;
    if (this.running) void this.running.catch(() => undefined).then(() => close(fd, () => undefined));
    else closeSync(fd);
  }

  private syncOnce(): Promise<void> {
    const p = new Promise<void>((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      if (this.closed) return reject(new StorageError('the outbox is closed'));
      let fd: number;
      try {
        fd = this.open();
      } catch (err) {
        // Nothing was synced, so nothing can have been lost: this sync fails, the next one tries again.
        const code = (err as { code?: string }).code ?? 'error';
        return reject(new StorageError(`the outbox's write-ahead log cannot be opened for syncing (${code})`, { cause: err }));
      }
      this.fsyncFn(fd, (err) => (err ? reject(this.fail(err)) : resolve()));
    }).finally(() => {
      if (this.running === p) this.running = undefined;
    });
    return p;
  }

  private open(): number {
    if (this.fd !== undefined) return this.fd;
    // The file exists: SQLite creates it when the connection first reads in WAL mode, and keeps it while open.
    // 'r+' never creates it, and has the write access Windows' FlushFileBuffers asks for.
    const fd = openSync(this.walFile, 'r+');
    try {
      // SQLite syncs the directory at the first fsync of a new WAL file; its commits at NORMAL never do. A power
      // loss must not take the file's directory entry, and every commit in it, with it.
      if (process.platform !== 'win32') {
        const dir = openSync(path.dirname(this.walFile), 'r');
        try {
          fsyncSync(dir);
        } finally {
          closeSync(dir);
        }
      }
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    this.fd = fd;
    return fd;
  }

  private fail(err: unknown): StorageError {
    const code = (err as { code?: string }).code ?? 'error';
    this.failure ??= new StorageError(`the outbox's write-ahead log could not be synced to disk (${code}); restart the agent once the disk is healthy`, { cause: err });
    return this.failure;
  }
}
