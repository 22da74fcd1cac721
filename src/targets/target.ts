// The Target contract (docs/architecture.md#target): find the account at a cloud identity provider and set its password.
// Implementations classify every failure into the error classes of src/errors.ts and never put a password or
// token in an error, a log line or an event.

/** A fixed matching value nobody has: a probe's search must be harmless and must match nobody (every SCIM target). */
export const PROBE_MATCH_VALUE = 'pwsync-probe-2b7e1516-28ae-4d2a-a6f7-15880912cf4f';

/**
 * True when `s` has an unpaired UTF-16 surrogate. Such a string is not Unicode text: it cannot be encoded as UTF-8
 * (a server would store U+FFFD instead of the password), so intake refuses it and no target is asked to set it.
 */
export function hasLoneSurrogate(s: string): boolean {
  return /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
}

export interface TargetUser {
  /** The target's own id of the user (SCIM `id`). */
  id: string;
  /** The matched value (externalId or userName). */
  matchedValue: string;
}

/** What a probe could establish. A search proves the token reads users; nothing harmless proves it may write. */
export interface ProbeResult {
  canRead: boolean;
  /** false for IIJ and generic SCIM: escim_write_users (or write rights) is only proven by a real write. */
  writeVerified: boolean;
}

/** One page of a read-only listing of target users: only the id and the matching attribute of each. */
export interface TargetUserPage {
  users: Array<{ id: string; value: string }>;
  /** totalResults as the target reported it. */
  total: number;
  /** How the target compares the matching attribute (RFC 7643: externalId exact, userName case-insensitive). */
  compare: 'exact' | 'case-insensitive';
}

export interface Target {
  readonly name: string;
  /**
   * Throws RejectedChangeError when this target can never accept the password (IIJ: any non-ASCII character),
   * before any request is made.
   */
  checkPassword(password: string): void;
  /**
   * Returns the one user whose matching attribute equals `value`, `undefined` when there is none.
   * Throws RejectedChangeError for 2+ hits, TargetUnusableError for 401/403, RetryableError for network/5xx/429,
   * NotProvisionedError when the target returns a hit whose value is not the searched one (treated as not found).
   * `owner` is the AD objectGUID the value was computed for: a target with an id cache (id-cached-target.ts) may
   * answer from it without a request; other targets ignore it.
   */
  find(value: string, owner?: string): Promise<TargetUser | undefined>;
  /**
   * Sets the password. Throws NotProvisionedError (404 / pending deletion), RejectedChangeError (400 policy,
   * with the target's `detail`), TargetUnusableError (401/403), RetryableError (network, timeout, 5xx, 429).
   * Resolves to the user whose password was set when that is not `user` (an id cache found `user.id` out of date
   * and wrote to the id a new search gave); `void` means `user`.
   */
  setPassword(user: TargetUser, password: string): Promise<TargetUser | void>;
  /**
   * A harmless authenticated request (a search that matches nobody), used by `pwsync check` and to resume.
   * Throws like `find`. The built-in targets resolve to a ProbeResult; `void` stays allowed for older fakes.
   */
  probe(): Promise<ProbeResult | void>;
  /**
   * Optional, read-only: one page (1-based `startIndex`, at most `count` users) of the users that carry a matching
   * value (IIJ: `externalId pr`), for `pwsync report mapping`. Throws like `find`, and ListingUnsupportedError
   * when the target does not page a listing (the caller then searches user by user).
   */
  listPage?(startIndex: number, count: number): Promise<TargetUserPage>;
  /**
   * Optional: HTTP requests this target has sent since it was created (searches, writes, listings, probes). Delivery
   * charges the target's rate limit with these real requests; a target without it is charged two per change.
   */
  requestsSent?(): number;
  close(): Promise<void>;
}
