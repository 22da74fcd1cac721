// The status report (pwsync status, the console): counts per state, oldest open change, per-target health.

import type { Outbox } from './store.js';

export interface StatusReport {
  now: number;
  counts: Record<string, number>;
  oldestOpenAgeMs: number | null;
  targets: ReturnType<Outbox['targetSummary']>;
}

export function readStatus(outbox: Outbox, now: number): StatusReport {
  const oldest = outbox.oldestOpenReceivedAt();
  return { now, counts: outbox.countsByState(), oldestOpenAgeMs: oldest === undefined ? null : now - oldest, targets: outbox.targetSummary() };
}
