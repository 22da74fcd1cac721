// WalSync, the fsync behind intake's ack (docs/architecture.md#durability): a waiter is released only by an fsync
// that started after it asked, waiters share fsyncs, a failed fsync is never followed by a success, and on a real
// outbox the descriptor it syncs is the outbox's own WAL file — once per SQLite driver.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { fstatSync, fsync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { StorageError } from '../../src/errors.js';
import { Outbox } from '../../src/outbox/store.js';
import { WalSync, type FsyncFn } from '../../src/outbox/wal-sync.js';
import { driversUnderTest } from '../support/sqlite-drivers.js';

const root = mkdtempSync(path.join(tmpdir(), 'pwsync-walsync-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

/** An fsync the test completes by hand: each call waits in `calls` until done() or fail(). */
function heldFsync() {
  const calls: Array<{ fd: number; done: (err: NodeJS.ErrnoException | null) => void }> = [];
  const fn: FsyncFn = (fd, done) => void calls.push({ fd, done });
  return { fn, calls };
}

/** A file to sync (WalSync opens it; it never creates one). */
function walFile(): string {
  const db = path.join(root, `w${n++}`, 'outbox.db');
  const o = new Outbox(db, randomBytes(32));
  o.insertChange({ account: 'a', targets: ['iij'], source: 'cli', capturedAt: '2024-05-01T10:00:00Z', password: 'Pw-1-x' });
  after(() => o.close());
  return `${db}-wal`;
}

/** Yields to the event loop until `cond` holds, failing after `ms` (a condition with a deadline, not a sleep). */
async function until(cond: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setImmediate(r));
  assert.ok(cond(), 'condition not reached');
}

function track(p: Promise<void>) {
  const s = { settled: false, error: undefined as unknown };
  p.then(
    () => (s.settled = true),
    (err: unknown) => ((s.settled = true), (s.error = err)),
  );
  return s;
}

describe('WalSync', () => {
  it('releases a waiter only with an fsync that started after it asked; waiters during one fsync share the next', async () => {
    const { fn, calls } = heldFsync();
    const w = new WalSync(walFile(), fn);
    const first = track(w.sync());
    assert.equal(calls.length, 1);
    // These commits happened while fsync #1 was running: it may have missed them.
    const second = track(w.sync());
    const third = track(w.sync());
    assert.equal(calls.length, 1, 'no second fsync while one runs');
    calls[0]!.done(null);
    await until(() => first.settled && calls.length === 2);
    assert.equal(first.error, undefined);
    assert.equal(second.settled, false, 'not released by the fsync that was already running when it asked');
    assert.equal(third.settled, false);
    calls[1]!.done(null);
    await until(() => second.settled && third.settled);
    assert.equal(second.error, undefined);
    assert.equal(third.error, undefined);
    assert.equal(calls.length, 2, 'three waiters, two fsyncs');
    w.close();
  });

  it('a failed fsync rejects its waiters, those queued behind it and every later one, without another fsync', async () => {
    const { fn, calls } = heldFsync();
    const w = new WalSync(walFile(), fn);
    const first = track(w.sync());
    const queued = track(w.sync());
    calls[0]!.done(Object.assign(new Error('I/O error'), { code: 'EIO' }));
    await until(() => first.settled && queued.settled);
    for (const s of [first, queued]) {
      assert.ok(s.error instanceof StorageError);
      assert.equal((s.error as StorageError).code, 'E_STORAGE');
      assert.match((s.error as Error).message, /EIO/);
    }
    await assert.rejects(w.sync(), StorageError);
    assert.equal(calls.length, 1, 'after a failure no fsync can report later commits durable');
    w.close();
  });

  it('a WAL file that cannot be opened fails that sync (never resolves it); the next one opens it again', async () => {
    const db = path.join(root, `late${n++}`, 'outbox.db');
    const w = new WalSync(`${db}-wal`);
    await assert.rejects(w.sync(), (e: unknown) => e instanceof StorageError && /ENOENT/.test(e.message));
    // Nothing was synced, so nothing was lost: unlike a failed fsync, this is not for ever.
    const o = new Outbox(db, randomBytes(32));
    try {
      await w.sync();
    } finally {
      w.close();
      o.close();
    }
  });

  it('closing with an fsync in flight closes the descriptor only after it; a sync after close fails', async () => {
    const { fn, calls } = heldFsync();
    const file = walFile();
    const w = new WalSync(file, fn);
    const p = track(w.sync());
    w.close();
    const fd = calls[0]!.fd;
    const walIno = statSync(file).ino;
    // Closed, or already reused by some other file: either way no longer the WAL.
    const isWal = () => {
      try {
        return fstatSync(fd).ino === walIno;
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    assert.ok(isWal(), 'still open while its fsync runs');
    calls[0]!.done(null);
    await until(() => p.settled);
    assert.equal(p.error, undefined);
    await until(() => !isWal());
    await assert.rejects(w.sync(), /closed/);
  });

  for (const driver of driversUnderTest()) {
    it(`on ${driver}: Outbox.synced() fsyncs the outbox's own WAL file, after an unsynced commit`, async () => {
      const dir = path.join(root, `o${n++}`);
      const file = path.join(dir, 'outbox.db');
      const o = new Outbox(file, randomBytes(32), Date.now, { driver });
      try {
        const [r] = o.insertChangesUnsynced([{ account: 'bob', targets: ['iij'], source: 'cli', capturedAt: '2024-05-01T10:00:00Z', password: 'Pw-2-y' }]);
        assert.equal(o.get(r!.captureId)?.state, 'pending', 'committed before any fsync');
        const synced: number[] = [];
        // Spy on the real fsync through the instance's WalSync: which inode does it sync?
        const ws = (o as unknown as { walSync: WalSync }).walSync;
        (ws as unknown as { fsyncFn: FsyncFn }).fsyncFn = (fd, done) => {
          synced.push(fstatSync(fd).ino);
          fsync(fd, done);
        };
        await o.synced();
        assert.deepEqual(synced, [statSync(`${file}-wal`).ino]);
      } finally {
        o.close();
      }
    });
  }
});
