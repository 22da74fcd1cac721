// Pure: whether a claimed change is sent, and if not how it ends — "only the newest password is ever sent" decided
// in one place (docs/architecture.md#outbox-states). No I/O, no clock, never sees a password (only its fingerprint).

import type { UserAttributeConfig } from '../config/schema.js';
import type { DirectoryUser, PasswordVersion } from '../directory/directory.js';
import { computeExternalId } from '../directory/external-id.js';
import { EndCode, RefusedChangeError } from '../errors.js';
import { EV, type EventDef } from '../journal/catalogue.js';
import type { Fields } from '../journal/journal.js';
import type { ChangeRow } from '../outbox/store.js';
import { refusalFor } from '../intake/account-filter.js';
import { judgeStaleness, setAfterCapture } from './staleness.js';

/** A change's version as delivery keeps it: what its row says, or what AD says for it. */
export interface RecordedVersion {
  kvno: number | null;
  pwdLastSet?: string;
}

/** What the outbox remembers of the last password delivered for this user and target. */
export interface LastDelivered {
  fingerprint: string;
  kvno: number | null;
}

export interface DecisionInput {
  row: Pick<ChangeRow, 'receivedAt' | 'kvno' | 'capturedAt'>;
  now: number;
  maxAgeMs: number;
  /** agent.clock_skew in ms. */
  skewMs: number;
  /** The capture ID of a newer, not superseded change of the same (account, target), if any (ClaimedRow.newerCapture). */
  newerCapture: string | undefined;
  /** What AD and the outbox say about the user; absent until the account was looked up. */
  ad?: {
    /** undefined: AD has no such account under base_dn. */
    user: DirectoryUser | undefined;
    rule: UserAttributeConfig;
    /** The last delivery to this target for this AD object (by objectGUID, else by name). */
    lastDelivered: LastDelivered | undefined;
    /** Keyed fingerprint of this change's password for this AD object and target (outbox/seal.ts). */
    fingerprint: string;
  };
}

/** A change that ends without a request to the target; `delivered` when it counts as delivered (a duplicate). */
export interface Ending {
  kind: 'end';
  state: 'superseded' | 'rejected' | 'expired' | 'done';
  code: string;
  why: string;
  event: EventDef;
  /** Event fields beyond change/account/target (never a password). */
  fields?: Fields;
  delivered?: { fingerprint: string; kvno: number | null; guid: string };
  /** The version to keep for this change (see `send`). */
  record?: RecordedVersion;
}

export type Decision =
  /** Nothing ends the change before AD is asked: look the account up and decide again with `ad`. */
  | { kind: 'resolve' }
  | Ending
  /**
   * Send it. `record`: the version to keep for this change from now on (first sight of a version-less capture, or a
   * captured version above AD's), to be written before the request.
   */
  | { kind: 'send'; externalId: string; guid: string; kvno: number | null; fingerprint: string; record?: RecordedVersion };

export function decide(input: DecisionInput): Decision {
  const { row, ad } = input;
  if (input.now - row.receivedAt >= input.maxAgeMs)
    return end('expired', EndCode.expired, 'not delivered within queue.max_age', EV.expired, { reason: 'max_age' });
  // Only the newest capture is ever sent. insertChange supersedes older *open* rows; a row that was in flight when a
  // newer change arrived (and then failed, or was recovered after a crash, which makes it due after the newer one)
  // would otherwise be sent last and overwrite the newer password. Found by test/integration/guarantees-crash.
  if (input.newerCapture !== undefined) {
    const why = `a newer change ${input.newerCapture} for this account was captured after this one`;
    return end('superseded', EndCode.superseded, why, EV.superseded, { reason: why });
  }
  if (!ad) return { kind: 'resolve' };
  const user = ad.user;
  if (!user) return end('rejected', EndCode.unknownAccount, 'account not found in Active Directory', EV.unknownAccount);
  if (!user.inScope) return end('rejected', EndCode.outOfScope, 'account is outside ad.ldap.filter.user / base_dn', EV.outOfScope, { dn: user.dn });
  // The name the capture gave passed intake's filter; the object AD resolved it to must pass it too (a look-alike
  // name such as "krbtgt\u00a0" that AD matched, or an account turned into a computer or trust account since).
  const refusal = refusalFor(user.sAMAccountName, user.userAccountControl);
  if (refusal)
    return end('rejected', RefusedChangeError.code, `account ${user.sAMAccountName} (${user.dn}) is never forwarded (${refusal})`, EV.refused, { reason: refusal, dn: user.dn });
  const stale = judgeStaleness({ kvno: row.kvno, capturedAt: row.capturedAt }, user.version, input.skewMs);
  if (stale.stale) return end('superseded', EndCode.superseded, stale.why, EV.superseded, { reason: stale.why });
  // First sight of a version-less capture, or a captured version above AD's (never trusted beyond what AD says).
  const record = stale.kvno !== row.kvno ? { kvno: stale.kvno, pwdLastSet: user.version.pwdLastSet } : undefined;
  const kvno = stale.kvno;
  const externalId = computeExternalId(user, ad.rule);
  if (!externalId)
    return end('rejected', EndCode.noExternalId, `attribute ${ad.rule.ad_bind.externalId} is empty`, EV.noExternalId, { attribute: ad.rule.ad_bind.externalId, dn: user.dn });
  // Keyed on the AD object, not the name: after a rename the same password is not sent again.
  if (ad.lastDelivered?.fingerprint === ad.fingerprint)
    return { ...end('done', EndCode.duplicate, 'same password already delivered', EV.duplicateSuppressed), delivered: { fingerprint: ad.fingerprint, kvno, guid: user.guid }, ...(record && { record }) };
  return { kind: 'send', externalId, guid: user.guid, kvno, fingerprint: ad.fingerprint, ...(record && { record }) };
}

/**
 * The version AD reported right after a version-less capture, if it can be this capture's own: not when AD's password
 * was set after the capture (+ skew) — a replayed spool arriving after a newer password was set elsewhere
 * (docs/operations.md, "Stale replays"); decide() then supersedes the change at send time.
 */
export function versionAtCapture(ad: PasswordVersion | undefined, capturedAt: string, skewMs: number): RecordedVersion | undefined {
  if (!ad || (ad.kvno === undefined && ad.pwdLastSet === undefined) || setAfterCapture(ad, capturedAt, skewMs)) return undefined;
  return { kvno: ad.kvno ?? null, pwdLastSet: ad.pwdLastSet };
}

function end(state: Ending['state'], code: string, why: string, event: EventDef, fields?: Fields): Ending {
  return { kind: 'end', state, code, why, event, ...(fields && { fields }) };
}
