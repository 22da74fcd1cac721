// Turns one syncpasswords LDIF entry into an intake change frame (docs/architecture.md#intake-frame) or a typed reason to skip it.
// Pure. Never decodes the password of an account that must not travel (krbtgt, computers, deleted objects).

import { accountNameProblem, refusalFor } from '../intake/account-filter.js';
import type { ChangeFrame } from '../intake/frame.js';
import { MAX_PASSWORD_CHARS } from '../intake/frame-codec.js';
import type { LdifEntry } from './ldif.js';
import { guidToString, isGuidString, ridFromSid, sidToString } from '../directory/guid.js';

/** Why an entry produces no frame. Skips are normal: syncpasswords fires per changed object, not per password. */
export type SambaSkipReason =
  /** No virtualClearTextUTF8: a non-password change of an account whose password predates capture, Guest, … */
  | 'no-cleartext'
  /** isDeleted / isRecycled: the object was deleted (its DN is under CN=Deleted Objects). */
  | 'deleted'
  | 'krbtgt'
  /** sAMAccountName ending in "$", or userAccountControl WORKSTATION/SERVER/INTERDOMAIN trust. */
  | 'computer'
  /** The cleartext is not valid UTF-8 (or empty): it cannot be sent as a JSON string faithfully. */
  | 'invalid-utf8'
  /** No usable sAMAccountName: nothing to address the change to. */
  | 'no-account'
  /** More than MAX_PASSWORD_CHARS: the intake frame would be refused, and no target accepts such a password. */
  | 'too-long';

export type SambaEntryResult =
  | { kind: 'change'; frame: ChangeFrame; /** attribute names left out of attrs (binary, too long, too many) */ dropped: string[] }
  | { kind: 'skip'; reason: SambaSkipReason; account?: string };

export interface SambaEntryOptions {
  /** Name of this DC for the frame's `dc` field; without it the agent names the change with its agent.dc. */
  dc?: string;
  /** Capture time; default now. */
  now?: Date;
}

/** Attributes mapped to their own frame fields, or bookkeeping: not repeated in attrs. */
const MAPPED = new Set(['samaccountname', 'objectsid', 'objectguid', 'msds-keyversionnumber', 'pwdlastset', 'useraccountcontrol', 'isdeleted', 'isrecycled']);
/**
 * Secrets and hashes that must never travel in attrs, whatever --attributes the cache was initialised with.
 * Samba's virtual* attributes (virtualClearTextUTF8/UTF16, virtualSambaGPG, virtualSSHA, virtualCryptSHA256/512,
 * virtualWDigestNN, virtualKerberosSalt) are all password-derived: every name starting with "virtual" is out.
 */
const SECRET = new Set([
  'unicodepwd',
  'dbcspwd',
  'ntpwdhistory',
  'lmpwdhistory',
  'supplementalcredentials',
  'userpassword',
  'clearTextPassword'.toLowerCase(),
  'msds-managedpassword',
  'msds-managedpasswordid',
  'msds-managedpasswordpreviousid',
  'currentvalue',
  'priorvalue',
  'trustauthincoming',
  'trustauthoutgoing',
  'initialauthincoming',
  'initialauthoutgoing',
]);

// Limits of the intake frame schema (src/intake/frame.ts attrs): stay inside them rather than be rejected.
const MAX_ATTR_NAME = 128;
const MAX_ATTR_VALUE = 4096;
const MAX_ATTR_VALUES = 64;

const fatalUtf8 = new TextDecoder('utf-8', { fatal: true });

function utf8(b: Buffer): string | undefined {
  try {
    return fatalUtf8.decode(b);
  } catch {
    return undefined;
  }
}

function isTrue(entry: LdifEntry, name: string): boolean {
  return entry.text(name)?.trim().toUpperCase() === 'TRUE';
}

/** objectSid as syncpasswords prints it (`S-1-5-21-…-1102`, ldb's string form) or as raw bytes (base64). */
function ridOf(entry: LdifEntry): number | undefined {
  const raw = entry.values('objectSid')[0];
  if (!raw) return undefined;
  const text = utf8(raw)?.trim();
  try {
    if (text !== undefined && /^S-1-/i.test(text)) return ridFromSid(text);
    return ridFromSid(sidToString(raw));
  } catch {
    return undefined;
  }
}

/** objectGUID as printed (`5a83c5d3-…`) or as 16 raw bytes; lower-case string form. */
function guidOf(entry: LdifEntry): string | undefined {
  const raw = entry.values('objectGUID')[0];
  if (!raw) return undefined;
  const text = utf8(raw)?.trim();
  if (text !== undefined && isGuidString(text)) return text.replace(/[{}]/g, '').toLowerCase();
  return raw.length === 16 ? guidToString(raw) : undefined;
}

function intOf(entry: LdifEntry, name: string): number | undefined {
  const t = entry.text(name)?.trim();
  if (t === undefined || !/^-?\d{1,15}$/.test(t)) return undefined;
  return Number(t);
}

/**
 * Builds the change frame for one entry, or says why not. Checks run in an order that never decodes the
 * password of an account that must not travel: deleted → no account → krbtgt/computer → cleartext.
 * The caller wipes the entry (entry.wipe()) afterwards; the returned frame holds the password as a string.
 */
export function sambaEntryToChange(entry: LdifEntry, options: SambaEntryOptions): SambaEntryResult {
  // A deleted user arrives with isDeleted: TRUE under CN=Deleted Objects (as Samba 4.x writes it).
  if (isTrue(entry, 'isDeleted') || isTrue(entry, 'isRecycled')) return { kind: 'skip', reason: 'deleted', ...accountField(entry) };

  const account = entry.text('sAMAccountName')?.trim();
  // A name the agent would refuse (control or invisible characters) cannot be addressed; report it, don't fail.
  if (!account || accountNameProblem(account) !== undefined) return { kind: 'skip', reason: 'no-account' };

  const uac = intOf(entry, 'userAccountControl');
  const refusal = refusalFor(account, uac !== undefined && uac >= 0 ? uac : undefined);
  if (refusal === 'krbtgt' || refusal === 'computer') return { kind: 'skip', reason: refusal, account };

  const clear = entry.values('virtualClearTextUTF8')[0];
  if (clear === undefined) return { kind: 'skip', reason: 'no-cleartext', account };
  // Fatal decoding: a lossy U+FFFD replacement would send a DIFFERENT password to the cloud.
  const password = clear.length > 0 ? utf8(clear) : undefined;
  if (password === undefined) return { kind: 'skip', reason: 'invalid-utf8', account };
  // Skipped here with a reason the operator sees (event 2007), instead of a frame the agent refuses, which would
  // make the hook fail and stop syncpasswords on this object for good (head-of-line blocking).
  if (password.length > MAX_PASSWORD_CHARS) return { kind: 'skip', reason: 'too-long', account };

  const frame: ChangeFrame = {
    v: 1,
    type: 'change',
    source: 'samba',
    ...(options.dc ? { dc: options.dc } : {}),
    account,
    capturedAt: (options.now ?? new Date()).toISOString(),
    password,
  };
  const rid = ridOf(entry);
  if (rid !== undefined) frame.rid = rid;
  const guid = guidOf(entry);
  if (guid !== undefined) frame.guid = guid;
  const kvno = intOf(entry, 'msDS-KeyVersionNumber');
  const pwdLastSet = entry.text('pwdLastSet')?.trim();
  const version: NonNullable<ChangeFrame['version']> = {};
  if (kvno !== undefined && kvno >= 0) version.kvno = kvno;
  if (pwdLastSet !== undefined && /^\d{1,20}$/.test(pwdLastSet)) version.pwdLastSet = pwdLastSet;
  if (Object.keys(version).length > 0) frame.version = version;
  if (uac !== undefined && uac >= 0) frame.uac = uac;

  const { attrs, dropped } = otherAttributes(entry);
  if (Object.keys(attrs).length > 0) frame.attrs = attrs;
  return { kind: 'change', frame, dropped };
}

/** The name of a skipped object, only when it is one the agent accepts in a skip frame. */
function accountField(entry: LdifEntry): { account?: string } {
  const a = entry.text('sAMAccountName')?.trim();
  return a && accountNameProblem(a) === undefined ? { account: a } : {};
}

/** Every attribute that is neither mapped nor secret, as UTF-8 text; what cannot be text is dropped by name. */
function otherAttributes(entry: LdifEntry): { attrs: Record<string, string | string[]>; dropped: string[] } {
  const attrs: Record<string, string | string[]> = {};
  const dropped: string[] = [];
  for (const name of entry.names()) {
    const lower = name.toLowerCase();
    if (MAPPED.has(lower)) continue;
    if (lower.startsWith('virtual') || SECRET.has(lower)) continue; // never listed, not even as "dropped"
    const values = entry.values(name).map(utf8);
    if (
      name.length > MAX_ATTR_NAME ||
      values.length > MAX_ATTR_VALUES ||
      values.some((v) => v === undefined || v.length > MAX_ATTR_VALUE)
    ) {
      dropped.push(name);
      continue;
    }
    const texts = values as string[];
    attrs[name] = texts.length === 1 ? texts[0]! : texts;
  }
  return { attrs, dropped };
}
