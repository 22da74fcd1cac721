// The HTTP side of one target: one undici keep-alive pool (direct, or through the configured proxy), the target's
// timeout as one deadline per request, the extra CA, and SCIM headers. Returns outcomes; classification is
// classify.ts's job. Never puts the token, the proxy password or a request body into an outcome or an error.

import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { Agent, buildConnector, ProxyAgent, request, type Dispatcher } from 'undici';
import type { TargetConfig } from '../config/schema.js';
import type { ResolvedTargetSecret } from '../config/target-secret.js';
import { ConfigError } from '../errors.js';
import { MAX_RESPONSE_BYTES, type HttpOutcome } from './classify.js';

export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'PUT';

export interface TargetCredentials {
  /** The full Authorization header value ("Bearer …" or "Basic …"). */
  authorization: string;
  /** The Proxy-Authorization value ("Basic …"), when http.proxy.user is set. */
  proxyAuthorization?: string | undefined;
  /** Every raw secret behind the headers (token, passwords, their encodings), scrubbed from echoed text. */
  secrets: readonly string[];
}

const basic = (user: string, password: string): string => Buffer.from(`${user}:${password}`, 'utf8').toString('base64');

/** The request headers' values for complete credentials (config/target-secret.ts checked they are complete). */
export function credentialsOf(s: ResolvedTargetSecret): TargetCredentials {
  const secrets: string[] = [];
  let authorization: string;
  if (s.auth.kind === 'basic') {
    const encoded = basic(s.auth.user, s.auth.password);
    authorization = `Basic ${encoded}`;
    secrets.push(s.auth.password, encoded);
  } else {
    authorization = `Bearer ${s.auth.token}`;
    secrets.push(s.auth.token);
  }
  if (s.proxy === undefined) return { authorization, secrets };
  const encoded = basic(s.proxy.user, s.proxy.password);
  secrets.push(s.proxy.password, encoded);
  return { authorization, proxyAuthorization: `Basic ${encoded}`, secrets };
}

export interface TargetHttpClient {
  /** "host:port" of the proxy, for messages; undefined when direct. */
  readonly proxyLabel: string | undefined;
  readonly timeoutMs: number;
  /** Secrets to scrub (for classify's context). */
  readonly secrets: readonly string[];
  /** Sends one request; never throws for network failures (they come back as `kind: 'network'`). */
  send(method: HttpMethod, url: string, body?: unknown): Promise<HttpOutcome>;
  /** Requests sent so far (each counted when it starts, answered or not): what the target's rate limit counts. */
  readonly sent: number;
  close(): Promise<void>;
}

type HttpSettings = Pick<TargetConfig, 'name' | 'timeout' | 'ca_file' | 'http'>;

const USER_AGENT = 'pwsync/0.1 (password sync)';

export function createTargetHttpClient(cfg: HttpSettings, creds: TargetCredentials, targetUrl: string): TargetHttpClient {
  const timeoutMs = cfg.timeout;
  const ca = cfg.ca_file !== undefined ? [...rootCertificates, readCaFile(cfg)] : undefined;
  // undici's own timers bound each phase; our AbortController below bounds the whole request to `timeout`.
  const tls = { timeout: timeoutMs, ...(ca ? { ca } : {}) };
  const pool = { headersTimeout: timeoutMs, bodyTimeout: timeoutMs, keepAliveTimeout: 30_000 };

  const proxyCfg = cfg.http.proxy;
  let dispatcher: Dispatcher;
  let proxyLabel: string | undefined;
  const secrets = creds.secrets;
  if (proxyCfg.use) {
    const proxyUrl = proxyUrlOf(cfg);
    proxyLabel = proxyUrl.host;
    const token = creds.proxyAuthorization;
    dispatcher = new ProxyAgent({
      uri: proxyUrl.href,
      ...(token ? { token } : {}),
      // HTTPS targets (IIJ) go through a CONNECT tunnel; a plain-http target is sent in absolute form, which is
      // what a forward proxy expects for http:// and lets it apply its own policy.
      proxyTunnel: new URL(targetUrl).protocol === 'https:',
      // Windows: no TCP keep-alive on proxied connections (see keepAliveAfterConnect); timeouts still bound them.
      requestTls: process.platform === 'win32' ? { ...tls, keepAlive: false } : tls,
      proxyTls: { timeout: timeoutMs, ...(process.platform === 'win32' ? { keepAlive: false } : {}) },
      ...pool,
    });
  } else {
    dispatcher = new Agent({ connect: process.platform === 'win32' ? keepAliveAfterConnect(tls) : tls, ...pool });
  }

  const headers = (withBody: boolean): Record<string, string> => ({
    authorization: creds.authorization,
    accept: 'application/scim+json, application/json',
    'user-agent': USER_AGENT,
    ...(withBody ? { 'content-type': 'application/scim+json' } : {}),
  });

  let sent = 0;
  return {
    proxyLabel,
    timeoutMs,
    secrets,
    get sent() {
      return sent;
    },
    async send(method, url, body) {
      sent++;
      const deadline = new Deadline();
      const timer = setTimeout(() => deadline.fire(), timeoutMs);
      try {
        const res = await request(url, {
          method,
          dispatcher,
          headers: headers(body !== undefined),
          ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
          signal: deadline,
        });
        const text = await readCapped(res.body);
        return { kind: 'response', status: res.statusCode, headers: res.headers, body: text };
      } catch (err) {
        return networkOutcome(err, deadline.aborted);
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      await dispatcher.close();
    },
  };
}

/**
 * The whole-request deadline, as the abort signal undici documents besides AbortSignal: an EventEmitter that emits
 * 'abort'. An AbortController per request, and the EventTarget listener undici adds to its signal, cost about 5 % of
 * the agent's CPU per delivered change (bench/REPORT.md §2); an emitter does the same job for a fraction of that.
 */
class Deadline extends EventEmitter {
  aborted = false;

  fire(): void {
    this.aborted = true;
    this.emit('abort');
  }
}

function readCaFile(cfg: HttpSettings): string {
  try {
    const pem = readFileSync(cfg.ca_file!, 'utf8');
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no PEM certificate');
    return pem;
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new ConfigError(`target ${cfg.name}: ca_file ${cfg.ca_file}: cannot use it (${why}); give a PEM file with the CA certificate`);
  }
}

function proxyUrlOf(cfg: HttpSettings): URL {
  const { address, port } = cfg.http.proxy;
  // The schema guarantees both when use is true; IIJ's sample gives a bare address ("192.168.0.10").
  const host = /^[a-z][a-z0-9+.-]*:\/\//i.test(address!) ? address! : `http://${address!.includes(':') ? `[${address}]` : address}`;
  const url = new URL(host);
  url.port = String(port);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`target ${cfg.name}: http.proxy.address must be a host name or an http(s):// URL`);
  }
  return url;
}

/**
 * undici turns TCP keep-alive on right after net.connect(), before the socket is connected. libuv on Windows then
 * sets keep-alive socket options that Wine 8 rejects, failing the connect ("connect UNKNOWN"): the Windows package's
 * CI runs under Wine. Turning it on once connected works on both (a refusal then is harmless: requests have timeouts).
 */
function keepAliveAfterConnect(opts: buildConnector.BuildOptions): buildConnector.connector {
  const connect = buildConnector({ ...opts, keepAlive: false });
  return (o, callback) =>
    connect(o, (err, socket) => {
      if (socket) socket.setKeepAlive(true, 60_000);
      if (err) callback(err, null);
      else callback(null, socket!);
    });
}

// Reads at most MAX_RESPONSE_BYTES; stopping early destroys the stream (and that connection), which is the point.
async function readCapped(body: Dispatcher.ResponseData['body']): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const b = chunk as Buffer;
    if (size + b.length > MAX_RESPONSE_BYTES) {
      chunks.push(b.subarray(0, MAX_RESPONSE_BYTES - size));
      break;
    }
    chunks.push(b);
    size += b.length;
  }
  return Buffer.concat(chunks).toString('utf8');
}

function networkOutcome(err: unknown, timedOut: boolean): HttpOutcome {
  const e = err as { code?: unknown; message?: unknown; cause?: { code?: unknown } };
  const code = typeof e.code === 'string' ? e.code : typeof e.cause?.code === 'string' ? e.cause.code : undefined;
  const message = typeof e.message === 'string' ? e.message : String(err);
  // undici reports a proxy's refusal only in the message text (no status field): "Proxy response (407) !== 200
  // when HTTP Tunneling" for CONNECT, "Proxy Authentication Required (407)" for absolute-form requests.
  const m = /Proxy response \((\d{3})\)|Proxy Authentication Required \((\d{3})\)/.exec(message);
  const proxyStatus = m ? Number(m[1] ?? m[2]) : undefined;
  return { kind: 'network', code, message, timedOut, ...(proxyStatus !== undefined ? { proxyStatus } : {}) };
}
