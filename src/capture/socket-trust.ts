// Who may stand behind the intake socket path, seen from a capture client: it refuses to hand a password to a socket
// another user could have put there (a squatter that listened first would receive it in cleartext). The agent's side
// (making the socket's directory private) is src/intake/socket-dir.ts. Dependency-free: the Samba hook loads it once
// per change.
// Unix only: the Windows named pipe is protected by its ACL (docs/security.md).

import { lstatSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';
import { UntrustedSocketError } from '../errors.js';

const STICKY = 0o1000;

const uid = (): number => process.getuid?.() ?? 0;

/**
 * Client side, before connecting: the socket must be a socket owned by root, by this client's user, or by the owner
 * of the private directory it lives in (the agent's user: a systemd RuntimeDirectory such as /run/pwsync), and no
 * directory on the way may let another user swap it (writable by group/others, unless sticky and the socket is
 * root's or ours). `extraOwners` adds uids (tests, unusual layouts).
 */
export function checkSocketTrust(socketPath: string, extraOwners: readonly number[] = []): void {
  if (process.platform === 'win32' || socketPath.startsWith('\\\\')) return;
  let sock: Stats;
  try {
    sock = lstatSync(socketPath);
  } catch {
    return; // absent: connecting fails with ENOENT and says so
  }
  if (!sock.isSocket()) throw new UntrustedSocketError(`${socketPath} is not a socket: refusing to send a password to it`);
  const me = uid();
  const dir = path.dirname(path.resolve(socketPath));
  const parent = statSync(dir);
  const trusted = new Set([0, me, ...extraOwners]);
  const ownerTrusted = trusted.has(sock.uid) || (sock.uid === parent.uid && (parent.mode & 0o022) === 0);
  if (!ownerTrusted)
    throw new UntrustedSocketError(
      `the intake socket ${socketPath} belongs to uid ${sock.uid}, which is not the agent's user (root, uid ${me}, or the owner of ${dir}): refusing to send a password to it; check who created it`,
    );
  // Walk up: a directory another user can write lets that user replace the socket (or a directory on its path)
  // after this check — unless it is sticky (like /tmp) and the entry in it belongs to a trusted user.
  let child: Stats = sock;
  for (let d = dir; ; d = path.dirname(d)) {
    const st = d === dir ? parent : statSync(d);
    const ownerOk = trusted.has(st.uid) || (d === dir && st.uid === sock.uid);
    const openToOthers = (st.mode & 0o022) !== 0 && !((st.mode & STICKY) !== 0 && trusted.has(child.uid));
    child = st;
    if (!ownerOk || openToOthers)
      throw new UntrustedSocketError(
        `the intake socket ${socketPath} is in ${d}, which ${!ownerOk ? `belongs to uid ${st.uid}` : 'other users can write'}: another user could replace the socket; refusing to send a password`,
      );
    if (path.dirname(d) === d) break;
  }
}
