// The outbox's read models: status, queue listings, the console's chart, last deliveries (coverage) and open
// errors (mapping) — every query other parts need, on the store's read handle (reader.ts), never its database.
// Never selects nonce, box or fingerprint: no caller of these even holds ciphertext or a password fingerprint.

import { COLUMNS, OPEN_SQL, toRow, type ChangeRow, type RawRow } from './change-row.js';
import type { OutboxReader } from './reader.js';
import type { ChangeState } from './states.js';

/** One change (row ID, or change ID for its first target's row); undefined when there is none. */
export function changeById(r: OutboxReader, id: string): ChangeRow | undefined {
  const row = r.get<RawRow>(`SELECT ${COLUMNS} FROM changes WHERE id = ? OR capture_id = ? ORDER BY seq LIMIT 1`, id, id);
  return row ? toRow(row) : undefined;
}

/** Rows newest first, optionally only some states or one account; at most `limit` (100). */
export function listChanges(r: OutboxReader, filter: { states?: readonly ChangeState[]; account?: string; limit?: number } = {}): ChangeRow[] {
  const where: string[] = [];
  const args: unknown[] = [];
  if (filter.states?.length) {
    where.push(`state IN (${filter.states.map(() => '?').join(',')})`);
    args.push(...filter.states);
  }
  if (filter.account) {
    where.push('account = ?');
    args.push(filter.account.toLowerCase());
  }
  args.push(filter.limit ?? 100);
  const sql = `SELECT ${COLUMNS} FROM changes ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY seq DESC LIMIT ?`;
  return r.all<RawRow>(sql, ...args).map(toRow);
}

export function countsByState(r: OutboxReader): Record<string, number> {
  const out: Record<string, number> = {};
  for (const row of r.all<{ state: string; n: number }>(`SELECT state, COUNT(*) AS n FROM changes GROUP BY state`)) out[row.state] = row.n;
  return out;
}

/** When the oldest change not yet final (pending, waiting, in flight) was received; undefined when none. */
export function oldestOpenReceivedAt(r: OutboxReader): number | undefined {
  return r.get<{ at: number | null }>(`SELECT MIN(received_at) AS at FROM changes WHERE state IN ('pending','waiting','inflight')`)?.at ?? undefined;
}

export interface TargetSummary {
  target: string;
  paused: boolean;
  reason: string | null;
  since: number | null;
  lastSuccessAt: number | null;
  lastErrorAt: number | null;
  lastError: string | null;
}

/** Per target: pause state (persisted by the agent), last success and last error, derived from the rows. */
export function targetSummary(r: OutboxReader): TargetSummary[] {
  const names = new Set<string>();
  const paused = new Map<string, { paused: number; reason: string | null; since: number }>();
  for (const row of r.all<{ target: string; paused: number; reason: string | null; since: number }>(`SELECT target, paused, reason, since FROM target_state`)) {
    paused.set(row.target, row);
    names.add(row.target);
  }
  const ok = new Map<string, number>();
  for (const row of r.all<{ target: string; at: number }>(`SELECT target, MAX(final_at) AS at FROM changes WHERE state = 'done' GROUP BY target`)) {
    ok.set(row.target, row.at);
    names.add(row.target);
  }
  const errs = new Map<string, { at: number; error: string }>();
  for (const row of r.all<{ target: string; at: number; error: string }>(
    `SELECT target, COALESCE(final_at, next_attempt_at) AS at, last_error AS error FROM changes c WHERE last_error IS NOT NULL AND state <> 'superseded'
       AND seq = (SELECT MAX(seq) FROM changes d WHERE d.target = c.target AND d.last_error IS NOT NULL AND d.state <> 'superseded')`,
  )) {
    errs.set(row.target, row);
    names.add(row.target);
  }
  return [...names].sort().map((t) => ({
    target: t, paused: paused.get(t)?.paused === 1, reason: paused.get(t)?.reason ?? null, since: paused.get(t)?.since ?? null,
    lastSuccessAt: ok.get(t) ?? null, lastErrorAt: errs.get(t)?.at ?? null, lastError: errs.get(t)?.error ?? null,
  }));
}

/** What the queue gauges (src/metrics/metrics.ts) read at each scrape, bound to one read handle. */
export interface QueueGauges {
  countsByState(): Record<string, number>;
  oldestOpenReceivedAt(): number | undefined;
  targetSummary(): TargetSummary[];
}

export function queueGauges(r: OutboxReader): QueueGauges {
  return { countsByState: () => countsByState(r), oldestOpenReceivedAt: () => oldestOpenReceivedAt(r), targetSummary: () => targetSummary(r) };
}

/** The status report (`pwsync status`, the console's overview): counts per state, oldest open change, per-target health. */
export interface StatusReport {
  now: number;
  counts: Record<string, number>;
  oldestOpenAgeMs: number | null;
  targets: TargetSummary[];
}

export function readStatus(r: OutboxReader, now: number): StatusReport {
  const oldest = oldestOpenReceivedAt(r);
  return { now, counts: countsByState(r), oldestOpenAgeMs: oldest === undefined ? null : now - oldest, targets: targetSummary(r) };
}

/** The console's queue page: open changes (500), expired ones (100) and the most recent of any state (50). */
export interface QueueListing {
  open: ChangeRow[];
  expired: ChangeRow[];
  recent: ChangeRow[];
}

export function queueListing(r: OutboxReader): QueueListing {
  return {
    open: listChanges(r, { states: ['waiting', 'pending', 'inflight'], limit: 500 }),
    expired: listChanges(r, { states: ['expired'], limit: 100 }),
    recent: listChanges(r, { limit: 50 }),
  };
}

/** How many rows still hold a sealed password, and the oldest and newest of them (to test a key against). */
export function sealedRows(r: OutboxReader): { count: number; samples: ChangeRow[] } {
  const count = r.get<{ n: number }>(`SELECT COUNT(*) AS n FROM changes WHERE box IS NOT NULL`)!.n;
  if (count === 0) return { count, samples: [] };
  const first = r.get<RawRow>(`SELECT ${COLUMNS} FROM changes WHERE box IS NOT NULL ORDER BY seq LIMIT 1`)!;
  const last = r.get<RawRow>(`SELECT ${COLUMNS} FROM changes WHERE box IS NOT NULL ORDER BY seq DESC LIMIT 1`)!;
  return { count, samples: [toRow(first), toRow(last)] };
}

export type FinalOutcome = 'synced' | 'rejected' | 'superseded';

export interface OutcomePoint {
  /** Epoch ms of the minute (floor). */
  minute: number;
  outcome: FinalOutcome;
  count: number;
}

/** Final outcomes per minute in [from, to): done → synced, rejected and expired → rejected, superseded. */
export function finalOutcomesPerMinute(r: OutboxReader, from: number, to: number): OutcomePoint[] {
  const rows = r.all<{ state: string; minute: number; n: number }>(
    `SELECT state, (final_at / 60000) * 60000 AS minute, COUNT(*) AS n FROM changes
     WHERE final_at >= ? AND final_at < ? AND state IN ('done','rejected','expired','superseded')
     GROUP BY state, minute`,
    from, to,
  );
  return rows.map((row) => ({
    minute: row.minute,
    outcome: row.state === 'done' ? 'synced' : row.state === 'superseded' ? 'superseded' : 'rejected',
    count: row.n,
  }));
}

export interface LastDelivery {
  account: string;
  target: string;
  /** Epoch ms of the last successful delivery. */
  at: number;
  /** msDS-KeyVersionNumber of the delivered password, when known. */
  kvno: number | null;
}

/**
 * Last successful delivery per (account, target), for the coverage report: the `delivered` record (kept after old
 * rows are purged) or the newest `done` row, whichever is newer. Accounts are lower-case, as the outbox stores them.
 */
export function lastDeliveries(r: OutboxReader): LastDelivery[] {
  const out = new Map<string, LastDelivery>();
  const put = (d: LastDelivery) => {
    const key = `${d.account}\0${d.target}`;
    const old = out.get(key);
    if (!old || d.at > old.at) out.set(key, { ...d, kvno: d.kvno ?? old?.kvno ?? null });
  };
  for (const row of r.all<LastDelivery>(`SELECT account, target, kvno, at FROM delivered`)) put(row);
  for (const row of r.all<LastDelivery>(`SELECT account, target, MAX(final_at) AS at, MAX(kvno) AS kvno FROM changes WHERE state = 'done' GROUP BY account, target`)) put(row);
  return [...out.values()];
}

export interface OpenChangeError {
  account: string;
  target: string;
  code: string | null;
  message: string | null;
}

/** Open changes (pending, waiting) with the last delivery error recorded, for the mapping report. */
export function openChangeErrors(r: OutboxReader): OpenChangeError[] {
  return r.all<OpenChangeError>(
    `SELECT account, target, last_error_code AS code, last_error AS message FROM changes
     WHERE state IN ${OPEN_SQL} AND last_error_code IS NOT NULL`,
  );
}
