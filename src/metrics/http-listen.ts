// Binds one of the agent's HTTP servers (the console, or /metrics and /healthz on their own) to its configured
// address and names its URL. Binds exactly the address it is given: never a wider one.

import type http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A listen address only this host can reach (the default, 127.0.0.1, is one). */
export const isLoopback = (addr: string): boolean => addr === 'localhost' || addr === '::1' || addr.startsWith('127.');

export interface ListeningServer {
  /** The port bound: the configured one, or the ephemeral one the OS chose for port 0. */
  port: number;
  /** `http://address:port`, an IPv6 address in brackets. */
  url: string;
  /** Drops open connections (keep-alive included) and resolves once the server has closed. */
  close(): Promise<void>;
}

/** Listens on `listen`:`port`; resolves once bound, rejects with the bind error itself (EADDRINUSE, EACCES …). */
export async function listenHttp(server: http.Server, listen: string, port: number): Promise<ListeningServer> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, listen, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  const host = listen.includes(':') ? `[${listen}]` : listen;
  return {
    port: bound,
    url: `http://${host}:${bound}`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
