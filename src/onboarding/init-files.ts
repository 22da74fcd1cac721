// Writes the config.yml and secret.yml that `pwsync init` produced: validated against pwsync's own schema first,
// secret.yml 0600, config.yml 0600 (0640 for the agent's group), never over an existing file without --force.
// Never prints or logs a secret; a validation error names key paths only.

import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, closeSync, existsSync, fsyncSync, linkSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { ConfigError } from '../errors.js';
import { configSchema, secretSchema } from '../config/schema.js';

export interface InitSecrets {
  adPassword: string;
  accessToken: string;
}

/** The agent's service user (docs/operations-samba.md): config.yml root:group 0640, secret.yml user:group 0600. */
export interface FileOwner {
  name: string;
  uid: number;
  gid: number;
}

export interface InitFiles {
  configPath: string;
  secretPath: string;
}

/** secret.yml content for one IIJ target, with a fresh random console admin token (the console needs one). */
export function secretDocument(targetName: string, s: InitSecrets): Record<string, unknown> {
  return {
    ad: { ldap: { server: { password: s.adPassword } } },
    targets: { [targetName]: { access_token: s.accessToken } },
    console: { admin_token: randomBytes(24).toString('hex') },
  };
}

/** Checks both documents against pwsync's schema; the message names key paths, never values. */
export function validateDocuments(config: Record<string, unknown>, secret: Record<string, unknown>): void {
  const problems: string[] = [];
  const c = configSchema.safeParse(config);
  if (!c.success) for (const i of c.error.issues) problems.push(`config.yml ${i.path.map(String).join('.') || '(top level)'}: ${i.message}`);
  const s = secretSchema.safeParse(secret);
  if (!s.success) for (const i of s.error.issues) problems.push(`secret.yml ${i.path.map(String).join('.') || '(top level)'}: ${i.code === 'too_small' ? 'must not be empty' : 'invalid'}`);
  if (problems.length > 0) throw new ConfigError(`the generated configuration is not valid:\n  ${problems.join('\n  ')}`);
}

const CONFIG_HEADER = '# pwsync configuration written by `pwsync init` — reference: docs/configuration.md\n';
const SECRET_HEADER = '# pwsync secrets written by `pwsync init` (mode 0600). Never copy this file into a ticket or a chat.\n';

/**
 * Writes both files into `dir`. Refuses (ConfigError, nothing written) when either exists and `force` is false.
 * Each file is written to a temporary name with its final mode (and owner) and renamed into place, so a reader
 * never sees a half-written file and secret.yml is never readable by others, not even for a moment.
 * Without `owner`: a new directory 0700 and both files 0600 (the user running init runs the agent). With `owner`
 * (the agent's service user, init run as root): the layout of docs/operations-samba.md — a new directory 0750
 * root:group, config.yml 0640 root:group (only root changes it), secret.yml 0600 owned by the agent's user.
 */
export function writeInitFiles(dir: string, config: Record<string, unknown>, secret: Record<string, unknown>, force: boolean, owner?: FileOwner): InitFiles {
  const configPath = path.join(dir, 'config.yml');
  const secretPath = path.join(dir, 'secret.yml');
  if (!force) {
    const existing = [configPath, secretPath].filter((p) => existsSync(p));
    if (existing.length > 0) throw new ConfigError(`${existing.join(' and ')} already exist(s): nothing was written; pass --force to replace`);
  }
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true, mode: owner ? 0o750 : 0o700 });
    if (owner) {
      chmodSync(dir, 0o750);
      chownSync(dir, 0, owner.gid);
    }
  }
  writeAtomically(secretPath, SECRET_HEADER + stringify(secret, { lineWidth: 0 }), force, 0o600, owner ? { uid: owner.uid, gid: owner.gid } : undefined);
  writeAtomically(configPath, CONFIG_HEADER + stringify(config, { lineWidth: 0 }), force, owner ? 0o640 : 0o600, owner ? { uid: 0, gid: owner.gid } : undefined);
  return { configPath, secretPath };
}

function writeAtomically(file: string, text: string, replace: boolean, mode: number, chownTo?: { uid: number; gid: number }): void {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  try {
    // Created 0600; the owner is set before the (wider) final mode, and the umask never decides the mode.
    if (chownTo) chownSync(tmp, chownTo.uid, chownTo.gid);
    chmodSync(tmp, mode);
    if (replace) return renameSync(tmp, file);
    // link() fails with EEXIST instead of replacing: a file created since the check above is never clobbered.
    try {
      linkSync(tmp, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new ConfigError(`${file} appeared while init was writing: nothing replaced; pass --force to replace`);
      throw err;
    }
  } finally {
    rmSync(tmp, { force: true });
  }
}
