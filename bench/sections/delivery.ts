// §2 Delivery against the limit: a pre-filled outbox, the real agent (StaticDirectory — AD is not measured here),
// the real IIJ target over HTTP, and a stand-in target (bench/stand-in-target.ts, its own process) that answers
// IIJ's search and the password PATCH after L ms and does nothing else: the agent is what is measured, not a SCIM
// server. Limit = C / (2L) changes per second.

import os from 'node:os';
import path from 'node:path';
import { hotSpots, type HotSpot } from '../lib/profile.js';
import { forkChild, type ChildHandle } from '../lib/rpc.js';
import type { DeliveryFloorRun, FloorClient } from '../delivery-floor.js';
import { BENCH_DIST, copyDataDir, prefillOutbox, removeDir, startAgentChild, startStandInChild, tempDir, writeConfig } from '../lib/stack.js';
import { staticAccount } from '../lib/accounts.js';

export interface DeliveryRun {
  latencyMs: number;
  concurrency: number;
  changes: number;
  iijUsers: number;
  elapsedMs: number;
  perSecond: number;
  limit: number;
  ratio: number;
  synced: number;
  other: Record<string, number>;
  /** Password PATCHes the stand-in target answered 204 to, and requests it refused (should be 0). */
  targetPasswordSets: number;
  targetErrors: number;
  /** CPU (user + system) per delivered change, ms: what a 2-core machine can afford per change. */
  agentCpuMs: number;
  /** The stand-in target's own CPU per request (ms), and how long it held a request on average (≥ L). */
  targetCpuMsPerRequest: number;
  targetHeldMs: number;
  /** 1-minute load average at the end of the run: this machine is shared, so figures are only as quiet as it was. */
  loadAvg1: number;
  hotSpots?: HotSpot[];
  /** The same (L, C) from a bare client (bench/delivery-floor.ts) against the same stand-in: this machine's floor. */
  floor?: DeliveryFloorRun;
  /** At C=1: the same bare client over node:http and over a bare socket (what the HTTP stack itself costs). */
  otherFloors?: DeliveryFloorRun[];
  /**
   * Rows with a CPU budget (DeliveryPlan.cpuBudgets): agentCpuMs of this run and of `cpuRepeats` more, each a fresh
   * agent on the same outbox. One run's figure moves by ±15 % on this machine, so the verdict is on their median.
   */
  cpuRuns?: number[];
}

/** A budget on the agent's CPU per delivered change at one (L, C). */
export interface CpuBudget {
  latencyMs: number;
  concurrency: number;
  maxMs: number;
}

export interface DeliveryPlan {
  latencies: number[];
  concurrencies: number[];
  maxChanges: number;
  iijUsers: number;
  /** Each run is sized to take about this long at the limit (then capped at maxChanges). */
  secondsAtLimit: number;
  minChanges: number;
  /** Runs (as "L/C") whose agent is profiled with --cpu-prof; their hot spots go into the report. */
  profile: string[];
  /** Each (L, C) also from a bare client, sized to last about this long at the limit (0: not run). */
  floorSeconds: number;
  /** The rows with a CPU budget; each also runs `cpuRepeats` more times (the repeats are not profiled). */
  cpuBudgets: CpuBudget[];
  cpuRepeats: number;
}

export function cpuBudgetOf(plan: Pick<DeliveryPlan, 'cpuBudgets'>, run: Pick<DeliveryRun, 'latencyMs' | 'concurrency'>): CpuBudget | undefined {
  return plan.cpuBudgets?.find((b) => b.latencyMs === run.latencyMs && b.concurrency === run.concurrency);
}

export function changesFor(plan: DeliveryPlan, latencyMs: number, concurrency: number): number {
  const limit = concurrency / (2 * latencyMs / 1000);
  return Math.max(plan.minChanges, Math.min(plan.maxChanges, Math.ceil(limit * plan.secondsAtLimit)));
}

export async function benchDelivery(plan: DeliveryPlan, log: (s: string) => void): Promise<DeliveryRun[]> {
  const root = tempDir('delivery');
  const templates = new Map<number, string>();
  const template = (n: number): string => {
    let t = templates.get(n);
    if (!t) {
      t = path.join(root, `template-${n}`);
      prefillOutbox(t, Array.from({ length: n }, (_, j) => staticAccount(j)));
      templates.set(n, t);
    }
    return t;
  };
  const runs: DeliveryRun[] = [];
  try {
    for (const latencyMs of plan.latencies) {
      const em = await startStandInChild({ latencyMs, users: plan.iijUsers });
      const floor = forkChild(path.join(BENCH_DIST, 'delivery-floor.js'));
      try {
        for (const concurrency of plan.concurrencies) {
          const n = changesFor(plan, latencyMs, concurrency);
          const o = { latencyMs, concurrency, n, iijUsers: plan.iijUsers };
          const r = await oneRun(root, template(n), em, { ...o, profile: false });
          // The figures come from an agent without a profiler (its sampling costs CPU and delays turns); a profiled
          // rerun of the same row gives only the hot spots.
          if (plan.profile.includes(`${latencyMs}/${concurrency}`)) r.hotSpots = (await oneRun(root, template(n), em, { ...o, profile: true })).hotSpots;
          if (cpuBudgetOf(plan, r)) {
            r.cpuRuns = [r.agentCpuMs];
            for (let i = 0; i < plan.cpuRepeats; i++) r.cpuRuns.push((await oneRun(root, template(n), em, { ...o, profile: false })).agentCpuMs);
          }
          if (plan.floorSeconds > 0) {
            const changes = Math.max(plan.minChanges, Math.min(plan.maxChanges, Math.ceil(r.limit * plan.floorSeconds)));
            const floorRun = (client: FloorClient) => floor.call<DeliveryFloorRun>('run', { scimBase: em.scimBase, token: em.token, concurrency, changes, iijUsers: plan.iijUsers, client });
            r.floor = await floorRun('undici');
            // At C=1 nothing is shared between changes, so what the HTTP stack costs per request shows in full.
            if (concurrency === 1) r.otherFloors = [await floorRun('node:http'), await floorRun('socket')];
          }
          runs.push(r);
          log(`delivery L=${latencyMs} ms C=${concurrency}: ${r.changes} changes in ${(r.elapsedMs / 1000).toFixed(1)} s = ${r.perSecond.toFixed(1)}/s (limit ${r.limit.toFixed(1)}, ${(r.ratio * 100).toFixed(0)} %)`);
        }
      } finally {
        await floor.close();
        await em.child.close();
      }
    }
    return runs;
  } finally {
    removeDir(root);
  }
}

async function oneRun(
  root: string,
  template: string,
  em: { child: ChildHandle; scimBase: string; token: string },
  o: { latencyMs: number; concurrency: number; n: number; iijUsers: number; profile: boolean },
): Promise<DeliveryRun> {
  const dir = path.join(root, `run-L${o.latencyMs}-C${o.concurrency}${o.profile ? '-profiled' : ''}`);
  const profDir = path.join(root, `prof-L${o.latencyMs}-C${o.concurrency}`);
  copyDataDir(template, dir);
  const config = writeConfig(dir, { scimBase: em.scimBase, token: em.token, concurrency: o.concurrency });
  await em.child.call('reset');
  const { child } = await startAgentChild({ configFile: config, directory: { kind: 'static', accounts: o.n, iijUsers: o.iijUsers }, target: 'config' }, o.profile ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : []);
  let run: DeliveryRun | undefined;
  try {
    const r = await child.call<{ lastMs: number; counts: Record<string, number>; cpu: NodeJS.CpuUsage }>('waitTerminal', { n: o.n });
    const t = await em.child.call<{ passwordSets: number; errors: number; requests: number; heldMs: number; cpu: NodeJS.CpuUsage }>('stats');
    const limit = o.concurrency / (2 * (o.latencyMs / 1000));
    const perSecond = o.n / (r.lastMs / 1000);
    const other = Object.fromEntries(Object.entries(r.counts).filter(([id]) => id !== '3000' && id !== '3010' && Number(id) >= 3000));
    run = {
      latencyMs: o.latencyMs, concurrency: o.concurrency, changes: o.n, iijUsers: o.iijUsers, elapsedMs: r.lastMs, perSecond, limit,
      ratio: perSecond / limit, synced: r.counts['3000'] ?? 0, other, targetPasswordSets: t.passwordSets, targetErrors: t.errors,
      agentCpuMs: (r.cpu.user + r.cpu.system) / 1000 / o.n,
      targetCpuMsPerRequest: (t.cpu.user + t.cpu.system) / 1000 / Math.max(1, t.requests),
      targetHeldMs: t.heldMs / Math.max(1, t.requests),
      loadAvg1: os.loadavg()[0]!,
    };
  } finally {
    await child.close();
    if (run && o.profile) run.hotSpots = hotSpots(profDir);
    removeDir(dir);
  }
  return run;
}
