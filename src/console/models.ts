// What the console shows and may do, as the agent hands it over (src/agent-console.ts builds these from the outbox's
// read models, the journal, the delivery worker, the directory and the configuration). The console renders and
// routes; it owns none of them — no metrics registry, health rule, token-expiry warner or LDAP connection here.

import type { CoverageRow } from '../coverage/report.js';
import type { JournalEntry } from '../journal/journal.js';
import type { SavedMappingReport } from '../mapping/output.js';
import type { HealthVerdict } from '../metrics/health.js';
import type { OperatorResult } from '../outbox/operator.js';
import type { QueueListing } from '../outbox/queries.js';
import type { ChartData } from './chart.js';
import type { TargetView } from './pages.js';

export interface OverviewModel {
  targets: TargetView[];
  counts: Record<string, number>;
  oldestOpenAgeMs: number | null;
  /** Final outcomes and retries per minute over the last 24 hours. */
  chart: ChartData;
  health: HealthVerdict;
}

export type CoverageModel = { rows: CoverageRow[]; userCount: number } | { error: string };

export interface ConsoleReadModels {
  overview(now: number): OverviewModel;
  queue(): QueueListing;
  /** Newest first: at most 300 entries matching the query, and how many journal entries were searched. */
  events(q: { user: string; eventId: number | undefined }): { entries: JournalEntry[]; scanned: number };
  /** The coverage report, or why AD could not be read (shown on the page). */
  coverage(): Promise<CoverageModel>;
  /** The last saved mapping report (undefined when none yet), or why it cannot be read. */
  mapping(): { report: SavedMappingReport | undefined; error?: string };
  /** /healthz. */
  health(): HealthVerdict;
  /** /metrics in the Prometheus text format. */
  metrics(): Promise<{ contentType: string; body: string }>;
}

/** An operator's act on a change (src/outbox/operator.ts): journaled before its commit; `remote` is the client address. */
export interface ConsoleActions {
  retry(id: string, remote: string): OperatorResult;
  drop(id: string, remote: string): OperatorResult;
}
