// Who may stand behind the intake socket path. The agent makes the socket's directory private (or refuses it); a
// capture client refuses to hand a password to a socket another user could have put there (a squatter that
// listened first would receive it in cleartext). Dependency-free: the Samba hook loads it once per change.
// Unix only: the Windows named pipe is protected by its ACL (docs/security.md).

import { chmodSync, lstatSync, mkdirSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';

const STICKY = 0o1000;

/** The intake socket's path or directory cannot be trusted with a password. */
export class UntrustedSocketError extends Error {
  readonly code = 'E_SOCKET_UNTRUSTED';
}

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
