// The console's routes, one small handler each, over the read models and actions the agent injects (models.ts):
// public ones (/metrics, /healthz, static assets), pages behind the login, and the operator's actions. Handlers
// return a Reply; the server (server.ts) authenticates, checks CSRF and origin, and sends it.

import { coverageCsv, notSynced } from '../coverage/report.js';
import { CONSOLE_CSS, CONSOLE_JS } from './assets.js';
import { HttpError, htmlReply, redirectReply, type Reply } from './http.js';
import { mappingBody } from './mapping-page.js';
import type { ConsoleActions, ConsoleReadModels } from './models.js';
import { coverageBody, eventsBody, layout, overviewBody, queueBody, type PageContext } from './pages.js';

/** Unauthenticated (loopback-bound like everything else): exact `METHOD /path` → handler. */
export function publicRoutes(m: ConsoleReadModels): Record<string, () => Reply | Promise<Reply>> {
  return {
    'GET /metrics': async () => {
      const { contentType, body } = await m.metrics();
      return { status: 200, type: contentType, body };
    },
    'GET /healthz': () => {
      const v = m.health();
      return { status: v.status === 'ok' ? 200 : 503, type: 'application/json', body: JSON.stringify(v.status === 'ok' ? { status: 'ok' } : v) };
    },
    'GET /static/console.css': () => ({ status: 200, type: 'text/css; charset=utf-8', body: CONSOLE_CSS }),
    'GET /static/console.js': () => ({ status: 200, type: 'text/javascript; charset=utf-8', body: CONSOLE_JS }),
    'GET /favicon.ico': () => ({ status: 204, type: 'text/plain', body: '' }),
  };
}

export interface PageRequest {
  url: URL;
  ctx: PageContext;
}

/** GET pages behind the login, by path. */
export function pageRoutes(m: ConsoleReadModels): Record<string, (r: PageRequest) => Reply | Promise<Reply>> {
  return {
    '/': ({ ctx }) => htmlReply(layout('Overview', '/', ctx, overviewBody({ ...m.overview(ctx.now), now: ctx.now }), 30)),
    '/queue': ({ ctx }) => htmlReply(layout('Queue', '/queue', ctx, queueBody({ ...m.queue(), now: ctx.now, csrf: ctx.csrf }))),
    '/events': ({ url, ctx }) => {
      const user = url.searchParams.get('user') ?? '';
      const idText = (url.searchParams.get('id') ?? '').trim();
      const eventId = /^\d{1,6}$/.test(idText) ? Number(idText) : undefined;
      const { entries, scanned } = m.events({ user, eventId });
      return htmlReply(layout('Events', '/events', ctx, eventsBody({ entries, user, eventId: idText, scanned })));
    },
    '/coverage': async ({ ctx }) => {
      const c = await m.coverage();
      const body = 'error' in c ? coverageBody({ rows: undefined, missing: [], userCount: 0, error: c.error }) : coverageBody({ rows: c.rows, missing: notSynced(c.rows), userCount: c.userCount });
      return htmlReply(layout('Coverage', '/coverage', ctx, body));
    },
    '/coverage.csv': async ({ url }) => {
      const c = await m.coverage();
      if ('error' in c) throw new HttpError(502, `cannot read the in-scope users from AD: ${c.error}`);
      const rows = url.searchParams.get('all') === '1' ? c.rows : notSynced(c.rows);
      return { status: 200, type: 'text/csv; charset=utf-8', body: coverageCsv(rows), headers: { 'Content-Disposition': 'attachment; filename="pwsync-coverage.csv"' } };
    },
    '/mapping': ({ ctx }) => htmlReply(layout('Mapping', '/mapping', ctx, mappingBody(m.mapping()))),
  };
}

/** POST actions on a change (form field `id`), behind the login and the CSRF check; they answer with a redirect. */
export function actionRoutes(a: ConsoleActions): Record<string, (id: string, remote: string) => Reply> {
  return {
    '/changes/retry': (id, remote) => {
      const r = a.retry(id, remote);
      return redirectReply(r.ok ? '/queue?ok=retried' : `/queue?error=${r.why}`);
    },
    '/changes/drop': (id, remote) => {
      const r = a.drop(id, remote);
      return redirectReply(r.ok ? '/queue?ok=dropped' : `/queue?error=${r.why}`);
    },
  };
}

// Fixed messages chosen by code: a link can never make the console display attacker-chosen text.
const FLASH: Record<string, string> = {
  retried: 'The change is due now; the delivery worker is looking at it.',
  dropped: 'The change was dropped. The user must change the password again to sync it.',
  'not-open': 'The change is no longer open (already delivered, final, or in flight).',
  'not-sealed': 'The change has no password any more (expired or final): the user must change the password again.',
  'no-change': 'No such change.',
};

export function flashOf(url: URL): PageContext['flash'] {
  const ok = url.searchParams.get('ok');
  const err = url.searchParams.get('error');
  if (ok && Object.hasOwn(FLASH, ok)) return { kind: 'notice', text: FLASH[ok]! };
  if (err && Object.hasOwn(FLASH, err)) return { kind: 'error', text: FLASH[err]! };
  return undefined;
}
