// Tests only: settles outbox rows named by ID through the store's public path — claimDue, then settleAll — as the
// delivery worker does with the rows it claimed. Never writes SQL; a helper throws where settleAll would do nothing.

import type { ChangeRow, Outbox, Settled } from '../../src/outbox/store.js';
import type { FinalState } from '../../src/outbox/states.js';

function rowOf(box: Outbox, id: string): ChangeRow {
  const row = box.get(id);
  if (!row) throw new Error(`test setup: no outbox row ${id}`);
  return row;
}

/**
 * Claims exactly the rows `ids` (they must be the oldest due rows of their targets, one per (account, target)):
 * throws when claimDue picks any other row, so a test never leaves a row in flight by accident.
 */
export function claimRows(box: Outbox, ids: readonly string[]): void {
  const allowance = new Map<string, number>();
  for (const id of ids) {
    const t = rowOf(box, id).target;
    allowance.set(t, (allowance.get(t) ?? 0) + 1);
  }
  const got = box.claimDue(ids.length, allowance).map((r) => r.id).sort();
  if (got.join() !== [...ids].sort().join()) throw new Error(`test setup: claimDue took [${got.join(', ')}], not [${[...ids].sort().join(', ')}]`);
}

/** The attempt's end for a row still open (pending, waiting or in flight): settleAll's `final` item for it. */
export function settleFinal(
  box: Outbox,
  id: string,
  state: FinalState,
  end: { code?: string; error?: string; delivered?: { fingerprint: string; kvno: number | null; guid?: string } } = {},
): void {
  const row = rowOf(box, id);
  // settleAll never makes a final row final again: a test asking for it would assert on a row that did not change.
  if (!['pending', 'waiting', 'inflight'].includes(row.state)) throw new Error(`test setup: row ${id} is already ${row.state}`);
  box.settleAll([{ kind: 'final', seq: row.seq, account: row.account, target: row.target, state, ...end }]);
}

/** An in-flight row due again: settleAll's `again` item, which only applies to a row claimDue took (claimRows). */
export function settleAgain(box: Outbox, id: string, again: Omit<Extract<Settled, { kind: 'again' }>, 'kind' | 'seq'>): void {
  const row = rowOf(box, id);
  if (row.state !== 'inflight') throw new Error(`test setup: row ${id} is ${row.state}, not inflight: claim it first (claimRows)`);
  box.settleAll([{ kind: 'again', seq: row.seq, ...again }]);
}
