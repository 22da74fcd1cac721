// Loads config.yml and secret.yml, validates them and explains every error with its key path and a fix.
// Never includes a secret value in an error message: only key paths and rules.

import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError, UnsafePermissionsError } from '../errors.js';
import { configSchema, secretSchema, type ConfigFile, type SecretFile } from './schema.js';
import { resolveTargetSecret } from './target-secret.js';

export interface LoadedConfig {
  config: ConfigFile;
  secret: SecretFile;
  configPath: string;
  secretPath: string;
}

/** Reads both files; `secretPath` defaults to secret.yml next to config.yml. */
export function loadConfig(configPath: string, secretPath?: string): LoadedConfig {
  const cfgPath = path.resolve(configPath);
  const secPath = path.resolve(secretPath ?? path.join(path.dirname(cfgPath), 'secret.yml'));
  // config.yml decides where the token and passwords go (and is reloaded on change): only its owner may write it.
  checkNotWritableByOthers(cfgPath, 'config.yml');
  checkNotWritableByOthers(secPath, 'secret.yml');
  const config = validate(configSchema, readYaml(cfgPath, 'config.yml'), cfgPath, false);
  const secret = validate(secretSchema, readYaml(secPath, 'secret.yml'), secPath, true);
  config.agent.data_dir = path.resolve(path.dirname(cfgPath), config.agent.data_dir);
  config.log.file = path.resolve(config.agent.data_dir, config.log.file);
  if (process.platform !== 'win32') config.agent.intake.socket = path.resolve(config.agent.data_dir, config.agent.intake.socket);
  checkSecretFileMode(secPath);
  crossCheck(config, secret, secPath);
  checkSocketPath(config);
  return { config, secret, configPath: cfgPath, secretPath: secPath };
}

function readYaml(file: string, label: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(`${label} (${file}): cannot read it (${code ?? 'error'}); create it or pass --config`);
  }
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    // The YAML library quotes the offending source line; a secret.yml line may hold a secret, so keep only the position.
    const where = e.linePos?.[0] ? `line ${e.linePos[0].line}, column ${e.linePos[0].col}` : 'unknown position';
    throw new ConfigError(`${label} (${file}): not valid YAML at ${where}: ${e.code}`);
  }
  return doc.toJS() ?? {};
}

function validate<S extends z.ZodType>(schema: S, value: unknown, file: string, isSecret: boolean): z.infer<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const lines = r.error.issues.map((issue) => {
    const key = issue.path.map(String).join('.') || '(top level)';
    // zod messages name types and rules, never values; unrecognized keys name only the key.
    const msg = issue.code === 'unrecognized_keys' ? `unknown key(s) ${issue.keys.join(', ')}: check the spelling against docs/configuration.md` : issue.message;
    return `  ${key}: ${msg}`;
  });
  throw new ConfigError(`${isSecret ? 'secret.yml' : 'config.yml'} (${file}) is invalid:\n${lines.join('\n')}`);
}

/**
 * Refuses a file, or the directory holding it, that group or others may write, or that belongs to another user
 * than the agent's (or root): whoever can write config.yml can send the next password and the token elsewhere.
 */
function checkNotWritableByOthers(file: string, label: string): void {
  if (process.platform === 'win32') return;
  const me = process.getuid!();
  const dir = path.dirname(file);
  for (const [p, what] of [[file, label], [dir, `the directory of ${label}`]] as const) {
    let st;
    try {
      st = statSync(p);
    } catch {
      return; // a missing file is reported by readYaml with its own message
    }
    if ((st.mode & 0o022) !== 0)
      throw new UnsafePermissionsError(`${what} (${p}) is writable by group or others: run chmod go-w ${p} (anyone who can write it can redirect passwords and the token)`);
    if (st.uid !== me && st.uid !== 0)
      throw new UnsafePermissionsError(`${what} (${p}) belongs to uid ${st.uid}, not to the agent's user (uid ${me}) or root: chown it`);
  }
}

/** The intake socket must have a path of its own: `socket: outbox.sqlite` once made the agent delete its queue. */
function checkSocketPath(config: ConfigFile): void {
  const socket = config.agent.intake.socket;
  if (socket.startsWith('\\\\')) return;
  const dir = config.agent.data_dir;
  const taken = [...['outbox.sqlite', 'outbox.sqlite-wal', 'outbox.sqlite-shm', 'agent.key', 'outbox.id'].map((f) => path.join(dir, f)), config.log.file, dir];
  if (taken.includes(path.resolve(socket)))
    throw new ConfigError(`config.yml: agent.intake.socket (${socket}) is a file or directory the agent keeps its data in: give the socket a path of its own (e.g. /run/pwsync/intake.sock)`);
}

function checkSecretFileMode(file: string): void {
  if (process.platform === 'win32') return;
  const mode = statSync(file).mode & 0o077;
  if (mode !== 0) throw new ConfigError(`secret.yml (${file}) is readable by group or others: run chmod 600 ${file}`);
}

/** Every target's secrets are present before anything starts (the same check the target factories make). */
function crossCheck(config: ConfigFile, secret: SecretFile, secPath: string): void {
  for (const t of config.targets) resolveTargetSecret(t, secret.targets[t.name], secPath);
}
