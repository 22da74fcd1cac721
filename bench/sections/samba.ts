// §6 Samba path end to end: the real DC's `samba-tool user syncpasswords` drains password resets of this run's own
// users through (a) a hook that only prints `DONE-EXIT: ` and (b) pwsync's native hook against a running agent that
// delivers to the emulator; then the same with the sync loop running (`--daemon`) while the resets happen. Also
// where the time goes: each hook alone, spawned as syncpasswords spawns it. Never touches other users of the DC.

import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Attribute, Change, Client } from 'ldapts';
import { summarise, type LatencySummary } from '../lib/stats.js';
import { REPO_ROOT, benchPassword, removeDir, startAgentChild, startEmulatorChild, tempDir, writeConfig, type DcInfo } from '../lib/stack.js';

/** One drain or run of syncpasswords over the same objects. */
export interface SambaDrain {
  label: string;
  objects: number;
  seconds: number;
  perSecond: number;
  /** load average (1 min) when it ended: the machine is shared */
  load1: number;
}

export interface SambaResult {
  /** why there are no end-to-end figures (no DC, no gcc), when there are none */
  skipped?: string;
  users: number;
  createSeconds?: number;
  /** first run after cache initialisation: one call per user */
  first?: { noop: SambaDrain; pwsync: SambaDrain };
  /**
   * Rounds of N resets, then a --no-wait drain of each cache; the order alternates per round so that the load of a
   * shared machine drifting between two drains does not favour either hook.
   */
  resets?: {
    rounds: Array<{ resetSeconds: number; noop: SambaDrain; pwsync: SambaDrain; ratio: number; committed: number; delivered: number; deliveredSeconds: number }>;
    /** all rounds: objects / seconds of each hook, and pwsync's over the no-op's */
    noopPerSecond: number;
    pwsyncPerSecond: number;
    ratio: number;
    /** a drain with nothing to hand over: samba-tool's own start-up, connect and cache work, paid once per drain */
    emptyDrainSeconds: number;
    /** the same ratio without that fixed cost: per object */
    netRatio: number;
  };
  /** the loop running (--daemon, pwsync's hook) while N resets happen: first reset → last delivery */
  daemon?: { resetSeconds: number; capturedSeconds: number; deliveredSeconds: number; delivered: number; perSecond: number };
  /** each hook spawned alone with one LDIF object on stdin, as syncpasswords spawns it */
  alone: { runs: number; noop: LatencySummary; pwsync?: LatencySummary; node: LatencySummary; hookFailures: number };
  loadAvg: { start: number[]; end: number[] };
}

/**
 * The no-op hook: prints `DONE-EXIT: ` and nothing else, after the first line of input. Waiting for that line (the
 * shell's builtin read, no extra process) matters: syncpasswords asserts that the script is still running right
 * after Popen (`assert res is None` in run_sync_command), and a script that exits at once sometimes loses that race
 * on a loaded machine, which kills the drain.
 */
const NOOP_HOOK = '#!/bin/sh\nread -r _\necho "DONE-EXIT: noop"\n';

/** An object as syncpasswords hands it to --script (for the hooks run alone). */
function ldif(i: number): string {
  return `dn: CN=Bench ${i},OU=Staff,DC=example,DC=test
objectGUID: ${randomUUID()}
userAccountControl: 512
pwdLastSet: 134402590150227480
objectSid: S-1-5-21-252044963-3806901787-3426836701-${5000 + i}
sAMAccountName: hook${i}
userPrincipalName: hook${i}@example.test
msDS-KeyVersionNumber: 2
virtualClearTextUTF8:: ${Buffer.from(benchPassword()).toString('base64')}

`;
}

function spawnOnce(cmd: string, args: string[], input: string, env: NodeJS.ProcessEnv): Promise<{ ms: number; ok: boolean }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
    let out = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (out += c.toString()));
    p.stdin.on('error', () => undefined);
    p.once('close', (code) => resolve({ ms: performance.now() - t0, ok: code === 0 && out.startsWith('DONE-EXIT: ') }));
    p.stdin.end(input);
  });
}

async function timeAlone(runs: number, cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ summary: LatencySummary; failures: number }> {
  const ms: number[] = [];
  let failures = 0;
  for (let i = 0; i < runs; i++) {
    const r = await spawnOnce(cmd, args, ldif(i), env);
    ms.push(r.ms);
    if (!r.ok) failures++;
  }
  return { summary: summarise(ms), failures };
}

/** The DC's samba paths (env.json of scripts/samba-dc.sh). */
interface DcPaths {
  smbConf: string;
  gnupgHome: string;
  krb5Conf: string;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    p.stdout.on('data', (c: Buffer) => (output += c.toString()));
    p.stderr.on('data', (c: Buffer) => (output += c.toString()));
    p.once('error', reject);
    p.once('close', (code) => resolve({ code, output }));
  });
}

async function admin(dc: DcInfo): Promise<Client> {
  const c = new Client({ url: `ldaps://${dc.host}:${dc.ldapsPort}`, tlsOptions: { ca: readFileSync(dc.caFile), servername: dc.tlsServername }, timeout: 30_000 });
  await c.bind(dc.adminDn, dc.adminPassword);
  return c;
}

/** `fn` over `items` on `lanes` admin connections at once. */
async function onLanes<T>(dc: DcInfo, items: readonly T[], lanes: number, fn: (c: Client, item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(lanes, items.length) }, async () => {
      const c = await admin(dc);
      try {
        while (next < items.length) await fn(c, items[next++]!);
      } finally {
        await c.unbind().catch(() => undefined);
      }
    }),
  );
}

const unicodePwd = (p: string) => Buffer.from(`"${p}"`, 'utf16le');

export async function benchSamba(o: { dc?: DcInfo; users: number; aloneRuns: number; log: (m: string) => void }): Promise<SambaResult> {
  const loadStart = os.loadavg();
  const dir = tempDir('samba');
  const noopHook = path.join(dir, 'noop-hook.sh');
  writeFileSync(noopHook, NOOP_HOOK, { mode: 0o755 });
  const hook = path.join(dir, 'pwsync-samba-hook');
  const built = spawnSync(process.execPath, [path.join(REPO_ROOT, 'scripts', 'build-samba-hook.mjs'), hook], { encoding: 'utf8' });
  const hookWhy = built.status === 0 ? undefined : `the native hook cannot be built: ${built.stderr.trim()}`;
  const result: SambaResult = { users: o.users, alone: { runs: o.aloneRuns, noop: summarise([0]), node: summarise([0]), hookFailures: 0 }, loadAvg: { start: loadStart, end: [] } };
  try {
    // Where the time goes: each hook alone (pwsync's against an agent whose delivery is paused).
    const baseEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
    result.alone.noop = (await timeAlone(o.aloneRuns, noopHook, [], baseEnv)).summary;
    result.alone.node = (await timeAlone(o.aloneRuns, process.execPath, ['-e', 'process.stdin.resume();process.stdin.on("end",()=>console.log("DONE-EXIT: node"))'], baseEnv)).summary;
    if (!hookWhy) {
      const aloneDir = path.join(dir, 'alone');
      const config = writeConfig(aloneDir, { scimBase: 'http://127.0.0.1:9/scim/v2/', token: 'bench-unused', concurrency: 8 });
      const { child, socketPath } = await startAgentChild({ configFile: config, directory: { kind: 'static', accounts: 0, iijUsers: 1 }, target: 'hang' });
      try {
        const r = await timeAlone(o.aloneRuns, hook, [], { ...baseEnv, PWSYNC_SOCKET: socketPath });
        result.alone.pwsync = r.summary;
        result.alone.hookFailures = r.failures;
      } finally {
        await child.close();
      }
    }
    if (!o.dc || hookWhy) {
      result.skipped = hookWhy ?? 'no Samba AD DC (or a smoke run)';
      return result;
    }
    await endToEnd(o.dc, dir, hook, noopHook, o.users, o.log, result);
    return result;
  } finally {
    result.loadAvg.end = os.loadavg();
    removeDir(dir);
  }
}

async function endToEnd(dc: DcInfo, dir: string, hook: string, noopHook: string, n: number, log: (m: string) => void, result: SambaResult): Promise<void> {
  const paths = JSON.parse(readFileSync(dc.envFile, 'utf8')) as DcPaths;
  const mark = `pwsync-bench-samba-${process.pid}-${Date.now().toString(36)}`;
  const tag = (Date.now() % 46656).toString(36).padStart(3, '0');
  const users = Array.from({ length: n }, (_, i) => {
    const account = `bs${tag}${i}`;
    return { account, externalId: `${account}@${dc.realm.toLowerCase()}`, dn: `CN=${account},OU=Staff,${dc.baseDn}` };
  });
  const created: typeof users = [];
  const em = await startEmulatorChild({ latencyMs: 0, users: 0, extraUsers: users.map((u) => ({ userName: u.externalId.replace(/@.*/, '@example.jp'), externalId: u.externalId })) });
  const agentDir = path.join(dir, 'agent');
  const config = writeConfig(agentDir, { scimBase: em.scimBase, token: em.token, concurrency: 8, dc });
  const { child, socketPath } = await startAgentChild({ configFile: config, directory: { kind: 'ldap' }, target: 'config' });
  const env: NodeJS.ProcessEnv = { ...process.env, GNUPGHOME: paths.gnupgHome, KRB5_CONFIG: paths.krb5Conf, PYTHONDONTWRITEBYTECODE: '1', PWSYNC_SOCKET: socketPath };
  const caches = { noop: path.join(dir, 'noop.ldb'), pwsync: path.join(dir, 'pwsync.ldb') };
  const daemonLog = path.join(dir, 'daemon.log');
  let daemon = false;
  const counts = async () => (await child.call<{ counts: Record<string, number> }>('waitTerminal', { n: 0 })).counts;
  const waitCount = async (id: number, n: number, timeoutMs: number): Promise<number> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const c = (await counts())[String(id)] ?? 0;
      if (c >= n || Date.now() > deadline) return c;
      await new Promise((r) => setTimeout(r, 50)); // polling the agent's own counters; not a test
    }
  };
  const drain = async (label: string, cache: string): Promise<SambaDrain> => {
    const t0 = performance.now();
    const r = await run('samba-tool', ['user', 'syncpasswords', '-s', paths.smbConf, `--cache-ldb=${cache}`, '--no-wait'], env);
    const seconds = (performance.now() - t0) / 1000;
    if (r.code !== 0) throw new Error(`syncpasswords ${label} failed (${String(r.code)}): ${r.output.slice(-500)}`);
    const objects = (r.output.match(/Call Popen\[/g) ?? []).length;
    return { label, objects, seconds, perSecond: objects / seconds, load1: os.loadavg()[0]! };
  };
  const resetAll = async (): Promise<number> => {
    const t0 = performance.now();
    await onLanes(dc, users, 4, (c, u) => c.modify(u.dn, new Change({ operation: 'replace', modification: new Attribute({ type: 'unicodePwd', values: [unicodePwd(benchPassword())] }) })));
    return (performance.now() - t0) / 1000;
  };
  try {
    log(`§6 samba: creating ${n} AD users`);
    const t0 = performance.now();
    await onLanes(dc, users, 4, async (c, u) => {
      await c.add(u.dn, [
        new Attribute({ type: 'objectClass', values: ['top', 'person', 'organizationalPerson', 'user'] }),
        new Attribute({ type: 'sAMAccountName', values: [u.account] }),
        new Attribute({ type: 'userPrincipalName', values: [u.externalId] }),
        new Attribute({ type: 'description', values: [mark] }),
        new Attribute({ type: 'unicodePwd', values: [unicodePwd(benchPassword())] }),
        new Attribute({ type: 'userAccountControl', values: ['512'] }),
      ]);
      created.push(u);
    });
    result.createSeconds = (performance.now() - t0) / 1000;

    // Both caches watch only this run's users; same attributes as `pwsync samba setup` would ask for.
    const filter = `(&(objectClass=user)(userAccountControl:1.2.840.113556.1.4.803:=512)(description=${mark}))`;
    const attrs = '--attributes=objectGUID,objectSid,sAMAccountName,userPrincipalName,userAccountControl,pwdLastSet,msDS-KeyVersionNumber,virtualClearTextUTF8';
    for (const [cache, script] of [[caches.noop, noopHook], [caches.pwsync, hook]] as const) {
      const r = await run('samba-tool', ['user', 'syncpasswords', '-s', paths.smbConf, '--cache-ldb-initialize', `--cache-ldb=${cache}`, '--decrypt-samba-gpg', attrs, `--script=${script}`, `--filter=${filter}`], env);
      if (r.code !== 0) throw new Error(`cache initialisation failed: ${r.output.slice(-500)}`);
    }
    log('§6 samba: first run of each cache (one call per user)');
    const firstNoop = await drain('first run, no-op hook', caches.noop);
    const firstPw = await drain("first run, pwsync's hook", caches.pwsync);
    result.first = { noop: firstNoop, pwsync: firstPw };
    await waitCount(3000, n, 300_000);

    const rounds: NonNullable<SambaResult['resets']>['rounds'] = [];
    for (let round = 0; round < 2; round++) {
      log(`§6 samba: round ${round + 1}: ${n} resets, then a drain of each cache (${round === 0 ? 'no-op first' : "pwsync's first"})`);
      const before = await counts();
      const resetSeconds = await resetAll();
      let tPw = 0;
      const pwDrain = async () => {
        tPw = performance.now();
        return drain(`round ${round + 1}, pwsync's hook`, caches.pwsync);
      };
      const noopDrain = () => drain(`round ${round + 1}, no-op hook`, caches.noop);
      const [noop, pw] = round === 0 ? [await noopDrain(), await pwDrain()] : await pwDrain().then(async (p) => [await noopDrain(), p] as const);
      const committed = ((await counts())['2000'] ?? 0) - (before['2000'] ?? 0);
      const delivered = (await waitCount(3000, (before['3000'] ?? 0) + n, 300_000)) - (before['3000'] ?? 0);
      rounds.push({ resetSeconds, noop, pwsync: pw, ratio: pw.perSecond / noop.perSecond, committed, delivered, deliveredSeconds: (performance.now() - tPw) / 1000 });
    }
    const empty = await drain('nothing to hand over', caches.noop);
    const sum = (k: 'noop' | 'pwsync') => ({ objects: rounds.reduce((a, r) => a + r[k].objects, 0), seconds: rounds.reduce((a, r) => a + r[k].seconds, 0) });
    const [no, pws] = [sum('noop'), sum('pwsync')];
    const net = (x: { objects: number; seconds: number }) => x.objects / Math.max(0.001, x.seconds - rounds.length * empty.seconds);
    result.resets = {
      rounds, noopPerSecond: no.objects / no.seconds, pwsyncPerSecond: pws.objects / pws.seconds,
      ratio: pws.objects / pws.seconds / (no.objects / no.seconds), emptyDrainSeconds: empty.seconds, netRatio: net(pws) / net(no),
    };

    log(`§6 samba: the loop running (--daemon) during ${n} resets`);
    const d = await run('samba-tool', ['user', 'syncpasswords', '-s', paths.smbConf, `--cache-ldb=${caches.pwsync}`, '--daemon', `--logfile=${daemonLog}`], env);
    if (d.code !== 0) throw new Error(`syncpasswords --daemon failed: ${d.output.slice(-500)}`);
    daemon = true;
    // The daemon sleeps 1 s before it connects and then waits for DirSync notifications: let it reach that state.
    const ready = Date.now() + 30_000;
    while (!(existsSync(daemonLog) && /Connecting to/.test(readFileSync(daemonLog, 'utf8'))) && Date.now() < ready) await new Promise((r) => setTimeout(r, 100));
    const base = await counts();
    const t1 = performance.now();
    const dReset = await resetAll();
    const captured = await waitCount(2000, (base['2000'] ?? 0) + n, 600_000);
    const capturedSeconds = (performance.now() - t1) / 1000;
    const deliveredD = (await waitCount(3000, (base['3000'] ?? 0) + n, 600_000)) - (base['3000'] ?? 0);
    const deliveredAfter = (performance.now() - t1) / 1000;
    if (captured - (base['2000'] ?? 0) < n) log(`§6 samba: only ${captured - (base['2000'] ?? 0)} of ${n} captured with the loop running`);
    result.daemon = { resetSeconds: dReset, capturedSeconds, deliveredSeconds: deliveredAfter, delivered: deliveredD, perSecond: deliveredD / deliveredAfter };
  } finally {
    if (daemon) await run('samba-tool', ['user', 'syncpasswords', '-s', paths.smbConf, `--cache-ldb=${caches.pwsync}`, '--terminate', `--logfile=${daemonLog}`], env).catch(() => undefined);
    await child.close();
    await em.child.close();
    await onLanes(dc, created, 4, (c, u) => c.del(u.dn).catch(() => undefined)).catch(() => undefined);
  }
}
