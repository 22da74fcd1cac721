// Serves /metrics and /healthz on their own when the console does not run (secret.yml has no console.admin_token):
// metrics and health belong to the agent, not to the console (docs/console.md). Loopback by default, Host-checked
// like the console; serves nothing else — no page, never an account, a password or a token.

import http from 'node:http';
import type { HealthVerdict } from './health.js';
import { isLoopback, listenHttp } from './http-listen.js';
import type { PwsyncMetrics } from './metrics.js';

export interface MetricsServerOptions {
  listen: string;
  port: number;
  metrics: PwsyncMetrics;
  health: () => HealthVerdict;
}

export interface RunningMetricsServer {
  url: string;
  close(): Promise<void>;
}

export async function startMetricsServer(o: MetricsServerOptions): Promise<RunningMetricsServer> {
  let port = 0;
  // DNS rebinding: on loopback, answer only to loopback names.
  const allowedHost = (host: string | undefined) =>
    !isLoopback(o.listen) || (host !== undefined && [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `${o.listen}:${port}`].includes(host.toLowerCase()));
  const server = http.createServer((req, res) => {
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });
      res.end(body);
    };
    if (!allowedHost(req.headers.host)) return send(421, 'text/plain; charset=utf-8', '421 unexpected Host header\n');
    const route = `${req.method ?? 'GET'} ${new URL(req.url ?? '/', 'http://127.0.0.1').pathname}`;
    if (route === 'GET /metrics') {
      o.metrics.registry.metrics().then(
        (text) => send(200, o.metrics.registry.contentType, text),
        () => send(500, 'text/plain; charset=utf-8', '500 internal error\n'),
      );
      return;
    }
    if (route === 'GET /healthz') {
      const v = o.health();
      return send(v.status === 'ok' ? 200 : 503, 'application/json', JSON.stringify(v.status === 'ok' ? { status: 'ok' } : v));
    }
    send(404, 'text/plain; charset=utf-8', '404 not found: this agent serves only /metrics and /healthz (no console.admin_token)\n');
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  const listening = await listenHttp(server, o.listen, o.port);
  port = listening.port;
  return { url: listening.url, close: listening.close };
}
