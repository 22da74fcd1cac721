// Wires the parts into a running agent: config → journal, keys, outbox, directory, targets, delivery, intake.
// Owns start-up order (outbox before intake, so nothing is acked before it can be stored) and shutdown.

import os from 'node:os';
import path from 'node:path';
import type { LoadedConfig } from './config/load.js';
import type { Directory } from './directory/directory.js';
import { createLdapDirectory } from './directory/ldap-directory.js';
import { DeliveryWorker, type DeliveryTarget } from './delivery/worker.js';
import { Intake } from './capture/intake.js';
import { listenIntake, type IntakeListener } from './capture/intake-server.js';
import { EV } from './journal/catalogue.js';
import { Journal } from './journal/journal.js';
import { loadOrCreateKeys } from './outbox/key-file.js';
import { Outbox } from './outbox/store.js';
import { createTarget } from './targets/index.js';
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
  outbox: Outbox;
  delivery: DeliveryWorker;
  socketPath: string;
  loaded: LoadedConfig;
  stop(): Promise<void>;
}

export const OUTBOX_FILE = 'outbox.sqlite';
export const KEY_FILE = 'agent.key';

export async function startAgent(loaded: LoadedConfig, opts: AgentOptions = {}): Promise<RunningAgent> {
  const { config, secret } = loaded;
  const dataDir = config.agent.data_dir;
  const journal = opts.journal ?? new Journal({ file: config.log.file, stderr: config.log.stderr, level: config.log.loglevel });
  const { keys, created } = loadOrCreateKeys(path.join(dataDir, KEY_FILE));
  if (created) journal.write(EV.keyCreated, { file: path.join(dataDir, KEY_FILE) });
  const outbox = new Outbox(path.join(dataDir, OUTBOX_FILE), keys.sealKey);
  const recovered = outbox.recoverInflight();
  if (recovered > 0) journal.write(EV.recoveredInflight, { count: recovered });

  const directory = opts.directory ?? createLdapDirectory(config.ad.ldap, secret.ad.ldap.server.password);
  const targets = opts.targets ?? config.targets.map((t) => createTarget(t, secret.targets[t.name]));
  const deliveryTargets: DeliveryTarget[] = targets.map((target) => {
    const cfg = config.targets.find((t) => t.name === target.name);
    if (!cfg) throw new Error(`target ${target.name} is not configured`);
    return { target, rule: cfg.attribute.user };
  });
  const delivery = new DeliveryWorker(outbox, directory, deliveryTargets, journal, {
    concurrency: config.agent.concurrency,
    retry: { initialMs: config.queue.retry.initial, maxMs: config.queue.retry.max },
    maxAgeMs: config.queue.max_age,
    notProvisionedHorizonMs: config.queue.not_provisioned_horizon,
    fingerprintKey: keys.fingerprintKey,
  });
  const intake = new Intake(outbox, journal, { targets: () => config.targets.map((t) => t.name), onCommitted: () => delivery.notify() });
  let listener: IntakeListener;
  try {
    listener = await listenIntake(config.agent.intake.socket, intake);
  } catch (err) {
    outbox.close();
    await directory.close();
    throw err;
  }
  delivery.start();
  journal.write(EV.agentStarted, { pid: process.pid, dc: config.agent.dc ?? os.hostname(), targets: targets.map((t) => t.name).join(','), version: 1 });
  journal.write(EV.intakeListening, { socket: config.agent.intake.socket });

  let stopped = false;
  return {
    journal, outbox, delivery, socketPath: config.agent.intake.socket, loaded,
    async stop() {
      if (stopped) return;
      stopped = true;
      await listener.close();
      await delivery.stop();
      await Promise.all(targets.map((t) => t.close()));
      await directory.close();
      outbox.close();
      journal.write(EV.agentStopped, { pid: process.pid });
      if (!opts.journal) journal.close();
    },
  };
}
