// Building blocks of one benchmark run: config files on a temp dir, a pre-filled outbox, the emulator and the
// agent in their own processes. Never writes a password to disk except sealed, through the agent's own Outbox.

import { randomBytes } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { KEY_FILE } from '../../src/agent.js';
import { loadOrCreateKeys } from '../../src/outbox/key-file.js';
import { OUTBOX_FILE, Outbox } from '../../src/outbox/store.js';
import type { AgentChildStart } from '../agent-child.js';
import { iijExternalId } from './accounts.js';
import { forkChild, type ChildHandle } from './rpc.js';

export const BENCH_DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_ROOT = path.resolve(BENCH_DIST, '../..');
export const CLI = path.join(REPO_ROOT, 'dist/src/cli/main.js');

/** The running Samba AD DC, when one is available (PWSYNC_TEST_DC, else the dev DC at /tmp/pwsync-dev-dc). */
export interface DcInfo {
  host: string;
  ldapsPort: number;
  baseDn: string;
  adminDn: string;
  adminPassword: string;
  readerDn: string;
  readerPassword: string;
  caFile: string;
  tlsServername: string;
  realm: string;
  pid: number;
  envFile: string;
}

export function findDc(): { dc?: DcInfo; why: string } {
  const candidates = [process.env.PWSYNC_TEST_DC, '/tmp/pwsync-dev-dc/env.json'].filter((p): p is string => !!p);
  const why: string[] = [];
  for (const file of candidates) {
    try {
      const info = JSON.parse(readFileSync(file, 'utf8')) as DcInfo;
      process.kill(info.pid, 0);
      return { dc: { ...info, envFile: file }, why: `Samba AD DC from ${file}` };
    } catch (err) {
      why.push(`${file}: ${(err as Error).message}`);
    }
  }
  return { why: why.length ? why.join('; ') : 'PWSYNC_TEST_DC is not set and /tmp/pwsync-dev-dc/env.json does not exist' };
}

export function benchPassword(): string {
  // Printable ASCII with upper, lower, digit and symbol: fits IIJ's (and the emulator's) default policy.
  return `Bn-${randomBytes(9).toString('base64url')}7a`;
}

export interface ConfigOptions {
  scimBase: string;
  token: string;
  concurrency: number;
  dc?: DcInfo;
  /** targets[].rate_limit; default 1 000 000 (the latency, not the rate limit, is what §2 measures). */
  rateLimit?: number;
  /** targets[].id_cache, enabled with this TTL and warm-up; absent: the default (off). */
  idCache?: { ttl: string; warmUp: boolean };
}

/** Writes config.yml + secret.yml into `dir`; returns the config path. The data dir is `dir`/data. */
export function writeConfig(dir: string, o: ConfigOptions): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ad = o.dc
    ? `    server:
      addresses: [${o.dc.host}]
      port: ${o.dc.ldapsPort}
      user: '${o.dc.readerDn}'
      encryption: ldaps
      ca_file: ${o.dc.caFile}
      tls_servername: ${o.dc.tlsServername}
    base_dn: 'OU=Staff,${o.dc.baseDn}'`
    : `    server:
      addresses: [bench.invalid]   # the bench's StaticDirectory answers instead of AD
      user: CN=bench,DC=example,DC=test
    base_dn: DC=example,DC=test`;
  writeFileSync(
    path.join(dir, 'config.yml'),
    `# written by bench/run.ts
agent:
  data_dir: ${dir}/data
  intake:
    socket: ${dir}/intake.sock
  concurrency: ${o.concurrency}
  dc: bench-dc
log:
  loglevel: info
  stderr: false
ad:
  ldap:
${ad}
targets:
  - name: iij
    type: iij
    url: ${o.scimBase}
    timeout: 30s
${o.rateLimit !== undefined ? `    rate_limit: ${o.rateLimit}` : '    rate_limit: 1000000   # the default (20 requests/s) would cap delivery at 10 changes/s; the limit measured here is latency'}
${o.idCache ? `    id_cache: { enabled: true, ttl: ${o.idCache.ttl}, warm_up: ${o.idCache.warmUp} }\n` : ''}queue:
  retry:
    initial: 1s
    max: 10s
console:
  enabled: false
`,
    { mode: 0o600 },
  );
  writeFileSync(
    path.join(dir, 'secret.yml'),
    `ad:\n  ldap:\n    server:\n      password: '${o.dc ? o.dc.readerPassword : 'bench-not-used'}'\ntargets:\n  iij:\n    access_token: ${o.token}\n`,
    { mode: 0o600 },
  );
  return path.join(dir, 'config.yml');
}

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `pwsync-bench-${prefix}-`));
}

/**
 * A data dir (key file + outbox) with `accounts.length` pending changes, written through the agent's own Outbox
 * (sealed, same rows as intake writes), in group commits of 1000.
 */
export function prefillOutbox(dataDir: string, accounts: readonly string[], kvno: number | undefined = 2, source: 'samba' | 'cli' = 'samba'): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const { keys } = loadOrCreateKeys(path.join(dataDir, KEY_FILE));
  const outbox = new Outbox(path.join(dataDir, OUTBOX_FILE), keys.sealKey);
  const capturedAt = new Date().toISOString();
  const changes = accounts.map((account) => ({ account, targets: ['iij'], source, dc: 'bench-dc', ...(kvno !== undefined ? { kvno } : {}), capturedAt, password: benchPassword() }));
  // Group commits of 1000: one fsync each, so the fill stays quick without reaching into the store's connection.
  for (let i = 0; i < changes.length; i += 1000) outbox.insertChanges(changes.slice(i, i + 1000));
  outbox.close(); // the last connection's close checkpoints the WAL into the file copyDataDir copies
}

/** Copies a prefilled data dir (outbox + key file) to `dir`/data for one run. */
export function copyDataDir(template: string, dir: string): void {
  const dst = path.join(dir, 'data');
  cpSync(template, dst, { recursive: true });
  chmodSync(dst, 0o700);
  chmodSync(path.join(dst, KEY_FILE), 0o600);
}

export async function startEmulatorChild(o: { latencyMs: number; users: number; extraUsers?: Array<{ userName: string; externalId: string }> }): Promise<{
  child: ChildHandle;
  scimBase: string;
  token: string;
}> {
  const child = forkChild(path.join(BENCH_DIST, 'emulator-child.js'));
  const users = Array.from({ length: o.users }, (_, i) => ({ userName: `u${i}@example.jp`, externalId: iijExternalId(i) }));
  const r = await child.call<{ scimBase: string; token: string }>('start', { hashCost: 2, latencyMs: o.latencyMs, users: [...users, ...(o.extraUsers ?? [])] });
  return { child, ...r };
}

/** The minimal SCIM target of §2 (bench/stand-in-target.ts) in its own process: users u0…u(users-1), L ms per request. */
export async function startStandInChild(o: { latencyMs: number; users: number }): Promise<{ child: ChildHandle; scimBase: string; token: string }> {
  const child = forkChild(path.join(BENCH_DIST, 'stand-in-target.js'));
  const r = await child.call<{ scimBase: string; token: string }>('start', o);
  return { child, ...r };
}

export async function startAgentChild(start: AgentChildStart, execArgv: string[] = []): Promise<{ child: ChildHandle; socketPath: string; startMs: number }> {
  const child = forkChild(path.join(BENCH_DIST, 'agent-child.js'), execArgv);
  const r = await child.call<{ socketPath: string; startMs: number }>('start', start);
  return { child, ...r };
}

export function removeDir(dir: string): void {
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
}
