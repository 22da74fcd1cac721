// Pure: is a queued change older than the password Active Directory holds now (docs/architecture.md, "No stale
// overwrite")? Compares the evidence the capture carried with AD's version. Never sees a password; does no I/O.

import type { PasswordVersion } from '../directory/directory.js';
import { filetimeToDate } from '../directory/filetime.js';

/** What a change knows about its own password version. */
export interface CaptureEvidence {
  /** msDS-KeyVersionNumber the capture carried (Samba) or the agent read for it right after the ack; null if unknown. */
  kvno: number | null;
  /** When the capture component saw the change (ISO-8601, the capturing DC's clock). */
  capturedAt: string;
}

export type Staleness =
  | { stale: true; why: string }
  /** `kvno`: the version to record for this change — never above what AD reports for the user (issue: forged kvno). */
  | { stale: false; kvno: number | null };

/**
 * Stale when AD's key version is newer than the change's, or — unless AD still holds exactly the change's key
 * version — when AD's password was set more than `skewMs` after the change was captured. The second rule is what
 * catches a replayed Windows-filter spool: those frames carry no version, only their capture time, and pwdLastSet is
 * stamped by the DC where the newer password was set. Changes on two DCs less than `skewMs` (plus the offset of their
 * clocks) apart are not ordered by time; docs/operations.md, "Stale replays", states that residual window.
 */
export function judgeStaleness(change: CaptureEvidence, ad: PasswordVersion, skewMs: number): Staleness {
  const adKvno = ad.kvno;
  if (change.kvno !== null && adKvno !== undefined && adKvno > change.kvno)
    return { stale: true, why: `AD password version ${adKvno} is newer than this change's ${change.kvno}` };
  const sameVersion = change.kvno !== null && adKvno !== undefined && adKvno === change.kvno;
  const setAt = passwordSetAt(ad);
  const capturedMs = Date.parse(change.capturedAt);
  if (!sameVersion && setAt !== undefined && Number.isFinite(capturedMs) && setAt.getTime() > capturedMs + skewMs)
    return {
      stale: true,
      why: `AD password was set at ${setAt.toISOString()}, after this change was captured at ${new Date(capturedMs).toISOString()} (clock-skew allowance ${skewMs} ms)`,
    };
  if (change.kvno === null) return { stale: false, kvno: adKvno ?? null };
  return { stale: false, kvno: adKvno !== undefined ? Math.min(change.kvno, adKvno) : change.kvno };
}

/**
 * True when AD's current password was set after `capturedAt` (+ skew): then AD's version is not this change's, and
 * must not be recorded as it (delivery reads AD's version right after the ack of a capture that carried none).
 */
export function setAfterCapture(ad: PasswordVersion, capturedAt: string, skewMs: number): boolean {
  const setAt = passwordSetAt(ad);
  const capturedMs = Date.parse(capturedAt);
  return setAt !== undefined && Number.isFinite(capturedMs) && setAt.getTime() > capturedMs + skewMs;
}

/** pwdLastSet as a time; undefined for 0 ("must change at next logon"), "never", or a malformed value. */
function passwordSetAt(ad: PasswordVersion): Date | undefined {
  if (ad.pwdLastSet === undefined) return undefined;
  try {
    return filetimeToDate(ad.pwdLastSet);
  } catch {
    return undefined;
  }
}
