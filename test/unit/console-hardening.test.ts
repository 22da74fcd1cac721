// The console under hostile clients (issue 13 #6, #15): failed logins throttle per client address, a non-loopback
// listen address without TLS is refused, target URLs never show their userinfo.

import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { configSchema, secretSchema } from '../../src/config/schema.js';
import type { LoadedConfig } from '../../src/config/load.js';
import { Journal } from '../../src/journal/journal.js';
import { Outbox } from '../../src/outbox/store.js';
import { startConsole, type RunningConsole } from '../../src/agent-console.js';
import { LoginThrottle } from '../../src/console/login-throttle.js';
import { request, cookieOf, csrfOf, type Res } from '../support/console-http.js';

const ADMIN = 'admin-token-0123456789abcdef';
const URL_SECRET = 'Url-Userinfo-SECRET-5';


describe('console hardening', () => {
  let dir: string;
  let outbox: Outbox;
  let journal: Journal;
  let con: RunningConsole;
  let loaded: LoadedConfig;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'pwsync-console-h-'));
    const config = configSchema.parse({
      agent: { data_dir: dir },
      log: { file: path.join(dir, 'journal.jsonl') },
      ad: { ldap: { server: { addresses: ['127.0.0.1'], user: 'reader' }, base_dn: 'DC=x' } },
      targets: [{ name: 'corp', type: 'scim', url: `https://sync:${URL_SECRET}@scim.example.test/v2/` }],
      console: { port: 0 },
    });
    const secret = secretSchema.parse({ ad: { ldap: { server: { password: 'bind-pw' } } }, targets: { corp: { access_token: 'tok-0123456789' } }, console: { admin_token: ADMIN } });
    loaded = { config, secret, configPath: path.join(dir, 'config.yml'), secretPath: path.join(dir, 'secret.yml') };
    journal = new Journal({ file: config.log.file, stderr: false });
    outbox = new Outbox(path.join(dir, 'outbox.sqlite'), Buffer.alloc(32, 7));
    con = await startConsole({
      outbox, journal, config: loaded, delivery: { targetHealth: () => new Map(), notify: () => {} },
      directory: { listInScopeUsers: async () => [] }, intakeRunning: () => true,
    });
  });
  after(async () => {
    await con?.close();
    outbox?.close();
    journal?.close();
  });

  async function attempt(token: string, from: string): Promise<Res> {
    const page = await request(con.url, '/login', { from });
    return request(con.url, '/login', { from, cookie: cookieOf(page), form: { token, csrf: csrfOf(page.body) } });
  }

  test('ten wrong tokens from one address do not lock out the right token from another (#15)', async () => {
    for (let i = 0; i < 10; i++) assert.equal((await attempt('wrong-token-guess-0000', '127.0.0.2')).status, 401);
    assert.equal((await attempt('wrong-token-guess-0000', '127.0.0.2')).status, 429, 'the guessing address is throttled');
    assert.equal((await attempt(ADMIN, '127.0.0.2')).status, 429, 'even with the right token, from the throttled address');
    assert.equal((await attempt(ADMIN, '127.0.0.1')).status, 303, 'another address logs in');
  });

  test('the overview never shows a target URL userinfo (#6)', async () => {
    const r = await attempt(ADMIN, '127.0.0.1');
    const home = await request(con.url, '/', { cookie: cookieOf(r) });
    assert.equal(home.status, 200);
    assert.ok(home.body.includes('scim.example.test'), 'the URL is shown');
    assert.ok(!home.body.includes(URL_SECRET) && !home.body.includes('sync:'), 'userinfo on the overview');
  });

  test('a non-loopback listen address without TLS is refused unless explicitly allowed (#15)', async () => {
    const open = { ...loaded, config: { ...loaded.config, console: { ...loaded.config.console, listen: '0.0.0.0' } } };
    await assert.rejects(
      startConsole({ outbox, journal, config: open, delivery: { targetHealth: () => new Map(), notify: () => {} }, directory: { listInScopeUsers: async () => [] } }),
      (e: Error & { code?: string }) => e.code === 'E_CONFIG' && /console\.allow_insecure_http/.test(e.message),
    );
  });

  test('LoginThrottle: per client, sliding window, bounded', () => {
    const t = new LoginThrottle(3, 1000);
    for (let i = 0; i < 3; i++) t.failed('a', 0);
    assert.equal(t.blocked('a', 10), true);
    assert.equal(t.blocked('b', 10), false);
    assert.equal(t.blocked('a', 1001), false, 'failures older than the window are forgotten');
  });
});
