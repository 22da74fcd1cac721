// The console server without AD or a target: admin token, sessions, CSRF, security headers, Host check,
// /metrics and /healthz, retry and drop on a real outbox, and that no password or token is ever served.

import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { configSchema, secretSchema } from '../../src/config/schema.js';
import type { LoadedConfig } from '../../src/config/load.js';
import { Journal, type JournalEntry } from '../../src/journal/journal.js';
import { Outbox } from '../../src/outbox/store.js';
import { startConsole, type RunningConsole } from '../../src/agent-console.js';
import { dateToFiletime } from '../../src/directory/filetime.js';
import type { TargetHealth } from '../../src/delivery/worker.js';
import { request, cookieOf, csrfOf } from '../support/console-http.js';
import { claimRows, settleAgain, settleFinal } from '../support/outbox-settle.js';

const ADMIN = 'admin-token-0123456789abcdef';
const ACCESS = 'iij-access-token-SECRET-42';
const BIND = 'bind-password-SECRET-7';
const PASSWORDS = ['Pw-waiting-Xy1!', 'Pw-later-Zq2!', 'Pw-expired-Qq3!'];


describe('console server', () => {
  let dir: string;
  let outbox: Outbox;
  let journal: Journal;
  let con: RunningConsole;
  let loaded: LoadedConfig;
  const events: JournalEntry[] = [];
  const health = new Map<string, TargetHealth>([['iij', { paused: true, pausedReason: 'HTTP 401: token revoked', pausedAt: Date.now() }]]);
  let notified = 0;
  const ids: Record<string, string> = {};

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'pwsync-console-'));
    const config = configSchema.parse({
      agent: { data_dir: dir },
      log: { file: path.join(dir, 'journal.jsonl') },
      ad: { ldap: { server: { addresses: ['127.0.0.1'], user: 'reader' }, base_dn: 'DC=x' } },
      targets: [{ name: 'iij', type: 'iij', token_expires: new Date(Date.now() + 5 * 86_400_000).toISOString().slice(0, 10) }],
      console: { port: 0 },
    });
    const secret = secretSchema.parse({ ad: { ldap: { server: { password: BIND } } }, targets: { iij: { access_token: ACCESS } }, console: { admin_token: ADMIN } });
    loaded = { config, secret, configPath: path.join(dir, 'config.yml'), secretPath: path.join(dir, 'secret.yml') };
    journal = new Journal({ file: config.log.file });
    journal.on('event', (e: JournalEntry) => events.push(e));
    outbox = new Outbox(path.join(dir, 'outbox.sqlite'), Buffer.alloc(32, 7));
    for (const [i, label] of ['waiting', 'later', 'expired'].entries()) {
      const r = outbox.insertChange({ account: `user-${label}`, targets: ['iij'], source: 'cli', capturedAt: new Date().toISOString(), password: PASSWORDS[i]! });
      ids[label] = r.ids[0]!;
    }
    // As delivery leaves them: two attempts found no user at the target, one row outlived queue.max_age.
    claimRows(outbox, [ids.waiting!, ids.later!, ids.expired!]);
    settleAgain(outbox, ids.waiting!, { state: 'waiting', dueAt: Date.now() + 3_600_000, code: 'E_NOT_PROVISIONED', error: 'no user at iij', countAttempt: true });
    settleAgain(outbox, ids.later!, { state: 'waiting', dueAt: Date.now() + 3_600_000, code: 'E_NOT_PROVISIONED', error: 'later', countAttempt: true });
    settleFinal(outbox, ids.expired!, 'expired', { code: 'E_EXPIRED', error: 'not delivered within queue.max_age' });
    con = await startConsole({
      outbox, journal, config: loaded,
      delivery: { targetHealth: () => health, notify: () => void notified++ },
      directory: { listInScopeUsers: async () => [{ sAMAccountName: 'never-synced', dn: 'CN=never-synced,DC=x', pwdLastSet: dateToFiletime(new Date()) }] },
      intakeRunning: () => true,
    });
  });
  after(async () => {
    await con?.close();
    outbox?.close();
    journal?.close();
  });

  async function login(): Promise<{ cookie: string; csrf: string }> {
    const page = await request(con.url, '/login');
    const pre = cookieOf(page);
    const r = await request(con.url, '/login', { cookie: pre, form: { token: ADMIN, csrf: csrfOf(page.body) } });
    assert.equal(r.status, 303);
    const cookie = cookieOf(r);
    assert.notEqual(cookie, pre, 'the session ID changes at login');
    const home = await request(con.url, '/queue', { cookie });
    return { cookie, csrf: csrfOf(home.body) };
  }

  test('refuses to start without an admin token', async () => {
    const noToken = { ...loaded, secret: { ...loaded.secret, console: {} } };
    await assert.rejects(
      startConsole({ outbox, journal, config: noToken, delivery: { targetHealth: () => health, notify: () => {} } }),
      (e: Error & { code?: string }) => e.code === 'E_CONFIG' && /console\.admin_token/.test(e.message),
    );
  });

  test('listens on loopback; pages need a login; strict headers everywhere', async () => {
    assert.match(con.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const r = await request(con.url, '/');
    assert.equal(r.status, 303);
    assert.equal(r.headers.location, '/login');
    for (const p of ['/', '/login', '/metrics', '/healthz', '/static/console.js']) {
      const h = (await request(con.url, p)).headers;
      assert.match(String(h['content-security-policy']), /default-src 'self'/);
      assert.ok(!String(h['content-security-policy']).includes('unsafe-inline'));
      assert.equal(h['x-frame-options'], 'DENY');
      assert.equal(h['cache-control'], 'no-store');
      assert.equal(h['referrer-policy'], 'no-referrer');
      assert.equal(h['x-content-type-options'], 'nosniff');
    }
    const page = await request(con.url, '/login');
    assert.ok(!/<script>/.test(page.body), 'no inline script');
    assert.match(String(page.headers['set-cookie']), /HttpOnly; SameSite=Strict; Path=\//);
  });

  test('wrong token: 401 and event 5002; a login POST without the CSRF token is refused', async () => {
    const page = await request(con.url, '/login');
    const pre = cookieOf(page);
    const bad = await request(con.url, '/login', { cookie: pre, form: { token: 'wrong-token-wrong-token', csrf: csrfOf(page.body) } });
    assert.equal(bad.status, 401);
    assert.ok(events.some((e) => e.id === 5002));
    const noCsrf = await request(con.url, '/login', { cookie: pre, form: { token: ADMIN } });
    assert.equal(noCsrf.status, 403);
  });

  test('the session cookie holds a random ID, not the token', async () => {
    const { cookie } = await login();
    assert.ok(!cookie.includes(ADMIN));
    assert.match(cookie, /^pwsync_session=[A-Za-z0-9_-]{43}$/);
  });

  test('a foreign Host header (DNS rebinding) and a cross-origin POST are refused', async () => {
    const { cookie, csrf } = await login();
    assert.equal((await request(con.url, '/metrics', { host: 'evil.example:80' })).status, 421);
    const r = await request(con.url, '/changes/retry', { cookie, form: { csrf, id: ids.waiting! }, origin: 'http://evil.example' });
    assert.equal(r.status, 403);
    // another service on another localhost port is "same-site" for a browser, never same-origin
    const u = new URL(con.url);
    const site = await new Promise<number>((resolve, reject) => {
      const req = http.request({ host: u.hostname, port: u.port, path: '/changes/retry', method: 'POST',
        headers: { Cookie: cookie, 'Content-Type': 'application/x-www-form-urlencoded', 'Sec-Fetch-Site': 'same-site' } }, (res) => { res.resume(); resolve(res.statusCode ?? 0); });
      req.on('error', reject);
      req.end(new URLSearchParams({ csrf, id: ids.waiting! }).toString());
    });
    assert.equal(site, 403);
    assert.equal(outbox.get(ids.waiting!)?.state, 'waiting');
  });

  test('POST actions without or with a wrong CSRF token are refused and change nothing', async () => {
    const { cookie } = await login();
    for (const form of [{ id: ids.waiting! }, { id: ids.waiting!, csrf: "x".repeat(43) }] as Array<Record<string, string>>) {
      const r = await request(con.url, '/changes/drop', { cookie, form });
      assert.equal(r.status, 403);
    }
    assert.equal(outbox.get(ids.waiting!)?.state, 'waiting');
  });

  test('overview shows the paused target with its reason, token expiry and queue', async () => {
    const { cookie } = await login();
    const r = await request(con.url, '/', { cookie });
    assert.equal(r.status, 200);
    assert.match(r.body, /PAUSED/);
    assert.match(r.body, /HTTP 401: token revoked/);
    assert.match(r.body, /day\(s\) left/);
    assert.match(r.body, /<svg/);
    assert.ok(events.some((e) => e.id === 5003 && e.target === 'iij' && e.threshold === 7), 'token expiry warned in the journal');
  });

  test('retry makes a waiting change due and notifies delivery; an expired change cannot be retried', async () => {
    const { cookie, csrf } = await login();
    const before = notified;
    const r = await request(con.url, '/changes/retry', { cookie, form: { csrf, id: ids.waiting! } });
    assert.equal(r.status, 303);
    assert.equal(r.headers.location, '/queue?ok=retried');
    assert.equal(outbox.get(ids.waiting!)?.state, 'pending');
    assert.equal(notified, before + 1);
    assert.ok(events.some((e) => e.id === 5000 && e.account === 'user-waiting'));
    const x = await request(con.url, '/changes/retry', { cookie, form: { csrf, id: ids.expired! } });
    assert.equal(x.headers.location, '/queue?error=not-sealed');
    assert.equal(outbox.get(ids.expired!)?.state, 'expired');
  });

  test('drop ends a change as rejected E_DROPPED and erases its sealed password', async () => {
    const { cookie, csrf } = await login();
    const r = await request(con.url, '/changes/drop', { cookie, form: { csrf, id: ids.later! } });
    assert.equal(r.headers.location, '/queue?ok=dropped');
    const row = outbox.get(ids.later!)!;
    assert.equal(row.state, 'rejected');
    assert.equal(row.lastErrorCode, 'E_DROPPED');
    assert.equal(row.hasSecret, false);
    assert.ok(events.some((e) => e.id === 5001 && e.account === 'user-later'));
  });

  test('/healthz is 503 with the reason while a target is paused; /metrics needs no login', async () => {
    const h = await request(con.url, '/healthz');
    assert.equal(h.status, 503);
    assert.match(h.body, /target iij is paused: HTTP 401/);
    const m = await request(con.url, '/metrics');
    assert.equal(m.status, 200);
    assert.match(m.body, /pwsync_target_paused\{target="iij"\} 1/);
    assert.match(m.body, /pwsync_queue_changes\{state="expired"\} 1/);
  });

  test('events search and coverage (page and CSV)', async () => {
    const { cookie } = await login();
    const ev = await request(con.url, '/events?user=user-waiting&id=5000', { cookie });
    assert.match(ev.body, /class="event" data-id="5000"/);
    assert.ok(!/data-id="5001"/.test(ev.body));
    const cov = await request(con.url, '/coverage', { cookie });
    assert.match(cov.body, /never-synced/);
    const csv = await request(con.url, '/coverage.csv', { cookie });
    assert.match(String(csv.headers['content-type']), /text\/csv/);
    assert.match(csv.body, /^iij,never-synced,never,/m);
  });

  test('no page, CSV, metric or health answer contains a password or token', async () => {
    const { cookie } = await login();
    const secrets = [...PASSWORDS, ADMIN, ACCESS, BIND];
    for (const p of ['/', '/queue', '/events', '/events?user=user-waiting', '/coverage', '/coverage.csv', '/coverage.csv?all=1', '/metrics', '/healthz', '/login', '/static/console.js', '/static/console.css']) {
      const r = await request(con.url, p, { cookie });
      for (const s of secrets) assert.ok(!r.body.includes(s), `${p} contains a secret`);
      for (const s of secrets) assert.ok(!JSON.stringify(r.headers).includes(s), `${p} headers contain a secret`);
    }
  });

  test('logout ends the session', async () => {
    const { cookie, csrf } = await login();
    const r = await request(con.url, '/logout', { cookie, form: { csrf } });
    assert.equal(r.status, 303);
    assert.equal((await request(con.url, '/queue', { cookie })).status, 303);
  });
});
