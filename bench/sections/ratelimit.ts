// §7 Requests per change under a target's rate limit: a mass reset of N distinct users at rate_limit R, without
// and with the SCIM id cache (warmed by a paged listing). Real agent (StaticDirectory: AD is not measured), real IIJ
// target, real HTTP to the bench emulator, the agent's own token bucket. Wall time is bound by R, not by the CPU.

import os from 'node:os';
import path from 'node:path';
import { staticAccount } from '../lib/accounts.js';
import { copyDataDir, prefillOutbox, removeDir, startAgentChild, startEmulatorChild, tempDir, writeConfig } from '../lib/stack.js';

export interface RateLimitRun {
  idCache: boolean;
  changes: number;
  rateLimit: number;
  /** SCIM requests the emulator received during the run (all methods: searches, listing pages, writes). */
  requests: number;
  requestsPerChange: number;
  searches: number;
  listingPages: number;
  writes: number;
  /** From the agent's start to the last change's final event. */
  elapsedMs: number;
  perSecond: number;
  /** Changes delivered (event 3000). */
  synced: number;
  /** Final events other than 3000 (synced), by ID. */
  other: Record<string, number>;
  idCacheHits: number;
  idCacheMisses: number;
  idCacheInvalidations: number;
  agentCpuMs: number;
}

export interface RateLimitResults {
  /** ISO date of the run: this section runs only when asked, so its figures may be older than the rest. */
  date: string;
  latencyMs: number;
  /** agent.concurrency of both rows (absent in results written before it was recorded). */
  concurrency?: number;
  loadavgStart: number[];
  loadavgEnd: number[];
  /** The rows ran at the same time, each with its own emulator and agent (rate-bound, so they do not slow each other). */
  concurrent: boolean;
  runs: RateLimitRun[];
}

export interface RateLimitPlan {
  changes: number;
  rateLimit: number;
  latencyMs: number;
  concurrency: number;
}

export async function benchRateLimit(plan: RateLimitPlan, log: (s: string) => void): Promise<RateLimitResults> {
  const root = tempDir('ratelimit');
  const loadavgStart = os.loadavg();
  const date = new Date().toISOString();
  try {
    const template = path.join(root, 'template');
    prefillOutbox(template, Array.from({ length: plan.changes }, (_, j) => staticAccount(j)));
    const runs = await Promise.all([false, true].map((idCache) => oneRun(root, template, plan, idCache, log)));
    return { date, latencyMs: plan.latencyMs, concurrency: plan.concurrency, loadavgStart, loadavgEnd: os.loadavg(), concurrent: true, runs };
  } finally {
    removeDir(root);
  }
}

async function oneRun(root: string, template: string, plan: RateLimitPlan, idCache: boolean, log: (s: string) => void): Promise<RateLimitRun> {
  const dir = path.join(root, idCache ? 'cached' : 'uncached');
  copyDataDir(template, dir);
  // One IIJ user per change, as in a mass reset: every user changes once.
  const em = await startEmulatorChild({ latencyMs: plan.latencyMs, users: plan.changes });
  try {
    const config = writeConfig(dir, {
      scimBase: em.scimBase, token: em.token, concurrency: plan.concurrency, rateLimit: plan.rateLimit,
      ...(idCache ? { idCache: { ttl: '1h', warmUp: true } } : {}),
    });
    type Stats = { searchStats: { indexed: number; fallback: number }; requestCounts: Record<string, number>; passwordSets: number };
    const before = await em.child.call<Stats>('stats');
    log(`ratelimit ${idCache ? 'with' : 'without'} id cache: ${plan.changes} changes at rate_limit ${plan.rateLimit}`);
    const { child } = await startAgentChild({ configFile: config, directory: { kind: 'static', accounts: plan.changes, iijUsers: plan.changes }, target: 'config' });
    try {
      // Two requests per change at the rate limit, with room for a loaded machine (the rpc default is 30 minutes).
      const patienceMs = Math.max(30 * 60_000, ((plan.changes * 2) / plan.rateLimit) * 1000 * 3);
      const r = await child.call<{ lastMs: number; counts: Record<string, number>; cpu: NodeJS.CpuUsage }>('waitTerminal', { n: plan.changes }, patienceMs);
      const after = await em.child.call<Stats>('stats');
      const sum = (s: Stats) => Object.values(s.requestCounts).reduce((a, b) => a + b, 0);
      const requests = sum(after) - sum(before);
      const other = Object.fromEntries(Object.entries(r.counts).filter(([id]) => id !== '3000' && ['3003', '3004', '3005', '3006', '3007', '2005', '2006'].includes(id)));
      const run: RateLimitRun = {
        idCache, changes: plan.changes, rateLimit: plan.rateLimit, requests, requestsPerChange: requests / plan.changes,
        searches: after.searchStats.indexed - before.searchStats.indexed,
        listingPages: after.searchStats.fallback - before.searchStats.fallback,
        writes: (after.requestCounts['PATCH'] ?? 0) - (before.requestCounts['PATCH'] ?? 0),
        elapsedMs: r.lastMs, perSecond: plan.changes / (r.lastMs / 1000), synced: r.counts['3000'] ?? 0, other,
        idCacheHits: r.counts['3011'] ?? 0, idCacheMisses: r.counts['3012'] ?? 0, idCacheInvalidations: r.counts['3013'] ?? 0,
        agentCpuMs: (r.cpu.user + r.cpu.system) / 1000 / plan.changes,
      };
      log(`ratelimit ${idCache ? 'with' : 'without'} id cache: ${run.changes} changes, ${run.requests} requests (${run.requestsPerChange.toFixed(3)}/change) in ${(run.elapsedMs / 1000).toFixed(0)} s = ${run.perSecond.toFixed(2)} changes/s`);
      return run;
    } finally {
      await child.close();
    }
  } finally {
    await em.child.close();
    removeDir(dir);
  }
}

/** The section of REPORT.md; it carries its own date because a full run keeps the last ratelimit figures. */
export function rateLimitReport(x: RateLimitResults, fmt: (n: number, digits?: number) => string): string[] {
  const L: string[] = [];
  L.push(
    `Measured ${x.date} (this section runs only with \`--section ratelimit\`; a full run carries its last figures). ` +
      `${x.runs[0]?.changes ?? 0} changes, one per distinct IIJ user (a mass reset), at \`rate_limit: ${x.runs[0]?.rateLimit ?? 0}\` requests/s; ` +
      `the emulator answers after ${x.latencyMs} ms${x.concurrency !== undefined ? `, agent.concurrency ${x.concurrency}` : ''}; real agent (AD answered by a StaticDirectory), real IIJ target over HTTP, the agent's own token bucket. ` +
      `Requests are what the emulator received. The id-cache row uses \`id_cache: { enabled: true, ttl: 1h, warm_up: true }\`: ` +
      `the first miss starts a paged listing (read-only, counted in the requests), after which each change costs its write. ` +
      `${x.concurrent ? 'Both rows ran at the same time, each with its own emulator and agent: wall time is bound by the rate limit, not by the CPU. ' : ''}` +
      `Load average ${x.loadavgStart.map((v) => fmt(v)).join(' / ')} at start, ${x.loadavgEnd.map((v) => fmt(v)).join(' / ')} at end (1/5/15 min).`,
  );
  L.push('');
  L.push('| id cache | changes | requests | requests/change | searches | listing pages | writes | cache hits | misses | invalidations | wall time s | changes/s | bound rate/(requests/change) |');
  L.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of x.runs) {
    L.push(
      `| ${r.idCache ? 'on (warm-up)' : 'off'} | ${r.changes} | ${r.requests} | ${fmt(r.requestsPerChange, 3)} | ${r.searches} | ${r.listingPages} | ${r.writes} | ${r.idCache ? r.idCacheHits : '—'} | ${r.idCache ? r.idCacheMisses : '—'} | ${r.idCache ? r.idCacheInvalidations : '—'} | ${fmt(r.elapsedMs / 1000, 0)} | ${fmt(r.perSecond, 2)} | ${fmt(r.rateLimit / r.requestsPerChange, 2)} |`,
    );
  }
  const bad = x.runs.filter((r) => r.synced !== r.changes);
  if (bad.length) L.push('', `Not all changes were delivered: ${bad.map((r) => `${r.idCache ? 'cache on' : 'cache off'}: ${r.synced}/${r.changes} synced, other final events ${JSON.stringify(r.other)}`).join('; ')}.`);
  return L;
}
