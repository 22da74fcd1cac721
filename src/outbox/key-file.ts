// The agent's key file: 64 random bytes (32 sealing + 32 fingerprint), created 0600 on first start, never logged.
// If the file is readable by others the agent refuses to start: the key protects every queued password.

import { randomBytes } from 'node:crypto';
import { openSync, writeSync, closeSync, readFileSync, statSync, fsyncSync, renameSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors.js';

export interface AgentKeys {
  /** AES-256-GCM key sealing queued passwords. */
  sealKey: Buffer;
  /** HMAC-SHA-256 key for delivered-password fingerprints (duplicate suppression). */
  fingerprintKey: Buffer;
}

const KEY_BYTES = 64;

export function loadOrCreateKeys(file: string): { keys: AgentKeys; created: boolean } {
  let created = false;
  let raw: Buffer;
  try {
    const st = statSync(file);
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0)
      throw new ConfigError(`key file ${file} is readable by group or others: run chmod 600 ${file}`);
    raw = readFileSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    raw = randomBytes(KEY_BYTES);
    // Write to a temp name, fsync, rename: a crash never leaves a half-written key that would make the queue unreadable.
    const tmp = `${file}.${process.pid}.tmp`;
    // A crash between open and rename leaves this behind; a restart with the same PID (PID 1 in a container)
    // must not fail on it forever.
    rmSync(tmp, { force: true });
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      writeSync(fd, raw);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    created = true;
  }
  if (raw.length !== KEY_BYTES) throw new ConfigError(`key file ${file} is damaged (expected ${KEY_BYTES} bytes): restore it from backup`);
  return { keys: { sealKey: raw.subarray(0, 32), fingerprintKey: raw.subarray(32, 64) }, created };
}
