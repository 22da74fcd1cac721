// The Target contract (DESIGN §3.4): find the account at a cloud identity provider and set its password.
// Implementations classify every failure into the error classes of src/errors.ts and never put a password or
// token in an error, a log line or an event.

export interface TargetUser {
  /** The target's own id of the user (SCIM `id`). */
  id: string;
  /** The matched value (externalId or userName). */
  matchedValue: string;
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
   * Throws RejectedChangeError for 2+ hits, TargetUnusableError for 401/403, RetryableError for network/5xx/429.
   */
  find(value: string): Promise<TargetUser | undefined>;
  /**
   * Sets the password. Throws NotProvisionedError (404 / pending deletion), RejectedChangeError (400 policy,
   * with the target's `detail`), TargetUnusableError (401/403), RetryableError (network, timeout, 5xx, 429).
   */
  setPassword(user: TargetUser, password: string): Promise<void>;
  /** A harmless authenticated request (a search that matches nobody), used by `pwsync check` and to resume. */
  probe(): Promise<void>;
  close(): Promise<void>;
}
