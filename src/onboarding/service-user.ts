// Finds the agent's service user (docs/operations-samba.md: `pwsync`) so that `pwsync init`, run as root, writes
// files the agent can read. Asks `id` (NSS-aware) with fixed arguments; never passes anything secret.

import { execFileSync } from 'node:child_process';
import { ConfigError } from '../errors.js';
import type { FileOwner } from './init-files.js';

export const DEFAULT_SERVICE_USER = 'pwsync';

function id(flag: '-u' | '-g', name: string): number | undefined {
  try {
    const out = execFileSync('id', [flag, '--', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return /^\d+$/.test(out) ? Number(out) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The owner for init's files: `requested` must exist (ConfigError otherwise); without it, the default service user
 * when init runs as root on a POSIX system and that user exists, else undefined (files owned by whoever runs init).
 */
export function resolveServiceUser(requested: string | undefined): FileOwner | undefined {
  if (process.platform === 'win32') return undefined;
  const name = requested ?? (process.getuid?.() === 0 ? DEFAULT_SERVICE_USER : undefined);
  if (name === undefined) return undefined;
  const uid = id('-u', name);
  const gid = id('-g', name);
  if (uid === undefined || gid === undefined) {
    if (requested === undefined) return undefined;
    throw new ConfigError(`--user ${requested}: no such user (create the agent's service user first, docs/operations-samba.md)`);
  }
  if (process.getuid?.() !== 0) throw new ConfigError(`--user ${name}: only root can give files to another user`);
  return { name, uid, gid };
}
