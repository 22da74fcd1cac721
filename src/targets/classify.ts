// Maps one HTTP outcome of a target request (a response or a network failure) to pwsync's error classes.
// Pure: no I/O, no clock unless given. Never echoes a token, a password or a request body: only status, SCIM
// `detail` (scrubbed of known secrets, capped) and error codes.

import { NotProvisionedError, RejectedChangeError, RetryableError, TargetFaultError, TargetUnusableError } from '../errors.js';
import { matchPendingDeletion } from './iij-pending-deletion.js';

/** At most this much of any response body is read or parsed (a hostile or broken server cannot exhaust memory). */
export const MAX_RESPONSE_BYTES = 64 * 1024;
/** A 429 without a usable Retry-After waits this long. */
export const DEFAULT_RETRY_AFTER_MS = 30_000;
/** A Retry-After further out than this is capped: a broken header must not park a target for days. */
export const MAX_RETRY_AFTER_MS = 60 * 60_000;

export type HttpOutcome = HttpResponseOutcome | NetworkFailureOutcome;

export interface HttpResponseOutcome {
  kind: 'response';
  status: number;
  /** Lower-case header names, as node and undici deliver them. */
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** At most MAX_RESPONSE_BYTES of the body, decoded as UTF-8. */
  body: string;
}

export interface NetworkFailureOutcome {
  kind: 'network';
  /** Node / undici error code (ECONNREFUSED, UND_ERR_SOCKET, DEPTH_ZERO_SELF_SIGNED_CERT …). */
  code: string | undefined;
  /** The library's message; scrubbed before use. */
  message: string;
  /** Our own deadline (the target's `timeout`) fired. */
  timedOut: boolean;
  /** The proxy refused the request or tunnel with this status (407 = proxy credentials). */
  proxyStatus?: number;
}

/** What the request was for: the same status means different things for a search and a password write. */
export type RequestPurpose = 'search' | 'read-user' | 'write-password';

export interface ClassifyContext {
  /** Target name, prefixed to every message. */
  target: string;
  purpose: RequestPurpose;
  /** "host:port" of the configured proxy, named in proxy errors. */
  proxy?: string;
  /** Token, passwords: scrubbed from any text that is echoed. Defence in depth; servers should never echo them. */
  secrets?: readonly string[];
  /** Clock for HTTP-date Retry-After values (ms since epoch). */
  now?: number;
  /** Configured timeout, named in timeout messages. */
  timeoutMs?: number;
}

export type TargetFailure = RetryableError | RejectedChangeError | NotProvisionedError | TargetUnusableError;

export interface ScimErrorInfo {
  status?: string;
  scimType?: string;
  detail?: string;
}

const SCIM_ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';

/** Parses a SCIM error body defensively: any non-JSON, non-object or oversized body gives `undefined`. */
export function parseScimError(body: string): ScimErrorInfo | undefined {
  if (body.length === 0 || body.length > MAX_RESPONSE_BYTES) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return undefined;
  const o = json as Record<string, unknown>;
  const schemas = Array.isArray(o['schemas']) ? o['schemas'] : [];
  const hasFields = typeof o['detail'] === 'string' || typeof o['scimType'] === 'string';
  if (!schemas.includes(SCIM_ERROR_SCHEMA) && !hasFields) return undefined;
  const info: ScimErrorInfo = {};
  // RFC 7644 §3.12 makes status a string; some servers send a number.
  if (typeof o['status'] === 'string' || typeof o['status'] === 'number') info.status = String(o['status']);
  if (typeof o['scimType'] === 'string') info.scimType = o['scimType'];
  if (typeof o['detail'] === 'string') info.detail = o['detail'];
  return info;
}

/**
 * Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date. Returns ms, or undefined when absent/unusable.
 * Capped at MAX_RETRY_AFTER_MS; a date in the past gives 0.
 */
export function parseRetryAfter(value: string | string[] | undefined, now: number = Date.now()): number | undefined {
  const raw = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!raw) return undefined;
  let ms: number;
  if (/^\d+$/.test(raw)) ms = Number(raw) * 1000;
  else {
    const at = Date.parse(raw);
    // Date.parse accepts many formats; require something that looks like an IMF-fixdate / RFC 850 date.
    if (Number.isNaN(at) || !/[A-Za-z]{3}/.test(raw)) return undefined;
    ms = Math.max(0, at - now);
  }
  return Math.min(ms, MAX_RETRY_AFTER_MS);
}

/** Removes known secrets, control characters and excess length from text we are about to put in a message. */
export function scrub(text: string, secrets: readonly string[] = [], max = 300): string {
  let out = text;
  for (const s of secrets) {
    // Very short strings would blank out ordinary words; tokens and passwords that short are rejected elsewhere.
    if (s.length >= 4) out = out.split(s).join('[redacted]');
  }
  out = out.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return out.length > max ? `${out.slice(0, max)}…` : out;
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

/** What replaces a target's `detail` that echoed a secret in any form we can recognise. */
export const WITHHELD_DETAIL = '[detail withheld: the target echoed the request]';

/**
 * A target's free-text `detail`, fit to be journaled and stored (unsealed) in the outbox: scrubbed and capped — or
 * replaced by WITHHELD_DETAIL when it holds a secret in any encoding a server may echo it in (raw, JSON-escaped,
 * URL-encoded, base64, hex, HTML), a long fragment of one, or a long opaque run that could be an encoding we do
 * not know. Redacting only the raw form missed a password with `"` or `\` echoed from the JSON body (docs/security.md).
 */
export function safeDetail(text: string, secrets: readonly string[] = [], carriedPassword = false): string {
  const folded = text.toLowerCase();
  // The text as a reader would see it once unescaped (HTML entities, %XX, JSON escapes), each way on its own.
  const views = [text, unescapeHtml(text), unescapeUrl(text), unescapeJson(text)];
  for (const s of secrets) {
    if (s.length < 4) continue;
    for (const form of encodingsOf(s)) {
      if (text.includes(form) || folded.includes(form.toLowerCase())) return WITHHELD_DETAIL;
    }
    // A server that truncates what it echoes leaves a fragment: any 8 consecutive characters of the secret.
    const w = Math.min(8, s.length);
    for (const view of views) for (let i = 0; i + w <= s.length; i++) if (view.includes(s.slice(i, i + w))) return WITHHELD_DETAIL;
  }
  // Base64 of a whole request body, an encrypted blob, a hex dump: nothing an operator needs, possibly a secret.
  // Only for a request that carried a password; UUIDs (user ids) are ordinary content.
  if (carriedPassword && /[A-Za-z0-9+/=_%-]{32,}/.test(text.replace(UUID, ''))) return WITHHELD_DETAIL;
  return scrub(text, secrets);
}

/** The forms a secret takes when a server echoes (part of) a request that carried it. */
export function encodingsOf(secret: string): string[] {
  const json = JSON.stringify(secret).slice(1, -1);
  const asciiJson = json.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  const utf8 = Buffer.from(secret, 'utf8');
  const b64 = utf8.toString('base64');
  const html = secret.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  const htmlNamed = secret.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
  const forms = [
    secret,
    json,
    asciiJson,
    JSON.stringify(json).slice(1, -1), // escaped twice (a body quoted inside a JSON string)
    json.replace(/\//g, '\\/'), // encoders that escape "/" too
    encodeURIComponent(secret),
    encodeURIComponent(secret).replace(/%20/g, '+'),
    escapeAll(utf8),
    b64,
    b64.replace(/=+$/, ''),
    utf8.toString('base64url'),
    utf8.toString('hex'),
    html,
    htmlNamed,
  ];
  // Base64 of the secret inside a longer encoded text depends on its offset (0, 1 or 2 bytes into a 3-byte group):
  // compare the characters that come from the secret's bytes alone, not those mixed with its neighbours'.
  for (const pad of [0, 1, 2]) {
    const enc = Buffer.concat([Buffer.alloc(pad), utf8]).toString('base64').replace(/=+$/, '');
    const core = enc.slice(pad === 0 ? 0 : pad + 1, (pad + utf8.length) % 3 === 0 ? undefined : -1);
    if (core.length >= 6) forms.push(core, core.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  return [...new Set(forms.filter((f) => f.length >= 4))];
}

function unescapeHtml(text: string): string {
  const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
  return text.replace(/&(#\d{1,7}|#x[0-9a-f]{1,6}|amp|lt|gt|quot|apos);/gi, (m, e: string) => {
    if (e[0] !== '#') return named[e.toLowerCase()] ?? m;
    const cp = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
    return cp <= 0x10ffff ? String.fromCodePoint(cp) : m;
  });
}

function unescapeUrl(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return text;
  }
}

function unescapeJson(text: string): string {
  let out = text;
  // Twice: a body quoted inside a JSON string is escaped twice.
  for (let i = 0; i < 2; i++)
    out = out.replace(/\\(u[0-9a-fA-F]{4}|["\\/bfnrt])/g, (_m, e: string) =>
      e[0] === 'u' ? String.fromCharCode(parseInt(e.slice(1), 16)) : ({ b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' } as Record<string, string>)[e] ?? e,
    );
  return out;
}

function escapeAll(bytes: Buffer): string {
  return [...bytes].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
}

// TLS verification failures are configuration problems (missing ca_file, TLS-inspecting proxy), not outages.
const TLS_TRUST_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** The error for an outcome the caller did not accept (any network failure, any unexpected status). */
export function classifyFailure(outcome: HttpOutcome, ctx: ClassifyContext): TargetFailure {
  return outcome.kind === 'network' ? classifyNetwork(outcome, ctx) : classifyResponse(outcome, ctx);
}

function classifyNetwork(o: NetworkFailureOutcome, ctx: ClassifyContext): TargetFailure {
  const t = ctx.target;
  if (o.proxyStatus === 407) {
    return proxyRefused(ctx);
  }
  if (o.proxyStatus !== undefined) {
    return new RetryableError(`${t}: the proxy${proxyName(ctx)} answered ${o.proxyStatus} instead of connecting us to the target`);
  }
  if (o.timedOut) {
    const limit = ctx.timeoutMs !== undefined ? ` within ${ctx.timeoutMs} ms (timeout)` : '';
    return new RetryableError(`${t}: no complete answer${limit}`);
  }
  const code = o.code ?? 'network error';
  if (o.code !== undefined && TLS_TRUST_CODES.has(o.code)) {
    return new TargetUnusableError(
      `${t}: the TLS certificate of the target (or of a TLS-inspecting proxy) is not trusted (${code}): set ca_file to the issuing CA's PEM, or fix the URL`,
    );
  }
  return new RetryableError(`${t}: ${code}: ${scrub(o.message, ctx.secrets)}`);
}

function classifyResponse(o: HttpResponseOutcome, ctx: ClassifyContext): TargetFailure {
  const t = ctx.target;
  const s = o.status;
  const scim = parseScimError(o.body);
  const detail = scim?.detail !== undefined ? safeDetail(scim.detail, ctx.secrets, ctx.purpose !== 'search') : undefined;
  const said = detail ? `: ${detail}` : '';

  if (s === 429) {
    const after = parseRetryAfter(o.headers['retry-after'], ctx.now) ?? DEFAULT_RETRY_AFTER_MS;
    return new RetryableError(`${t}: rate limited (429), retry in ${Math.ceil(after / 1000)} s${said}`, after);
  }
  if (s === 408 || s >= 500) {
    // 503 may say when to come back; other 5xx leave it to our own backoff.
    const after = s === 503 ? parseRetryAfter(o.headers['retry-after'], ctx.now) : undefined;
    return new RetryableError(`${t}: the target answered ${s}${said}`, after);
  }
  if (s === 401) {
    return new TargetUnusableError(
      `${t}: the access token was refused (401: invalid, expired or revoked): issue a new token and put it in secret.yml targets.${t}.access_token${said}`,
      401,
    );
  }
  if (s === 403) {
    const scope = scopeFromChallenge(o.headers['www-authenticate']);
    const which = scope ? `lacks the scope ${scope}` : 'lacks a required scope';
    return new TargetUnusableError(
      `${t}: the access token ${which} (403): IIJ needs escim_read_users and escim_write_users${said}`,
      403,
    );
  }
  if (s === 407) return proxyRefused(ctx);
  if (s === 400) {
    // IIJ answers password-policy violations this way (scimType invalidValue); this change can never succeed.
    return new RejectedChangeError(`${t}: the target rejected the request (400${scim?.scimType ? ` ${scim.scimType}` : ''})${said}`, detail);
  }
  if (s === 404 || s === 410) {
    if (ctx.purpose === 'search') {
      // The search endpoint itself is missing: every change would fail the same way.
      return new TargetUnusableError(`${t}: the search endpoint answered ${s}: check the target url${said}`, s);
    }
    return new NotProvisionedError(`${t}: the user does not exist at the target (${s})${said}`);
  }
  if (s === 409 && ctx.purpose === 'write-password') {
    const match = matchPendingDeletion(s, scim?.scimType, scim?.detail);
    const why = match === 'exact' ? 'the user is pending deletion' : 'conflict (409), treated as pending deletion';
    return new NotProvisionedError(`${t}: ${why}; waiting for the target${said}`, true);
  }
  if (s >= 300 && s < 400) {
    // A maintenance page or a captive proxy redirects for a while; a wrong URL redirects for ever and shows up as
    // repeated 3001 events naming the redirect (and in `pwsync check`), without stopping other changes' retries.
    return new TargetFaultError(`${t}: the target redirected (${s}) instead of answering: if this persists, check the url (and any captive proxy)`);
  }
  if (s >= 400) {
    return new RejectedChangeError(`${t}: the target answered ${s}${said}`, detail);
  }
  // A 1xx/2xx the caller did not expect: not an error the target meant, and setting a password is idempotent.
  return new RetryableError(`${t}: unexpected status ${s} for this request`);
}

// Wrong proxy credentials are a configuration problem: every request would fail the same way.
function proxyRefused(ctx: ClassifyContext): TargetUnusableError {
  return new TargetUnusableError(
    `${ctx.target}: the proxy${proxyName(ctx)} refused our credentials (407 Proxy Authentication Required): check http.proxy.user in config.yml and targets.${ctx.target}.proxy_password in secret.yml`,
    407,
  );
}

function proxyName(ctx: ClassifyContext): string {
  return ctx.proxy ? ` ${ctx.proxy}` : '';
}

/** The scope named in `WWW-Authenticate: Bearer error="insufficient_scope", scope="…"` (RFC 6750 §3), if any. */
function scopeFromChallenge(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header.join(', ') : header;
  const m = /scope="([A-Za-z0-9_ :.-]{1,100})"/.exec(value ?? '');
  return m?.[1];
}
