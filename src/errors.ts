// The error family of pwsync: every failure a caller may branch on has a class with a stable `code`.
// Messages never contain a password, a token or a request body that carries either.

export abstract class PwsyncError extends Error {
  static readonly code: string = 'E_PWSYNC';
  readonly code: string;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = (new.target as unknown as { code: string }).code;
  }
}

/** config.yml / secret.yml are missing, unreadable or invalid; the message names the key and the fix. */
export class ConfigError extends PwsyncError {
  static override readonly code = 'E_CONFIG';
}

/** An intake frame that can never be accepted (malformed, wrong version, wrong types, too large). */
export class FrameError extends PwsyncError {
  static override readonly code: string = 'E_BAD_FRAME';
}
export class FrameTooLargeError extends FrameError {
  static override readonly code = 'E_FRAME_TOO_LARGE';
}
export class InvalidUtf16Error extends FrameError {
  static override readonly code = 'E_INVALID_UTF16';
}

/** A change the agent will never forward (krbtgt, computer accounts, out of scope). Not a fault. */
export class RefusedChangeError extends PwsyncError {
  static override readonly code: string = 'E_REFUSED';
  constructor(readonly reason: RefusalReason, message: string) {
    super(message);
  }
}
/** What intake refuses before storing (src/intake/account-filter.ts); delivery re-checks the account AD resolved. */
export type RefusalReason = 'krbtgt' | 'computer';

/** The outbox could not commit (disk full, I/O error); the capture side must keep its copy and retry. */
export class StorageError extends PwsyncError {
  static override readonly code = 'E_STORAGE';
}
export class CorruptDatabaseError extends PwsyncError {
  static override readonly code = 'E_DB_CORRUPT';
}

/** The directory (AD over LDAP) could not be asked; the change waits and is retried. */
export class DirectoryUnavailableError extends PwsyncError {
  static override readonly code = 'E_DIRECTORY_UNAVAILABLE';
}
/** The account is not in AD under base_dn (or ambiguous); the change is rejected. */
export class DirectoryLookupError extends PwsyncError {
  static override readonly code = 'E_DIRECTORY_LOOKUP';
}

// Target outcome classes (docs/architecture.md#target). Delivery branches on these, never on message text.

/** Network error, timeout, 5xx, 429: try again later (retryAfterMs when the target said so). */
export class RetryableError extends PwsyncError {
  static override readonly code: string = 'E_RETRYABLE';
  constructor(message: string, readonly retryAfterMs?: number, options?: { cause?: unknown }) {
    super(message, options);
  }
}
/**
 * The target answered, but not as a SCIM service would (an HTML maintenance page with 200, a redirect, a body that
 * is not SCIM JSON): a fault of the target or the path to it, usually passing. Retried with backoff, never a pause.
 */
export class TargetFaultError extends RetryableError {
  static override readonly code = 'E_TARGET_FAULT';
}
/** This change can never succeed at this target (policy, charset, duplicate match, 400). */
export class RejectedChangeError extends PwsyncError {
  static override readonly code = 'E_REJECTED';
  constructor(message: string, readonly detail?: string) {
    super(message);
  }
}
/** The user does not exist at the target yet, or is pending deletion: wait for provisioning. */
export class NotProvisionedError extends PwsyncError {
  static override readonly code = 'E_NOT_PROVISIONED';
  constructor(message: string, readonly pendingDeletion = false) {
    super(message);
  }
}
/** 401/403: token expired, revoked or missing a scope. Pause the whole target and alert. */
export class TargetUnusableError extends PwsyncError {
  static override readonly code = 'E_TARGET_UNUSABLE';
  constructor(message: string, readonly status?: number) {
    super(message);
  }
}

/** The target does not answer a paged listing of its users (400/404/405/501 to it): search user by user instead. */
export class ListingUnsupportedError extends PwsyncError {
  static override readonly code = 'E_LISTING_UNSUPPORTED';
}

/** A listing page reached the response size cap (64 KiB): ask again for fewer users per page. */
export class ListingPageTooLargeError extends PwsyncError {
  static override readonly code = 'E_LISTING_PAGE_TOO_LARGE';
}

/**
 * A queued password cannot be unsealed with this agent's key (the key file was lost or replaced, or the row was
 * altered). Retrying never helps: it is never treated as transient.
 */
export class UnsealError extends PwsyncError {
  static override readonly code = 'E_UNSEALABLE';
}

/** The outbox on disk is not the queue this agent wrote (missing, emptied, replaced) or does not fit its key. */
export class OutboxMismatchError extends PwsyncError {
  static override readonly code = 'E_OUTBOX_MISMATCH';
}

/**
 * The outbox file's schema version is not one this build can open: written by a newer pwsync (never opened, never
 * altered), or, for a read-only open, older than this build reads without upgrading it.
 */
export class OutboxSchemaVersionError extends PwsyncError {
  static override readonly code = 'E_OUTBOX_SCHEMA_VERSION';
  constructor(message: string, readonly fileVersion: number, readonly supportedVersion: number) {
    super(message);
  }
}

/** A file or directory the agent trusts (config, data_dir, socket) can be written or read by others. */
export class UnsafePermissionsError extends ConfigError {}

/** The intake socket's path or directory cannot be trusted with a password. */
export class UntrustedSocketError extends Error {
  static readonly code = 'E_SOCKET_UNTRUSTED';
  readonly code = UntrustedSocketError.code;
}

/** The agent could not be asked or gave no usable answer: the capture side keeps its copy and retries later. */
export class IntakeUnavailableError extends Error {
  static readonly code = 'E_AGENT_UNAVAILABLE';
  readonly code = IntakeUnavailableError.code;
}

/** A text file the operator hands us (a Directory Sync export) is not UTF-8. */
export class EncodingError extends PwsyncError {
  static override readonly code = 'E_ENCODING';
}

/** Anything that is not a PwsyncError: a bug or an unexpected failure. Capture sides treat it as "try again later". */
export class InternalError extends PwsyncError {
  static override readonly code = 'E_INTERNAL';
}

/** A stable code for any thrown value, for journal fields and frame replies. */
export function errorCode(err: unknown): string {
  return err instanceof PwsyncError ? err.code : InternalError.code;
}

/**
 * Codes a change can end with that no call throws: the delivery worker and operators decide them. Recorded as the
 * row's last_error_code and the journal's `code` field, next to the thrown codes above.
 */
export const EndCode = Object.freeze({
  /** Not delivered within queue.max_age. */
  expired: 'E_EXPIRED',
  /** A newer password (or the same version) was captured or delivered: this one is never sent. */
  superseded: 'E_SUPERSEDED',
  /** The account is no longer in Active Directory. */
  unknownAccount: 'E_UNKNOWN_ACCOUNT',
  /** The account is outside ad.ldap.filter.user / base_dn. */
  outOfScope: 'E_OUT_OF_SCOPE',
  /** The attribute that names the user at the target is empty. */
  noExternalId: 'E_NO_EXTERNAL_ID',
  /** The same password version was already delivered: done without sending. */
  duplicate: 'E_DUPLICATE',
  /** An operator dropped the change. */
  dropped: 'E_DROPPED',
} as const);

/** Samba syncpasswords handed the hook an LDIF entry that is not valid RFC 2849 (or not one entry). The message
 *  gives a line number and a fixed reason, never a value: the entry carries a cleartext password. */
export class LdifError extends PwsyncError {
  static override readonly code = 'E_LDIF';
  constructor(message: string, readonly line?: number) {
    super(line === undefined ? message : `LDIF line ${line}: ${message}`);
  }
}
