// The operations console in a real Chromium (playwright-core, Debian's chromium) against a running agent, the
// IIJ emulator and the real Samba AD DC: login, synced change, paused target with its reason, operator retry of a
// waiting change, coverage, CSRF refusal, and that no page, CSV or metric leaks a password or token.
// Waits on journal events and page state, never on sleeps. Under CI=true a missing DC or browser FAILS.

import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { requireSambaDc, sambaDc, createUser, uniqueName, type SambaDcInfo } from '../support/samba.js';
import { makeStack, startStackAgent, submit, eventFor, type Stack } from '../support/stack.js';
import type { RunningAgent } from '../../src/agent.js';
import { startConsole, type RunningConsole } from '../../src/agent-console.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ADMIN = `console-admin-${Math.random().toString(36).slice(2)}-token`;
const SCREENSHOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../docs/console-overview.png');

const secrets: string[] = [ADMIN];
function pw(label: string): string {
  const p = `Pw-${label}-${Math.random().toString(36).slice(2, 8)}A1`;
  secrets.push(p);
  return p;
}

function requireChromium(t: TestContext): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CI === 'true') throw new Error(`${CHROMIUM} is missing in CI: apt-get install chromium`);
  t.skip(`${CHROMIUM} is not installed`);
  return false;
}

describe('operations console in Chromium against agent, emulator and Samba DC', () => {
  let dc: SambaDcInfo | undefined;
  let stack: Stack;
  let agent: RunningAgent;
  let con: RunningConsole;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  let syncedUser = '';

  // Each test checks (and under CI=true fails on) a missing DC or browser: a suite hook's context cannot skip.
  const ready = (t: TestContext): boolean => requireSambaDc(t) !== undefined && requireChromium(t) && page !== undefined;

  before(async () => {
    dc = sambaDc();
    if (!dc || !existsSync(CHROMIUM)) return;
    const expires = new Date(Date.now() + 10 * 86_400_000).toISOString().slice(0, 10);
    stack = await makeStack(dc, { targetYaml: `    token_expires: '${expires}'` });
    // Slow automatic retries: the operator's retry, not the worker's backoff, must be what delivers the waiting change.
    const cfg = readFileSync(stack.configFile, 'utf8').replace('initial: 200ms\n    max: 2s', 'initial: 10m\n    max: 1h');
    writeFileSync(stack.configFile, cfg, { mode: 0o600 });
    appendFileSync(path.join(stack.dir, 'secret.yml'), `console:\n  admin_token: ${ADMIN}\n`);
    secrets.push(stack.token, dc.readerPassword, dc.adminPassword);
    agent = await startStackAgent(stack);
    con = await startConsole({ outbox: agent.outbox, journal: agent.journal, delivery: agent.delivery, config: agent.loaded, port: 0 });
    profile = mkdtempSync(path.join(os.tmpdir(), 'pwsync-chromium-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1280, height: 900 } });
    page = context.pages()[0] ?? (await context.newPage());
  });
  after(async () => {
    await context?.close();
    await con?.close();
    await agent?.stop();
    await stack?.emulator.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  async function twin(iij = true): Promise<string> {
    const name = uniqueName('cn');
    await createUser(dc!, name);
    if (iij) await stack.emulator.addUser({ userName: `${name}@example.jp`, externalId: `${name}@example.test` });
    return name;
  }

  test('login: a wrong token is refused and journaled, the admin token opens the overview', async (t) => {
    if (!ready(t)) return;
    await page.goto(con.url);
    assert.match(page.url(), /\/login$/);
    const failed = agent.journal.waitFor((e) => e.id === 5002, 10_000);
    await page.fill('#token', 'not-the-admin-token');
    await Promise.all([page.waitForLoadState('load'), page.click('button[type=submit]')]);
    await page.getByRole('alert').filter({ hasText: 'Wrong admin token.' }).waitFor();
    await failed;
    await page.fill('#token', ADMIN);
    await Promise.all([page.waitForURL(`${con.url}/`), page.click('button[type=submit]')]);
    await page.locator('.card[data-target="iij"]').waitFor();
    assert.equal(await page.locator('.card[data-target="iij"] .target-state').innerText(), 'running');
    assert.match(await page.locator('.card[data-target="iij"] .token-expiry').innerText(), /day\(s\) left/);
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === 'pwsync_session');
    assert.ok(session && session.httpOnly && session.sameSite === 'Strict');
    assert.ok(!cookies.some((c) => c.value.includes(ADMIN)), 'the cookie never holds the token');
  });

  test('a submitted change appears as synced', async (t) => {
    if (!ready(t)) return;
    const name = await twin();
    const id = await submit(agent.socketPath, name, pw('synced'));
    assert.equal((await eventFor(agent, id, [3000, 3001, 3002, 3003])).id, 3000);
    syncedUser = name;
    await page.goto(`${con.url}/queue`);
    const state = page.locator(`#recent-changes tr[data-change="${id}"] td.state`);
    assert.equal(await state.innerText(), 'synced');
    await page.goto(`${con.url}/events?user=${name}&id=3000`);
    await page.locator('#events tr.event[data-id="3000"]').first().waitFor();
    assert.equal(await page.locator('#events tr.event').count(), 1);
    await page.goto(con.url);
    assert.notEqual(await page.locator('.card[data-target="iij"] .last-success').innerText(), 'never');
  });

  test('a waiting change (user absent at IIJ) is retried from the console once the user exists, and arrives', async (t) => {
    if (!ready(t)) return;
    const name = await twin(false);
    const password = pw('waiting');
    const id = await submit(agent.socketPath, name, password);
    assert.equal((await eventFor(agent, id, [3000, 3002, 3003])).id, 3002);
    await stack.emulator.addUser({ userName: `${name}@example.jp`, externalId: `${name}@example.test` });
    await page.goto(`${con.url}/queue`);
    const row = page.locator(`#open-changes tr[data-change="${id}"]`);
    assert.equal(await row.locator('td.state').innerText(), 'waiting');
    const retried = agent.journal.waitFor((e) => e.id === 5000 && e.change === id, 10_000);
    const synced = agent.journal.waitFor((e) => e.id === 3000 && e.change === id, 30_000);
    await Promise.all([page.waitForURL(/\/queue\?ok=retried$/), row.getByRole('button', { name: 'Retry now' }).click()]);
    await page.getByRole('status').filter({ hasText: 'due now' }).waitFor();
    await retried;
    await synced;
    assert.equal((await stack.emulator.verifyPassword({ externalId: `${name}@example.test` }, password)).match, true);
    await page.goto(`${con.url}/queue`);
    assert.equal(await page.locator(`#recent-changes tr[data-change="${id}"] td.state`).innerText(), 'synced');
  });

  test('the coverage page lists a user who has not changed the password (and not the synced one)', async (t) => {
    if (!ready(t)) return;
    const name = await twin();
    await page.goto(`${con.url}/coverage`);
    const row = page.locator(`#coverage tr[data-account="${name}"]`);
    await row.waitFor();
    assert.match(await row.innerText(), /never/);
    assert.equal(await page.locator(`#coverage tr[data-account="${syncedUser}"]`).count(), 0);
    const csv = await page.request.get(`${con.url}/coverage.csv`);
    assert.equal(csv.status(), 200);
    assert.match(await csv.text(), new RegExp(`^iij,${name},never,`, 'm'));
  });

  test('a POST without the CSRF token is refused', async (t) => {
    if (!ready(t)) return;
    const name = await twin(false);
    const id = await submit(agent.socketPath, name, pw('csrf'));
    await eventFor(agent, id, [3002]);
    const change = agent.outbox.get(id)!;
    for (const form of [{ id: change.id }, { id: change.id, csrf: 'forged' }] as Array<Record<string, string>>) {
      const r = await page.request.post(`${con.url}/changes/drop`, { form, maxRedirects: 0 });
      assert.equal(r.status(), 403);
    }
    assert.equal(agent.outbox.get(id)?.state, 'waiting', 'nothing changed');
  });

  test('revoking the token at IIJ shows the target paused with the reason', async (t) => {
    if (!ready(t)) return;
    stack.emulator.revokeToken(stack.token);
    const name = await twin();
    const paused = agent.journal.waitFor((e) => e.id === 4000, 30_000);
    await submit(agent.socketPath, name, pw('revoked'));
    const ev = await paused;
    await page.goto(con.url);
    const state = page.locator('.card[data-target="iij"] .target-state');
    assert.match(await state.innerText(), /^PAUSED/);
    assert.equal(await state.locator('.reason').innerText(), String(ev.error));
    assert.match(await page.locator('#health').innerText(), /FAILING/);
    const health = await page.request.get(`${con.url}/healthz`);
    assert.equal(health.status(), 503);
    assert.match(await health.text(), /target iij is paused/);
    if (process.env.PWSYNC_SCREENSHOT === '1') await page.screenshot({ path: SCREENSHOT, fullPage: true });
  });

  test('no console page, CSV or /metrics answer contains a password or token', async (t) => {
    if (!ready(t)) return;
    assert.ok(secrets.length >= 8);
    const paths = ['/', '/queue', '/events', `/events?user=${syncedUser}`, '/coverage', '/coverage.csv', '/coverage.csv?all=1', '/metrics', '/healthz', '/static/console.js', '/static/console.css'];
    for (const p of paths) {
      const r = await page.request.get(`${con.url}${p}`);
      assert.ok(r.status() < 500 || (p === '/healthz' && r.status() === 503), `${p}: ${r.status()}`);
      const body = await r.text();
      for (const s of secrets) assert.ok(!body.includes(s), `${p} contains a secret`);
      for (const s of secrets) assert.ok(!JSON.stringify(r.headers()).includes(s), `${p} headers contain a secret`);
    }
    for (const p of ['/', '/queue', '/events', '/coverage']) {
      await page.goto(`${con.url}${p}`);
      const rendered = await page.content();
      for (const s of secrets) assert.ok(!rendered.includes(s), `${p} (rendered) contains a secret`);
    }
    const metrics = await (await page.request.get(`${con.url}/metrics`)).text();
    assert.match(metrics, /pwsync_changes_total\{target="iij",outcome="synced"\} [1-9]/);
  });
});
