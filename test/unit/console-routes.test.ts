// The console as HTTP over injected read models and actions (src/console/server.ts): every page, /metrics and
// /healthz answer from the models it is given, actions reach the injected ones with the form's ID and the client's
// address, and the console itself opens no outbox, directory or metrics registry.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Journal, type JournalEntry } from '../../src/journal/journal.js';
import type { ConsoleActions, ConsoleReadModels } from '../../src/console/models.js';
import { serveConsole, type RunningConsole } from '../../src/console/server.js';
import { bucketPerMinute } from '../../src/console/chart.js';
import { request, cookieOf, csrfOf } from '../support/console-http.js';

const ADMIN = 'admin-token-0123456789abcdef';

describe('console routes over injected read models', () => {
  let con: RunningConsole;
  const calls: string[] = [];
  const events: JournalEntry[] = [];
  let healthy = true;

  const models: ConsoleReadModels = {
    overview: () => ({
      targets: [{ name: 'stub-target', type: 'scim', url: 'https://stub.example/', paused: false, reason: null, pausedAt: null, lastSuccessAt: null, lastErrorAt: null, lastError: null, expiry: undefined }],
      counts: { pending: 7 }, oldestOpenAgeMs: null, chart: bucketPerMinute([], Date.now()),
      health: { status: 'ok', reasons: [] },
    }),
    queue: () => ({ open: [], expired: [], recent: [] }),
    events: (q) => {
      calls.push(`events ${q.user} ${String(q.eventId)}`);
      return { entries: [], scanned: 42 };
    },
    coverage: async () => ({ error: 'stub AD is down' }),
    mapping: () => ({ report: undefined }),
    health: () => (healthy ? { status: 'ok', reasons: [] } : { status: 'failing', reasons: ['stub reason'] }),
    metrics: async () => ({ contentType: 'text/plain; version=0.0.4', body: 'stub_metric 1\n' }),
  };
  const actions: ConsoleActions = {
    retry: (id, remote) => {
      calls.push(`retry ${id} ${remote}`);
      return { ok: false, why: 'not-open', state: 'done' };
    },
    drop: (id, remote) => {
      calls.push(`drop ${id} ${remote}`);
      return { ok: true, rows: [] };
    },
  };

  before(async () => {
    const journal = new Journal();
    journal.on('event', (e: JournalEntry) => events.push(e));
    con = await serveConsole({ listen: '127.0.0.1', port: 0, allowedHosts: [], allowInsecureHttp: false, adminToken: () => ADMIN, models, actions, journal });
  });
  after(() => con?.close());

  async function login(): Promise<{ cookie: string; csrf: string }> {
    const page = await request(con.url, '/login');
    const r = await request(con.url, '/login', { cookie: cookieOf(page), form: { token: ADMIN, csrf: csrfOf(page.body) } });
    const cookie = cookieOf(r);
    return { cookie, csrf: csrfOf((await request(con.url, '/queue', { cookie })).body) };
  }

  test('/metrics and /healthz come from the injected models', async () => {
    const m = await request(con.url, '/metrics');
    assert.equal(m.status, 200);
    assert.equal(m.body, 'stub_metric 1\n');
    assert.equal((await request(con.url, '/healthz')).status, 200);
    healthy = false;
    const h = await request(con.url, '/healthz');
    assert.equal(h.status, 503);
    assert.deepEqual(JSON.parse(h.body), { status: 'failing', reasons: ['stub reason'] });
    healthy = true;
  });

  test('pages render the models: overview, events query, coverage error, CSV refused with 502', async () => {
    const { cookie } = await login();
    const home = await request(con.url, '/', { cookie });
    assert.match(home.body, /stub-target/);
    assert.match(home.body, /data-state="pending">7</);
    await request(con.url, '/events?user=alice&id=3000', { cookie });
    assert.ok(calls.includes('events alice 3000'));
    assert.match((await request(con.url, '/coverage', { cookie })).body, /Cannot read the in-scope users from AD: stub AD is down/);
    assert.equal((await request(con.url, '/coverage.csv', { cookie })).status, 502);
    assert.equal((await request(con.url, '/nowhere', { cookie })).status, 404);
  });

  test('actions reach the injected ones with the ID and the client address; the refusal becomes a fixed message', async () => {
    const { cookie, csrf } = await login();
    const r = await request(con.url, '/changes/retry', { cookie, form: { id: 'change-1', csrf } });
    assert.equal(r.status, 303);
    assert.equal(r.headers.location, '/queue?error=not-open');
    assert.ok(calls.includes('retry change-1 127.0.0.1'));
    const d = await request(con.url, '/changes/drop', { cookie, form: { id: 'change-2', csrf } });
    assert.equal(d.headers.location, '/queue?ok=dropped');
    const q = await request(con.url, '/queue?error=constructor', { cookie });
    assert.doesNotMatch(q.body, /function|native code/, 'only the fixed messages are shown');
    assert.equal((await request(con.url, '/changes/drop', { cookie, form: { id: 'change-3' } })).status, 403, 'no CSRF token, no action');
    assert.ok(!calls.includes('drop change-3 127.0.0.1'));
  });

  test('refuses to start without an admin token, and off loopback without allow_insecure_http', async () => {
    const journal = new Journal();
    const base = { port: 0, allowedHosts: [], models, actions, journal };
    await assert.rejects(serveConsole({ ...base, listen: '127.0.0.1', allowInsecureHttp: false, adminToken: () => undefined }), /console\.admin_token/);
    await assert.rejects(serveConsole({ ...base, listen: '0.0.0.0', allowInsecureHttp: false, adminToken: () => ADMIN }), /allow_insecure_http/);
  });
});
