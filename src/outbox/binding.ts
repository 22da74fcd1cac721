// Binds the outbox to its key file and to the data dir it was created in, so a lost key or a lost, emptied or
// swapped outbox stops the agent with a clear message instead of silently starting an empty queue or retrying rows
// that can never open. Never reads a password: a key is tested by opening a sealed row and discarding the result.

import { createHmac, randomUUID } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { OutboxMismatchError, UnsealError } from '../errors.js';
import type { AgentKeys } from './key-file.js';
import { sealedRows } from './queries.js';
import type { Outbox } from './store.js';

/** Next to the outbox: the id of the outbox this data dir holds. It outlives the outbox file, which is the point. */
export const OUTBOX_ID_FILE = 'outbox.id';

/** Before the outbox is opened: a missing or 0-byte outbox file where one existed is a lost queue, not a new one. */
export function checkOutboxPresent(outboxFile: string, idFile: string): void {
  if (!existsSync(idFile)) return;
  let size: number | undefined;
  try {
    size = statSync(outboxFile).size;
  } catch {
    size = undefined;
  }
  if (size === undefined || size === 0)
    throw new OutboxMismatchError(
      `the outbox ${outboxFile} is ${size === undefined ? 'missing' : 'empty (0 bytes)'}, but ${idFile} says this data dir held a queue: ` +
        `restore the outbox from backup (queued changes are in it); only if the queue is known to be lost, delete ${idFile} to start an empty one`,
    );
}

/** A value derived from the sealing key that identifies it without revealing it. */
function keyCheck(keys: AgentKeys): string {
  return createHmac('sha256', keys.sealKey).update('pwsync outbox key check v1').digest('base64');
}

/**
 * After opening: the outbox must be the one `idFile` names, and the key must open its sealed rows. Throws
 * OutboxMismatchError (wrong outbox) or UnsealError (wrong key) — the caller journals and refuses to start.
 */
export function bindOutbox(outbox: Outbox, keys: AgentKeys, outboxFile: string, keyFile: string, idFile: string): void {
  let id = outbox.meta('outbox_id');
  const recorded = existsSync(idFile) ? readFileSync(idFile, 'utf8').trim() : undefined;
  if (recorded !== undefined && recorded !== id)
    throw new OutboxMismatchError(
      `the outbox ${outboxFile} is not the one this data dir held (${idFile} names another): restore the right outbox; only if the queue is known to be lost, delete ${idFile}`,
    );
  const check = keyCheck(keys);
  const stored = outbox.meta('key_check');
  if (stored !== check) {
    const { count, samples } = sealedRows(outbox.reader);
    // No stored check (an outbox from before this check): try the key on real rows instead.
    const opens = stored === undefined && samples.every((r) => canOpen(outbox, r));
    if (count > 0 && !opens)
      throw new UnsealError(
        `the key file ${keyFile} cannot open the ${count} queued change(s) in ${outboxFile}: restore the agent.key that belongs to this outbox from backup. ` +
          `Only if that key is lost for good: stop, move ${outboxFile} aside (its changes are lost; affected users must change their passwords again) and start again`,
      );
    outbox.setMeta('key_check', check);
  }
  if (id === undefined) {
    id = randomUUID();
    outbox.setMeta('outbox_id', id);
  }
  if (recorded === undefined) writeDurably(idFile, `${id}\n`);
}

function canOpen(outbox: Outbox, row: Parameters<Outbox['openSecret']>[0]): boolean {
  try {
    outbox.openSecret(row);
    return true;
  } catch (err) {
    if (err instanceof UnsealError) return false;
    throw err;
  }
}

function writeDurably(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  rmSync(tmp, { force: true });
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}
