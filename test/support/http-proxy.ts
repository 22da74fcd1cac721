// A small HTTP forward proxy for tests: absolute-form requests and CONNECT tunnels, Basic Proxy-Authorization,
// counters. Test-only, loopback only; never records a header value or a body (they carry tokens and passwords).

import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { connect as netConnect, type AddressInfo, type Socket } from 'node:net';

export interface TestProxy {
  readonly host: string;
  readonly port: number;
  /** Absolute-form requests forwarded (http:// targets). */
  readonly forwarded: number;
  /** CONNECT tunnels opened (https:// targets). */
  readonly tunnels: number;
  /** Requests or CONNECTs refused with 407. */
  readonly refused: number;
  close(): Promise<void>;
}

export async function startHttpProxy(credentials: { user: string; password: string }): Promise<TestProxy> {
  const expected = `Basic ${Buffer.from(`${credentials.user}:${credentials.password}`).toString('base64')}`;
  let forwarded = 0;
  let tunnels = 0;
  let refused = 0;
  const sockets = new Set<Socket>();
  const authorised = (req: IncomingMessage): boolean => req.headers['proxy-authorization'] === expected;

  const server: Server = createServer((req, res) => {
    if (!authorised(req)) {
      refused += 1;
      res.writeHead(407, { 'proxy-authenticate': 'Basic realm="test-proxy"', 'content-type': 'text/plain' });
      res.end('proxy authentication required');
      return;
    }
    let target: URL;
    try {
      target = new URL(req.url ?? '');
    } catch {
      res.writeHead(400).end('absolute-form request expected');
      return;
    }
    forwarded += 1;
    const headers = { ...req.headers };
    delete headers['proxy-authorization'];
    delete headers['proxy-connection'];
    const upstream = httpRequest(
      { host: target.hostname, port: target.port, method: req.method, path: target.pathname + target.search, headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => res.headersSent ? res.destroy() : res.writeHead(502).end('bad gateway'));
    req.pipe(upstream);
  });

  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    if (!authorised(req)) {
      refused += 1;
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test-proxy"\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const [host, port] = splitHostPort(req.url ?? '');
    const upstream = netConnect({ host, port }, () => {
      tunnels += 1;
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  await new Promise<void>((resolve, reject) => {
    server.listen(0, '127.0.0.1', () => resolve());
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  return {
    host: '127.0.0.1',
    port,
    get forwarded() {
      return forwarded;
    },
    get tunnels() {
      return tunnels;
    },
    get refused() {
      return refused;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}

function splitHostPort(authority: string): [string, number] {
  const i = authority.lastIndexOf(':');
  const host = authority.slice(0, i).replace(/^\[|\]$/g, '');
  return [host, Number(authority.slice(i + 1))];
}
