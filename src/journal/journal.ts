// The journal: structured events (catalogue ID, level, fixed message, fields) to a JSON-lines file and stderr.
// It must never write a password or a token: fields with secret-looking keys are dropped before anything is written.

import { appendFileSync, mkdirSync, openSync, closeSync, fchmodSync } from 'node:fs';
import path from 'node:path';
import { EventEmitter } from 'node:events';
import type { EventDef, Level } from './catalogue.js';

export type Fields = Record<string, string | number | boolean | null | undefined>;

export interface JournalEntry {
  ts: string;
  id: number;
  level: Level;
  msg: string;
  [field: string]: unknown;
}

const LEVEL_RANK: Record<Level, number> = { error: 0, warn: 1, info: 2, debug: 3 };
// pino-style redaction configured once: these keys never reach a sink, whatever a caller passes.
const SECRET_KEY = /pass(word)?|secret|token|authorization|cookie|credential|cleartext/i;

export interface JournalOptions {
  file?: string;
  stderr?: boolean;
  level?: Level;
}

export class Journal extends EventEmitter {
  private fd: number | undefined;
  private readonly level: Level;
  private readonly toStderr: boolean;
  /** Events written inside batch(): their lines, appended together when it ends, and the entries to emit then. */
  private batched: { lines: string; entries: JournalEntry[] } | undefined;
  /** Events that could not be appended to the file (disk full); they went to stderr instead. */
  fileWriteFailures = 0;

  constructor(opts: JournalOptions = {}) {
    super();
    this.level = opts.level ?? 'info';
    this.toStderr = opts.stderr ?? false;
    if (opts.file) {
      mkdirSync(path.dirname(opts.file), { recursive: true, mode: 0o700 });
      this.fd = openSync(opts.file, 'a', 0o600);
      fchmodSync(this.fd, 0o600);
    }
  }

  /** Writes one event. Synchronous on purpose: an event about a committed change must not be lost to a crash. */
  write(ev: EventDef, fields: Fields = {}): JournalEntry {
    const entry: JournalEntry = { ts: new Date().toISOString(), id: ev.id, level: ev.level, msg: ev.message };
    for (const [k, v] of Object.entries(fields)) {
      // A field named id/level/msg/ts would forge the catalogue ID operators grep for: the event's own values win.
      if (v === undefined || SECRET_KEY.test(k) || Object.hasOwn(entry, k)) continue;
      entry[k] = v;
    }
    const line = LEVEL_RANK[ev.level] <= LEVEL_RANK[this.level] ? JSON.stringify(entry) + '\n' : '';
    if (this.batched) {
      this.batched.lines += line;
      this.batched.entries.push(entry);
      return entry;
    }
    this.append(line);
    this.emit('event', entry);
    return entry;
  }

  /**
   * Runs `fn` and appends every event it writes in one write when it returns (or throws), then tells the listeners:
   * delivery journals a turn's outcomes before committing them, and one append per turn instead of one per outcome
   * is a system call saved per delivered change. Still synchronous: all of them are in the file before `batch`
   * returns, so before the commit that follows it.
   */
  batch<T>(fn: () => T): T {
    if (this.batched) return fn();
    const b = (this.batched = { lines: '', entries: [] });
    try {
      return fn();
    } finally {
      this.batched = undefined;
      this.append(b.lines);
      for (const entry of b.entries) this.emit('event', entry);
    }
  }

  private append(lines: string): void {
    if (lines === '') return;
    let toStderr = this.toStderr;
    if (this.fd !== undefined) {
      try {
        appendFileSync(this.fd, lines);
      } catch {
        // A full disk must not stop the agent: the event still reaches stderr (journald), and the file resumes
        // when space is back.
        this.fileWriteFailures++;
        toStderr = true;
      }
    }
    if (toStderr) process.stderr.write(lines);
  }

  /**
   * A journal with `bindings` (e.g. `{ change, account, target }`) added to every event it writes, like pino's child
   * loggers: the context is bound once instead of spread into each call. It writes through this journal, so the
   * secret-key filter and the id/level/msg/ts guard apply to bound fields too.
   */
  child(bindings: Fields): JournalChild {
    return new JournalChild(this, bindings);
  }

  /** Resolves with the first event (from now on) matching `pred`; for the CLI and tests, never for delivery logic. */
  waitFor(pred: (e: JournalEntry) => boolean, timeoutMs = 30_000): Promise<JournalEntry> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('event', onEvent);
        reject(new Error(`no matching journal event within ${timeoutMs} ms`));
      }, timeoutMs);
      const onEvent = (e: JournalEntry) => {
        if (!pred(e)) return;
        clearTimeout(timer);
        this.off('event', onEvent);
        resolve(e);
      };
      this.on('event', onEvent);
    });
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/**
 * Events about one thing (a change at a target). Bound fields are fixed: a call adds fields but cannot replace a bound
 * one, so an event can never name another change than the one it was bound to.
 */
export class JournalChild {
  private readonly bindings: Readonly<Fields>;

  constructor(private readonly parent: Journal, bindings: Fields) {
    this.bindings = Object.freeze(Object.fromEntries(Object.entries(bindings).filter(([, v]) => v !== undefined)));
  }

  write(ev: EventDef, fields: Fields = {}): JournalEntry {
    const merged: Fields = { ...this.bindings };
    for (const [k, v] of Object.entries(fields)) if (!Object.hasOwn(this.bindings, k)) merged[k] = v;
    return this.parent.write(ev, merged);
  }

  child(bindings: Fields): JournalChild {
    return new JournalChild(this.parent, { ...bindings, ...this.bindings });
  }
}
