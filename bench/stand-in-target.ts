// A forked process serving the least a SCIM target must do for bench §2 (delivery): IIJ's search
// (POST /Users/.search) and the password PATCH, each held L ms, answered correctly, with its own CPU per request
// reported. So §2 measures the agent, not the emulator (which hashes passwords and keeps a user store). Binds
// 127.0.0.1 on an ephemeral port; never logs a password or a token, and keeps no password (it counts the sets).

import { randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from './lib/rpc.js';

export interface StandInStart {
  latencyMs: number;
  /** Users u0@example.test … u(users-1)@example.test exist, with id "id-<i>" (bench/lib/accounts.ts). */
  users: number;
}

const SEARCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';
const PATCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const LIST_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';
/** The filter IIJ's agent sends: `externalId pr and (externalId eq "<value>")` (src/targets/scim-filter.ts). */
const FILTER = /^externalId pr and \(externalId eq ("(?:[^"\\]|\\.)*")\)$/;
const USER = /^u(\d+)@example\.test$/;

let server: http.Server | undefined;
let latencyMs = 0;
let users = 0;
const token = randomBytes(24).toString('base64url');
const stats = { searches: 0, passwordSets: 0, errors: 0, requests: 0, heldMs: 0 };
let cpuAtStart: NodeJS.CpuUsage = process.cpuUsage();

function authorised(req: http.IncomingMessage): boolean {
  const got = Buffer.from(req.headers.authorization ?? '');
  const want = Buffer.from(`Bearer ${token}`);
  return got.length === want.length && timingSafeEqual(got, want);
}

function answer(res: http.ServerResponse, status: number, body?: unknown): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, body === undefined ? {} : { 'content-type': 'application/scim+json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function scimError(status: number, detail: string): unknown {
  return { schemas: [ERROR_SCHEMA], status: String(status), detail };
}

/** The user index named by an externalId, or undefined when no such user exists here. */
function userOf(externalId: string): number | undefined {
  const m = USER.exec(externalId);
  const i = m ? Number(m[1]) : NaN;
  return Number.isInteger(i) && i < users ? i : undefined;
}

/** What the request gets, decided from its method, path and body. */
function respond(method: string, url: string, body: string): { status: number; body?: unknown } {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(body) as Record<string, unknown>;
  } catch {
    return { status: 400, body: scimError(400, 'body is not JSON') };
  }
  const schemas = Array.isArray(json['schemas']) ? (json['schemas'] as unknown[]) : [];
  if (method === 'POST' && url === '/scim/v2/Users/.search') {
    const m = typeof json['filter'] === 'string' ? FILTER.exec(json['filter']) : null;
    if (!schemas.includes(SEARCH_SCHEMA) || !m) return { status: 400, body: scimError(400, 'not an IIJ SearchRequest') };
    stats.searches++;
    const externalId = JSON.parse(m[1]!) as string;
    const i = userOf(externalId);
    const found = i === undefined ? [] : [{ id: `id-${i}`, externalId }];
    return { status: 200, body: { schemas: [LIST_SCHEMA], totalResults: found.length, itemsPerPage: found.length, startIndex: 1, Resources: found } };
  }
  const patch = /^\/scim\/v2\/Users\/id-(\d+)$/.exec(url);
  if (method === 'PATCH' && patch) {
    if (Number(patch[1]) >= users) return { status: 404, body: scimError(404, 'no such user') };
    const ops = Array.isArray(json['Operations']) ? (json['Operations'] as Array<Record<string, unknown>>) : [];
    const op = ops[0];
    if (!schemas.includes(PATCH_SCHEMA) || ops.length !== 1 || op?.['op'] !== 'replace' || op['path'] !== 'password' || typeof op['value'] !== 'string' || op['value'] === '')
      return { status: 400, body: scimError(400, 'not a password PatchOp') };
    stats.passwordSets++;
    return { status: 204 };
  }
  return { status: 404, body: scimError(404, `${method} ${url} is not served here`) };
}

function handle(req: http.IncomingMessage, res: http.ServerResponse): void {
  const arrived = process.hrtime.bigint();
  stats.requests++;
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const out = authorised(req) ? respond(req.method ?? '', req.url ?? '', Buffer.concat(chunks).toString('utf8')) : { status: 401, body: scimError(401, 'bad token') };
    if (out.status >= 400) stats.errors++;
    // Held L ms from arrival, like a target's own latency; a timer fires at or after its time, never before.
    const left = latencyMs - Number(process.hrtime.bigint() - arrived) / 1e6;
    const send = () => {
      stats.heldMs += Number(process.hrtime.bigint() - arrived) / 1e6;
      answer(res, out.status, out.body);
    };
    if (left > 0) setTimeout(send, left);
    else send();
  });
}

serve(
  {
    async start(a: StandInStart) {
      latencyMs = a.latencyMs;
      users = a.users;
      server = http.createServer({ keepAlive: true }, handle);
      server.keepAliveTimeout = 60_000;
      await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as AddressInfo;
      return { scimBase: `http://127.0.0.1:${port}/scim/v2/`, token };
    },
    /** Counters since the last reset, and this process's CPU (user + system) over them. */
    stats() {
      return { ...stats, cpu: process.cpuUsage(cpuAtStart) };
    },
    reset() {
      Object.assign(stats, { searches: 0, passwordSets: 0, errors: 0, requests: 0, heldMs: 0 });
      cpuAtStart = process.cpuUsage();
      return true;
    },
  },
  async () => {
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  },
);
