// Access-token expiry (targets[].token_expires): warn 14, 7 and 1 days ahead, and when it has passed — in the
// journal once per threshold per target per UTC day, and as data for the console and metrics.
// IIJ tokens expire and die with their admin user; the agent cannot see the expiry itself (docs/console.md).

import { EV } from '../journal/catalogue.js';
import type { Journal, JournalEntry } from '../journal/journal.js';

export const WARN_DAYS = [14, 7, 1] as const;
const DAY = 86_400_000;

export interface TokenExpiry {
  target: string;
  /** Epoch ms: the start (00:00 UTC) of the configured date, so warnings err on the early side. */
  expiresAt: number;
  /** Whole days left, rounded up; 0 or less when expired. */
  daysLeft: number;
  /** The tightest threshold reached (14, 7, 1), 0 when expired, null when none yet. */
  threshold: number | null;
}

/** Pure: the expiry state of every target that has `token_expires`. */
export function tokenExpiries(targets: ReadonlyArray<{ name: string; token_expires?: string | undefined }>, now: number): TokenExpiry[] {
  const out: TokenExpiry[] = [];
  for (const t of targets) {
    if (!t.token_expires) continue;
    const expiresAt = Date.parse(`${t.token_expires}T00:00:00Z`);
    if (!Number.isFinite(expiresAt)) continue;
    const daysLeft = Math.ceil((expiresAt - now) / DAY);
    let threshold: number | null = null;
    if (expiresAt <= now) threshold = 0;
    else for (const d of WARN_DAYS) if (daysLeft <= d) threshold = d;
    out.push({ target: t.name, expiresAt, daysLeft: expiresAt <= now ? 0 : daysLeft, threshold });
  }
  return out;
}

const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/**
 * Journals 5003 (or 5004 when expired) at most once per (target, threshold, UTC day). `past` are journal entries
 * already written (the file tail), so a restart on the same day does not repeat a warning.
 */
export class TokenExpiryWarner {
  private readonly sent = new Set<string>();

  constructor(
    private readonly journal: Journal,
    private readonly targets: () => ReadonlyArray<{ name: string; token_expires?: string | undefined }>,
    past: readonly JournalEntry[] = [],
  ) {
    for (const e of past)
      if ((e.id === EV.tokenExpiring.id || e.id === EV.tokenExpired.id) && typeof e.target === 'string')
        this.sent.add(`${e.target}|${String(e.threshold)}|${e.ts.slice(0, 10)}`);
  }

  check(now: number): TokenExpiry[] {
    const all = tokenExpiries(this.targets(), now);
    for (const x of all) {
      if (x.threshold === null) continue;
      const key = `${x.target}|${x.threshold}|${dayOf(now)}`;
      if (this.sent.has(key)) continue;
      this.sent.add(key);
      this.journal.write(x.threshold === 0 ? EV.tokenExpired : EV.tokenExpiring, {
        target: x.target, expires: dayOf(x.expiresAt), daysLeft: x.daysLeft, threshold: x.threshold,
      });
    }
    return all;
  }
}
