// Pure: accounts whose passwords must never leave the DC (invariant 4, docs/architecture.md#invariants), decided before anything is stored.

import type { RefusalReason } from '../errors.js';

// userAccountControl bits (MS-ADTS 2.2.16)
const UAC_WORKSTATION_TRUST = 0x1000;
const UAC_SERVER_TRUST = 0x2000;
const UAC_INTERDOMAIN_TRUST = 0x0800;

/**
 * The form a name is compared in: NFKC (full-width ＫＲＢＴＧＴ, U+00A0 become ASCII), without format characters
 * (U+200B, U+200D, U+FEFF … are invisible and AD may ignore them), trimmed, case-folded. Only for decisions: the
 * name that travels stays as captured, and delivery re-checks the object AD resolved it to.
 */
export function canonicalAccount(account: string): string {
  return account.normalize('NFKC').replace(FORMAT_CHARS, '').trim().toUpperCase().toLowerCase();
}

/** Unicode general category Cf (format characters: zero-width space/joiners, BOM, bidi controls …). */
export const FORMAT_CHARS = /\p{Cf}/gu;

export function refusalFor(account: string, uac?: number): RefusalReason | undefined {
  const name = canonicalAccount(account);
  // krbtgt and every krbtgt_* account: their keys sign Kerberos tickets. Not only the RODC krbtgt_NNNNN form:
  // Microsoft Entra Kerberos creates krbtgt_AzureAD. Like PassFiltEx, match the whole krbtgt_ prefix.
  if (name === 'krbtgt' || name.startsWith('krbtgt_')) return 'krbtgt';
  // Computer accounts, gMSA/sMSA and trust accounts all end in "$".
  if (name.endsWith('$')) return 'computer';
  if (uac !== undefined && (uac & (UAC_WORKSTATION_TRUST | UAC_SERVER_TRUST | UAC_INTERDOMAIN_TRUST)) !== 0) return 'computer';
  return undefined;
}

/**
 * Why a name can never be an account name we accept, or undefined: control characters (they could forge lines in a
 * hook's output or the journal), invisible format characters (a "krbtgt\u200b" that AD might resolve to krbtgt),
 * leading or trailing white space. Frames with such a name are refused (src/intake/frame.ts).
 */
export function accountNameProblem(account: string): string | undefined {
  if (/[\u0000-\u001f\u007f-\u009f]/.test(account)) return 'control characters are not allowed';
  if (new RegExp(FORMAT_CHARS.source, 'u').test(account)) return 'invisible format characters are not allowed';
  const n = account.normalize('NFKC');
  if (n.trim() !== n) return 'leading or trailing white space is not allowed';
  return undefined;
}

/**
 * A name as it may appear in one line of output: control and format characters as \uXXXX escapes, at most `max`
 * characters (then "…"). For hook replies and messages; never for deciding anything.
 */
export function printableAccount(account: string, max = 64): string {
  const escaped = account.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]|\p{Cf}/gu, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return escaped.length > max ? `${escaped.slice(0, max)}…` : escaped;
}
