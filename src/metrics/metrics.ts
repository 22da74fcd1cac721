// Prometheus metrics for one agent, in their own Registry (never prom-client's global one). Counters and
// histograms are fed from journal events; queue gauges are read from the outbox at scrape time.
// Labels are target names, states, outcomes and error codes only: never an account, a password or a token.

import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { currentOf, type ConfigSource } from '../config/current.js';
import type { Journal, JournalEntry } from '../journal/journal.js';
import type { TargetHealth } from '../delivery/worker.js';
import type { QueueGauges } from '../outbox/queries.js';
import { OPEN_STATES, FINAL_STATES } from '../outbox/states.js';
import { tokenExpiries } from './token-expiry.js';
import { metricUpdates } from './events.js';

export interface MetricsDeps {
  /** The outbox's read models the gauges read at scrape time (src/outbox/queries.ts queueGauges). */
  outbox: QueueGauges;
  journal: Journal;
  delivery: { targetHealth(): ReadonlyMap<string, TargetHealth> };
  /** The agent's current-config holder: target labels and token expiry follow a reload. */
  config: ConfigSource;
  now?: () => number;
}

export interface PwsyncMetrics {
  registry: Registry;
  /** Feeds one journal event (called for every event while the metrics are attached). */
  observe(e: JournalEntry): void;
  /** Detaches from the journal. */
  close(): void;
}

export function createMetrics(deps: MetricsDeps): PwsyncMetrics {
  const now = deps.now ?? Date.now;
  const registry = new Registry();
  const registers = [registry];
  const targetNames = () => currentOf(deps.config).config.targets.map((t) => t.name);

  const changes = new Counter({
    name: 'pwsync_changes_total',
    help: 'Delivery outcomes by target (journal events 3000-3006): synced, retried, not_provisioned, rejected, superseded, expired, duplicate',
    labelNames: ['target', 'outcome'] as const,
    registers,
    collect() {
      // A target added by a reload appears from the next scrape, at 0, like those configured at start.
      for (const t of targetNames()) for (const o of ['synced', 'rejected', 'expired']) changes.inc({ target: t, outcome: o }, 0);
    },
  });
  const intakeErrors = new Counter({ name: 'pwsync_intake_errors_total', help: 'Intake frames rejected or not committed (events 2002, 2003), by code', labelNames: ['code'] as const, registers });
  const captureSkipped = new Counter({
    name: 'pwsync_capture_skipped_total',
    help: 'Changes a capture component did not hand over (event 2007), by source and reason',
    labelNames: ['source', 'reason'] as const,
    registers,
  });
  const events = new Counter({ name: 'pwsync_journal_events_total', help: 'Journal events by ID and level', labelNames: ['id', 'level'] as const, registers });
  const deliveryLatency = new Histogram({
    name: 'pwsync_delivery_latency_seconds',
    help: 'From intake commit to the password set at the target (event 3000 latencyMs)',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400],
    registers,
  });
  const requestLatency = new Histogram({
    name: 'pwsync_target_request_duration_seconds',
    help: 'Time spent at the target for one delivery: search and password write (event 3000 requestMs)',
    labelNames: ['target'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  const idCache = new Counter({
    name: 'pwsync_target_id_cache_total',
    help: 'Id cache lookups by target and result (events 3011-3013): hit (no search sent), miss (searched), invalidated (a cached id was refused)',
    labelNames: ['target', 'result'] as const,
    registers,
  });
  const queue = new Gauge({
    name: 'pwsync_queue_changes',
    help: 'Changes in the outbox by state',
    labelNames: ['state'] as const,
    registers,
    collect() {
      const counts = deps.outbox.countsByState();
      for (const s of [...OPEN_STATES, ...FINAL_STATES]) queue.set({ state: s }, counts[s] ?? 0);
    },
  });
  const oldest = new Gauge({
    name: 'pwsync_oldest_open_change_age_seconds',
    help: 'Age of the oldest change not yet final (pending, waiting, inflight); 0 when none',
    registers,
    collect() {
      const at = deps.outbox.oldestOpenReceivedAt();
      oldest.set(at === undefined ? 0 : Math.max(0, (now() - at) / 1000));
    },
  });
  const paused = new Gauge({
    name: 'pwsync_target_paused',
    help: '1 when delivery to the target is paused (credentials rejected), else 0',
    labelNames: ['target'] as const,
    registers,
    collect() {
      const health = deps.delivery.targetHealth();
      paused.reset(); // a target removed by a reload disappears
      for (const name of targetNames()) paused.set({ target: name }, health.get(name)?.paused ? 1 : 0);
    },
  });
  const lastSuccess = new Gauge({
    name: 'pwsync_target_last_success_timestamp_seconds',
    help: 'Unix time of the last password delivered to the target (absent when never)',
    labelNames: ['target'] as const,
    registers,
    collect() {
      lastSuccess.reset();
      for (const t of deps.outbox.targetSummary()) if (t.lastSuccessAt !== null) lastSuccess.set({ target: t.target }, t.lastSuccessAt / 1000);
    },
  });
  const tokenExpiry = new Gauge({
    name: 'pwsync_target_token_expiry_seconds',
    help: 'Seconds until the target access token expires (targets[].token_expires); negative when expired',
    labelNames: ['target'] as const,
    registers,
    collect() {
      tokenExpiry.reset();
      for (const x of tokenExpiries(currentOf(deps.config).config.targets, now())) tokenExpiry.set({ target: x.target }, (x.expiresAt - now()) / 1000);
    },
  });

  // Every target appears from the first scrape, so `increase()` alerts see the series start at 0.
  for (const t of targetNames()) for (const o of ['synced', 'rejected', 'expired']) changes.inc({ target: t, outcome: o }, 0);

  const observe = (e: JournalEntry) => {
    events.inc({ id: String(e.id), level: e.level });
    for (const u of metricUpdates(e)) {
      if (u.kind === 'outcome') changes.inc({ target: u.target, outcome: u.outcome });
      else if (u.kind === 'deliveryLatency') deliveryLatency.observe(u.seconds);
      else if (u.kind === 'requestLatency') requestLatency.observe({ target: u.target }, u.seconds);
      else if (u.kind === 'idCache') idCache.inc({ target: u.target, result: u.result });
      else if (u.kind === 'captureSkipped') captureSkipped.inc({ source: u.source, reason: u.reason });
      else intakeErrors.inc({ code: u.code });
    }
  };
  deps.journal.on('event', observe);
  return { registry, observe, close: () => deps.journal.off('event', observe) };
}
