// Helpers for the issue-3 guarantee tests (no loss, no stale overwrite, fail loud): configurable stacks that share
// one emulator, a capture-side client that keeps every change until the agent acked it, AD fixtures in bulk, the
// CLI as a child process. Waits are on journal events or state with deadlines, never on sleeps.

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Attribute } from 'ldapts';
import type { Emulator } from '../../emulator/types.js';
import { sendChange } from '../../src/capture/intake-client.js';
import type { JournalEntry } from '../../src/journal/journal.js';
import { adminClient, type SambaDcInfo } from './samba.js';
import { CLI, writeStackConfig } from './stack.js';

const execFileAsync = promisify(execFile);

export { seededRandom } from './determinism.js';

export interface GuaranteeConfig {
  /** targets[].timeout (default 2s). */
  timeout?: string;
  retryInitial?: string;
  retryMax?: string;
  maxAge?: string;
  horizon?: string;
  concurrency?: number;
  rateLimit?: number;
  /** agent.clock_skew. */
  clockSkew?: string;
}

export interface GuaranteeStack {
  dir: string;
  configFile: string;
  secretFile: string;
  journalFile: string;
  socket: string;
  dataDir: string;
}

/** A data dir + config.yml + secret.yml for one agent (one "DC") against `scimBase`. The console stays off. */
export function makeGuaranteeStack(dc: SambaDcInfo, scimBase: string, token: string, c: GuaranteeConfig = {}): GuaranteeStack {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pwsync-gt-'));
  const s: GuaranteeStack = {
    dir, configFile: path.join(dir, 'config.yml'), secretFile: path.join(dir, 'secret.yml'), journalFile: path.join(dir, 'data', 'journal.jsonl'),
    socket: path.join(dir, 'intake.sock'), dataDir: path.join(dir, 'data'),
  };
  writeStackConfig(dir, dc, scimBase, token, {
    concurrency: c.concurrency ?? 8, targetTimeout: c.timeout ?? '2s', rateLimit: c.rateLimit ?? 200, maxAge: c.maxAge ?? '1h',
    horizon: c.horizon ?? '1h', retryInitial: c.retryInitial ?? '100ms', retryMax: c.retryMax ?? '1s', console: false, clockSkew: c.clockSkew,
  });
  writeSecret(s, dc, token);
  return s;
}

/** Writes secret.yml the way an operator's tooling should: a temp file (0600) renamed over the old one. */
export function writeSecret(s: GuaranteeStack, dc: SambaDcInfo, token: string): void {
  const tmp = `${s.secretFile}.tmp-${process.pid}`;
  writeFileSync(tmp, `ad:\n  ldap:\n    server:\n      password: '${dc.readerPassword}'\ntargets:\n  iij:\n    access_token: ${token}\n`, { mode: 0o600 });
  renameSync(tmp, s.secretFile);
}

/** A run-unique prefix for sAMAccountNames (max 20 characters). */
export function runTag(prefix: string): string {
  return `${prefix}${Math.random().toString(36).slice(2, 7)}`;
}

/**
 * Creates `names` in OU=Staff over one admin LDAPS connection, plus each one's IIJ twin (externalId = UPN, as IIJ
 * Directory Sync sets it). With `withPassword` false the accounts get PASSWD_NOTREQD instead of an AD password: half
 * the cost per account on Samba (no key derivation), and these tests never read the AD password itself.
 */
export async function createTwins(dc: SambaDcInfo, emulator: Emulator | undefined, names: readonly string[], withPassword = true): Promise<void> {
  const c = await adminClient(dc);
  try {
    for (const name of names) {
      const attrs = [
        new Attribute({ type: 'objectClass', values: ['top', 'person', 'organizationalPerson', 'user'] }),
        new Attribute({ type: 'sAMAccountName', values: [name] }),
        new Attribute({ type: 'userPrincipalName', values: [`${name}@${dc.realm.toLowerCase()}`] }),
        new Attribute({ type: 'userAccountControl', values: [withPassword ? '512' : '544'] }),
      ];
      if (withPassword) attrs.push(new Attribute({ type: 'unicodePwd', values: [Buffer.from(`"Ad1!${name}-${Math.random().toString(36).slice(2, 8)}"`, 'utf16le')] }));
      await c.add(`CN=${name},OU=Staff,${dc.baseDn}`, attrs);
    }
  } finally {
    await c.unbind().catch(() => undefined);
  }
  if (emulator) for (const name of names) await emulator.addUser({ userName: `${name}@example.jp`, externalId: externalIdOf(dc, name) });
}

export function externalIdOf(dc: SambaDcInfo, name: string): string {
  return `${name}@${dc.realm.toLowerCase()}`;
}

/** msDS-KeyVersionNumber of an account, read as the domain administrator (what "AD's password version" means). */
export async function readKvno(dc: SambaDcInfo, account: string): Promise<number> {
  const c = await adminClient(dc);
  try {
    const r = await c.search(`OU=Staff,${dc.baseDn}`, { filter: `(sAMAccountName=${account})`, attributes: ['msDS-KeyVersionNumber'] });
    const v = Number(r.searchEntries[0]?.['msDS-KeyVersionNumber']);
    if (!Number.isInteger(v)) throw new Error(`no msDS-KeyVersionNumber for ${account}`);
    return v;
  } finally {
    await c.unbind().catch(() => undefined);
  }
}

/** Every journal line, parsed; a line that does not parse fails the caller (a torn event is a lost event). */
export function journalLines(file: string): JournalEntry[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l, i) => {
      try {
        return JSON.parse(l) as JournalEntry;
      } catch {
        throw new Error(`journal ${file} line ${i + 1} is not a complete JSON event: ${l.slice(0, 120)}`);
      }
    });
}

/** Polls `probe` (cheap, local state: outbox rows, emulator users) until it returns a value, or fails at the deadline. */
export async function waitUntil<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** `p`, or a failure naming `what` after `ms`. */
export async function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `pwsync ARGS` as a separate process, as an operator would. */
export async function runCli(args: readonly string[], timeoutMs = 30_000): Promise<CliResult> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [CLI, ...args], { timeout: timeoutMs });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

export interface PlannedChange {
  account: string;
  password: string;
  /** Ids the agent acked for this change (several when an ack was lost in a crash and the change was sent again). */
  ackIds: string[];
}

/**
 * The capture side as passfilt / the Samba hook behave: one account's changes go out in order, each is kept and
 * sent again until the agent acks it (a crash can eat the reply after the commit: the agent then holds two copies).
 */
export class DurableCaptureClient {
  acked = 0;
  sends = 0;
  private readonly ackWaiters: Array<{ n: number; resolve: () => void }> = [];
  private stopped = false;

  constructor(
    private readonly socket: string,
    private readonly random: () => number,
  ) {}

  /** Sends `changes` (per account in the given order) with `parallel` accounts in flight at a time. */
  async run(byAccount: ReadonlyMap<string, PlannedChange[]>, parallel: number): Promise<void> {
    const queue = [...byAccount.values()];
    const worker = async () => {
      for (let list = queue.shift(); list; list = queue.shift()) for (const c of list) await this.sendUntilAcked(c);
    };
    await Promise.all(Array.from({ length: parallel }, worker));
  }

  async sendUntilAcked(c: PlannedChange): Promise<void> {
    for (;;) {
      if (this.stopped) throw new Error(`client stopped before the change for ${c.account} was acked`);
      this.sends++;
      let reply;
      try {
        reply = await sendChange(this.socket, { v: 1, type: 'change', source: 'cli', dc: 'dc-crash', account: c.account, capturedAt: new Date().toISOString(), password: c.password }, 5_000);
      } catch {
        // Agent down or killed mid-request: keep the change and try again shortly (the capture side's backoff).
        await new Promise((r) => setTimeout(r, 10 + Math.floor(this.random() * 40)));
        continue;
      }
      if (!reply.ok) throw new Error(`agent refused a change for ${c.account}: ${reply.code} ${reply.message}`);
      c.ackIds.push(reply.id);
      this.acked++;
      for (const w of this.ackWaiters.splice(0)) if (this.acked >= w.n) w.resolve();
      else this.ackWaiters.push(w);
      return;
    }
  }

  /** Gives up (a failed test must not leave the client retrying forever). */
  stop(): void {
    this.stopped = true;
  }

  /** Resolves once `n` changes were acked in all. */
  ackedAtLeast(n: number): Promise<void> {
    if (this.acked >= n) return Promise.resolve();
    return new Promise((resolve) => this.ackWaiters.push({ n, resolve }));
  }
}
