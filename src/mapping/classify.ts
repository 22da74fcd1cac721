// The mapping report's verdict, pure: in-scope AD users (with the external ID delivery would compute) and what one
// target holds → one row per AD user plus the reverse view. No I/O; rows carry accounts, DNs, external IDs and
// target user ids only — never a password or token.

export type MappingStatus =
  /** Exactly one target user has the external ID: delivery will find this user. */
  | 'matched'
  /** No target user has it: every change waits (event 3002) until Directory Sync creates the user. */
  | 'not-found'
  /** Two or more target users have it: delivery refuses to guess (event 3003). */
  | 'multiple'
  /** Matched, but the target refuses writes because the user is pending deletion (seen by delivery). */
  | 'pending-deletion'
  /** The AD attribute is empty, or the convert rules erase it: the user can never be matched (event 3007). */
  | 'no-external-id'
  /** Two or more in-scope AD users produce the same external ID: their passwords would go to one target user. */
  | 'shared'
  /** Reverse view: a target user whose external ID no in-scope AD user produces. */
  | 'orphan';

export const MAPPING_STATUSES: readonly MappingStatus[] = ['matched', 'not-found', 'multiple', 'pending-deletion', 'no-external-id', 'shared', 'orphan'];

export interface MappedAdUser {
  account: string;
  dn: string;
  /** undefined when the attribute is absent or the rules make it empty. */
  externalId: string | undefined;
}

export interface MappingRow {
  target: string;
  status: MappingStatus;
  /** sAMAccountName; null for orphans. */
  account: string | null;
  dn: string | null;
  externalId: string | null;
  /** The target's ids of the users holding this external ID (empty when none, or unknown for a search-only count). */
  targetUserIds: string[];
  /** Other AD accounts producing the same external ID (status shared). */
  sharedWith?: string[];
}

/** What a target holds for each external ID it was asked about or listed. */
export interface TargetHoldings {
  compare: 'exact' | 'case-insensitive';
  /** key (see keyOf) → ids; `count` may exceed ids.length when a search reported only a count. */
  byKey: ReadonlyMap<string, { ids: string[]; count: number; value: string }>;
  /** true when byKey is the target's complete listing (the reverse view is then meaningful). */
  complete: boolean;
}

export function keyOf(value: string, compare: TargetHoldings['compare']): string {
  return compare === 'exact' ? value : value.toLowerCase();
}

export interface TargetVerdict {
  rows: MappingRow[];
  counts: Record<MappingStatus, number>;
}

/**
 * Classifies every AD user for one target. `pendingDeletion` holds lower-case accounts whose delivery to this
 * target met the pending-deletion answer. Shared external IDs are reported as `shared` on every AD user that
 * produces them (whatever the target holds): delivery would otherwise send two people's passwords to one account.
 */
export function classifyForTarget(target: string, users: readonly MappedAdUser[], holdings: TargetHoldings, pendingDeletion: ReadonlySet<string>): TargetVerdict {
  const producers = new Map<string, string[]>();
  for (const u of users) {
    if (u.externalId === undefined) continue;
    const k = keyOf(u.externalId, holdings.compare);
    const list = producers.get(k);
    if (list) list.push(u.account);
    else producers.set(k, [u.account]);
  }
  const rows: MappingRow[] = [];
  for (const u of users) {
    const base = { target, account: u.account, dn: u.dn, externalId: u.externalId ?? null };
    if (u.externalId === undefined) {
      rows.push({ ...base, status: 'no-external-id', targetUserIds: [] });
      continue;
    }
    const k = keyOf(u.externalId, holdings.compare);
    const held = holdings.byKey.get(k);
    const ids = held?.ids ?? [];
    const others = producers.get(k)!.filter((a) => a !== u.account);
    if (others.length > 0) {
      rows.push({ ...base, status: 'shared', targetUserIds: ids, sharedWith: others });
      continue;
    }
    const count = held?.count ?? 0;
    const status: MappingStatus =
      count === 0 ? 'not-found' : count > 1 ? 'multiple' : pendingDeletion.has(u.account.toLowerCase()) ? 'pending-deletion' : 'matched';
    rows.push({ ...base, status, targetUserIds: ids });
  }
  if (holdings.complete) {
    for (const [k, held] of holdings.byKey) {
      if (producers.has(k)) continue;
      rows.push({ target, status: 'orphan', account: null, dn: null, externalId: held.value, targetUserIds: held.ids });
    }
  }
  const counts = Object.fromEntries(MAPPING_STATUSES.map((s) => [s, 0])) as Record<MappingStatus, number>;
  for (const r of rows) counts[r.status]++;
  const rank = new Map(MAPPING_STATUSES.map((s, i) => [s, i]));
  // Problems first (in the order an admin fixes them), matched last; stable by account / external ID.
  const order = (s: MappingStatus) => (s === 'matched' ? 99 : rank.get(s)!);
  rows.sort((a, b) => order(a.status) - order(b.status) || (a.account ?? a.externalId ?? '').localeCompare(b.account ?? b.externalId ?? ''));
  return { rows, counts };
}

/** Accumulates a listing page by page into TargetHoldings. */
export class HoldingsBuilder {
  readonly #byKey = new Map<string, { ids: string[]; count: number; value: string }>();
  constructor(readonly compare: TargetHoldings['compare']) {}

  add(id: string, value: string): void {
    const k = keyOf(value, this.compare);
    const held = this.#byKey.get(k);
    if (held) {
      if (!held.ids.includes(id)) {
        held.ids.push(id);
        held.count = held.ids.length;
      }
    } else this.#byKey.set(k, { ids: [id], count: 1, value });
  }

  /** A search result: `count` hits (ids when known). */
  record(value: string, ids: string[], count: number): void {
    this.#byKey.set(keyOf(value, this.compare), { ids, count, value });
  }

  build(complete: boolean): TargetHoldings {
    return { compare: this.compare, byKey: this.#byKey, complete };
  }
}
