// Runs the mapping report: walks the in-scope AD users page by page, computes each external ID exactly as delivery
// does (src/directory/external-id.ts), and asks each target what it holds — a paged listing where the target
// allows it, else one search per distinct external ID — within the target's rate limit. Read-only at AD and at
// every target (only searches and listings: escim_read_users is enough). Never handles a password.

import { refusalFor } from '../intake/account-filter.js';
import type { TargetConfig } from '../config/schema.js';
import { TargetGate } from '../delivery/target-gate.js';
import type { DirectoryUser, InScopePages } from '../directory/directory.js';
import { attributeValue, computeExternalId } from '../directory/external-id.js';
import { ListingPageTooLargeError, ListingUnsupportedError, NotProvisionedError, RejectedChangeError, RetryableError } from '../errors.js';
import type { Target } from '../targets/target.js';
import { classifyForTarget, HoldingsBuilder, MAPPING_STATUSES, type MappedAdUser, type MappingRow, type MappingStatus } from './classify.js';

/** What the report walks: the directory's in-scope pages (src/directory/directory.ts). */
export type InScopePageSource = InScopePages;

export interface MappingTarget {
  config: TargetConfig;
  target: Target;
  /** Lower-case accounts whose delivery to this target met "pending deletion" (from the outbox). */
  pendingDeletion: ReadonlySet<string>;
}

export interface TargetSummary {
  name: string;
  /** How the target was read: its paged listing, or one search per distinct external ID. */
  method: 'listing' | 'search';
  /** Users the listing returned (listing only). */
  targetUsers: number | null;
  /** Requests sent to the target. */
  requests: number;
  counts: Record<MappingStatus, number>;
}

export interface MappingReport {
  generatedAt: string;
  durationMs: number;
  adUsers: number;
  targets: TargetSummary[];
  rows: MappingRow[];
}

export interface MappingOptions {
  /** Users per listing page (kept small: a page must fit the 64 KiB response cap). */
  pageSize?: number;
  progress?: (text: string) => void;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

const LIST_PAGE = 100;
const MIN_PAGE = 10;
const MAX_ATTEMPTS = 8;

export async function runMappingReport(ad: InScopePageSource, targets: readonly MappingTarget[], opts: MappingOptions = {}): Promise<MappingReport> {
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const progress = opts.progress ?? (() => undefined);
  const started = now();

  // One pass over AD: keep only (account, dn, one external ID per distinct rule), never whole entries.
  const rules = distinctRules(targets.map((t) => t.config));
  const attributes = ['sAMAccountName', ...new Set(rules.map((r) => r.rule.ad_bind.externalId))];
  const users: Array<{ account: string; dn: string; ids: Array<string | undefined> }> = [];
  for await (const page of ad.inScopePages(attributes)) {
    for (const e of page) {
      const account = text(attributeValue(e.attributes, 'sAMAccountName'));
      // The agent never forwards these (krbtgt, computer accounts): they are not part of the mapping either.
      if (!account || refusalFor(account) !== undefined) continue;
      users.push({ account, dn: e.dn, ids: rules.map((r) => computeExternalId(e, r.rule)) });
    }
    progress(`AD: ${users.length} in-scope users read`);
  }

  const summaries: TargetSummary[] = [];
  const rows: MappingRow[] = [];
  for (const t of targets) {
    const ruleIndex = rules.findIndex((r) => r.key === ruleKey(t.config));
    const mapped: MappedAdUser[] = users.map((u) => ({ account: u.account, dn: u.dn, externalId: u.ids[ruleIndex] }));
    const gate = new RateGate(t.config.rate_limit, now, sleep);
    let requests = 0;
    const send = async <T>(op: () => Promise<T>): Promise<T> => {
      for (let attempt = 1; ; attempt++) {
        await gate.take();
        requests++;
        try {
          return await op();
        } catch (err) {
          if (!(err instanceof RetryableError) || attempt >= MAX_ATTEMPTS) throw err;
          // A 429's Retry-After holds the whole target, as delivery does (src/delivery/target-gate.ts).
          gate.hold(err.retryAfterMs ?? Math.min(30_000, 500 * 2 ** attempt));
        }
      }
    };
    let holdings: HoldingsBuilder | undefined;
    let listed: number | null = null;
    if (t.target.listPage) {
      try {
        const listPage = t.target.listPage.bind(t.target);
        let b: HoldingsBuilder | undefined;
        let start = 1;
        let seen = 0;
        let size = opts.pageSize ?? LIST_PAGE;
        for (;;) {
          let page;
          try {
            page = await send(() => listPage(start, size));
          } catch (err) {
            // Users with many or long attributes: the same page in halves, down to MIN_PAGE, then user by user.
            if (!(err instanceof ListingPageTooLargeError)) throw err;
            if (size <= MIN_PAGE) throw new ListingUnsupportedError(`${t.config.name}: even ${size} users per page exceed the response cap`);
            size = Math.max(MIN_PAGE, Math.floor(size / 2));
            continue;
          }
          // The target says how it compares the matched attribute (IIJ externalId: exactly; SCIM userName: not).
          b ??= new HoldingsBuilder(page.compare);
          for (const u of page.users) b.add(u.id, u.value);
          seen += page.users.length;
          progress(`${t.config.name}: ${seen}/${page.total} target users listed`);
          // Advance by what the server actually returned: servers may cap the page below `count`.
          const returned = Math.max(page.users.length, 0);
          if (returned === 0 || start - 1 + returned >= page.total) break;
          start += returned;
        }
        holdings = b ?? new HoldingsBuilder(compareOf(t.config));
        listed = seen;
      } catch (err) {
        if (!(err instanceof ListingUnsupportedError)) throw err;
        progress(`${t.config.name}: no paged listing (${err.message}); searching user by user`);
      }
    }
    let method: TargetSummary['method'] = 'listing';
    if (!holdings) {
      method = 'search';
      holdings = new HoldingsBuilder(compareOf(t.config));
      const distinct = [...new Set(mapped.map((u) => u.externalId).filter((v): v is string => v !== undefined))];
      let done = 0;
      for (const value of distinct) {
        const found = await send(async () => {
          try {
            const hit = await t.target.find(value);
            return hit ? { ids: [hit.id], count: 1 } : { ids: [], count: 0 };
          } catch (err) {
            // find refuses 2+ hits (RejectedChangeError; the value is never empty here) and treats a hit with another
            // value as none. The exact count stays unknown: "2" stands for "two or more".
            if (err instanceof RejectedChangeError) return { ids: [], count: 2 };
            if (err instanceof NotProvisionedError) return { ids: [], count: 0 };
            throw err;
          }
        });
        holdings.record(value, found.ids, found.count);
        if (++done % 100 === 0 || done === distinct.length) progress(`${t.config.name}: ${done}/${distinct.length} external IDs searched`);
      }
    }
    const verdict = classifyForTarget(t.config.name, mapped, holdings.build(method === 'listing'), t.pendingDeletion);
    rows.push(...verdict.rows);
    summaries.push({ name: t.config.name, method, targetUsers: listed, requests, counts: verdict.counts });
  }
  return { generatedAt: new Date(started).toISOString(), durationMs: now() - started, adUsers: users.length, targets: summaries, rows };
}

function text(v: string | Buffer | Array<string | Buffer> | undefined): string | undefined {
  const first = Array.isArray(v) ? v[0] : v;
  return first === undefined ? undefined : Buffer.isBuffer(first) ? first.toString('utf8') : first;
}

/** How find() compares: RFC 7643 makes externalId case-exact and userName case-insensitive (scim-target.ts). */
const compareOf = (c: TargetConfig) => (c.type === 'scim' && c.match === 'userName' ? 'case-insensitive' : 'exact');

type Rule = TargetConfig['attribute']['user'];
const ruleKey = (t: TargetConfig) => JSON.stringify(t.attribute.user);

function distinctRules(configs: readonly TargetConfig[]): Array<{ key: string; rule: Rule }> {
  const out = new Map<string, Rule>();
  for (const c of configs) out.set(ruleKey(c), c.attribute.user);
  return [...out].map(([key, rule]) => ({ key, rule }));
}

/** The per-target token bucket of delivery (TargetGate), one request per take, with a Retry-After hold. */
class RateGate {
  readonly #gate: TargetGate;
  constructor(
    ratePerSecond: number,
    private readonly now: () => number,
    private readonly sleep: (ms: number) => Promise<void>,
  ) {
    this.#gate = new TargetGate(ratePerSecond, Math.max(1, Math.ceil(ratePerSecond)), now());
  }

  async take(): Promise<void> {
    for (;;) {
      const t = this.now();
      const at = this.#gate.nextAt(t, 1);
      if (at <= t) {
        this.#gate.take(t, 1);
        return;
      }
      await this.sleep(at - t);
    }
  }

  hold(ms: number): void {
    this.#gate.hold(this.now() + ms);
  }
}

export const STATUS_LABELS: Record<MappingStatus, string> = {
  matched: 'matched',
  'not-found': 'not found at the target',
  multiple: 'more than one target user',
  'pending-deletion': 'pending deletion at the target',
  'no-external-id': 'external-ID attribute empty in AD',
  shared: 'external ID shared by several AD users',
  orphan: 'target user no in-scope AD user produces',
};

/** Whether every in-scope AD user is matched at every target (orphans do not block a go-live). */
export function allMatched(report: MappingReport): boolean {
  return report.targets.every((t) => MAPPING_STATUSES.every((s) => s === 'matched' || s === 'orphan' || t.counts[s] === 0));
}
