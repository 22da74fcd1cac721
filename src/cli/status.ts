// `pwsync status`: what an operator needs at a glance, read from the outbox (works while the agent runs).

import { existsSync } from 'node:fs';
import path from 'node:path';
import { OUTBOX_FILE } from '../outbox/store.js';
import { openOutboxReader } from '../outbox/reader.js';
import { loadConfig } from '../config/load.js';
import { fail, parse } from './args.js';
import { readStatus, type StatusReport } from '../outbox/queries.js';

/**
 * Exit codes (docs/operations.md §3): 0 every target runs, 1 a target is paused, 2 configuration error, 3 the agent
 * has not started yet (no outbox): monitoring must not read a fresh installation as a paused target.
 */
export const STATUS_NOT_STARTED = 3;

export async function statusCommand(argv: string[]): Promise<number> {
  const a = parse(argv, { config: { type: 'string' }, secret: { type: 'string' }, json: { type: 'boolean' } });
  if (!a.config) return fail('status: --config FILE is required');
  const { config } = loadConfig(a.config, a.secret);
  const file = path.join(config.agent.data_dir, OUTBOX_FILE);
  if (!existsSync(file)) {
    const why = `not started yet: no outbox at ${file} (the agent creates it at its first start)`;
    process.stdout.write(a.json ? JSON.stringify({ state: 'not-started', outbox: file }, null, 2) + '\n' : `${why}\n`);
    return STATUS_NOT_STARTED;
  }
  const outbox = openOutboxReader(file);
  try {
    const report = readStatus(outbox, Date.now());
    process.stdout.write(a.json ? JSON.stringify(report, null, 2) + '\n' : formatStatus(report));
    return report.targets.some((t) => t.paused) ? 1 : 0;
  } finally {
    outbox.close();
  }
}

function age(ms: number | null): string {
  if (ms === null) return '-';
  const s = Math.round(ms / 1000);
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${(s / 3600).toFixed(1)}h`;
}

function when(at: number | null, now: number): string {
  return at === null ? 'never' : `${new Date(at).toISOString()} (${age(now - at)} ago)`;
}

export function formatStatus(r: StatusReport): string {
  const lines = [`queue: ${Object.entries(r.counts).map(([k, v]) => `${k}=${v}`).join(' ') || 'empty'}`, `oldest open change: ${age(r.oldestOpenAgeMs)}`];
  for (const t of r.targets) {
    lines.push(`target ${t.target}: ${t.paused ? `PAUSED since ${when(t.since, r.now)}: ${t.reason}` : 'running'}`);
    lines.push(`  last success: ${when(t.lastSuccessAt, r.now)}`);
    lines.push(`  last error:   ${t.lastError ? `${when(t.lastErrorAt, r.now)}: ${t.lastError}` : 'none'}`);
  }
  return lines.join('\n') + '\n';
}
