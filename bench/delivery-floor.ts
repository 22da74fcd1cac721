// A forked process for bench §2: the least a delivery client can do against the stand-in target — per change, IIJ's
// search and then the password PATCH, over undici with keep-alive as the agent sends them, C changes at a time — and
// nothing else: no outbox, directory, sealing, journal or rate limit. Its rate is what this machine allows at (L, C);
// the agent's rate divided by it is the agent's own share of the gap to C/(2L).
// Two more clients make the same requests to show what the HTTP stack itself costs: Node's own `node:http` with a
// keep-alive agent, and a bare socket that writes HTTP/1.1 and reads the stand-in's answers by hand (enough for
// this server's Content-Length replies, nothing more — not a client for anything else).

import http from 'node:http';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import { iijExternalIdFilter } from '../src/targets/scim-filter.js';
import { passwordPatch, searchRequest } from '../src/targets/scim-messages.js';
import { benchPassword } from './lib/stack.js';
import { iijExternalId } from './lib/accounts.js';
import { serve } from './lib/rpc.js';

export type FloorClient = 'undici' | 'node:http' | 'socket';

export interface DeliveryFloorRun {
  client?: FloorClient;
  changes: number;
  elapsedMs: number;
  perSecond: number;
  /** This process's CPU (user + system) per change, ms. */
  cpuMs: number;
  failures: number;
}

interface Answer {
  status: number;
  text: string;
}

/** Sends one request on one of the client's keep-alive connections. */
type Send = (method: 'POST' | 'PATCH', path: string, body: unknown) => Promise<Answer>;

interface Client {
  /** One per concurrent slot: the socket client keeps one connection per slot, the others share a pool. */
  slot(): Send;
  close(): Promise<void>;
}

function undiciClient(base: URL, headers: Record<string, string>): Client {
  const dispatcher = new Agent({ keepAliveTimeout: 30_000 });
  const send: Send = async (method, p, body) => {
    const r = await request(`${base.href}${p}`, { method, dispatcher, headers, body: JSON.stringify(body) });
    return { status: r.statusCode, text: await r.body.text() };
  };
  return { slot: () => send, close: () => dispatcher.close() };
}

function nodeHttpClient(base: URL, headers: Record<string, string>, concurrency: number): Client {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const send: Send = (method, p, body) =>
    new Promise((resolve, reject) => {
      const text = JSON.stringify(body);
      const req = http.request(`${base.href}${p}`, { agent, method, headers: { ...headers, 'content-length': Buffer.byteLength(text) } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(text);
    });
  return { slot: () => send, close: async () => agent.destroy() };
}

function socketClient(base: URL, headers: Record<string, string>): Client {
  const sockets: net.Socket[] = [];
  const head = Object.entries({ host: base.host, ...headers }).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  const slot = (): Send => {
    const sock = net.connect(Number(base.port), base.hostname);
    sock.setNoDelay(true);
    sockets.push(sock);
    let buf: Buffer = Buffer.alloc(0);
    let waiting: { resolve: (a: Answer) => void; reject: (e: Error) => void } | undefined;
    const parse = () => {
      const end = buf.indexOf('\r\n\r\n');
      if (!waiting || end < 0) return;
      const lines = buf.subarray(0, end).toString('latin1');
      if (/^transfer-encoding:/im.test(lines)) return waiting.reject(new Error('the socket floor reads Content-Length replies only'));
      const length = Number(/^content-length: *(\d+)/im.exec(lines)?.[1] ?? 0);
      if (buf.length < end + 4 + length) return;
      const answer = { status: Number(lines.slice(9, 12)), text: buf.subarray(end + 4, end + 4 + length).toString('utf8') };
      buf = buf.subarray(end + 4 + length);
      const w = waiting;
      waiting = undefined;
      w.resolve(answer);
    };
    sock.on('data', (d: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      parse();
    });
    sock.on('error', (err) => waiting?.reject(err));
    return (method, p, body) =>
      new Promise((resolve, reject) => {
        waiting = { resolve, reject };
        const text = Buffer.from(JSON.stringify(body));
        // One write per request, as undici's writev: two small writes would meet Nagle's algorithm and a delayed ACK.
        sock.write(Buffer.concat([Buffer.from(`${method} ${base.pathname}${p} HTTP/1.1\r\n${head}content-length: ${text.length}\r\n\r\n`, 'latin1'), text]));
      });
  };
  return { slot, close: async () => sockets.forEach((s) => s.destroy()) };
}

serve({
  async run(a: { scimBase: string; token: string; concurrency: number; changes: number; iijUsers: number; client?: FloorClient }): Promise<DeliveryFloorRun> {
    const base = new URL(a.scimBase);
    const headers = { authorization: `Bearer ${a.token}`, accept: 'application/scim+json, application/json', 'content-type': 'application/scim+json' };
    const kind = a.client ?? 'undici';
    const client = kind === 'node:http' ? nodeHttpClient(base, headers, a.concurrency) : kind === 'socket' ? socketClient(base, headers) : undiciClient(base, headers);
    let next = 0;
    let failures = 0;
    const one = async (send: Send, j: number): Promise<void> => {
      const search = await send('POST', 'Users/.search', searchRequest(iijExternalIdFilter(iijExternalId(j % a.iijUsers)), ['id', 'externalId']));
      const id = (JSON.parse(search.text) as { Resources?: Array<{ id: string }> }).Resources?.[0]?.id;
      if (search.status !== 200 || !id) return void failures++;
      const patch = await send('PATCH', `Users/${id}`, passwordPatch(benchPassword()));
      if (patch.status !== 204) failures++;
    };
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: a.concurrency }, async () => {
        const send = client.slot();
        while (next < a.changes) await one(send, next++);
      }),
    );
    const elapsedMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    await client.close();
    return { client: kind, changes: a.changes, elapsedMs, perSecond: a.changes / (elapsedMs / 1000), cpuMs: (cpu.user + cpu.system) / 1000 / a.changes, failures };
  },
});
