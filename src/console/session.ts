// Console sessions: random session IDs in an HttpOnly, SameSite=Strict cookie (never the admin token), a CSRF
// token per session, idle and absolute expiry, and a constant-time check of the admin token.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const COOKIE = 'pwsync_session';
const IDLE_MS = 30 * 60_000;
const ABSOLUTE_MS = 12 * 3_600_000;
const MAX_SESSIONS = 1000;

export interface Session {
  csrf: string;
  authed: boolean;
  createdAt: number;
  seenAt: number;
}

/** Compares a presented token with the configured one in constant time (hashing first equalises lengths). */
export function tokenMatches(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b) && presented.length === expected.length;
}

export function csrfMatches(presented: unknown, s: Session): boolean {
  return typeof presented === 'string' && presented.length > 0 && tokenMatches(presented, s.csrf);
}

const randomId = () => randomBytes(32).toString('base64url');

export class SessionStore {
  private readonly sessions = new Map<string, Session>();

  constructor(private readonly now: () => number = Date.now) {}

  create(authed: boolean): { id: string; session: Session } {
    if (this.sessions.size >= MAX_SESSIONS) this.evict();
    const t = this.now();
    const id = randomId();
    const session: Session = { csrf: randomId(), authed, createdAt: t, seenAt: t };
    this.sessions.set(id, session);
    return { id, session };
  }

  get(id: string | undefined): Session | undefined {
    if (!id) return undefined;
    const s = this.sessions.get(id);
    if (!s) return undefined;
    const t = this.now();
    if (t - s.seenAt > IDLE_MS || t - s.createdAt > ABSOLUTE_MS) {
      this.sessions.delete(id);
      return undefined;
    }
    s.seenAt = t;
    return s;
  }

  /** After a successful login: a new ID (no session fixation) and a new CSRF token. */
  promote(oldId: string | undefined): { id: string; session: Session } {
    if (oldId) this.sessions.delete(oldId);
    return this.create(true);
  }

  delete(id: string | undefined): void {
    if (id) this.sessions.delete(id);
  }

  /** Drops expired sessions, then the oldest unauthenticated ones (login pages anyone can request). */
  private evict(): void {
    const t = this.now();
    for (const [id, s] of this.sessions) if (t - s.seenAt > IDLE_MS || t - s.createdAt > ABSOLUTE_MS) this.sessions.delete(id);
    for (const [id, s] of this.sessions) {
      if (this.sessions.size < MAX_SESSIONS) break;
      if (!s.authed) this.sessions.delete(id);
    }
  }
}

export function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i <= 0) continue;
    out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}

export function sessionCookie(id: string): string {
  return `${COOKIE}=${id}; HttpOnly; SameSite=Strict; Path=/`;
}

export function clearedCookie(): string {
  return `${COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`;
}
