// Pure, in memory: which SCIM id a target gave for (AD objectGUID, external ID), learnt from a search or a listing,
// for at most a TTL from when the target said so. Holds ids and matching values only, never a password or a token.

export interface IdCacheOptions {
  /** How long a mapping is used after the target last confirmed it (id_cache.ttl). */
  ttlMs: number;
  /** At most this many mappings, learnt and listed together; the oldest go first. */
  maxEntries: number;
  now?: () => number;
}

interface Mapping {
  id: string;
  /** The matching value the target showed for this id. */
  value: string;
  /** When the target last confirmed that this id carries this value (a search or a listing page). */
  at: number;
  /** Where it lives: its key in `learnt` (guid + value) or in `listed` (value). */
  kind: 'learnt' | 'listed';
  key: string;
}

export interface IdCacheCounts {
  hits: number;
  misses: number;
  invalidations: number;
}

/**
 * Two kinds of mapping:
 * - learnt: (objectGUID, value) → id, from a search made for that AD object and a write that succeeded. Keying on
 *   the objectGUID means that another AD object given the same value (a renamed user's old UPN reused) misses and
 *   searches: it never gets the first object's id.
 * - listed: value → id, from a read-only listing (warm-up), not yet tied to an AD object. The first lookup that uses
 *   one ties it to its objectGUID; the value is then no longer available to any other AD object.
 * A mapping older than the TTL is never returned: it is dropped when met. No two mappings point at one id.
 */
export class ScimIdCache {
  private readonly learnt = new Map<string, Mapping>();
  private readonly listed = new Map<string, Mapping>();
  /** id → its one mapping: an id belongs to one user, who has one matching value at a time. */
  private readonly byId = new Map<string, Mapping>();
  private readonly now: () => number;
  readonly counts: IdCacheCounts = { hits: 0, misses: 0, invalidations: 0 };

  constructor(private readonly opts: IdCacheOptions) {
    if (!(opts.ttlMs > 0) || !(opts.maxEntries >= 1)) throw new RangeError('id cache: ttlMs and maxEntries must be positive');
    this.now = opts.now ?? Date.now;
  }

  get maxEntries(): number {
    return this.opts.maxEntries;
  }

  get size(): number {
    return this.byId.size;
  }

  /** The id for this AD object and value, or undefined (a miss: the caller searches). */
  lookup(guid: string, value: string): string | undefined {
    const now = this.now();
    const key = keyOf(guid, value);
    const hit = this.learnt.get(key);
    if (hit && this.fresh(hit, now)) {
      this.counts.hits++;
      return hit.id;
    }
    if (hit) this.remove(hit);
    const l = this.listed.get(value);
    if (l) {
      this.remove(l);
      if (this.fresh(l, now)) {
        // Tied to this object from now on, keeping the time the listing saw it: using a mapping never extends it.
        this.insert({ ...l, kind: 'learnt', key });
        this.counts.hits++;
        return l.id;
      }
    }
    this.counts.misses++;
    return undefined;
  }

  /** After a search for this AD object found `id` and a write to it succeeded. `seenAt` is when the search answered. */
  learn(guid: string, value: string, id: string, seenAt: number = this.now()): void {
    const listed = this.listed.get(value);
    if (listed) this.remove(listed);
    this.insert({ id, value, at: seenAt, kind: 'learnt', key: keyOf(guid, value) });
  }

  /**
   * One user of a listing page seen at `seenAt`. The same id learnt with the same value is confirmed (its time moves
   * on); learnt with another value, that mapping is out of date and is replaced.
   */
  list(value: string, id: string, seenAt: number = this.now()): void {
    const known = this.byId.get(id);
    if (known?.kind === 'learnt' && known.value === value) {
      known.at = Math.max(known.at, seenAt);
      return;
    }
    this.insert({ id, value, at: seenAt, kind: 'listed', key: value });
  }

  /** The target refused a write to the id this cache gave: forget this mapping and anything else pointing at the id. */
  invalidate(guid: string, value: string, id: string): void {
    this.counts.invalidations++;
    const m = this.learnt.get(keyOf(guid, value));
    if (m) this.remove(m);
    const byId = this.byId.get(id);
    if (byId) this.remove(byId);
  }

  /** Forgets everything. */
  clear(): void {
    this.learnt.clear();
    this.listed.clear();
    this.byId.clear();
  }

  private fresh(m: Mapping, now: number): boolean {
    return now >= m.at && now - m.at < this.opts.ttlMs;
  }

  private mapOf(kind: Mapping['kind']): Map<string, Mapping> {
    return kind === 'learnt' ? this.learnt : this.listed;
  }

  private remove(m: Mapping): void {
    const map = this.mapOf(m.kind);
    if (map.get(m.key) === m) map.delete(m.key);
    if (this.byId.get(m.id) === m) this.byId.delete(m.id);
  }

  private insert(m: Mapping): void {
    const sameKey = this.mapOf(m.kind).get(m.key);
    if (sameKey) this.remove(sameKey);
    const sameId = this.byId.get(m.id);
    if (sameId) this.remove(sameId);
    this.mapOf(m.kind).set(m.key, m);
    this.byId.set(m.id, m);
    while (this.byId.size > this.opts.maxEntries) {
      // Map order is insertion order: the first key is the oldest. Listed mappings (the bulk after a warm-up, and
      // unused so far) go before learnt ones.
      const from = this.listed.size > 0 ? this.listed : this.learnt;
      const oldest = from.values().next();
      if (oldest.done) break;
      this.remove(oldest.value);
    }
  }
}

function keyOf(guid: string, value: string): string {
  // A GUID never contains a newline; the value may contain anything, so it goes last.
  return `${guid.toLowerCase()}\n${value}`;
}
