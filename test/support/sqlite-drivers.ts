// The SQLite drivers the outbox tests must cover in this Node: every driver that loads, and under CI=true a
// driver that should load here and does not is a failure (never a silent skip of half the matrix).

import { availableDrivers, type SqliteDriverName } from '../../src/outbox/sqlite-driver.js';

/** node:sqlite loads without a flag from Node 22.13 (22.5-22.12 need --experimental-sqlite). */
function nodeSqliteExpected(): boolean {
  const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
  return major > 22 || (major === 22 && minor >= 13);
}

export function driversUnderTest(): SqliteDriverName[] {
  const have = availableDrivers();
  if (process.env.CI === 'true') {
    if (nodeSqliteExpected() && !have.includes('node:sqlite'))
      throw new Error(`CI: node:sqlite must load in Node ${process.version} (the Windows package depends on it)`);
    if (process.versions.node.startsWith('20.') && !have.includes('better-sqlite3'))
      throw new Error(`CI: better-sqlite3 must load in Node ${process.version}`);
  }
  if (have.length === 0) throw new Error(`no SQLite driver loads in Node ${process.version}`);
  return have;
}
