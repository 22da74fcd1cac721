// Test stack: the IIJ emulator, a real agent (in-process or as a child process) with real config files, the real
// Samba AD DC as directory. Helpers wait on journal events, never on sleeps.

import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, existsSync, watch, readdirSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmulator } from '../../emulator/server.js';
import type { Emulator, EmulatorOptions } from '../../emulator/types.js';
import { startAgent, type RunningAgent } from '../../src/agent.js';
import { loadConfig } from '../../src/config/load.js';
import { sendChange } from '../../src/capture/intake-client.js';
import type { JournalEntry } from '../../src/journal/journal.js';
import type { SambaDcInfo } from './samba.js';

export const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');
export const FULL_SCOPES = ['escim_read_users', 'escim_write_users'];

export interface StackOptions {
  emulator?: EmulatorOptions;
  /** Extra YAML appended to the target entry (indented 4 spaces). */
  targetYaml?: string;
  scopes?: string[];
  /** ad.ldap.filter.user (default: every person under base_dn OU=Staff). */
  userFilter?: string;
  concurrency?: number;
  /** targets[].timeout (default 2s) and rate_limit (default 20 requests/s). */
  targetTimeout?: string;
  rateLimit?: number;
  maxAge?: string;
  horizon?: string;
  retryInitial?: string;
  retryMax?: string;
  /**
   * false writes `console.enabled: false` (no listener at all). Otherwise the console — or, without an admin token,
   * /metrics and /healthz alone — listens on an ephemeral port (never the fixed default on a shared machine).
   */
  console?: boolean;
  /** agent.clock_skew (default: the documented default). */
  clockSkew?: string;
}

export interface Stack {
  dir: string;
  configFile: string;
  emulator: Emulator;
  token: string;
  dc: SambaDcInfo;
}

export async function makeStack(dc: SambaDcInfo, opts: StackOptions = {}): Promise<Stack> {
  const emulator = await startEmulator(opts.emulator ?? {});
  const token = emulator.addToken({ scopes: opts.scopes ?? FULL_SCOPES });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pwsync-it-'));
  writeStackConfig(dir, dc, emulator.scimBase, token, opts);
  return { dir, configFile: path.join(dir, 'config.yml'), emulator, token, dc };
}

export function writeStackConfig(dir: string, dc: SambaDcInfo, scimBase: string, token: string, opts: StackOptions = {}): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const filter = opts.userFilter ?? `(&(objectCategory=person)(objectClass=user))`;
  writeFileSync(
    path.join(dir, 'config.yml'),
    `agent:
  data_dir: ${dir}/data
  intake:
    socket: ${dir}/intake.sock
  concurrency: ${opts.concurrency ?? 4}
${opts.clockSkew ? `  clock_skew: ${opts.clockSkew}\n` : ''}log:
  loglevel: debug
  stderr: false
ad:
  ldap:
    server:
      addresses: [${dc.host}]
      port: ${dc.ldapsPort}
      user: '${dc.readerDn}'
      encryption: ldaps
      ca_file: ${dc.caFile}
      tls_servername: ${dc.tlsServername}
    base_dn: 'OU=Staff,${dc.baseDn}'
    filter:
      user: '${filter}'
targets:
  - name: iij
    type: iij
    url: ${scimBase}
    timeout: ${opts.targetTimeout ?? '2s'}
    rate_limit: ${opts.rateLimit ?? 20}
${opts.targetYaml ?? ''}
queue:
  max_age: ${opts.maxAge ?? '72h'}
  not_provisioned_horizon: ${opts.horizon ?? '24h'}
  retry:
    initial: ${opts.retryInitial ?? '200ms'}
    max: ${opts.retryMax ?? '2s'}
${opts.console === false ? 'console:\n  enabled: false\n' : 'console:\n  port: 0\n'}`,
    { mode: 0o600 },
  );
  writeFileSync(
    path.join(dir, 'secret.yml'),
    `ad:\n  ldap:\n    server:\n      password: '${dc.readerPassword}'\ntargets:\n  iij:\n    access_token: ${token}\n`,
    { mode: 0o600 },
  );
}

export async function startStackAgent(s: Stack): Promise<RunningAgent> {
  return startAgent(loadConfig(s.configFile));
}

export function change(account: string, password: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { v: 1, type: 'change', source: 'cli', dc: 'test-dc', account, capturedAt: new Date().toISOString(), password, ...extra };
}

/** Submits a change and returns its id, failing the test if the agent refused it. */
export async function submit(socket: string, account: string, password: string, extra: Record<string, unknown> = {}): Promise<string> {
  const r = await sendChange(socket, change(account, password, extra));
  if (!r.ok) throw new Error(`agent refused the change: ${r.code} ${r.message}`);
  return r.id;
}

/** Resolves with the first journal event of `change` among `ids`, from an in-process agent (past events included). */
export function eventFor(agent: RunningAgent, changeId: string, ids: number[], timeoutMs = 30_000): Promise<JournalEntry> {
  const past = readJournal(agent.loaded.config.log.file).find((e) => e.change === changeId && ids.includes(e.id));
  if (past) return Promise.resolve(past);
  return agent.journal.waitFor((e) => e.change === changeId && ids.includes(e.id), timeoutMs);
}

export function readJournal(file: string): JournalEntry[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as JournalEntry);
}

/** Waits until the journal file (written by any process) has an entry matching `pred`. Event-driven (fs.watch) with a deadline. */
export async function waitForJournal(file: string, pred: (e: JournalEntry) => boolean, timeoutMs = 30_000): Promise<JournalEntry> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = readJournal(file).find(pred);
    if (hit) return hit;
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`no matching journal entry in ${file} within ${timeoutMs} ms`);
    await new Promise<void>((resolve) => {
      const dir = path.dirname(file);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const w = watch(dir, () => {
        w.close();
        clearTimeout(t);
        resolve();
      });
      const t = setTimeout(() => {
        w.close();
        resolve();
      }, Math.min(left, 500));
    });
  }
}

export interface ChildAgent {
  proc: ChildProcess;
  stderr: () => string;
  stdout: () => string;
  exited: Promise<number | null>;
}

/**
 * Runs `pwsync run` as a separate process (for SIGKILL tests and to capture its real stderr). `command` is how
 * pwsync is started: this checkout's build by default, or an installed package's launcher.
 */
export function spawnAgent(configFile: string, command: readonly string[] = [process.execPath, CLI]): ChildAgent {
  const [exe, ...pre] = command;
  const proc = spawn(exe!, [...pre, 'run', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  let out = '';
  proc.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return { proc, stderr: () => err, stdout: () => out, exited };
}

/** All files under `dir` (recursively) that contain `needle` as UTF-8 or UTF-16LE bytes. */
export function filesContaining(dir: string, needles: string[]): string[] {
  const hits: string[] = [];
  const walk = (d: string) => {
    for (const ent of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, ent.name);
      if (ent.isDirectory()) walk(p);
      else if (ent.isFile()) {
        const buf = readFileSync(p);
        for (const n of needles) if (buf.includes(Buffer.from(n, 'utf8')) || buf.includes(Buffer.from(n, 'utf16le'))) hits.push(`${p} contains a secret`);
      }
    }
  };
  walk(dir);
  return hits;
}
