// Operator actions on queued changes — retry now, drop — for both the console and `pwsync queue`: one
// implementation, journaled before the commit that applies them (a drop makes a change final: write-ahead, like
// delivery, so a crash can repeat an event but never leave a dropped change without one). Never touches a password.

import { EV } from '../journal/catalogue.js';
import type { Journal } from '../journal/journal.js';
import type { OperatorRow, Outbox } from './store.js';
import { EndCode } from '../errors.js';

/** Why an action did not apply: no such change, not open (final or in flight), or (retry) its password is gone. */
export type OperatorRefusal = 'no-change' | 'not-open' | 'not-sealed';

export type OperatorResult =
  | { ok: true; rows: readonly OperatorRow[] }
  | { ok: false; why: OperatorRefusal; /** the state the change is in, when it exists */ state?: string };

/** Who acted: the console client's address, or "cli". Recorded in the event. */
export type OperatorSource = string;

/** Makes the open rows of `id` (row or change ID) due now; event 5000 per row, journaled before the commit. */
export function retryChange(outbox: Outbox, journal: Journal, id: string, remote: OperatorSource): OperatorResult {
  const rows = outbox.retryNow(id, (rs) => {
    for (const r of rs) journal.write(EV.operatorRetry, { change: r.captureId, account: r.account, target: r.target, remote });
  });
  return rows.length > 0 ? { ok: true, rows } : refusal(outbox, id, true);
}

/** Ends the open rows of `id` as rejected (E_DROPPED), erasing their sealed passwords; event 5001 per row, first. */
export function dropChange(outbox: Outbox, journal: Journal, id: string, remote: OperatorSource): OperatorResult {
  const rows = outbox.drop(id, (rs) => {
    for (const r of rs) journal.write(EV.operatorDrop, { change: r.captureId, account: r.account, target: r.target, code: EndCode.dropped, remote });
  });
  return rows.length > 0 ? { ok: true, rows } : refusal(outbox, id, false);
}

function refusal(outbox: Outbox, id: string, retry: boolean): OperatorResult {
  const row = outbox.get(id);
  if (!row) return { ok: false, why: 'no-change' };
  if (retry && !row.hasSecret) return { ok: false, why: 'not-sealed', state: row.state };
  return { ok: false, why: 'not-open', state: row.state };
}
