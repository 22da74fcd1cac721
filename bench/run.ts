#!/usr/bin/env node
// `npm run bench`: measures pwsync on this machine (budgets: docs/architecture.md#performance-budgets) and writes REPORT.md, results.json and the
// delivery chart into the output dir (default: bench/ of the repository). `--smoke` (or PWSYNC_BENCH_SMOKE=1)
// runs tiny sizes in well under a minute for CI; numbers from a smoke run prove nothing about speed.
//
//   node dist/bench/run.js [--smoke] [--out DIR] [--delivery-max N] [--seconds-at-limit S] [--only 1,2,...]
//   node dist/bench/run.js --section ratelimit [--ratelimit-changes N]   (§7, ~35 min: only when asked; merged
//     into the existing results.json, which every later run carries forward with its date)
//   node dist/bench/run.js --report-only results.json [--out DIR]

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { deliverySvg, renderPng } from './lib/chart.js';
import { describeMachine } from './lib/machine.js';
import { writeReport, type BenchResults } from './lib/report.js';
import { findDc, REPO_ROOT } from './lib/stack.js';
import { benchDelivery, type DeliveryPlan } from './sections/delivery.js';
import { benchE2e } from './sections/e2e.js';
import { benchIncumbent, createAdUsers } from './sections/incumbent.js';
import { benchIntake } from './sections/intake.js';
import { benchMemory, benchStartup } from './sections/memory.js';
import { benchSamba } from './sections/samba.js';
import { benchRateLimit } from './sections/ratelimit.js';
import os from 'node:os';

const { values } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: process.env.PWSYNC_BENCH_SMOKE === '1' },
    out: { type: 'string' },
    'delivery-max': { type: 'string' },
    'seconds-at-limit': { type: 'string' },
    /** §6: users (and resets per round) on the Samba DC; default 1000. */
    'samba-users': { type: 'string' },
    only: { type: 'string' },
    /** A section that runs only when named: ratelimit (§7). */
    section: { type: 'string' },
    'ratelimit-changes': { type: 'string' },
    /** Re-render REPORT.md and the chart from an earlier run's results.json (no measuring). */
    'report-only': { type: 'string' },
  },
});
const smoke = values.smoke === true;
const outDir = path.resolve(values.out ?? path.join(REPO_ROOT, 'bench'));
const only = values.only ? new Set(values.only.split(',').map(Number)) : undefined;
if (values.section !== undefined && values.section !== 'ratelimit') throw new Error(`--section: unknown section ${JSON.stringify(values.section)} (known: ratelimit)`);
const rateLimitOnly = values.section === 'ratelimit';
const want = (n: number) => !rateLimitOnly && (!only || only.has(n));
const log = (s: string) => process.stderr.write(`bench: ${s}\n`);

const sizes = smoke
  ? { intake: 200, intake1: 50, intakeRounds: 1, warmup: 10, deliveryMax: 40, secondsAtLimit: 0.3, minChanges: 5, incumbent: 2, e2e: 5, e2eLdap: 3, pending: 1000, startupRuns: 1, sambaRuns: 2, sambaUsers: 5 }
  : { intake: 10_000, intake1: 2_000, intakeRounds: 3, warmup: 200, deliveryMax: 20_000, secondsAtLimit: 30, minChanges: 100, incumbent: 200, e2e: 200, e2eLdap: 100, pending: 100_000, startupRuns: 10, sambaRuns: 20, sambaUsers: 1000 };
if (values['delivery-max']) sizes.deliveryMax = Number(values['delivery-max']);
if (values['samba-users']) sizes.sambaUsers = Number(values['samba-users']);
if (values['seconds-at-limit']) sizes.secondsAtLimit = Number(values['seconds-at-limit']);

function writeOutputs(results: BenchResults): void {
  writeFileSync(path.join(outDir, 'results.json'), JSON.stringify(results, null, 2) + '\n');
  if (results.delivery) {
    const svg = path.join(outDir, 'delivery.svg');
    writeFileSync(svg, deliverySvg(results.delivery.runs, `pwsync delivery vs limit C/(2L)${results.smoke ? ' — SMOKE SIZE' : ''}`));
    results.png = renderPng(svg, path.join(outDir, 'delivery.png'));
  }
  writeFileSync(path.join(outDir, 'REPORT.md'), writeReport(results));
}

async function main(): Promise<void> {
  const started = Date.now();
  mkdirSync(outDir, { recursive: true });
  if (values['report-only']) {
    writeOutputs(JSON.parse(readFileSync(values['report-only'], 'utf8')) as BenchResults);
    log(`re-rendered ${path.join(outDir, 'REPORT.md')} from ${values['report-only']}`);
    return;
  }
  const previous = readPrevious(path.join(outDir, 'results.json'));
  const results: BenchResults = rateLimitOnly && previous
    ? { ...previous }
    : { smoke, sizes, machine: describeMachine(os.tmpdir()), command: process.argv.slice(2).join(' '), ...(previous?.ratelimit ? { ratelimit: previous.ratelimit } : {}) };
  const dcFound = findDc();

  if (want(1)) {
    log(`§1 intake: ${sizes.intakeRounds} round(s) of ${sizes.intake1} changes from 1 client and ${sizes.intake} from 8, agent and floors in turn`);
    results.intake = await benchIntake({ changes: sizes.intake, singleClientChanges: sizes.intake1, warmup: sizes.warmup, rounds: sizes.intakeRounds });
  }
  if (want(2)) {
    const plan: DeliveryPlan = {
      latencies: [5, 20, 100], concurrencies: [1, 8, 32], maxChanges: sizes.deliveryMax, iijUsers: smoke ? 100 : 5000,
      secondsAtLimit: sizes.secondsAtLimit, minChanges: sizes.minChanges, profile: smoke ? [] : ['5/32'], floorSeconds: smoke ? 0.3 : 10,
      // docs/architecture.md#performance-budgets: the agent's CPU per delivered change at L = 5 ms.
      cpuBudgets: [{ latencyMs: 5, concurrency: 1, maxMs: 1 }, { latencyMs: 5, concurrency: 32, maxMs: 0.5 }], cpuRepeats: smoke ? 1 : 4,
    };
    log(`§2 delivery: L ∈ {5, 20, 100} ms × C ∈ {1, 8, 32}, up to ${plan.maxChanges} changes over ${plan.iijUsers} IIJ users`);
    const measuredAt = new Date().toISOString();
    results.delivery = { plan, runs: await benchDelivery(plan, log), measuredAt };
  }
  if (want(3) || want(4)) {
    const ad = dcFound.dc ? await createAdUsers(dcFound.dc, Math.max(sizes.incumbent, sizes.e2eLdap)).catch((err: Error) => (log(`AD fixtures failed: ${err.message}`), undefined)) : undefined;
    try {
      if (want(3)) {
        if (!dcFound.dc || !ad) results.incumbent = { skipped: `no Samba AD DC: ${dcFound.why}` };
        else {
          log(`§3 incumbent: ${ad.users.length} sequential processes vs pwsync on the same AD users`);
          results.incumbent = { dc: dcFound.why, adCreateMs: ad.createMs, ...(await benchIncumbent({ dc: dcFound.dc, ad, latencyMs: 20, massReset: 20_000, pwsyncConcurrency: [1, 8] })) };
        }
      }
      if (want(4)) {
        log(`§4 end to end: ${sizes.e2e} changes one at a time`);
        results.e2e = [await benchE2e({ changes: sizes.e2e, latencyMs: 0 })];
        if (dcFound.dc && ad) results.e2e.push(await benchE2e({ changes: sizes.e2eLdap, latencyMs: 0, dc: dcFound.dc, adUsers: ad.users }));
      }
    } finally {
      await ad?.remove();
    }
  }
  if (want(5)) {
    log(`§5 memory with ${sizes.pending} pending changes; start-up of pwsync run`);
    results.memory = await benchMemory({ pending: sizes.pending, settleMs: smoke ? 500 : 3000 });
    results.startup = [await benchStartup({ runs: sizes.startupRuns, backlog: 0 }), await benchStartup({ runs: Math.min(3, sizes.startupRuns), backlog: sizes.pending })];
  }
  if (want(6)) {
    log(`§6 samba path: ${sizes.sambaUsers} users through syncpasswords with a no-op hook and with pwsync's`);
    // Smoke: the hooks alone only. The DC part (users, caches, drains, the loop) takes minutes on a loaded machine;
    // its correctness is test/e2e/samba-capture.test.ts's job.
    results.samba = await benchSamba({ dc: smoke ? undefined : dcFound.dc, users: sizes.sambaUsers, aloneRuns: sizes.sambaRuns, log });
  }
  if (rateLimitOnly) {
    const changes = Number(values['ratelimit-changes'] ?? (smoke ? 200 : 20_000));
    log(`§7 rate limit: ${changes} changes at rate_limit 20, without and with the id cache, side by side (about ${Math.round((changes * 2) / 20 / 60)} min)`);
    results.ratelimit = await benchRateLimit({ changes, rateLimit: 20, latencyMs: 20, concurrency: 32 }, log);
    writeOutputs(results);
    log(`wrote ${path.join(outDir, 'REPORT.md')} (§7 merged into the existing results)`);
    return;
  }
  results.durationS = (Date.now() - started) / 1000;
  writeOutputs(results);
  log(`wrote ${path.join(outDir, 'REPORT.md')} in ${results.durationS.toFixed(0)} s`);
}

/** The last results.json, whose §7 a run without it carries forward (and into which `--section ratelimit` merges). */
function readPrevious(file: string): BenchResults | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as BenchResults;
  } catch {
    return undefined;
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exitCode = 1;
});
