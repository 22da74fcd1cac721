// Bounded reads of the journal's JSON-lines file for the console: only the last `maxBytes`, newest first.
// The journal already strips secret-looking fields; this module only reads, never writes.

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { JournalEntry } from '../journal/journal.js';

export const DEFAULT_TAIL_BYTES = 4 * 1024 * 1024;

/** Entries from the last `maxBytes` of `file`, newest first; a partial first line and unparsable lines are skipped. */
export function readJournalTail(file: string, maxBytes = DEFAULT_TAIL_BYTES): JournalEntry[] {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return [];
  }
  try {
    const size = fstatSync(fd).size;
    const start = Math.max(0, size - maxBytes);
    const buf = Buffer.alloc(size - start);
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, start + off);
      if (n === 0) break;
      off += n;
    }
    let text = buf.subarray(0, off).toString('utf8');
    if (start > 0) text = text.slice(text.indexOf('\n') + 1);
    const out: JournalEntry[] = [];
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        const e = JSON.parse(line) as JournalEntry;
        if (typeof e.id === 'number' && typeof e.ts === 'string') out.push(e);
      } catch {
        // a line cut by a crash mid-write: skip it
      }
    }
    return out.reverse();
  } finally {
    closeSync(fd);
  }
}

export interface EventSearch {
  /** Account name (case-insensitive, exact) — matches the `account` field. */
  user?: string;
  /** Event ID, e.g. 3000. */
  eventId?: number;
  limit?: number;
}

/** Pure filter over entries (newest first stays newest first). */
export function searchEvents(entries: readonly JournalEntry[], q: EventSearch): JournalEntry[] {
  const user = q.user?.trim().toLowerCase();
  const out: JournalEntry[] = [];
  for (const e of entries) {
    if (q.eventId !== undefined && e.id !== q.eventId) continue;
    if (user && String(e.account ?? '').toLowerCase() !== user) continue;
    out.push(e);
    if (out.length >= (q.limit ?? 200)) break;
  }
  return out;
}
