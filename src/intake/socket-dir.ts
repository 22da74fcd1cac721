// The agent's side of who may stand behind the intake socket path: before listening, it makes the socket's directory
// private or refuses it. Never loosens a mode. Unix only: the Windows named pipe is protected by its ACL
// (docs/security.md). The capture clients' check is src/capture/socket-trust.ts.

import { chmodSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { UntrustedSocketError } from '../errors.js';

const STICKY = 0o1000;

const uid = (): number => process.getuid?.() ?? 0;

/**
 * Agent side, before listen: creates the socket's directory 0700, or checks an existing one. A directory others can
 * write is tightened to 0700 when the agent owns it (and it is not a shared sticky directory such as /tmp), and
 * refused otherwise. Returns true when it tightened the mode.
 */
export function prepareSocketDir(socketPath: string): boolean {
  const dir = path.dirname(socketPath);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = statSync(dir);
  const me = uid();
  if (st.uid !== me && st.uid !== 0)
    throw new UntrustedSocketError(`the intake socket's directory ${dir} is owned by uid ${st.uid}, not by the agent's user (uid ${me}) or root: use a directory of the agent's own (e.g. /run/pwsync)`);
  if ((st.mode & 0o022) === 0) return false;
  if (st.uid === me && (st.mode & STICKY) === 0) {
    chmodSync(dir, 0o700);
    return true;
  }
  throw new UntrustedSocketError(
    `the intake socket's directory ${dir} is writable by other users (mode ${(st.mode & 0o7777).toString(8)}): another user could put a socket there first and receive passwords; use a directory of the agent's own (e.g. /run/pwsync, mode 0700)`,
  );
}
