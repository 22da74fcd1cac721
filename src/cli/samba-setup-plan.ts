// What `pwsync samba setup` asks samba-tool for: the syncpasswords attributes and the cache-initialisation
// arguments, plus reading back an existing cache. Pure; never touches a password.

import { parseLdifEntry } from '../capture/ldif.js';

/** What the hook and the agent use from each object (samba-entry.ts), before the targets' external-ID attributes. */
export const SYNCPASSWORDS_BASE_ATTRIBUTES = [
  'objectGUID',
  'objectSid',
  'sAMAccountName',
  'userPrincipalName',
  'userAccountControl',
  'pwdLastSet',
  'msDS-KeyVersionNumber',
] as const;
/** The cleartext; always last so a reader of the cache sees the identity attributes first. */
export const CLEARTEXT_ATTRIBUTE = 'virtualClearTextUTF8';
/** syncpasswords adds these to every cache itself (samba/netcmd/user.py); ignore them when comparing. */
const ALWAYS_ADDED = new Set(['isdeleted', 'isrecycled']);

const ATTRIBUTE_NAME = /^[A-Za-z][A-Za-z0-9-]{0,127}$/;

/**
 * The --attributes list: the base set, then every target's `attribute.user.ad_bind.externalId` not already in it
 * (case-insensitive), then virtualClearTextUTF8. Throws on a name that is not a plain LDAP attribute name: it
 * ends up in a comma-separated samba-tool argument.
 */
export function syncpasswordsAttributes(externalIdAttributes: readonly string[]): string[] {
  const out: string[] = [...SYNCPASSWORDS_BASE_ATTRIBUTES];
  const seen = new Set(out.map((a) => a.toLowerCase()));
  for (const a of externalIdAttributes) {
    if (!ATTRIBUTE_NAME.test(a)) throw new RangeError(`ad_bind.externalId "${a}" is not a plain LDAP attribute name`);
    if (a.toLowerCase().startsWith('virtual')) throw new RangeError(`ad_bind.externalId "${a}" is a password-derived virtual attribute`);
    if (!seen.has(a.toLowerCase())) {
      seen.add(a.toLowerCase());
      out.push(a);
    }
  }
  out.push(CLEARTEXT_ATTRIBUTE);
  return out;
}

/** POSIX shell single-quoting. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface CacheSettings {
  attributes: readonly string[];
  /** Absolute path of the hook (pwsync's native libexec/pwsync-samba-hook). */
  script: string;
  decryptSambaGpg: boolean;
}

/** `samba-tool user syncpasswords` arguments that initialise the cache (run as root on the DC). */
export function cacheInitArgs(smbConf: string, cacheLdb: string, s: CacheSettings): string[] {
  return [
    'user', 'syncpasswords', '-s', smbConf, '--cache-ldb-initialize', `--cache-ldb=${cacheLdb}`,
    ...(s.decryptSambaGpg ? ['--decrypt-samba-gpg'] : []),
    `--attributes=${s.attributes.join(',')}`, `--script=${s.script}`,
  ];
}

/** The loop the pwsync-syncpasswords systemd unit runs (foreground; exits when the hook fails). */
export function syncLoopArgs(smbConf: string, cacheLdb: string): string[] {
  return ['user', 'syncpasswords', '-s', smbConf, `--cache-ldb=${cacheLdb}`];
}

/**
 * Differences between an initialised cache (the `ldbsearch -H CACHE -b KEY=USERSYNCPASSWORDS -s base` output)
 * and what pwsync needs; [] when it matches. Attribute order does not matter, isDeleted/isRecycled are ignored.
 */
export function cacheDifferences(ldbsearchOutput: string, want: CacheSettings): string[] {
  const entry = parseLdifEntry(ldbsearchOutput);
  const text = (name: string) => entry.values(name).map((v) => v.toString('utf8'));
  const diffs: string[] = [];
  const have = new Set(text('passwordAttribute').map((a) => a.toLowerCase()).filter((a) => !ALWAYS_ADDED.has(a)));
  const need = new Set(want.attributes.map((a) => a.toLowerCase()));
  const missing = want.attributes.filter((a) => !have.has(a.toLowerCase()));
  const extra = [...have].filter((a) => !need.has(a));
  if (missing.length > 0) diffs.push(`attributes missing: ${missing.join(',')}`);
  if (extra.length > 0) diffs.push(`attributes not needed: ${extra.join(',')}`);
  const script = text('syncCommand')[0];
  if (script !== want.script) diffs.push(`script is ${script ?? '(none)'}, expected ${want.script}`);
  const decrypt = text('decryptSambaGPG')[0]?.toUpperCase() === 'TRUE';
  if (decrypt !== want.decryptSambaGpg) diffs.push(`--decrypt-samba-gpg is ${decrypt ? 'on' : 'off'}, expected ${want.decryptSambaGpg ? 'on' : 'off'}`);
  return diffs;
}

/** "Store plaintext passwords: on" in `samba-tool domain passwordsettings show`. */
export function storePlaintextIsOn(passwordSettingsShow: string): boolean {
  return /^\s*Store plaintext passwords:\s*on\s*$/im.test(passwordSettingsShow);
}
