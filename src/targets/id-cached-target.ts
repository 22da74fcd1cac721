// A Target that remembers each user's SCIM id (id-cache.ts) so a change whose id is known costs one request, the
// write (docs/targets.md#id-cache). Never writes to an id it was not given for this AD object and value within the
// TTL; never caches or journals anything but ids and matching values.

import { ListingPageTooLargeError, ListingUnsupportedError, NotProvisionedError, RejectedChangeError, TargetUnusableError, errorCode } from '../errors.js';
import { EV } from '../journal/catalogue.js';
import type { Journal } from '../journal/journal.js';
import type { ScimIdCache } from './id-cache.js';
import type { Target, TargetUser } from './target.js';

export interface IdCachedTargetOptions {
  cache: ScimIdCache;
  /** id_cache.ttl: also how long a warm-up listing is good for before the next one. */
  ttlMs: number;
  /** id_cache.warm_up: list the target's users (read-only, paged) when a lookup misses and no listing is fresh. */
  warmUp: boolean;
  journal?: Pick<Journal, 'write'>;
  now?: () => number;
  /** Users per listing page (halved when a page reaches the response cap). */
  pageSize?: number;
  /**
   * At least this long between two listing pages: 1 / rate_limit, so a warm-up never bursts past the target's limit
   * (delivery also charges its pages to the rate limit once sent, through requestsSent).
   */
  pageIntervalMs?: number;
}

/** Where a TargetUser this wrapper handed out came from. */
interface Provenance {
  guid: string;
  value: string;
  /** true: from the cache (no search); false: from a search made now, to be remembered once a write succeeds. */
  cached: boolean;
  /** When the search that found it was sent: the mapping is confirmed as of then, not of the write. */
  seenAt: number;
}

const WARM_UP_PAGE = 500;
/** A listing that failed (a timeout, a 5xx, a 429) is tried again after this long, or the TTL if shorter. */
export const WARM_UP_RETRY_MS = 60_000;
const MIN_WARM_UP_PAGE = 10;

/**
 * Wraps `inner`. A write to a cached id that the target refuses — 404 or pending deletion (NotProvisionedError), any
 * other 4xx (RejectedChangeError) — forgets the id and, in the same attempt, searches once more and writes to what
 * that search finds, exactly as without a cache: the cache changes how many requests a change costs, never its
 * outcome. A 401/403 (TargetUnusableError) forgets the id and pauses the target as usual; the next attempt searches.
 * Network errors, 5xx and 429 say nothing about the id: it stays.
 */
export function withIdCache(inner: Target, o: IdCachedTargetOptions): Target {
  const now = o.now ?? Date.now;
  const name = inner.name;
  const { cache } = o;
  const provenance = new WeakMap<TargetUser, Provenance>();
  let warming: Promise<void> | undefined;
  let lastWarmUp = -Infinity;
  let listingUnsupported = false;

  function maybeWarmUp(): void {
    if (!o.warmUp || listingUnsupported || warming || !inner.listPage || now() - lastWarmUp < o.ttlMs) return;
    lastWarmUp = now();
    warming = warmUp(inner.listPage.bind(inner)).finally(() => {
      warming = undefined;
    });
  }

  async function warmUp(listPage: NonNullable<Target['listPage']>): Promise<void> {
    const started = now();
    let start = 1;
    let size = o.pageSize ?? WARM_UP_PAGE;
    let users = 0;
    let pages = 0;
    try {
      for (let first = true; ; first = false) {
        if (!first && (o.pageIntervalMs ?? 0) > 0) await new Promise((r) => setTimeout(r, o.pageIntervalMs));
        const seenAt = now();
        let page;
        try {
          page = await listPage(start, size);
        } catch (err) {
          if (!(err instanceof ListingPageTooLargeError) || size <= MIN_WARM_UP_PAGE) throw err;
          size = Math.max(MIN_WARM_UP_PAGE, Math.floor(size / 2));
          continue;
        }
        pages++;
        // A userName target compares case-insensitively: a listed spelling that differs from AD's simply misses.
        for (const u of page.users) cache.list(u.value, u.id, seenAt);
        users += page.users.length;
        // Advance by what the server returned (it may cap a page below `count`); stop at the end or a full cache.
        if (page.users.length === 0 || start - 1 + page.users.length >= page.total || users >= cache.maxEntries) break;
        start += page.users.length;
      }
      o.journal?.write(EV.idCacheWarmed, { target: name, users, pages, durationMs: now() - started });
    } catch (err) {
      if (err instanceof ListingUnsupportedError) listingUnsupported = true;
      // What was listed stays; the next miss after a minute lists again (waiting a whole TTL would leave a mass
      // reset searching user by user).
      else lastWarmUp = started - o.ttlMs + Math.min(o.ttlMs, WARM_UP_RETRY_MS);
      o.journal?.write(EV.idCacheWarmUpFailed, { target: name, code: errorCode(err), error: err instanceof Error ? err.message : String(err) });
    }
  }

  async function search(guid: string, value: string): Promise<TargetUser | undefined> {
    const seenAt = now();
    const user = await inner.find(value);
    if (user) provenance.set(user, { guid, value, cached: false, seenAt });
    return user;
  }

  return {
    name,
    checkPassword: (password) => inner.checkPassword(password),
    async find(value, owner) {
      // Without the AD object there is no safe key (docs/targets.md#id-cache): search as if there were no cache.
      if (owner === undefined || owner === '' || value === '') return inner.find(value);
      const id = cache.lookup(owner, value);
      if (id !== undefined) {
        const user: TargetUser = { id, matchedValue: value };
        provenance.set(user, { guid: owner, value, cached: true, seenAt: now() });
        o.journal?.write(EV.idCacheHit, { target: name, externalId: value, targetUserId: id });
        return user;
      }
      o.journal?.write(EV.idCacheMiss, { target: name, externalId: value });
      maybeWarmUp();
      return search(owner, value);
    },
    async setPassword(user, password) {
      const p = provenance.get(user);
      if (!p) return inner.setPassword(user, password);
      if (!p.cached) {
        const written = (await inner.setPassword(user, password)) ?? user;
        // Remembered only once a write succeeded: an id the target refuses is never cached.
        cache.learn(p.guid, p.value, written.id, p.seenAt);
        return written;
      }
      try {
        return await inner.setPassword(user, password);
      } catch (err) {
        const refused = err instanceof NotProvisionedError || err instanceof RejectedChangeError || err instanceof TargetUnusableError;
        if (!refused) throw err;
        cache.invalidate(p.guid, p.value, user.id);
        o.journal?.write(EV.idCacheInvalidated, { target: name, externalId: p.value, targetUserId: user.id, code: errorCode(err) });
        if (err instanceof TargetUnusableError) throw err;
      }
      // One fresh search and write, within this attempt; what they answer is the attempt's outcome.
      const fresh = await search(p.guid, p.value);
      if (!fresh) throw new NotProvisionedError(`${name}: no user matches ${JSON.stringify(p.value)} any more (the cached id was refused and a new search found nobody)`);
      const written = (await inner.setPassword(fresh, password)) ?? fresh;
      cache.learn(p.guid, p.value, written.id, provenance.get(fresh)!.seenAt);
      return written;
    },
    probe: () => inner.probe(),
    ...(inner.listPage ? { listPage: inner.listPage.bind(inner) } : {}),
    ...(inner.requestsSent ? { requestsSent: inner.requestsSent.bind(inner) } : {}),
    async close() {
      await inner.close();
      await warming; // ends once the closed client fails its next page; never throws
    },
  };
}
