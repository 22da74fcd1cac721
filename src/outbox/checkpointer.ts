// Runs SQLite WAL checkpoints on a worker thread with its own connection, so the copy of the WAL into the database
// file (and its fsync) never stalls the event loop that acks captures. A PASSIVE checkpoint never blocks the
// writer; the agent's own connection has auto-checkpointing turned off.

import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

// The worker's code is inline (eval) so it resolves better-sqlite3 from this package whatever the layout of dist/.
const WORKER_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const Database = require(workerData.sqlite);
let db;
try {
  db = new Database(workerData.file, { fileMustExist: true });
  db.pragma('busy_timeout = 5000');
} catch {
  db = undefined; // the outbox is gone already (closed and removed): nothing to checkpoint
}
let stopped = false;
const tick = () => {
  if (stopped || !db) return;
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch { /* busy or I/O: the next tick tries again */ }
  setTimeout(tick, workerData.intervalMs);
};
parentPort.on('message', (m) => {
  if (m !== 'stop') return;
  stopped = true;
  try { db?.close(); } catch {}
  Atomics.store(workerData.done, 0, 1);
  Atomics.notify(workerData.done, 0);
});
setTimeout(tick, workerData.intervalMs);
`;

export interface Checkpointer {
  /** Synchronous: returns once the worker's connection is closed, so the caller may close (or copy) the database. */
  stop(): void;
}

const STOP_WAIT_MS = 5000;

export function startCheckpointer(file: string, intervalMs = 1000): Checkpointer {
  const done = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, intervalMs, done, sqlite: require.resolve('better-sqlite3') } });
  worker.unref();
  let alive = true;
  worker.once('exit', () => (alive = false));
  // A checkpoint is an optimisation of file size, never of correctness: a failing worker must not take the agent down.
  worker.on('error', () => undefined);
  return {
    stop() {
      if (!alive) return;
      worker.postMessage('stop');
      // Blocks at most STOP_WAIT_MS: the worker only sleeps between checkpoints, so it answers at once.
      Atomics.wait(done, 0, 0, STOP_WAIT_MS);
      void worker.terminate();
    },
  };
}
