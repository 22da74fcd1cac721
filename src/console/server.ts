// The operations console: a small node:http server, loopback by default, behind the admin token from secret.yml.
// Serves the pages, /metrics and /healthz. Never renders a password or token; every POST needs the session's
// CSRF token; strict security headers on every response (CSP without inline script, no framing, no caching).

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { currentOf, type ConfigSource } from '../config/current.js';
import type { TargetHealth } from '../delivery/worker.js';
import { ConfigError } from '../errors.js';
import { redactUrl } from '../targets/base-url.js';
import { LoginThrottle } from './login-throttle.js';
import { EV } from '../journal/catalogue.js';
import type { Journal } from '../journal/journal.js';
import type { Outbox } from '../outbox/store.js';
import { createAdUserSource, type InScopeUserSource } from '../coverage/ad-users.js';
import { coverageCsv, coverageReport, notSynced } from '../coverage/report.js';
import { createMetrics, type PwsyncMetrics } from '../metrics/metrics.js';
import { healthVerdict } from '../metrics/health.js';
import { dropChange, retryChange } from '../outbox/operator.js';
import { CONSOLE_CSS, CONSOLE_JS } from './assets.js';
import { bucketPerMinute, type ChartPoint } from './chart.js';
import { readJournalTail, searchEvents } from './journal-tail.js';
import { coverageBody, eventsBody, layout, loginPage, overviewBody, queueBody, type PageContext, type TargetView } from './pages.js';
import { queueGauges, countsByState, finalOutcomesPerMinute, lastDeliveries, oldestOpenReceivedAt, queueListing, targetSummary } from '../outbox/queries.js';
import { COOKIE, clearedCookie, csrfMatches, parseCookies, sessionCookie, SessionStore, tokenMatches, type Session } from './session.js';
import { TokenExpiryWarner } from '../metrics/token-expiry.js';
import { mappingBody } from './mapping-page.js';
import { loadMappingReport } from '../mapping/output.js';

export interface ConsoleDeps {
  outbox: Outbox;
  journal: Journal;
  delivery: { targetHealth(): ReadonlyMap<string, TargetHealth>; notify(): void };
  /**
   * The configuration — the agent's current-config holder, so a reload reaches the target list, the coverage page's
   * AD settings and bind password, token expiry and the admin token (console.listen/port need a restart).
   */
  config: ConfigSource;
  /** The agent's metrics (src/agent.ts owns them); default: the console makes its own (tests, standalone use). */
  metrics?: PwsyncMetrics;
  /** The agent's token-expiry warner (5003/5004); default: the console makes its own. */
  tokenWarnings?: TokenExpiryWarner;
  /** In-scope AD users for the coverage page; default: an LDAP source built from config.ad.ldap. */
  directory?: InScopeUserSource;
  /** Overrides secret.yml console.admin_token. */
  adminToken?: string;
  /** Whether the intake accepts changes (for /healthz); default: always true while the console runs. */
  intakeRunning?: () => boolean;
  /** Overrides console.port (tests use 0). */
  port?: number;
  now?: () => number;
}

export interface RunningConsole {
  url: string;
  metrics: PwsyncMetrics;
  close(): Promise<void>;
}

const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

const MAX_BODY = 16 * 1024;
const DAY = 86_400_000;
const LOGIN_FAILURES_PER_MINUTE = 10;

const isLoopback = (addr: string) => addr === 'localhost' || addr === '::1' || addr.startsWith('127.');

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export async function startConsole(deps: ConsoleDeps): Promise<RunningConsole> {
  const cfg = () => currentOf(deps.config);
  const { config } = cfg();
  const currentToken = () => deps.adminToken ?? cfg().secret.console.admin_token;
  if (!currentToken())
    throw new ConfigError(
      'secret.yml: console.admin_token is not set, so the console cannot start: add a random token of at least 16 characters (e.g. `openssl rand -hex 24`), or set console.enabled: false in config.yml',
    );
  const now = deps.now ?? Date.now;
  const listen = config.console.listen;
  const sessions = new SessionStore(now);
  const ownMetrics = deps.metrics === undefined;
  const metrics = deps.metrics ?? createMetrics({ outbox: queueGauges(deps.outbox.reader), journal: deps.journal, delivery: deps.delivery, config: deps.config, now });
  // Built per use from the current config: a reload with another AD address or bind password reaches the coverage page.
  const users = () => deps.directory ?? createAdUserSource(cfg().config.ad.ldap, cfg().secret.ad.ldap.server.password);
  const warner = deps.tokenWarnings ?? new TokenExpiryWarner(deps.journal, () => cfg().config.targets, readJournalTail(config.log.file, 1024 * 1024));
  let warnTimer: NodeJS.Timeout | undefined;
  if (!deps.tokenWarnings) {
    warner.check(now());
    warnTimer = setInterval(() => warner.check(now()), 3_600_000);
    warnTimer.unref();
  }
  // The console speaks plain http: off loopback, the admin token and session cookies would cross the network.
  if (!isLoopback(listen) && !config.console.allow_insecure_http) {
    if (warnTimer) clearInterval(warnTimer);
    if (ownMetrics) metrics.close();
    throw new ConfigError(
      `config.yml: console.listen is ${listen}, not a loopback address, and the console has no TLS: the admin token would cross the network in clear. Keep 127.0.0.1 and reach it through an SSH tunnel or a TLS reverse proxy, or set console.allow_insecure_http: true if you really must`,
    );
  }
  // Per client address: wrong tokens from one client must not lock out the right token from another.
  const loginFailures = new LoginThrottle(LOGIN_FAILURES_PER_MINUTE, 60_000);
  let port = 0;

  const allowedHost = (host: string | undefined): boolean => {
    // DNS rebinding: the console answers only to the names it is reached by, whatever a browser was tricked into.
    if (!host) return false;
    const h = host.toLowerCase();
    const names = isLoopback(listen) ? ['127.0.0.1', 'localhost', '[::1]'] : [];
    for (const n of [listen, ...config.console.allowed_hosts]) names.push(n.includes(':') && !n.startsWith('[') ? `[${n}]` : n);
    return names.some((n) => h === `${n.toLowerCase()}:${port}`);
  };

  const send = (res: http.ServerResponse, status: number, type: string, body: string | Buffer, extra: Record<string, string | string[]> = {}) => {
    res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': type, ...extra });
    res.end(body);
  };
  const sendHtml = (res: http.ServerResponse, status: number, body: string, extra: Record<string, string | string[]> = {}) =>
    send(res, status, 'text/html; charset=utf-8', body, extra);
  const redirect = (res: http.ServerResponse, to: string, extra: Record<string, string | string[]> = {}) =>
    send(res, 303, 'text/plain; charset=utf-8', '', { Location: to, ...extra });

  const readForm = (req: http.IncomingMessage): Promise<URLSearchParams> =>
    new Promise((resolve, reject) => {
      const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (type !== 'application/x-www-form-urlencoded') return reject(new HttpError(415, 'form posts only'));
      let size = 0;
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY) {
          reject(new HttpError(413, 'request too large'));
          req.destroy();
        } else chunks.push(c);
      });
      req.on('end', () => resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
      req.on('error', reject);
    });

  const targetViews = (): TargetView[] => {
    const health = deps.delivery.targetHealth();
    const summary = new Map(targetSummary(deps.outbox.reader).map((s) => [s.target, s]));
    const expiries = new Map(warner.check(now()).map((x) => [x.target, x]));
    return cfg().config.targets.map((t) => {
      const h = health.get(t.name);
      const s = summary.get(t.name);
      return {
        name: t.name, type: t.type, url: redactUrl(t.url), paused: h?.paused ?? s?.paused ?? false, reason: h?.pausedReason ?? s?.reason ?? null,
        pausedAt: h?.pausedAt ?? s?.since ?? null, lastSuccessAt: s?.lastSuccessAt ?? h?.lastSuccessAt ?? null,
        lastErrorAt: h?.lastErrorAt ?? s?.lastErrorAt ?? null, lastError: h?.lastError ?? s?.lastError ?? null, expiry: expiries.get(t.name),
      };
    });
  };

  const health = () =>
    healthVerdict({
      intakeRunning: deps.intakeRunning?.() ?? true,
      targets: deps.delivery.targetHealth(),
      expiredTokens: warner.check(now()).filter((x) => x.threshold === 0).map((x) => x.target),
    });

  const chartData = () => {
    const t = now();
    const from = t - DAY;
    const points: ChartPoint[] = finalOutcomesPerMinute(deps.outbox.reader, from - 60_000, t + 60_000).map((p) => ({ at: p.minute, outcome: p.outcome, count: p.count }));
    // Retries are not rows: they come from the journal (3001 retry scheduled, 3002 waiting for provisioning).
    for (const e of readJournalTail(cfg().config.log.file)) {
      const at = Date.parse(e.ts);
      if (at < from) break;
      if (e.id === EV.retryScheduled.id || e.id === EV.notProvisioned.id) points.push({ at, outcome: 'retried' });
    }
    return bucketPerMinute(points, t);
  };

  const coverage = async () => {
    try {
      const ad = await users().listInScopeUsers();
      const rows = coverageReport(ad, lastDeliveries(deps.outbox.reader), cfg().config.targets.map((t) => t.name));
      return { rows, userCount: ad.length };
    } catch (err) {
      return { error: err instanceof Error ? err.message : String(err) };
    }
  };

  const flashOf = (url: URL): PageContext['flash'] => {
    const ok = url.searchParams.get('ok');
    const err = url.searchParams.get('error');
    // Fixed messages chosen by code: a link can never make the console display attacker-chosen text.
    const messages: Record<string, string> = {
      retried: 'The change is due now; the delivery worker is looking at it.',
      dropped: 'The change was dropped. The user must change the password again to sync it.',
      'not-open': 'The change is no longer open (already delivered, final, or in flight).',
      'not-sealed': 'The change has no password any more (expired or final): the user must change the password again.',
      'no-change': 'No such change.',
    };
    if (ok && messages[ok]) return { kind: 'notice', text: messages[ok] };
    if (err && messages[err]) return { kind: 'error', text: messages[err] };
    return undefined;
  };

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (!allowedHost(req.headers.host)) throw new HttpError(421, 'unexpected Host header');
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    const method = req.method ?? 'GET';
    const route = `${method} ${url.pathname}`;

    // Unauthenticated, loopback-bound like everything else.
    if (route === 'GET /metrics') {
      return send(res, 200, metrics.registry.contentType, await metrics.registry.metrics());
    }
    if (route === 'GET /healthz') {
      const v = health();
      return send(res, v.status === 'ok' ? 200 : 503, 'application/json', JSON.stringify(v.status === 'ok' ? { status: 'ok' } : v));
    }
    if (route === 'GET /static/console.css') return send(res, 200, 'text/css; charset=utf-8', CONSOLE_CSS);
    if (route === 'GET /static/console.js') return send(res, 200, 'text/javascript; charset=utf-8', CONSOLE_JS);
    if (route === 'GET /favicon.ico') return send(res, 204, 'text/plain', '');

    const sid = parseCookies(req.headers.cookie)[COOKIE];
    let session = sessions.get(sid);

    if (method === 'POST') {
      // Same-origin only (defence in depth next to SameSite=Strict and the CSRF token).
      // Referrer-Policy no-referrer makes Chromium send `Origin: null` on our own forms, so Sec-Fetch-Site decides
      // for browsers ("same-site" includes other ports of localhost: refused too); a real Origin must be ours.
      const site = req.headers['sec-fetch-site'];
      if (site !== undefined && site !== 'same-origin' && site !== 'none') throw new HttpError(403, 'cross-origin request refused');
      const origin = req.headers.origin;
      if (origin !== undefined && origin !== 'null') {
        let host: string | undefined;
        try {
          host = new URL(origin).host;
        } catch {
          host = undefined;
        }
        if (!allowedHost(host)) throw new HttpError(403, 'cross-origin request refused');
      }
    }

    if (url.pathname === '/login') {
      if (method === 'GET') {
        if (session?.authed) return redirect(res, '/');
        if (session) return sendHtml(res, 200, loginPage(session.csrf));
        const pre = sessions.create(false);
        return sendHtml(res, 200, loginPage(pre.session.csrf), { 'Set-Cookie': sessionCookie(pre.id) });
      }
      if (method === 'POST') {
        const form = await readForm(req);
        if (!session || !csrfMatches(form.get('csrf'), session)) throw new HttpError(403, 'missing or invalid CSRF token: reload the login page');
        const t = now();
        const client = req.socket.remoteAddress ?? 'unknown';
        if (loginFailures.blocked(client, t)) throw new HttpError(429, 'too many failed logins from this address; wait a minute');
        const adminToken = currentToken();
        if (!adminToken || !tokenMatches(form.get('token') ?? '', adminToken)) {
          loginFailures.failed(client, t);
          deps.journal.write(EV.consoleLoginFailed, { remote: req.socket.remoteAddress ?? 'unknown' });
          return sendHtml(res, 401, loginPage(session.csrf, 'Wrong admin token.'));
        }
        const fresh = sessions.promote(sid);
        deps.journal.write(EV.consoleLogin, { remote: req.socket.remoteAddress ?? 'unknown' });
        return redirect(res, '/', { 'Set-Cookie': sessionCookie(fresh.id) });
      }
    }

    if (!session?.authed) {
      if (method === 'GET') return redirect(res, '/login');
      throw new HttpError(403, 'not logged in');
    }
    const s: Session = session;

    if (method === 'POST') {
      const form = await readForm(req);
      if (!csrfMatches(form.get('csrf'), s)) throw new HttpError(403, 'missing or invalid CSRF token');
      if (url.pathname === '/logout') {
        sessions.delete(sid);
        return redirect(res, '/login', { 'Set-Cookie': clearedCookie() });
      }
      const id = form.get('id') ?? '';
      const remote = req.socket.remoteAddress ?? 'unknown';
      if (url.pathname === '/changes/retry') {
        const r = retryChange(deps.outbox, deps.journal, id, remote);
        if (!r.ok) return redirect(res, `/queue?error=${r.why}`);
        deps.delivery.notify();
        return redirect(res, '/queue?ok=retried');
      }
      if (url.pathname === '/changes/drop') {
        const r = dropChange(deps.outbox, deps.journal, id, remote);
        if (!r.ok) return redirect(res, `/queue?error=${r.why}`);
        return redirect(res, '/queue?ok=dropped');
      }
      throw new HttpError(404, 'not found');
    }
    if (method !== 'GET') throw new HttpError(405, 'method not allowed');

    const ctx: PageContext = { csrf: s.csrf, now: now(), flash: flashOf(url) };
    switch (url.pathname) {
      case '/': {
        const oldest = oldestOpenReceivedAt(deps.outbox.reader);
        const body = overviewBody({
          targets: targetViews(), counts: countsByState(deps.outbox.reader), oldestOpenAgeMs: oldest === undefined ? null : ctx.now - oldest,
          chart: chartData(), health: health(), now: ctx.now,
        });
        return sendHtml(res, 200, layout('Overview', '/', ctx, body, 30));
      }
      case '/queue': {
        return sendHtml(res, 200, layout('Queue', '/queue', ctx, queueBody({ ...queueListing(deps.outbox.reader), now: ctx.now, csrf: s.csrf })));
      }
      case '/events': {
        const user = url.searchParams.get('user') ?? '';
        const idText = (url.searchParams.get('id') ?? '').trim();
        const eventId = /^\d{1,6}$/.test(idText) ? Number(idText) : undefined;
        const all = readJournalTail(cfg().config.log.file);
        const entries = searchEvents(all, { user, eventId, limit: 300 });
        return sendHtml(res, 200, layout('Events', '/events', ctx, eventsBody({ entries, user, eventId: idText, scanned: all.length })));
      }
      case '/coverage': {
        const c = await coverage();
        const body = 'error' in c ? coverageBody({ rows: undefined, missing: [], userCount: 0, error: c.error }) : coverageBody({ rows: c.rows, missing: notSynced(c.rows), userCount: c.userCount });
        return sendHtml(res, 200, layout('Coverage', '/coverage', ctx, body));
      }
      case '/mapping': {
        let report;
        let error: string | undefined;
        try {
          report = loadMappingReport(config.agent.data_dir);
        } catch (err) {
          error = err instanceof Error ? err.message : String(err);
        }
        return sendHtml(res, 200, layout('Mapping', '/mapping', ctx, mappingBody({ report, error })));
      }
      case '/coverage.csv': {
        const c = await coverage();
        if ('error' in c) throw new HttpError(502, `cannot read the in-scope users from AD: ${c.error}`);
        const rows = url.searchParams.get('all') === '1' ? c.rows : notSynced(c.rows);
        return send(res, 200, 'text/csv; charset=utf-8', coverageCsv(rows), { 'Content-Disposition': 'attachment; filename="pwsync-coverage.csv"' });
      }
    }
    throw new HttpError(404, 'not found');
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      const message = err instanceof HttpError ? err.message : 'internal error';
      if (!(err instanceof HttpError)) process.emitWarning(`console: ${err instanceof Error ? err.name : 'error'} while serving ${req.method} ${req.url?.split('?')[0]}`);
      if (res.headersSent) return res.destroy();
      send(res, status, 'text/plain; charset=utf-8', `${status} ${message}\n`);
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(deps.port ?? config.console.port, listen, () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  const host = listen.includes(':') ? `[${listen}]` : listen;
  const url = `http://${host}:${port}`;
  deps.journal.write(EV.consoleListening, { url, loopback: isLoopback(listen) });
  if (!isLoopback(listen)) deps.journal.write(EV.consoleInsecureListen, { url, allowedHosts: [listen, ...config.console.allowed_hosts].join(',') });

  return {
    url,
    metrics,
    async close() {
      if (warnTimer) clearInterval(warnTimer);
      if (ownMetrics) metrics.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
