// Bearer-token authentication and scope checks for the SCIM surface (IIJ: escim_read_users / escim_write_users).
// Never logs or returns a full token: tokens are compared as SHA-256 digests in constant time.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { ScimError } from './scim-error.js';
import type { Scope, TokenInput, TokenSnapshot } from './types.js';

export const READ_SCOPE: Scope = 'escim_read_users';
export const WRITE_SCOPE: Scope = 'escim_write_users';

interface StoredToken {
  readonly digest: Buffer;
  readonly preview: string;
  readonly scopes: readonly Scope[];
  readonly expiresAt: number | null;
  revoked: boolean;
}

/** Who made an authenticated request: enough to rate-limit and log, never the token itself. */
export interface Caller {
  /** Stable key for per-token accounting (hex digest). */
  readonly key: string;
  readonly preview: string;
}

export function tokenPreview(token: string): string {
  return `${token.slice(0, 4)}…`;
}

function digestOf(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

export class TokenStore {
  private tokens: StoredToken[] = [];

  constructor(private readonly now: () => number) {}

  /** Adds (or replaces, same value) a token; returns the token value, generated when not given. */
  add(input: TokenInput): string {
    if (!Array.isArray(input.scopes) || input.scopes.some((s) => typeof s !== 'string')) {
      throw new TypeError('token scopes must be an array of strings');
    }
    const token = input.token ?? randomBytes(32).toString('base64url');
    if (typeof token !== 'string' || token.length === 0 || /\s/.test(token)) {
      throw new TypeError('token must be a non-empty string without whitespace');
    }
    let expiresAt: number | null = null;
    if (input.expiresAt !== undefined) {
      expiresAt = new Date(input.expiresAt).getTime();
      if (Number.isNaN(expiresAt)) throw new TypeError('token expiresAt must be an ISO-8601 date');
    }
    const digest = digestOf(token);
    this.tokens = this.tokens.filter((t) => !timingSafeEqual(t.digest, digest));
    this.tokens.push({ digest, preview: tokenPreview(token), scopes: [...input.scopes], expiresAt, revoked: false });
    return token;
  }

  revoke(token: string): boolean {
    const found = this.find(token);
    if (found) found.revoked = true;
    return found !== undefined;
  }

  clear(): void {
    this.tokens = [];
  }

  list(): TokenSnapshot[] {
    return this.tokens.map((t) => ({
      token: t.preview,
      scopes: [...t.scopes],
      expiresAt: t.expiresAt === null ? null : new Date(t.expiresAt).toISOString(),
      revoked: t.revoked,
    }));
  }

  /**
   * Checks an Authorization header for a scope. Throws 401 (missing/unknown/expired/revoked) or 403 (scope).
   */
  authenticate(authorization: string | undefined, scope: Scope): Caller {
    const match = /^Bearer +(\S+) *$/i.exec(authorization ?? '');
    if (!match?.[1]) throw unauthorized('An access token is required (Authorization: Bearer <token>).');
    const token = match[1];
    const stored = this.find(token);
    if (!stored) throw unauthorized('The access token is invalid.');
    if (stored.revoked) throw unauthorized('The access token has been revoked.');
    if (stored.expiresAt !== null && this.now() >= stored.expiresAt) throw unauthorized('The access token has expired.');
    if (!stored.scopes.includes(scope)) {
      throw new ScimError(403, undefined, `The access token lacks the required scope ${scope}.`, {
        'WWW-Authenticate': `Bearer error="insufficient_scope", scope="${scope}"`,
      });
    }
    return { key: stored.digest.toString('hex'), preview: stored.preview };
  }

  // Walks every token and compares digests with timingSafeEqual, so timing does not depend on which one matched.
  private find(token: string): StoredToken | undefined {
    const digest = digestOf(token);
    let found: StoredToken | undefined;
    for (const t of this.tokens) {
      if (timingSafeEqual(t.digest, digest)) found = t;
    }
    return found;
  }
}

function unauthorized(detail: string): ScimError {
  return new ScimError(401, undefined, detail, { 'WWW-Authenticate': 'Bearer error="invalid_token"' });
}

/** Constant-time comparison for the control API's admin key. */
export function adminKeyMatches(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  return timingSafeEqual(digestOf(given), digestOf(expected));
}
