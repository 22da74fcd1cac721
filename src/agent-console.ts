// The agent's console, wired: the read models and actions src/console/ serves, built from the outbox's read models
// (src/outbox/queries.ts), the journal, the delivery worker, the directory and the configuration in force. Metrics,
// health and token-expiry warnings are the agent's (src/agent.ts passes them in); only a console started on its own
// (tests) gets ones made here. Never hands the console a password, a token or the outbox's database.

import { currentOf, type ConfigSource } from './config/current.js';
import type { LoadedConfig } from './config/load.js';
import { bucketPerMinute, type ChartData, type ChartPoint } from './console/chart.js';
import { readJournalTail, searchEvents } from './console/journal-tail.js';
import type { ConsoleActions, ConsoleReadModels, CoverageModel } from './console/models.js';
import type { TargetView } from './console/pages.js';
import { serveConsole, type RunningConsole } from './console/server.js';
import { inScopeUsersOf, type InScopeUserSource } from './coverage/ad-users.js';
import { coverageReport } from './coverage/report.js';
import type { TargetHealth } from './delivery/worker.js';
import type { Directory } from './directory/directory.js';
import { createLdapDirectory } from './directory/ldap-directory.js';
import { EV } from './journal/catalogue.js';
import type { Journal } from './journal/journal.js';
import { loadMappingReport } from './mapping/output.js';
import { healthVerdict, type HealthVerdict } from './metrics/health.js';
import { createMetrics, type PwsyncMetrics } from './metrics/metrics.js';
import { TokenExpiryWarner } from './metrics/token-expiry.js';
import { dropChange, retryChange } from './outbox/operator.js';
import { countsByState, finalOutcomesPerMinute, lastDeliveries, oldestOpenReceivedAt, queueGauges, queueListing, targetSummary } from './outbox/queries.js';
import type { OutboxReader } from './outbox/reader.js';
import type { Outbox } from './outbox/store.js';
import { redactUrl } from './targets/base-url.js';

export type { RunningConsole } from './console/server.js';

export interface ConsoleDeps {
  outbox: Outbox;
  journal: Journal;
  delivery: { targetHealth(): ReadonlyMap<string, TargetHealth>; notify(): void };
  /**
   * The configuration — the agent's current-config holder, so a reload reaches the target list, the coverage page's
   * AD settings and bind password, token expiry and the admin token (console.listen/port need a restart).
   */
  config: ConfigSource;
  /** The agent's metrics; default: made here and closed with the console (a console started on its own). */
  metrics?: PwsyncMetrics;
  /** The agent's token-expiry warner (5003/5004); default: made here, checked hourly while the console runs. */
  tokenWarnings?: TokenExpiryWarner;
  /** The agent's /healthz verdict; default: from intakeRunning, the delivery worker and the token warner. */
  health?: () => HealthVerdict;
  /**
   * In-scope AD users for the coverage page: the agent passes its own directory's; default: one LDAP connection
   * made here from config.ad.ldap, kept open (rebuilt when a reload changes the AD settings) and closed with the console.
   */
  directory?: InScopeUserSource;
  /** Overrides secret.yml console.admin_token. */
  adminToken?: string;
  /** Whether the intake accepts changes (for /healthz); default: always true while the console runs. */
  intakeRunning?: () => boolean;
  /** Overrides console.port (tests use 0). */
  port?: number;
  now?: () => number;
}

const DAY = 86_400_000;

export async function startConsole(deps: ConsoleDeps): Promise<RunningConsole> {
  const cfg = () => currentOf(deps.config);
  const { config } = cfg();
  const now = deps.now ?? Date.now;
  const reader = deps.outbox.reader;
  // What this wiring makes itself is closed with the console (or at once, when the console cannot start).
  const metrics = deps.metrics ?? createMetrics({ outbox: queueGauges(reader), journal: deps.journal, delivery: deps.delivery, config: deps.config, now });
  const warner = deps.tokenWarnings ?? new TokenExpiryWarner(deps.journal, () => cfg().config.targets, readJournalTail(config.log.file, 1024 * 1024));
  const ldap = deps.directory ? undefined : directoryFromConfig(deps.config);
  const users = deps.directory ?? inScopeUsersOf(ldap!.directory);
  const health =
    deps.health ??
    (() =>
      healthVerdict({
        intakeRunning: deps.intakeRunning?.() ?? true,
        targets: deps.delivery.targetHealth(),
        expiredTokens: warner.check(now()).filter((x) => x.threshold === 0).map((x) => x.target),
      }));
  let warnTimer: NodeJS.Timeout | undefined;
  const closeOwned = async () => {
    if (warnTimer) clearInterval(warnTimer);
    if (!deps.metrics) metrics.close();
    await ldap?.close();
  };

  const models = readModels({ reader, cfg, delivery: deps.delivery, warner, health, users, metrics, now });
  const actions = operatorActions(deps);

  let running: RunningConsole;
  try {
    running = await serveConsole({
      listen: config.console.listen, port: deps.port ?? config.console.port, allowedHosts: config.console.allowed_hosts,
      allowInsecureHttp: config.console.allow_insecure_http, adminToken: () => deps.adminToken ?? cfg().secret.console.admin_token,
      models, actions, journal: deps.journal, now,
    });
  } catch (err) {
    await closeOwned();
    throw err;
  }
  if (!deps.tokenWarnings) {
    warner.check(now());
    warnTimer = setInterval(() => warner.check(now()), 3_600_000);
    warnTimer.unref();
  }
  return {
    url: running.url,
    async close() {
      await running.close();
      await closeOwned();
    },
  };
}

interface ModelParts {
  reader: OutboxReader;
  cfg: () => LoadedConfig;
  delivery: ConsoleDeps['delivery'];
  warner: TokenExpiryWarner;
  health: () => HealthVerdict;
  users: InScopeUserSource;
  metrics: PwsyncMetrics;
  now: () => number;
}

/** The pages' data: the outbox's read models, the journal's tail, the worker's live target health, the config in force. */
function readModels(p: ModelParts): ConsoleReadModels {
  const { reader, cfg } = p;
  return {
    overview: (t) => {
      const oldest = oldestOpenReceivedAt(reader);
      return { targets: targetViews(p), counts: countsByState(reader), oldestOpenAgeMs: oldest === undefined ? null : t - oldest, chart: chart(p, t), health: p.health() };
    },
    queue: () => queueListing(reader),
    events: ({ user, eventId }) => {
      const all = readJournalTail(cfg().config.log.file);
      return { entries: searchEvents(all, { user, eventId, limit: 300 }), scanned: all.length };
    },
    coverage: async (): Promise<CoverageModel> => {
      try {
        const ad = await p.users.listInScopeUsers();
        return { rows: coverageReport(ad, lastDeliveries(reader), cfg().config.targets.map((t) => t.name)), userCount: ad.length };
      } catch (err) {
        return { error: err instanceof Error ? err.message : String(err) };
      }
    },
    mapping: () => {
      try {
        return { report: loadMappingReport(cfg().config.agent.data_dir) };
      } catch (err) {
        return { report: undefined, error: err instanceof Error ? err.message : String(err) };
      }
    },
    health: p.health,
    metrics: async () => ({ contentType: p.metrics.registry.contentType, body: await p.metrics.registry.metrics() }),
  };
}

/** Per configured target: the worker's live state first, the outbox's record (another process's view) second. */
function targetViews(p: ModelParts): TargetView[] {
  const live = p.delivery.targetHealth();
  const summary = new Map(targetSummary(p.reader).map((s) => [s.target, s]));
  const expiries = new Map(p.warner.check(p.now()).map((x) => [x.target, x]));
  return p.cfg().config.targets.map((t) => {
    const h = live.get(t.name);
    const s = summary.get(t.name);
    return {
      name: t.name, type: t.type, url: redactUrl(t.url), paused: h?.paused ?? s?.paused ?? false, reason: h?.pausedReason ?? s?.reason ?? null,
      pausedAt: h?.pausedAt ?? s?.since ?? null, lastSuccessAt: s?.lastSuccessAt ?? h?.lastSuccessAt ?? null,
      lastErrorAt: h?.lastErrorAt ?? s?.lastErrorAt ?? null, lastError: h?.lastError ?? s?.lastError ?? null, expiry: expiries.get(t.name),
    };
  });
}

/** Final outcomes per minute from the outbox, retries from the journal (they are not rows), over the last 24 hours. */
function chart(p: ModelParts, t: number): ChartData {
  const from = t - DAY;
  const points: ChartPoint[] = finalOutcomesPerMinute(p.reader, from - 60_000, t + 60_000).map((x) => ({ at: x.minute, outcome: x.outcome, count: x.count }));
  // 3001 retry scheduled, 3002 waiting for provisioning; the tail is newest first.
  for (const e of readJournalTail(p.cfg().config.log.file)) {
    const at = Date.parse(e.ts);
    if (at < from) break;
    if (e.id === EV.retryScheduled.id || e.id === EV.notProvisioned.id) points.push({ at, outcome: 'retried' });
  }
  return bucketPerMinute(points, t);
}

/** Retry and drop through src/outbox/operator.ts (journaled before the commit); a retried change wakes the worker. */
function operatorActions(deps: Pick<ConsoleDeps, 'outbox' | 'journal' | 'delivery'>): ConsoleActions {
  return {
    retry: (id, remote) => {
      const r = retryChange(deps.outbox, deps.journal, id, remote);
      if (r.ok) deps.delivery.notify();
      return r;
    },
    drop: (id, remote) => dropChange(deps.outbox, deps.journal, id, remote),
  };
}

/**
 * One LDAP connection for the coverage page of a console started without the agent's directory: opened at first
 * use, kept for the next request, and replaced when a reload changes the AD settings or the bind password.
 */
function directoryFromConfig(source: ConfigSource): { directory: () => Directory; close(): Promise<void> } {
  let current: { ldap: object; password: string; directory: Directory } | undefined;
  return {
    directory() {
      const { config, secret } = currentOf(source);
      const password = secret.ad.ldap.server.password;
      if (current?.ldap !== config.ad.ldap || current.password !== password) {
        void current?.directory.close();
        current = { ldap: config.ad.ldap, password, directory: createLdapDirectory(config.ad.ldap, password) };
      }
      return current.directory;
    },
    async close() {
      await current?.directory.close();
      current = undefined;
    },
  };
}
