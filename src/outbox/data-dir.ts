// Makes agent.data_dir private before the outbox, key or journal is opened: created 0700, or tightened to 0700 (its
// files to 0600) when the agent's user owns it; refused when another user owns it. Never loosens a mode.

import { chmodSync, lstatSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { UnsafePermissionsError } from '../errors.js';

/**
 * Returns the paths whose modes were tightened (for event 1022). A data_dir that already existed with 0755 left the
 * outbox, its -wal/-shm and the journal readable by every local user (docs/security.md).
 */
export function secureDataDir(dir: string): string[] {
  if (process.platform === 'win32') {
    mkdirSync(dir, { recursive: true });
    return []; // NTFS ACLs: the installer restricts the folder to SYSTEM and Administrators (docs/operations-windows.md).
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const uid = process.getuid!();
  const st = statSync(dir);
  if (!st.isDirectory()) throw new UnsafePermissionsError(`agent.data_dir ${dir} is not a directory`);
  if (st.uid !== uid)
    throw new UnsafePermissionsError(
      `agent.data_dir ${dir} is owned by uid ${st.uid}, not by the agent's user (uid ${uid}): another user could read or replace the queue; chown it to the agent's user`,
    );
  const tightened: string[] = [];
  if ((st.mode & 0o077) !== 0) {
    chmodSync(dir, 0o700);
    tightened.push(dir);
  }
  for (const name of readdirSync(dir)) {
    const file = path.join(dir, name);
    const f = lstatSync(file);
    if (!f.isFile() || f.uid !== uid || (f.mode & 0o077) === 0) continue;
    chmodSync(file, 0o600);
    tightened.push(file);
  }
  return tightened;
}
