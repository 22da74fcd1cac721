// The intake listener: a Unix socket created 0600 in a 0700 directory (or the Windows named pipe). Only the agent's
// own user (root / SYSTEM) can hand it a password; a stale socket file from a crash is replaced.

import net from 'node:net';
import path from 'node:path';
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { serveIntakeConnection, type IntakeConnectionState, type IntakeHandler } from './intake-connection.js';
import { prepareSocketDir } from './socket-dir.js';
import { UnsafePermissionsError, UntrustedSocketError } from '../errors.js';

export interface IntakeListener {
  server: net.Server;
  /** The socket's directory was writable by others and has been made 0700 (for event 1022). */
  tightenedDir?: string;
  /** Stops accepting and drops open connections (an unacked change stays with the capture side, which retries). */
  close(): Promise<void>;
}

/** Open connections at most; at the limit, the oldest one that is not handling a frame makes room for a new one. */
export const MAX_INTAKE_CONNECTIONS = 256;

export async function listenIntake(socketPath: string, intake: IntakeHandler, maxConnections = MAX_INTAKE_CONNECTIONS): Promise<IntakeListener> {
  // Insertion order is age: the first entry that is not busy is the oldest idle or incomplete connection.
  const open = new Map<net.Socket, IntakeConnectionState>();
  const server = net.createServer({ allowHalfOpen: false }, (sock) => {
    if (open.size >= maxConnections) {
      // Idle clients must not lock out a real capture (300 idle connections once made a real submit fail): evict
      // the oldest connection that is not handling a frame. An evicted capture client had no ack: it keeps its copy.
      const victim = [...open].find(([, st]) => !st.busy)?.[0];
      if (!victim) return void sock.destroy();
      open.delete(victim);
      victim.destroy();
    }
    const state = serveIntakeConnection(sock, intake);
    open.set(sock, state);
    sock.once('close', () => open.delete(sock));
  });
  const isPipe = socketPath.startsWith('\\\\');
  let tightenedDir: string | undefined;
  if (!isPipe) {
    try {
      if (prepareSocketDir(socketPath)) tightenedDir = path.dirname(socketPath);
      await removeIfStale(socketPath);
    } catch (err) {
      throw err instanceof UntrustedSocketError ? new UnsafePermissionsError(err.message) : err;
    }
  }
  // umask makes the socket 0600 from its first moment; chmod afterwards alone would leave a window.
  const oldMask = isPipe ? undefined : process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    if (oldMask !== undefined) process.umask(oldMask);
  }
  if (!isPipe) chmodSync(socketPath, 0o600);
  return {
    server,
    ...(tightenedDir !== undefined ? { tightenedDir } : {}),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of open.keys()) s.destroy();
      }),
  };
}

/** Removes a socket left by a crashed agent. Only ever a socket: `socket: outbox.sqlite` once deleted the queue. */
async function removeIfStale(socketPath: string): Promise<void> {
  let st;
  try {
    st = lstatSync(socketPath);
  } catch {
    return;
  }
  if (!st.isSocket())
    throw new UntrustedSocketError(`agent.intake.socket ${socketPath} exists and is not a socket: refusing to replace it; give the socket a path of its own`);
  const alive = await new Promise<boolean>((resolve) => {
    const c = net.connect(socketPath);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (alive) throw new Error(`another agent is already listening on ${socketPath}`);
  unlinkSync(socketPath);
}
