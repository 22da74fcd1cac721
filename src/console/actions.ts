// Operator actions on one change (console): retry now, or drop, through the outbox's guarded UPDATEs (which the
// CLI's `pwsync queue` uses too), plus the reason an operator sees when an action cannot apply.

import type { Outbox } from '../outbox/store.js';

type Db = Outbox['db'];

export type ActionResult = { ok: true; account: string; target: string; captureId: string } | { ok: false; reason: string };

function describeRow(db: Db, id: string): { account: string; target: string; capture_id: string; state: string; sealed: number } | undefined {
  return db.prepare(`SELECT account, target, capture_id, state, (box IS NOT NULL AND nonce IS NOT NULL) AS sealed FROM changes WHERE id = ?`).get(id) as
    | { account: string; target: string; capture_id: string; state: string; sealed: number }
    | undefined;
}

/** Makes a waiting or parked change due now (Outbox.retryNow), with a reason an operator can act on when it cannot. */
export function retryChange(outbox: Outbox, id: string): ActionResult {
  const changed = outbox.retryNow(id);
  const row = describeRow(outbox.db, id);
  if (changed > 0 && row) return { ok: true, account: row.account, target: row.target, captureId: row.capture_id };
  if (!row) return { ok: false, reason: 'no such change' };
  if (!row.sealed) return { ok: false, reason: `the change is ${row.state} and its password is erased: the user must change the password again` };
  return { ok: false, reason: `the change is ${row.state}; only waiting or parked changes can be retried` };
}

/** Ends an open change as rejected with code E_DROPPED (Outbox.drop), erasing its sealed password. */
export function dropChange(outbox: Outbox, id: string): ActionResult {
  const changed = outbox.drop(id);
  const row = describeRow(outbox.db, id);
  if (changed > 0 && row) return { ok: true, account: row.account, target: row.target, captureId: row.capture_id };
  if (!row) return { ok: false, reason: 'no such change' };
  return { ok: false, reason: `the change is ${row.state}; only pending, waiting or parked changes can be dropped` };
}
