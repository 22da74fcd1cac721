// The ONE place that encodes how a user in IIJ ID's "pending deletion" state (削除待ち) shows up on the API.
// Pure. Nothing else in pwsync may guess pending deletion from a status or a message.

import { NotProvisionedError } from '../errors.js';

/**
 * ASSUMPTION, not IIJ documentation. IIJ's manuals say a deleted user stays "pending deletion" for a retention
 * period and blocks re-creating the same ID (faq/32466293.html, DirSync-WinAD_en/53259383.html), but do not say
 * how the SCIM API shows such a user (docs/targets.md#pending-deletion-an-assumption). Agreed with the emulator's author:
 *   - the user still appears in searches (so `find` returns it), and
 *   - a PATCH or PUT to it answers 409 Conflict, scimType "mutability", detail "User is pending deletion."
 * We recognise the exact signature for a precise message, and treat ANY 409 on a password write as pending
 * deletion (a wait, not a rejection): a conflict on a password write has no other plausible meaning, and waiting
 * is the safe side (the change ends at queue.not_provisioned_horizon with an event if it never clears).
 * If IIJ turns out to signal it differently, change only this file and its tests.
 */
export const IIJ_PENDING_DELETION_SIGNATURE = {
  status: 409,
  scimType: 'mutability',
  detail: 'User is pending deletion.',
} as const;

export type PendingDeletionMatch = 'exact' | 'conflict' | 'no';

/** How a password-write answer relates to the pending-deletion assumption above. */
export function matchPendingDeletion(status: number, scimType: string | undefined, detail: string | undefined): PendingDeletionMatch {
  if (status !== IIJ_PENDING_DELETION_SIGNATURE.status) return 'no';
  const exact = scimType === IIJ_PENDING_DELETION_SIGNATURE.scimType && /pending deletion/i.test(detail ?? '');
  return exact ? 'exact' : 'conflict';
}

/**
 * Whether an outcome message that delivery recorded (outbox last_error, E_NOT_PROVISIONED) is the pending-deletion
 * outcome classify.ts builds from the signature above. IIJ's search and listing do not show pending deletion, so
 * the read-only mapping report learns it only from what delivery met; this keeps that knowledge in this file.
 */
export function isPendingDeletionOutcome(code: string | null, message: string | null): boolean {
  return code === NotProvisionedError.code && message !== null && /\bpending deletion\b/.test(message);
}
