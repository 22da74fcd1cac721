// The coverage (drift) report: for each in-scope AD user and target, has the user's CURRENT AD password reached
// the target? Pure: AD users and deliveries in, rows out.
// Works on metadata only: pwdLastSet, key version numbers and delivery times — never a password or fingerprint.

import { filetimeToDate } from '../directory/filetime.js';

export interface AdUser {
  sAMAccountName: string;
  dn: string;
  /** pwdLastSet as AD's raw FILETIME string; "0" = must change at next logon. */
  pwdLastSet?: string;
  /** msDS-KeyVersionNumber, when AD returned it. */
  kvno?: number;
  enabled?: boolean;
}

export interface Delivery {
  account: string;
  target: string;
  /** Epoch ms of the last successful delivery. */
  at: number;
  kvno: number | null;
}

/**
 * synced: the current password was delivered. never: nothing was ever delivered for this user.
 * stale: the password changed in AD after the last delivery. must-change: AD forces a change at next logon
 * (pwdLastSet 0), which will be captured; the temporary password is not expected at the target.
 */
export type CoverageStatus = 'synced' | 'never' | 'stale' | 'must-change';

export interface CoverageRow {
  target: string;
  account: string;
  dn: string;
  status: CoverageStatus;
  /** ISO time of AD's pwdLastSet, null when not a time. */
  pwdLastSet: string | null;
  /** ISO time of the last delivery, null when never. */
  lastDelivery: string | null;
  enabled: boolean | null;
}

/**
 * Rows for every (user, target), sorted by target then account, unsynced first. When both sides carry a key
 * version number it decides (exact, immune to clock skew between DC and agent); otherwise the delivery time
 * must not be older than pwdLastSet.
 */
export function coverageReport(adUsers: readonly AdUser[], deliveries: readonly Delivery[], targets: readonly string[]): CoverageRow[] {
  const byKey = new Map<string, Delivery>();
  for (const d of deliveries) {
    const key = `${d.account.toLowerCase()}\0${d.target}`;
    const old = byKey.get(key);
    if (!old || d.at > old.at) byKey.set(key, d);
  }
  const rows: CoverageRow[] = [];
  for (const target of targets) {
    for (const u of adUsers) {
      const d = byKey.get(`${u.sAMAccountName.toLowerCase()}\0${target}`);
      const setAt = u.pwdLastSet === undefined ? undefined : safeFiletime(u.pwdLastSet);
      let status: CoverageStatus;
      if (u.pwdLastSet !== undefined && /^\s*0\s*$/.test(u.pwdLastSet)) status = 'must-change';
      else if (!d) status = 'never';
      else if (d.kvno !== null && u.kvno !== undefined) status = d.kvno >= u.kvno ? 'synced' : 'stale';
      else if (setAt !== undefined && setAt.getTime() > d.at) status = 'stale';
      else status = 'synced';
      rows.push({
        target, account: u.sAMAccountName, dn: u.dn, status, pwdLastSet: setAt?.toISOString() ?? null,
        lastDelivery: d ? new Date(d.at).toISOString() : null, enabled: u.enabled ?? null,
      });
    }
  }
  const rank: Record<CoverageStatus, number> = { never: 0, stale: 1, 'must-change': 2, synced: 3 };
  return rows.sort((a, b) => a.target.localeCompare(b.target) || rank[a.status] - rank[b.status] || a.account.localeCompare(b.account));
}

function safeFiletime(ft: string): Date | undefined {
  try {
    return filetimeToDate(ft);
  } catch {
    return undefined;
  }
}

/** Rows whose current AD password has not reached the target. */
export function notSynced(rows: readonly CoverageRow[]): CoverageRow[] {
  return rows.filter((r) => r.status === 'never' || r.status === 'stale');
}

const CSV_COLUMNS = ['target', 'account', 'status', 'pwd_last_set', 'last_delivery', 'enabled', 'dn'] as const;

/** RFC 4180 quoting; a cell starting with = + - @ gets a leading ' so a spreadsheet never runs it as a formula. */
export function csvCell(v: string): string {
  const safe = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function coverageCsv(rows: readonly CoverageRow[]): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const r of rows)
    lines.push([r.target, r.account, r.status, r.pwdLastSet ?? '', r.lastDelivery ?? '', r.enabled === null ? '' : String(r.enabled), r.dn].map(csvCell).join(','));
  return lines.join('\r\n') + '\r\n';
}
