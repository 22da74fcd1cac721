// Public types of the IIJ ID Service emulator: options, control inputs and snapshots.
// Types only, no behaviour; never imported from src/ (the emulator shares no code with the client).

/** IIJ ID API scopes the emulator knows (IIJ: resource server "IIJ ID Service API"). */
export type Scope = 'escim_read_users' | 'escim_write_users' | (string & {});

export interface TokenInput {
  /** The bearer token value. Generated (random) when omitted. */
  token?: string;
  scopes: readonly Scope[];
  /** ISO-8601 or Date; the token is rejected (401) from this instant on. */
  expiresAt?: string | Date;
}

export interface TokenSnapshot {
  /** First 4 characters followed by an ellipsis: the full token is never handed back after creation. */
  token: string;
  scopes: Scope[];
  expiresAt: string | null;
  revoked: boolean;
}

export interface PasswordPolicy {
  /** IIJ lets an admin configure the minimum between 6 and 24. */
  minLength: number;
  maxLength: number;
  /** At least 3 of 4 classes: upper, lower, digit, symbol. */
  complexity: boolean;
  /** The new password must differ from the last N passwords (0 = no history check). */
  history: number;
}

/** A fault a request can be answered with instead of being served. */
export type FaultKind = 500 | 502 | 503 | 429 | 'timeout' | 'reset';

/** One entry of the forced-response queue; consumed by the next matching SCIM request(s). */
export interface ForcedFault {
  /** An HTTP status (4xx/5xx) answered as SCIM error JSON, or 'timeout' / 'reset'. */
  status: number | 'timeout' | 'reset';
  /** Seconds, sent as Retry-After (429 and 503 only). 429 defaults to 1. */
  retryAfter?: number;
  /** How many consecutive matching requests get this answer (default 1). */
  count?: number;
  /** Only requests with this method (e.g. "PATCH") consume the entry. */
  method?: string;
  /** Only requests whose path contains this string (e.g. "/Users/.search") consume the entry. */
  pathContains?: string;
}

export interface RateLimit {
  /** Sustained requests per second allowed per token. */
  requestsPerSecond: number;
  /** Bucket size (default: requestsPerSecond, at least 1). */
  burst?: number;
}

export interface FaultSettings {
  /** Probability 0..1 that a SCIM request gets a random fault of `kinds`. */
  errorRate: number;
  kinds: FaultKind[];
  /** Added to every SCIM request before it is served (setTimeout, never a busy wait). */
  latencyMs: number;
  /** How long a 'timeout' fault holds the request before destroying the socket. */
  timeoutMs: number;
  rateLimit: RateLimit | null;
  /** Seed of the random choices (errorRate, kind): same seed + same request order = same faults. */
  seed: number;
  failNext: ForcedFault[];
}

/** What setFaults / POST /_emulator/faults accept: each field present replaces that setting. */
export type FaultSettingsInput = Partial<FaultSettings>;

export type UserSelector = { id: string } | { userName: string } | { externalId: string };

/** A user as the control API creates it: SCIM user attributes plus emulator-only fields. */
export interface NewUserInput {
  userName: string;
  externalId?: string;
  name?: { familyName?: string; givenName?: string; [k: string]: unknown };
  emails?: Array<{ value: string; primary?: boolean; type?: string }>;
  active?: boolean;
  /** Set as is, WITHOUT the password policy (the control API is the admin back door). */
  password?: string;
  pendingDeletion?: boolean;
  /** Control API only: skip the externalId uniqueness check (to test a client's handling of 2+ search hits). */
  allowDuplicateExternalId?: boolean;
  /** Any other SCIM attribute (title, phoneNumbers, extension objects …). */
  [attribute: string]: unknown;
}

/** A user as the control API shows it: the SCIM representation plus emulator-only state. */
export interface UserSnapshot {
  id: string;
  userName: string;
  externalId: string;
  pendingDeletion: boolean;
  passwordSetCount: number;
  lastPasswordSetAt: string | null;
  scim: Record<string, unknown>;
}

export interface PasswordCheck {
  match: boolean;
  /** Passwords set through the SCIM API (POST/PUT/PATCH); seeding does not count. */
  passwordSetCount: number;
  lastPasswordSetAt: string | null;
}

export interface RequestLogEntry {
  at: string;
  method: string;
  /** Path without the query string; bodies are never logged. */
  path: string;
  /** null when no response was sent (timeout/reset fault or client gone). */
  status: number | null;
  /** First 4 characters of the bearer token and an ellipsis, or null when none was sent. */
  token: string | null;
  /** Set when an injected fault answered the request. */
  fault?: string;
  durationMs: number;
}

export interface SeedFile {
  users?: NewUserInput[];
  tokens?: TokenInput[];
}

export interface EmulatorOptions {
  /** 0 (default) = a random free port. The emulator always binds 127.0.0.1. */
  port?: number;
  seed?: SeedFile;
  policy?: Partial<PasswordPolicy>;
  faults?: FaultSettingsInput;
  /** Shorthand for faults.rateLimit. */
  rateLimit?: RateLimit;
  /** Key for the X-Emulator-Admin header of /_emulator/; random when omitted. */
  adminKey?: string;
  /** scrypt cost N (power of two). Low by default: this is a test double, the point is no plaintext at rest. */
  passwordHashCost?: number;
  /** Milliseconds since the epoch; token expiry and meta timestamps use it (tests may freeze time). */
  clock?: () => number;
  /** Maximum request log entries kept (oldest dropped first). Default 10 000. */
  requestLogLimit?: number;
}

export interface Emulator {
  /** e.g. http://127.0.0.1:43123 */
  readonly url: string;
  /** `${url}/scim/v2/` — what a client uses as IIJ's https://scim.auth.iij.jp/scim/v2/ */
  readonly scimBase: string;
  readonly port: number;
  readonly adminKey: string;
  close(): Promise<void>;
  addUser(input: NewUserInput): Promise<UserSnapshot>;
  getUser(selector: UserSelector): UserSnapshot | undefined;
  listUsers(): UserSnapshot[];
  setPendingDeletion(selector: UserSelector, pending: boolean): UserSnapshot;
  verifyPassword(selector: UserSelector, password: string): Promise<PasswordCheck>;
  /** Returns the full token (generated when input.token is omitted). */
  addToken(input: TokenInput): string;
  /** false when the token is unknown. */
  revokeToken(token: string): boolean;
  listTokens(): TokenSnapshot[];
  setFaults(input: FaultSettingsInput): FaultSettings;
  getFaults(): FaultSettings;
  setPolicy(input: Partial<PasswordPolicy>): PasswordPolicy;
  getPolicy(): PasswordPolicy;
  requestLog(): RequestLogEntry[];
  clearRequestLog(): void;
  /** Back to the start-up seed: users, tokens, policy and faults as given to startEmulator; log cleared. */
  reset(): Promise<void>;
}
