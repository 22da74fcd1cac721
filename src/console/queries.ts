// Read-only queries on the outbox database that the Outbox class does not offer (chart, coverage, actions list).
// Never selects nonce, box or fingerprint: the console must not even hold ciphertext or password fingerprints.

import type { Outbox } from '../outbox/store.js';

type Db = Outbox['db'];

export type FinalOutcome = 'synced' | 'rejected' | 'superseded';

export interface OutcomePoint {
  /** Epoch ms of the minute (floor). */
  minute: number;
  outcome: FinalOutcome;
  count: number;
}

/** Final outcomes per minute in [from, to): done → synced, rejected and expired → rejected, superseded. */
export function finalOutcomesPerMinute(db: Db, from: number, to: number): OutcomePoint[] {
  const rows = db
    .prepare(
      `SELECT state, (final_at / 60000) * 60000 AS minute, COUNT(*) AS n FROM changes
       WHERE final_at >= ? AND final_at < ? AND state IN ('done','rejected','expired','superseded')
       GROUP BY state, minute`,
    )
    .all(from, to) as Array<{ state: string; minute: number; n: number }>;
  return rows.map((r) => ({
    minute: r.minute,
    outcome: r.state === 'done' ? 'synced' : r.state === 'superseded' ? 'superseded' : 'rejected',
    count: r.n,
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
 * Last successful delivery per (account, target): the `delivered` record (kept after old rows are purged) or the
 * newest `done` row, whichever is newer. Accounts are lower-case, as the outbox stores them.
 */
export function lastDeliveries(db: Db): LastDelivery[] {
  const out = new Map<string, LastDelivery>();
  const put = (d: LastDelivery) => {
    const key = `${d.account}\0${d.target}`;
    const old = out.get(key);
    if (!old || d.at > old.at) out.set(key, { ...d, kvno: d.kvno ?? old?.kvno ?? null });
  };
  for (const r of db.prepare(`SELECT account, target, kvno, at FROM delivered`).all() as LastDelivery[]) put(r);
  for (const r of db
    .prepare(`SELECT account, target, MAX(final_at) AS at, MAX(kvno) AS kvno FROM changes WHERE state = 'done' GROUP BY account, target`)
    .all() as LastDelivery[])
    put(r);
  return [...out.values()];
}

export interface OpenChangeError {
  account: string;
  target: string;
  code: string | null;
  message: string | null;
}

/** Open changes (pending, waiting) with the last error delivery recorded, for the mapping report. */
export function openChangeErrors(db: Db): OpenChangeError[] {
  return db
    .prepare(
      `SELECT account, target, last_error_code AS code, last_error AS message FROM changes
       WHERE state IN ('pending','waiting') AND last_error_code IS NOT NULL`,
    )
    .all() as OpenChangeError[];
}
