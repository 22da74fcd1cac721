// Operator actions on one change (console): retry now, or drop. Each is a single guarded UPDATE, so it cannot
// race the delivery worker into an impossible state; a change in flight or already final is left alone.
// Dropping erases the sealed password in the same statement, as every final state must (DESIGN §3.2).

import type { Outbox } from '../outbox/store.js';

type Db = Outbox['db'];

export type ActionResult = { ok: true; account: string; target: string; captureId: string } | { ok: false; reason: string };

function describeRow(db: Db, id: string): { account: string; target: string; capture_id: string; state: string; sealed: number } | undefined {
  return db.prepare(`SELECT account, target, capture_id, state, (box IS NOT NULL AND nonce IS NOT NULL) AS sealed FROM changes WHERE id = ?`).get(id) as
    | { account: string; target: string; capture_id: string; state: string; sealed: number }
    | undefined;
}

/**
 * Makes a waiting or parked change due now. Only while its sealed password still exists: an expired or rejected
 * change has none, and only the user can produce a new one. The not-provisioned horizon starts again.
 */
export function retryChange(db: Db, id: string, now: number): ActionResult {
  const r = db
    .prepare(
      `UPDATE changes SET state = 'pending', next_attempt_at = ?, waiting_since = NULL
       WHERE id = ? AND state IN ('waiting','parked','pending') AND box IS NOT NULL AND nonce IS NOT NULL`,
    )
    .run(now, id);
  const row = describeRow(db, id);
  if (r.changes === 1 && row) return { ok: true, account: row.account, target: row.target, captureId: row.capture_id };
  if (!row) return { ok: false, reason: 'no such change' };
  if (!row.sealed) return { ok: false, reason: `the change is ${row.state} and its password is erased: the user must change the password again` };
  return { ok: false, reason: `the change is ${row.state}; only waiting or parked changes can be retried` };
}

/** Ends an open change as rejected with code E_DROPPED, erasing its sealed password in the same UPDATE. */
export function dropChange(db: Db, id: string, now: number): ActionResult {
  const r = db
    .prepare(
      `UPDATE changes SET state = 'rejected', final_at = ?, last_error_code = 'E_DROPPED', last_error = 'dropped by an operator',
         nonce = NULL, box = NULL
       WHERE id = ? AND state IN ('pending','waiting','parked')`,
    )
    .run(now, id);
  const row = describeRow(db, id);
  if (r.changes === 1 && row) return { ok: true, account: row.account, target: row.target, captureId: row.capture_id };
  if (!row) return { ok: false, reason: 'no such change' };
  return { ok: false, reason: `the change is ${row.state}; only pending, waiting or parked changes can be dropped` };
}
