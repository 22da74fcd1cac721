// Writes the config.yml and secret.yml that `pwsync init` produced: validated against pwsync's own schema first,
// config.yml 0600 and secret.yml 0600 in a directory created 0700, never over an existing file without --force.
// Never prints or logs a secret; a validation error names key paths only.

import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, fsyncSync, linkSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { ConfigError } from '../errors.js';
import { configSchema, secretSchema } from '../config/schema.js';

export interface InitSecrets {
  adPassword: string;
  accessToken: string;
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
 * Each file is written to a temporary name with its final mode and renamed into place, so a reader never sees
 * a half-written file and secret.yml is never readable by others, not even for a moment.
 */
export function writeInitFiles(dir: string, config: Record<string, unknown>, secret: Record<string, unknown>, force: boolean): InitFiles {
  const configPath = path.join(dir, 'config.yml');
  const secretPath = path.join(dir, 'secret.yml');
  if (!force) {
    const existing = [configPath, secretPath].filter((p) => existsSync(p));
    if (existing.length > 0) throw new ConfigError(`${existing.join(' and ')} already exist(s): nothing was written; pass --force to replace`);
  }
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeAtomically(secretPath, SECRET_HEADER + stringify(secret, { lineWidth: 0 }), force);
  writeAtomically(configPath, CONFIG_HEADER + stringify(config, { lineWidth: 0 }), force);
  return { configPath, secretPath };
}

function writeAtomically(file: string, text: string, replace: boolean): void {
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
  // The umask may have removed bits, never added: make the mode exact anyway.
  chmodSync(tmp, 0o600);
  if (replace) return renameSync(tmp, file);
  // link() fails with EEXIST instead of replacing: a file created since the check above is never clobbered.
  try {
    linkSync(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new ConfigError(`${file} appeared while init was writing: nothing replaced; pass --force to replace`);
    throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
}
