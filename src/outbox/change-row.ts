// The shape of one outbox row as callers see it (state, attempts, errors, times) and its mapping from SQL columns.
// Never carries the sealed password: only whether one is still held (hasSecret).

import type { ChangeState } from './states.js';

export interface ChangeRow {
  seq: number;
  id: string;
  captureId: string;
  account: string;
  target: string;
  source: string;
  dc: string | null;
  rid: number | null;
  guid: string | null;
  kvno: number | null;
  pwdLastSet: string | null;
  capturedAt: string;
  receivedAt: number;
  state: ChangeState;
  attempts: number;
  nextAttemptAt: number;
  waitingSince: number | null;
  lastErrorCode: string | null;
  lastError: string | null;
  finalAt: number | null;
  hasSecret: boolean;
}

export interface RawRow {
  seq: number;
  id: string;
  capture_id: string;
  account: string;
  target: string;
  source: string;
  dc: string | null;
  rid: number | null;
  guid: string | null;
  kvno: number | null;
  pwd_last_set: string | null;
  captured_at: string;
  received_at: number;
  state: ChangeState;
  attempts: number;
  next_attempt_at: number;
  waiting_since: number | null;
  last_error_code: string | null;
  last_error: string | null;
  final_at: number | null;
  has_secret: number;
}

/** The columns of a ChangeRow: nonce and box are never selected, only whether the box is there. */
export const COLUMNS = `seq, id, capture_id, account, target, source, dc, rid, guid, kvno, pwd_last_set, captured_at, received_at,
  state, attempts, next_attempt_at, waiting_since, last_error_code, last_error, final_at, (box IS NOT NULL) AS has_secret`;

/** The open states in SQL, for `state IN ${OPEN_SQL}` (in flight is not open to supersede, retry or drop). */
export const OPEN_SQL = `('pending','waiting')`;

export function toRow(r: RawRow): ChangeRow {
  return {
    seq: r.seq, id: r.id, captureId: r.capture_id, account: r.account, target: r.target, source: r.source, dc: r.dc, rid: r.rid,
    guid: r.guid, kvno: r.kvno, pwdLastSet: r.pwd_last_set, capturedAt: r.captured_at, receivedAt: r.received_at, state: r.state,
    attempts: r.attempts, nextAttemptAt: r.next_attempt_at, waitingSince: r.waiting_since, lastErrorCode: r.last_error_code,
    lastError: r.last_error, finalAt: r.final_at, hasSecret: r.has_secret === 1,
  };
}
