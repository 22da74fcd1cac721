// `pwsync report coverage --config FILE [--secret FILE] [--csv] [--all]`: in-scope AD users whose current
// password has not reached a target. Reads AD and the outbox (read-only, works while the agent runs); prints
// account names and times only.

import path from 'node:path';
import { usageMessage } from './args.js';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load.js';
import { OUTBOX_FILE } from '../outbox/store.js';
import { openOutboxReader } from '../outbox/reader.js';
import { lastDeliveries } from '../outbox/queries.js';
import { createLdapDirectory } from '../directory/ldap-directory.js';
import { inScopeUsersOf, type InScopeUserSource } from '../coverage/ad-users.js';
import { coverageCsv, coverageReport, notSynced, type CoverageRow } from '../coverage/report.js';


export interface CoverageCommandIo {
  stdout?: (s: string) => void;
  stderr?: (s: string) => void;
  /** Replaces the LDAP source (tests). */
  users?: InScopeUserSource;
}

export async function reportCoverageCommand(argv: string[], io: CoverageCommandIo = {}): Promise<number> {
  const out = io.stdout ?? ((s: string) => process.stdout.write(s));
  const err = io.stderr ?? ((s: string) => process.stderr.write(s));
  let a;
  try {
    a = parseArgs({
      args: argv,
      options: { config: { type: 'string' }, secret: { type: 'string' }, csv: { type: 'boolean' }, all: { type: 'boolean' } },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (e) {
    err(`pwsync: report coverage: ${usageMessage(e, argv, { config: {}, secret: {}, csv: {}, all: {} })}\n`);
    return 2;
  }
  if (!a.config) {
    err('pwsync: report coverage: --config FILE is required\n');
    return 2;
  }
  const { config, secret } = loadConfig(a.config, a.secret);
  // One connection for the whole report, through the same Directory contract (and code) as the agent's.
  const directory = io.users ? undefined : createLdapDirectory(config.ad.ldap, secret.ad.ldap.server.password);
  let users;
  try {
    users = await (io.users ?? inScopeUsersOf(() => directory!)).listInScopeUsers();
  } finally {
    await directory?.close();
  }
  const outbox = openOutboxReader(path.join(config.agent.data_dir, OUTBOX_FILE));
  let rows: CoverageRow[];
  try {
    rows = coverageReport(users, lastDeliveries(outbox), config.targets.map((t) => t.name));
  } finally {
    outbox.close();
  }
  const shown = a.all ? rows : notSynced(rows);
  if (a.csv) {
    out(coverageCsv(shown));
    return 0;
  }
  out(formatCoverage(shown, users.length, rows));
  return 0;
}

export function formatCoverage(shown: readonly CoverageRow[], userCount: number, all: readonly CoverageRow[]): string {
  const missing = notSynced(all).length;
  const lines = [`${userCount} in-scope users; ${missing} (user, target) pairs whose current AD password has not reached the target`];
  for (const r of shown)
    lines.push(`${r.target}\t${r.account}\t${r.status}\tpwdLastSet ${r.pwdLastSet ?? '-'}\tlast delivery ${r.lastDelivery ?? 'never'}`);
  return lines.join('\n') + '\n';
}
