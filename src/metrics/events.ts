// Pure: which metric a journal event feeds. Metrics are derived from the journal so that a number on a dashboard
// and an event an operator greps for can never disagree (docs/architecture.md#flow-and-owners).

import type { JournalEntry } from '../journal/journal.js';
import { FrameError, StorageError } from '../errors.js';

/** Delivery outcome label per event ID (docs/console.md lists them). */
export const OUTCOME_BY_EVENT: Readonly<Record<number, string>> = {
  3000: 'synced',
  3001: 'retried',
  3002: 'not_provisioned',
  3003: 'rejected',
  3004: 'superseded',
  3005: 'expired',
  3006: 'duplicate',
};

/** Id cache result per event ID (3011-3013, docs/targets.md#id-cache). */
export const ID_CACHE_RESULT_BY_EVENT: Readonly<Record<number, 'hit' | 'miss' | 'invalidated'>> = {
  3011: 'hit',
  3012: 'miss',
  3013: 'invalidated',
};

export const INTAKE_ERROR_EVENTS: ReadonlySet<number> = new Set([2002, 2003]);

export type MetricUpdate =
  | { kind: 'outcome'; target: string; outcome: string }
  | { kind: 'deliveryLatency'; seconds: number }
  | { kind: 'requestLatency'; target: string; seconds: number }
  | { kind: 'idCache'; target: string; result: 'hit' | 'miss' | 'invalidated' }
  | { kind: 'intakeError'; code: string }
  | { kind: 'captureSkipped'; source: string; reason: string };

export function metricUpdates(e: JournalEntry): MetricUpdate[] {
  const out: MetricUpdate[] = [];
  const target = typeof e.target === 'string' ? e.target : 'unknown';
  const outcome = OUTCOME_BY_EVENT[e.id];
  if (outcome) out.push({ kind: 'outcome', target, outcome });
  const idCache = ID_CACHE_RESULT_BY_EVENT[e.id];
  if (idCache) out.push({ kind: 'idCache', target, result: idCache });
  if (e.id === 3000) {
    if (typeof e.latencyMs === 'number' && e.latencyMs >= 0) out.push({ kind: 'deliveryLatency', seconds: e.latencyMs / 1000 });
    if (typeof e.requestMs === 'number' && e.requestMs >= 0) out.push({ kind: 'requestLatency', target, seconds: e.requestMs / 1000 });
  }
  // A capture component's report of a change it did not hand over (Samba hook or Windows filter, event 2007).
  if (e.id === 2007)
    out.push({
      kind: 'captureSkipped',
      source: typeof e.source === 'string' ? e.source : 'unknown',
      reason: typeof e.reason === 'string' ? e.reason : 'unknown',
    });
  if (INTAKE_ERROR_EVENTS.has(e.id)) out.push({ kind: 'intakeError', code: typeof e.code === 'string' ? e.code : e.id === 2003 ? StorageError.code : FrameError.code });
  return out;
}
