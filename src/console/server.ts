// The operations console: a small node:http server, loopback by default, behind the admin token from secret.yml.
// HTTP only — sessions, login, CSRF, origin and Host checks — over the read models and actions the agent injects
// (models.ts, routes.ts). Never renders a password or token; every POST needs the session's CSRF token; strict
// security headers on every response (CSP without inline script, no framing, no caching).

import http from 'node:http';
import { ConfigError } from '../errors.js';
import { EV } from '../journal/catalogue.js';
import type { Journal } from '../journal/journal.js';
import { isLoopback, listenHttp } from '../metrics/http-listen.js';
import { HttpError, htmlReply, readForm, redirectReply, send, type Reply } from './http.js';
import { LoginThrottle } from './login-throttle.js';
import type { ConsoleActions, ConsoleReadModels } from './models.js';
import { loginPage } from './pages.js';
import { actionRoutes, flashOf, pageRoutes, publicRoutes } from './routes.js';
import { COOKIE, clearedCookie, csrfMatches, parseCookies, sessionCookie, SessionStore, tokenMatches, type Session } from './session.js';

export interface ConsoleOptions {
  /** console.listen: the address to bind (loopback unless allow_insecure_http). */
  listen: string;
  /** console.port; 0 for an ephemeral port (tests). */
  port: number;
  /** console.allowed_hosts: further Host names the console answers to. */
  allowedHosts: readonly string[];
  /** console.allow_insecure_http: a non-loopback listen address is refused without it. */
  allowInsecureHttp: boolean;
  /** The admin token in force (secret.yml console.admin_token; follows reloads). */
  adminToken: () => string | undefined;
  models: ConsoleReadModels;
  actions: ConsoleActions;
  /** The console's own events: listening, logins, failed logins. */
  journal: Journal;
  now?: () => number;
}

export interface RunningConsole {
  url: string;
  close(): Promise<void>;
}

const LOGIN_FAILURES_PER_MINUTE = 10;

export async function serveConsole(o: ConsoleOptions): Promise<RunningConsole> {
  if (!o.adminToken())
    throw new ConfigError(
      'secret.yml: console.admin_token is not set, so the console cannot start: add a random token of at least 16 characters (e.g. `openssl rand -hex 24`), or set console.enabled: false in config.yml',
    );
  // The console speaks plain http: off loopback, the admin token and session cookies would cross the network.
  if (!isLoopback(o.listen) && !o.allowInsecureHttp)
    throw new ConfigError(
      `config.yml: console.listen is ${o.listen}, not a loopback address, and the console has no TLS: the admin token would cross the network in clear. Keep 127.0.0.1 and reach it through an SSH tunnel or a TLS reverse proxy, or set console.allow_insecure_http: true if you really must`,
    );
  const now = o.now ?? Date.now;
  const sessions = new SessionStore(now);
  // Per client address: wrong tokens from one client must not lock out the right token from another.
  const loginFailures = new LoginThrottle(LOGIN_FAILURES_PER_MINUTE, 60_000);
  const publicRoute = publicRoutes(o.models);
  const pages = pageRoutes(o.models);
  const actions = actionRoutes(o.actions);
  let port = 0;

  // DNS rebinding: the console answers only to the names it is reached by, whatever a browser was tricked into.
  const allowedHost = (host: string | undefined): boolean => {
    if (!host) return false;
    const h = host.toLowerCase();
    const names = isLoopback(o.listen) ? ['127.0.0.1', 'localhost', '[::1]'] : [];
    for (const n of [o.listen, ...o.allowedHosts]) names.push(n.includes(':') && !n.startsWith('[') ? `[${n}]` : n);
    return names.some((n) => h === `${n.toLowerCase()}:${port}`);
  };

  // Same-origin only (defence in depth next to SameSite=Strict and the CSRF token). Referrer-Policy no-referrer
  // makes Chromium send `Origin: null` on our own forms, so Sec-Fetch-Site decides for browsers ("same-site"
  // includes other ports of localhost: refused too); a real Origin must be ours.
  const refuseCrossOrigin = (req: http.IncomingMessage): void => {
    const site = req.headers['sec-fetch-site'];
    if (site !== undefined && site !== 'same-origin' && site !== 'none') throw new HttpError(403, 'cross-origin request refused');
    const origin = req.headers.origin;
    if (origin === undefined || origin === 'null') return;
    let host: string | undefined;
    try {
      host = new URL(origin).host;
    } catch {
      host = undefined;
    }
    if (!allowedHost(host)) throw new HttpError(403, 'cross-origin request refused');
  };

  const loginGet = (sid: string | undefined, session: Session | undefined): Reply => {
    if (session?.authed) return redirectReply('/');
    if (session) return htmlReply(loginPage(session.csrf));
    const pre = sessions.create(false);
    return htmlReply(loginPage(pre.session.csrf), 200, { 'Set-Cookie': sessionCookie(pre.id) });
  };

  const loginPost = async (req: http.IncomingMessage, sid: string | undefined, session: Session | undefined): Promise<Reply> => {
    const form = await readForm(req);
    if (!session || !csrfMatches(form.get('csrf'), session)) throw new HttpError(403, 'missing or invalid CSRF token: reload the login page');
    const t = now();
    const client = req.socket.remoteAddress ?? 'unknown';
    if (loginFailures.blocked(client, t)) throw new HttpError(429, 'too many failed logins from this address; wait a minute');
    const adminToken = o.adminToken();
    if (!adminToken || !tokenMatches(form.get('token') ?? '', adminToken)) {
      loginFailures.failed(client, t);
      o.journal.write(EV.consoleLoginFailed, { remote: client });
      return htmlReply(loginPage(session.csrf, 'Wrong admin token.'), 401);
    }
    const fresh = sessions.promote(sid);
    o.journal.write(EV.consoleLogin, { remote: client });
    return redirectReply('/', { 'Set-Cookie': sessionCookie(fresh.id) });
  };

  const authedPost = async (req: http.IncomingMessage, url: URL, sid: string | undefined, session: Session): Promise<Reply> => {
    const form = await readForm(req);
    if (!csrfMatches(form.get('csrf'), session)) throw new HttpError(403, 'missing or invalid CSRF token');
    if (url.pathname === '/logout') {
      sessions.delete(sid);
      return redirectReply('/login', { 'Set-Cookie': clearedCookie() });
    }
    const action = actions[url.pathname];
    if (!action) throw new HttpError(404, 'not found');
    return action(form.get('id') ?? '', req.socket.remoteAddress ?? 'unknown');
  };

  async function route(req: http.IncomingMessage): Promise<Reply> {
    if (!allowedHost(req.headers.host)) throw new HttpError(421, 'unexpected Host header');
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    const method = req.method ?? 'GET';
    const open = publicRoute[`${method} ${url.pathname}`];
    if (open) return open();

    const sid = parseCookies(req.headers.cookie)[COOKIE];
    const session = sessions.get(sid);
    if (method === 'POST') refuseCrossOrigin(req);
    if (url.pathname === '/login' && method === 'GET') return loginGet(sid, session);
    if (url.pathname === '/login' && method === 'POST') return loginPost(req, sid, session);
    if (!session?.authed) {
      if (method === 'GET') return redirectReply('/login');
      throw new HttpError(403, 'not logged in');
    }
    if (method === 'POST') return authedPost(req, url, sid, session);
    if (method !== 'GET') throw new HttpError(405, 'method not allowed');
    const page = pages[url.pathname];
    if (!page) throw new HttpError(404, 'not found');
    return page({ url, ctx: { csrf: session.csrf, now: now(), flash: flashOf(url) } });
  }

  const server = http.createServer((req, res) => {
    route(req).then(
      (reply) => send(res, reply),
      (err: unknown) => {
        const status = err instanceof HttpError ? err.status : 500;
        const message = err instanceof HttpError ? err.message : 'internal error';
        if (!(err instanceof HttpError)) process.emitWarning(`console: ${err instanceof Error ? err.name : 'error'} while serving ${req.method} ${req.url?.split('?')[0]}`);
        if (res.headersSent) return res.destroy();
        send(res, { status, type: 'text/plain; charset=utf-8', body: `${status} ${message}\n` });
      },
    );
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  const listening = await listenHttp(server, o.listen, o.port);
  port = listening.port;
  const url = listening.url;
  o.journal.write(EV.consoleListening, { url, loopback: isLoopback(o.listen) });
  if (!isLoopback(o.listen)) o.journal.write(EV.consoleInsecureListen, { url, allowedHosts: [o.listen, ...o.allowedHosts].join(',') });

  return { url, close: listening.close };
}
