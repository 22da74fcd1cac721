// The mapping report as CSV, JSON and a terminal summary, and the copy saved for the console (data_dir,
// mode 0600). The report holds accounts, DNs, external IDs and target user ids: never a password or token.

import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { csvCell } from '../coverage/report.js';
import { MAPPING_STATUSES, type MappingRow } from './classify.js';
import { STATUS_LABELS, type MappingReport } from './run.js';

export const MAPPING_REPORT_FILE = 'mapping-report.json';
/** Rows kept in the console's copy: every problem row up to this many (matched rows are counted, not listed). */
export const SAVED_ROW_LIMIT = 5000;

const CSV_COLUMNS = ['target', 'status', 'account', 'external_id', 'target_user_ids', 'shared_with', 'dn'] as const;

export function mappingCsv(rows: readonly MappingRow[]): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const r of rows)
    lines.push(
      [r.target, r.status, r.account ?? '', r.externalId ?? '', r.targetUserIds.join(' '), (r.sharedWith ?? []).join(' '), r.dn ?? ''].map(csvCell).join(','),
    );
  return lines.join('\r\n') + '\r\n';
}

export function mappingJson(report: MappingReport): string {
  return JSON.stringify(report, null, 2) + '\n';
}

export function mappingSummary(report: MappingReport): string {
  const lines = [`${report.adUsers} in-scope AD users (${(report.durationMs / 1000).toFixed(1)} s)`];
  for (const t of report.targets) {
    const how = t.method === 'listing' ? `paged listing of ${t.targetUsers} target users` : 'one search per external ID (no paged listing)';
    lines.push(`target ${t.name} (${how}, ${t.requests} requests):`);
    for (const s of MAPPING_STATUSES) {
      if (s === 'orphan' && t.method !== 'listing') {
        lines.push(`  ${'-'.padStart(7)}  ${STATUS_LABELS[s]} (needs a paged listing)`);
        continue;
      }
      lines.push(`  ${String(t.counts[s]).padStart(7)}  ${STATUS_LABELS[s]}`);
    }
  }
  return lines.join('\n') + '\n';
}

/** What the console shows: counts and the problem rows (capped), without the matched ones. */
export interface SavedMappingReport extends Omit<MappingReport, 'rows'> {
  rows: MappingRow[];
  /** Problem rows left out of `rows` by SAVED_ROW_LIMIT. */
  omittedRows: number;
}

export function toSaved(report: MappingReport): SavedMappingReport {
  const problems = report.rows.filter((r) => r.status !== 'matched');
  return { ...report, rows: problems.slice(0, SAVED_ROW_LIMIT), omittedRows: Math.max(0, problems.length - SAVED_ROW_LIMIT) };
}

/**
 * Saves the console's copy in `dataDir`, atomically, mode 0600, owned like `dataDir` (a report run as root must
 * stay readable by the agent's user). Returns undefined without writing when `dataDir` does not exist yet: the
 * agent creates it with the right owner, and a report must not create it with the wrong one.
 */
export function saveMappingReport(dataDir: string, report: MappingReport): string | undefined {
  if (!existsSync(dataDir)) return undefined;
  const file = path.join(dataDir, MAPPING_REPORT_FILE);
  const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, JSON.stringify(toSaved(report)), { mode: 0o600, flag: 'wx' });
  try {
    chmodSync(tmp, 0o600);
    if (process.getuid?.() === 0) {
      const owner = statSync(dataDir);
      chownSync(tmp, owner.uid, owner.gid);
    }
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  return file;
}

/** The last saved report, or undefined when none was saved yet. Throws on a corrupt file (the caller shows it). */
export function loadMappingReport(dataDir: string): SavedMappingReport | undefined {
  const file = path.join(dataDir, MAPPING_REPORT_FILE);
  if (!existsSync(file)) return undefined;
  const v = JSON.parse(readFileSync(file, 'utf8')) as SavedMappingReport;
  if (typeof v !== 'object' || v === null || !Array.isArray(v.targets) || !Array.isArray(v.rows)) throw new Error(`${file} is not a mapping report`);
  return v;
}
