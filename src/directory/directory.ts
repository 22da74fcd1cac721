// The Directory contract (docs/architecture.md#directory): what delivery needs to know about an AD account at send time.
// Implementations never log attribute values that could identify a password (there are none) nor the bind password.

/** msDS-KeyVersionNumber is a 32-bit unsigned value in AD (MS-ADA2); a larger "version" cannot be AD's. */
export const MAX_KVNO = 0xffffffff;

/** The password version AD holds now; compared with the version recorded at capture (invariant 2, docs/architecture.md#invariants). */
export interface PasswordVersion {
  /** msDS-KeyVersionNumber: increments on every password set (absent on some accounts / old DCs). */
  kvno?: number;
  /** pwdLastSet as the raw Windows FILETIME string (100 ns ticks since 1601-01-01 UTC). */
  pwdLastSet?: string;
}

export interface DirectoryQuery {
  /** sAMAccountName (case-insensitive in AD). */
  account: string;
  /** RID from the capture (Windows filter); used when present, checked against the account. */
  rid?: number;
  /** objectGUID in string form, when the capture carries it (Samba). */
  guid?: string;
}

/** userAccountControl ACCOUNTDISABLE (MS-ADTS 2.2.16). */
const UF_ACCOUNTDISABLE = 0x2;

/** Whether an account with these userAccountControl bits is enabled. */
export function isEnabledAccount(userAccountControl: number): boolean {
  return (userAccountControl & UF_ACCOUNTDISABLE) === 0;
}

export interface DirectoryUser {
  dn: string;
  /** objectGUID in the standard string form (first three groups little-endian). */
  guid: string;
  sAMAccountName: string;
  /** Raw values of the attributes asked for (binary ones as Buffer). */
  attributes: Record<string, string | Buffer | Array<string | Buffer>>;
  version: PasswordVersion;
  /** userAccountControl bit 0x2 not set. */
  enabled: boolean;
  /** userAccountControl bits of the account. */
  userAccountControl: number;
  /** Matches ad.ldap.filter.user under ad.ldap.base_dn. */
  inScope: boolean;
}

/** One in-scope entry with the attributes asked for, as text (absent attributes undefined). */
export interface InScopeEntry {
  dn: string;
  values: Record<string, string | undefined>;
}

export interface Directory {
  /**
   * Finds the account; `undefined` when AD has no such account under base_dn.
   * `attributes` lists the extra attributes to return (the union of every target's ad_bind attribute).
   * Throws DirectoryUnavailableError when AD cannot be asked (retry later).
   */
  resolve(query: DirectoryQuery, attributes: readonly string[]): Promise<DirectoryUser | undefined>;
  /** Binds and searches one in-scope user; used by `pwsync check`. Returns the DN found (or undefined). */
  probe(): Promise<{ sampleDn?: string }>;
  /**
   * Every in-scope entry (filter.user under base_dn) with `attributes` as text, on the directory's own connection;
   * for the coverage report. Throws DirectoryUnavailableError when AD cannot be asked.
   */
  listInScope(attributes: readonly string[]): Promise<InScopeEntry[]>;
  close(): Promise<void>;
}

/**
 * The in-scope entries one page at a time, attributes raw (binary ones as Buffer): memory holds one page however
 * large the directory is. For the mapping report, which walks every user once.
 */
export interface InScopePages {
  inScopePages(attributes: readonly string[]): AsyncIterable<Array<{ dn: string; attributes: DirectoryUser['attributes'] }>>;
}
