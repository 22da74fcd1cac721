// Wires the parts into a running agent: config → journal, keys, outbox, directory, targets, delivery, intake, and
// the parts every agent has whether or not the console runs: metrics, /healthz and token-expiry warnings.
// Owns start-up order (outbox before intake, so nothing is acked before it can be stored), reloads and shutdown.

import os from 'node:os';
import path from 'node:path';
import type { LoadedConfig } from './config/load.js';
import type { Directory } from './directory/directory.js';
import { createLdapDirectory } from './directory/ldap-directory.js';
import { DeliveryWorker, type DeliveryTarget } from './delivery/worker.js';
import { Intake } from './intake/intake.js';
import { forwardSambaObject } from './capture/samba-forward.js';
import { listenIntake, type IntakeListener } from './intake/intake-server.js';
import { EV } from './journal/catalogue.js';
import { Journal } from './journal/journal.js';
import { loadOrCreateKeys } from './outbox/key-file.js';
import { loadConfig } from './config/load.js';
import { watchConfigFiles } from './config/watch.js';
import { errorCode, OutboxSchemaVersionError, UnsealError } from './errors.js';
import { rmSync } from 'node:fs';
import { bindOutbox, checkOutboxPresent, OUTBOX_ID_FILE } from './outbox/binding.js';
import { secureDataDir } from './outbox/data-dir.js';
import { redactUrl } from './targets/base-url.js';
import { OUTBOX_FILE, Outbox } from './outbox/store.js';
import { queueGauges } from './outbox/queries.js';
import { createTarget } from './targets/index.js';
import type { RunningConsole } from './console/server.js';
import type { RunningMetricsServer } from './metrics/server.js';
import type { PwsyncMetrics } from './metrics/metrics.js';
import { healthVerdict } from './metrics/health.js';
import { CurrentConfig } from './config/current.js';
import { TokenExpiryWarner } from './metrics/token-expiry.js';
import { readJournalTail } from './console/journal-tail.js';
import { inScopeUsersOf } from './coverage/ad-users.js';
import type { ConfigFile } from './config/schema.js';
import type { Target } from './targets/target.js';

export interface AgentOptions {
  /** Replaces the LDAP directory (tests of parts that do not need AD). */
  directory?: Directory;
  /** Replaces targets built from config (tests). */
  targets?: Target[];
  journal?: Journal;
}

export interface RunningAgent {
  journal: Journal;
  /** The console (with /metrics and /healthz), when enabled and an admin token is configured. */
  console?: RunningConsole;
  /** /metrics and /healthz alone, when the console is enabled but has no admin token. */
  metricsServer?: RunningMetricsServer;
  /** The agent's metrics, when something serves them (console.enabled). */
  metrics?: PwsyncMetrics;
  /** The configuration in force (follows reloads). */
  current: CurrentConfig;
  outbox: Outbox;
  delivery: DeliveryWorker;
  socketPath: string;
  loaded: LoadedConfig;
  stop(): Promise<void>;
}

export const KEY_FILE = 'agent.key';

export async function startAgent(loaded: LoadedConfig, opts: AgentOptions = {}): Promise<RunningAgent> {
  // Every part reads the configuration in force through this holder (src/config/current.ts), never a start-up copy.
  const current = new CurrentConfig(loaded);
  const cfg = () => current.get().config;
  const config = loaded.config;
  const secret = loaded.secret;
  const dataDir = config.agent.data_dir;
  // Before anything is written there: an existing 0755 data_dir would expose the outbox, its -wal/-shm and the journal.
  const tightened = secureDataDir(dataDir);
  const journal = opts.journal ?? new Journal({ file: config.log.file, stderr: config.log.stderr, level: config.log.loglevel });
  for (const p of tightened) journal.write(EV.permissionsTightened, { path: p });
  for (const t of config.targets) if (t.allow_insecure_http && new URL(t.url).protocol === 'http:') journal.write(EV.insecureHttpAllowed, { target: t.name, url: redactUrl(t.url) });
  const keyFile = path.join(dataDir, KEY_FILE);
  const outboxFile = path.join(dataDir, OUTBOX_FILE);
  const idFile = path.join(dataDir, OUTBOX_ID_FILE);
  try {
    checkOutboxPresent(outboxFile, idFile);
  } catch (err) {
    journal.write(EV.outboxMismatch, { file: outboxFile, code: errorCode(err), error: (err as Error).message });
    throw err;
  }
  const { keys, created } = loadOrCreateKeys(keyFile);
  let outbox: Outbox;
  try {
    outbox = new Outbox(outboxFile, keys.sealKey);
  } catch (err) {
    if (created) rmSync(keyFile, { force: true });
    if (err instanceof OutboxSchemaVersionError)
      journal.write(EV.outboxTooNew, { file: outboxFile, code: err.code, fileVersion: err.fileVersion, supportedVersion: err.supportedVersion, error: err.message });
    throw err;
  }
  if (outbox.schema.from > 0 && outbox.schema.from < outbox.schema.to) journal.write(EV.outboxUpgraded, { file: outboxFile, from: outbox.schema.from, to: outbox.schema.to });
  try {
    bindOutbox(outbox, keys, outboxFile, keyFile, idFile);
  } catch (err) {
    outbox.close();
    // A key made a moment ago protects nothing: leave the place free for the operator to restore the right one.
    if (created) rmSync(keyFile, { force: true });
    journal.write(err instanceof UnsealError ? EV.keyMismatch : EV.outboxMismatch, { file: err instanceof UnsealError ? keyFile : outboxFile, code: errorCode(err), error: (err as Error).message });
    throw err;
  }
  if (created) journal.write(EV.keyCreated, { file: keyFile });
  const recovered = outbox.recoverInflight();
  if (recovered > 0) journal.write(EV.recoveredInflight, { count: recovered });

  let directory = opts.directory ?? createLdapDirectory(config.ad.ldap, secret.ad.ldap.server.password);
  const targetList = opts.targets ?? config.targets.map((t) => createTarget(t, secret.targets[t.name], { journal }));
  const targets = new Map(targetList.map((t) => [t.name, t]));
  const deliveryTargets: DeliveryTarget[] = targetList.map((target) => {
    const cfg = config.targets.find((t) => t.name === target.name);
    if (!cfg) throw new Error(`target ${target.name} is not configured`);
    return { target, rule: cfg.attribute.user, ratePerSecond: cfg.rate_limit };
  });
  const delivery = new DeliveryWorker(outbox, directory, deliveryTargets, journal, {
    ...deliveryOptionsOf(config),
    fingerprintKey: keys.fingerprintKey,
    clockSkewMs: () => cfg().agent.clock_skew,
  });
  const intake = new Intake(outbox, journal, {
    targets: () => cfg().targets.map((t) => t.name),
    onCommitted: (changes) => delivery.committed(changes),
    dc: () => cfg().agent.dc,
    // The native Samba hook hands over raw LDIF; the agent decides (docs/operations-samba.md#the-hook).
    sambaForward: (ldif, submit) => forwardSambaObject(ldif, { send: submit }),
  });
  let listener: IntakeListener;
  try {
    listener = await listenIntake(config.agent.intake.socket, intake);
    if (listener.tightenedDir !== undefined) journal.write(EV.permissionsTightened, { path: listener.tightenedDir });
  } catch (err) {
    outbox.close();
    await directory.close();
    throw err;
  }
  delivery.start();
  journal.write(EV.agentStarted, { pid: process.pid, dc: config.agent.dc ?? os.hostname(), targets: [...targets.keys()].join(','), version: 1 });
  journal.write(EV.intakeListening, { socket: config.agent.intake.socket });

  // Token-expiry warnings (5003/5004) belong to the agent: journaled with or without the console.
  const tokenWarnings = new TokenExpiryWarner(journal, () => cfg().targets, readJournalTail(config.log.file, 1024 * 1024));
  tokenWarnings.check(Date.now());
  const warnTimer = setInterval(() => tokenWarnings.check(Date.now()), 3_600_000);
  warnTimer.unref();

  let reloading = Promise.resolve();
  /** Applies a changed config.yml / secret.yml without losing the queue; a paused target resumes after a good probe. */
  const reload = async (): Promise<void> => {
    const before = current.get();
    let next: LoadedConfig;
    try {
      next = loadConfig(before.configPath, before.secretPath);
    } catch (err) {
      journal.write(EV.configReloadFailed, { file: before.configPath, error: (err as Error).message });
      return;
    }
    // Name what changed (event 1002), and do nothing for a save that changed nothing.
    const changedFiles = [
      ...(JSON.stringify(next.config) !== JSON.stringify(before.config) ? [next.configPath] : []),
      ...(JSON.stringify(next.secret) !== JSON.stringify(before.secret) ? [next.secretPath] : []),
    ];
    if (changedFiles.length === 0) return;
    const needsRestart = ['agent.data_dir', 'agent.intake.socket', 'log.file'].filter((k) => {
      const [a, b] = k.split('.') as [keyof LoadedConfig['config'], string];
      const x = (next.config[a] as Record<string, unknown>)[b];
      const y = (before.config[a] as Record<string, unknown>)[b];
      return JSON.stringify(x) !== JSON.stringify(y) && !(k === 'agent.intake.socket' && JSON.stringify(next.config.agent.intake) === JSON.stringify(before.config.agent.intake));
    });
    if (JSON.stringify(next.config.ad) !== JSON.stringify(before.config.ad) || next.secret.ad.ldap.server.password !== before.secret.ad.ldap.server.password) {
      const old = directory;
      directory = createLdapDirectory(next.config.ad.ldap, next.secret.ad.ldap.server.password);
      delivery.setDirectory(directory);
      void old.close();
    }
    const replaced: string[] = [];
    for (const t of next.config.targets) {
      const was = before.config.targets.find((x) => x.name === t.name);
      const same = was && JSON.stringify(was) === JSON.stringify(t) && JSON.stringify(before.secret.targets[t.name]) === JSON.stringify(next.secret.targets[t.name]);
      if (same) continue;
      const target = createTarget(t, next.secret.targets[t.name], { journal });
      const old = targets.get(t.name);
      targets.set(t.name, target);
      delivery.setTarget({ target, rule: t.attribute.user, ratePerSecond: t.rate_limit });
      replaced.push(t.name);
      if (old) void old.close();
    }
    for (const name of [...targets.keys()]) {
      if (next.config.targets.some((t) => t.name === name)) continue;
      void targets.get(name)!.close();
      targets.delete(name);
      delivery.removeTarget(name);
    }
    delivery.updateOptions(deliveryOptionsOf(next.config));
    current.replace(next);
    journal.write(EV.configReloaded, { file: changedFiles.join(','), targetsReplaced: replaced.join(',') || undefined, restartNeeded: needsRestart.join(',') || undefined });
    for (const name of replaced) {
      if (!delivery.targetHealth().get(name)?.paused) continue;
      try {
        await targets.get(name)!.probe();
        delivery.resume(name);
      } catch (err) {
        journal.write(EV.targetProbeFailed, { target: name, code: errorCode(err), error: err instanceof Error && 'code' in err ? err.message : 'probe failed' });
      }
    }
    tokenWarnings.check(Date.now());
    delivery.notify();
  };
  const stopWatching = watchConfigFiles([loaded.configPath, loaded.secretPath], () => {
    reloading = reloading.then(reload);
  });

  let stopped = false;
  let consoleServer: RunningConsole | undefined;
  let metricsServer: RunningMetricsServer | undefined;
  let metrics: PwsyncMetrics | undefined;
  if (config.console.enabled) {
    try {
      // Loaded only when served: prom-client and the console cost start-up time and memory an agent with
      // console.enabled: false need not pay. Metrics are the agent's: the console serves them when it runs, else a
      // listener of their own on console.listen/port does (docs/console.md).
      const { createMetrics } = await import('./metrics/metrics.js');
      metrics = createMetrics({ outbox: queueGauges(outbox.reader), journal, delivery, config: current });
      const health = () =>
        healthVerdict({
          intakeRunning: !stopped, targets: delivery.targetHealth(),
          expiredTokens: tokenWarnings.check(Date.now()).filter((x) => x.threshold === 0).map((x) => x.target),
        });
      if (secret.console.admin_token) {
        const { startConsole } = await import('./agent-console.js');
        // The coverage page reads through the agent's own directory (its one connection; replaced on reload).
        consoleServer = await startConsole({ outbox, journal, delivery, config: current, metrics, tokenWarnings, health, directory: inScopeUsersOf(() => directory) });
      } else {
        journal.write(EV.consoleNotStarted);
        const { startMetricsServer } = await import('./metrics/server.js');
        try {
          metricsServer = await startMetricsServer({ listen: config.console.listen, port: config.console.port, metrics, health });
          journal.write(EV.metricsListening, { url: metricsServer.url });
        } catch (err) {
          // Not fatal: an agent that ran without a listener before must not stop syncing passwords over a busy port.
          journal.write(EV.metricsListenFailed, { listen: config.console.listen, port: config.console.port, code: (err as NodeJS.ErrnoException).code ?? 'error' });
        }
      }
    } catch (err) {
      clearInterval(warnTimer);
      metrics?.close();
      stopWatching();
      await listener.close();
      await delivery.stop();
      await directory.close();
      outbox.close();
      throw err;
    }
  }

  return {
    journal, outbox, delivery, socketPath: config.agent.intake.socket, loaded, console: consoleServer, metricsServer, metrics, current,
    async stop() {
      if (stopped) return;
      stopped = true;
      await consoleServer?.close();
      await metricsServer?.close();
      metrics?.close();
      clearInterval(warnTimer);
      stopWatching();
      await reloading;
      await listener.close();
      await delivery.stop();
      await Promise.all([...targets.values()].map((t) => t.close()));
      await directory.close();
      outbox.close();
      journal.write(EV.agentStopped, { pid: process.pid });
      if (!opts.journal) journal.close();
    },
  };
}

/** The delivery settings config.yml controls; applied at start and again at every reload. */
function deliveryOptionsOf(config: ConfigFile) {
  return {
    concurrency: config.agent.concurrency,
    retry: { initialMs: config.queue.retry.initial, maxMs: config.queue.retry.max },
    maxAgeMs: config.queue.max_age,
    notProvisionedHorizonMs: config.queue.not_provisioned_horizon,
    pausedProbeIntervalMs: config.queue.paused_probe_interval,
  };
}
