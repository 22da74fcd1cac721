// The intake listener: a Unix socket created 0600 in a 0700 directory (or the Windows named pipe). Only the agent's
// own user (root / SYSTEM) can hand it a password; a stale socket file from a crash is replaced.

import net from 'node:net';
import { chmodSync, mkdirSync, unlinkSync, existsSync } from 'node:fs';
import path from 'node:path';
import { serveIntakeConnection, type IntakeHandler } from './intake-connection.js';

export interface IntakeListener {
  server: net.Server;
  /** Stops accepting and drops open connections (an unacked change stays with the capture side, which retries). */
  close(): Promise<void>;
}

export async function listenIntake(socketPath: string, intake: IntakeHandler): Promise<IntakeListener> {
  const open = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: false }, (sock) => {
    open.add(sock);
    sock.once('close', () => open.delete(sock));
    serveIntakeConnection(sock, intake);
  });
  server.maxConnections = 256;
  const isPipe = socketPath.startsWith('\\\\');
  if (!isPipe) {
    mkdirSync(path.dirname(socketPath), { recursive: true, mode: 0o700 });
    if (existsSync(socketPath)) await removeIfStale(socketPath);
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
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of open) s.destroy();
      }),
  };
}

async function removeIfStale(socketPath: string): Promise<void> {
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
