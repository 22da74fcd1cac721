// `pwsync report mapping --config FILE [--secret FILE] [--format csv|json] [--out FILE]`: before go-live, proves that
// delivery will find every in-scope AD user at each target. Read-only (AD searches, target searches/listings);
// works while the agent runs. Prints accounts and external IDs only; never a secret.

import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../config/load.js';
import { createLdapDirectory } from '../directory/ldap-directory.js';
import { OUTBOX_FILE } from '../outbox/store.js';
import { openOutboxReader } from '../outbox/reader.js';
import { openChangeErrors } from '../outbox/queries.js';
import { isPendingDeletionOutcome } from '../targets/iij-pending-deletion.js';
import { createTarget } from '../targets/index.js';
import { fail, parse } from './args.js';
import { mappingCsv, mappingJson, mappingSummary, saveMappingReport } from '../mapping/output.js';
import { allMatched, runMappingReport, type InScopePageSource, type MappingTarget } from '../mapping/run.js';


export interface MappingCommandIo {
  stdout?: (s: string) => void;
  stderr?: (s: string) => void;
  /** Whether stderr is a terminal (progress lines); default process.stderr.isTTY. */
  progressTty?: boolean;
  /** Replaces the LDAP source (tests). */
  ad?: InScopePageSource;
}

export async function reportMappingCommand(argv: string[], io: MappingCommandIo = {}): Promise<number> {
  const out = io.stdout ?? ((s: string) => process.stdout.write(s));
  const err = io.stderr ?? ((s: string) => process.stderr.write(s));
  const a = parse(argv, { config: { type: 'string' }, secret: { type: 'string' }, format: { type: 'string' }, out: { type: 'string' }, target: { type: 'string' } });
  if (!a.config) return fail('report mapping: --config FILE is required');
  if (a.format !== undefined && a.format !== 'csv' && a.format !== 'json') return fail('report mapping: --format is csv or json');
  const { config, secret } = loadConfig(a.config, a.secret);
  const chosen = a.target === undefined ? config.targets : config.targets.filter((t) => t.name === a.target);
  if (chosen.length === 0) return fail(`report mapping: no target named "${a.target}" in config.yml`);

  const pending = pendingDeletionEvidence(path.join(config.agent.data_dir, OUTBOX_FILE));
  const targets: MappingTarget[] = chosen.map((c) => ({ config: c, target: createTarget(c, secret.targets[c.name]), pendingDeletion: pending.get(c.name) ?? new Set() }));
  const directory = io.ad ? undefined : createLdapDirectory(config.ad.ldap, secret.ad.ldap.server.password);
  const tty = io.progressTty ?? process.stderr.isTTY === true;
  const progress = tty ? (s: string) => err(`\r\x1b[K${s}`) : undefined;
  let report;
  try {
    report = await runMappingReport(io.ad ?? directory!, targets, progress ? { progress } : {});
  } finally {
    if (tty) err('\r\x1b[K');
    await directory?.close();
    for (const t of targets) await t.target.close();
  }

  let savedNote: string;
  try {
    const saved = saveMappingReport(config.agent.data_dir, report);
    savedNote = saved ? `the console shows this report (${saved})` : `not saved for the console: ${config.agent.data_dir} does not exist until pwsync run creates it`;
  } catch (e) {
    savedNote = `not saved for the console: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
  }
  const summary = mappingSummary(report);
  const body = a.format === 'json' ? mappingJson(report) : a.format === 'csv' ? mappingCsv(report.rows) : undefined;
  if (body !== undefined && a.out !== undefined) {
    writeFileSync(path.resolve(a.out), body, { mode: 0o600 });
    out(summary + `wrote ${path.resolve(a.out)}; ${savedNote}\n`);
  } else if (body !== undefined) {
    out(body);
    err(summary + savedNote + '\n');
  } else {
    out(summary + `${savedNote}; --format csv|json lists every user\n`);
  }
  // 0: delivery will find every in-scope user; 1: it will not (the report says who and why).
  return allMatched(report) ? 0 : 1;
}

/** Per target, the lower-case accounts whose open change waits because the target said "pending deletion". */
function pendingDeletionEvidence(file: string): Map<string, Set<string>> {
  const byTarget = new Map<string, Set<string>>();
  if (!existsSync(file)) return byTarget;
  const outbox = openOutboxReader(file);
  try {
    const rows = openChangeErrors(outbox);
    for (const r of rows) {
      if (!isPendingDeletionOutcome(r.code, r.message)) continue;
      const set = byTarget.get(r.target) ?? new Set<string>();
      set.add(r.account.toLowerCase());
      byTarget.set(r.target, set);
    }
  } finally {
    outbox.close();
  }
  return byTarget;
}
