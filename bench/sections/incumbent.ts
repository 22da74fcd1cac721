// §3 The incumbent's design as a baseline: one new process per change (bench/incumbent.ts), sequential, against
// the same Samba AD DC users and the same emulator latency as pwsync with its real LDAP directory.
// AD fixture users are created here and always deleted again.

import { spawn } from 'node:child_process';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Attribute, Client } from 'ldapts';
import { readFileSync } from 'node:fs';
import { summarise, type LatencySummary } from '../lib/stats.js';
import { BENCH_DIST, benchPassword, copyDataDir, prefillOutbox, removeDir, startAgentChild, startEmulatorChild, tempDir, writeConfig, type DcInfo } from '../lib/stack.js';

export interface AdFixture {
  users: Array<{ account: string; externalId: string; dn: string }>;
  createMs: number;
  remove(): Promise<void>;
}

async function admin(dc: DcInfo): Promise<Client> {
  const c = new Client({ url: `ldaps://${dc.host}:${dc.ldapsPort}`, timeout: 30_000, tlsOptions: { ca: readFileSync(dc.caFile), servername: dc.tlsServername } });
  await c.bind(dc.adminDn, dc.adminPassword);
  return c;
}

/** Creates `n` enabled users under OU=Staff over one admin LDAPS connection. */
export async function createAdUsers(dc: DcInfo, n: number): Promise<AdFixture> {
  const tag = (Date.now() % 46656).toString(36).padStart(3, '0');
  const c = await admin(dc);
  const users: AdFixture['users'] = [];
  const t0 = performance.now();
  try {
    for (let i = 0; i < n; i++) {
      const account = `bnch${tag}${i}`;
      const externalId = `${account}@${dc.realm.toLowerCase()}`;
      const dn = `CN=${account},OU=Staff,${dc.baseDn}`;
      await c.add(dn, [
        new Attribute({ type: 'objectClass', values: ['top', 'person', 'organizationalPerson', 'user'] }),
        new Attribute({ type: 'sAMAccountName', values: [account] }),
        new Attribute({ type: 'userPrincipalName', values: [externalId] }),
        new Attribute({ type: 'unicodePwd', values: [Buffer.from(`"${benchPassword()}"`, 'utf16le')] }),
        new Attribute({ type: 'userAccountControl', values: ['512'] }),
      ]);
      users.push({ account, externalId, dn });
    }
  } catch (err) {
    await c.unbind().catch(() => undefined);
    await removeAd(dc, users);
    throw err;
  }
  await c.unbind().catch(() => undefined);
  return { users, createMs: performance.now() - t0, remove: () => removeAd(dc, users) };
}

async function removeAd(dc: DcInfo, users: AdFixture['users']): Promise<void> {
  const c = await admin(dc);
  try {
    for (const u of users) await c.del(u.dn).catch(() => undefined);
  } finally {
    await c.unbind().catch(() => undefined);
  }
}

export interface IncumbentResult {
  latencyMs: number;
  sample: number;
  perProcess: LatencySummary;
  incumbentPerSecond: number;
  failures: number;
  pwsync: Array<{ concurrency: number; changes: number; perSecond: number; synced: number }>;
  massReset: number;
  incumbentMassResetS: number;
  pwsyncMassResetS: number;
  speedUp: number;
}

function runIncumbentOnce(job: unknown): Promise<number> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [path.join(BENCH_DIST, 'incumbent.js')], { stdio: ['pipe', 'ignore', 'inherit'] });
    p.once('exit', (code) => resolve(code ?? 1));
    p.stdin.end(JSON.stringify(job));
  });
}

export async function benchIncumbent(o: { dc: DcInfo; ad: AdFixture; latencyMs: number; massReset: number; pwsyncConcurrency: number[] }): Promise<IncumbentResult> {
  const { dc, ad } = o;
  const em = await startEmulatorChild({ latencyMs: o.latencyMs, users: 0, extraUsers: ad.users.map((u) => ({ userName: u.externalId.replace(/@.*/, '@example.jp'), externalId: u.externalId })) });
  const root = tempDir('incumbent');
  try {
    const per: number[] = [];
    let failures = 0;
    const t0 = performance.now();
    for (const u of ad.users) {
      const s = performance.now();
      const code = await runIncumbentOnce({
        ldap: { url: `ldaps://${dc.host}:${dc.ldapsPort}`, caFile: dc.caFile, servername: dc.tlsServername, bindDn: dc.readerDn, bindPassword: dc.readerPassword, baseDn: `OU=Staff,${dc.baseDn}` },
        scimBase: em.scimBase, token: em.token, account: u.account, password: benchPassword(),
      });
      per.push(performance.now() - s);
      if (code !== 0) failures++;
    }
    const incumbentPerSecond = ad.users.length / ((performance.now() - t0) / 1000);

    const tpl = path.join(root, 'tpl');
    // No kvno: the change must not look older than what AD holds (the agent reads the version from AD first).
    prefillOutbox(tpl, ad.users.map((u) => u.account), undefined, 'cli');
    const pwsync: IncumbentResult['pwsync'] = [];
    for (const concurrency of o.pwsyncConcurrency) {
      const dir = path.join(root, `C${concurrency}`);
      copyDataDir(tpl, dir);
      const config = writeConfig(dir, { scimBase: em.scimBase, token: em.token, concurrency, dc });
      const { child } = await startAgentChild({ configFile: config, directory: { kind: 'ldap' }, target: 'config' });
      try {
        const r = await child.call<{ lastMs: number; counts: Record<string, number> }>('waitTerminal', { n: ad.users.length });
        pwsync.push({ concurrency, changes: ad.users.length, perSecond: ad.users.length / (r.lastMs / 1000), synced: r.counts['3000'] ?? 0 });
      } finally {
        await child.close();
      }
    }
    const best = Math.max(...pwsync.map((p) => p.perSecond));
    const perProcess = summarise(per);
    return {
      latencyMs: o.latencyMs, sample: ad.users.length, perProcess, incumbentPerSecond, failures, pwsync,
      massReset: o.massReset, incumbentMassResetS: o.massReset / incumbentPerSecond, pwsyncMassResetS: o.massReset / best, speedUp: best / incumbentPerSecond,
    };
  } finally {
    await em.child.close();
    removeDir(root);
  }
}
