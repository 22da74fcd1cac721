// deploy/prometheus and deploy/grafana must only use metric names the agent actually exports.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { configSchema, secretSchema } from '../../src/config/schema.js';
import { Journal } from '../../src/journal/journal.js';
import { createMetrics } from '../../src/metrics/metrics.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

async function exported(): Promise<Set<string>> {
  const config = configSchema.parse({ ad: { ldap: { server: { addresses: ['dc'], user: 'u' }, base_dn: 'DC=x' } }, targets: [{ name: 'iij', type: 'iij' }] });
  const secret = secretSchema.parse({ ad: { ldap: { server: { password: 'p' } } }, targets: { iij: { access_token: 't' } } });
  const m = createMetrics({
    outbox: { countsByState: () => ({}), oldestOpenReceivedAt: () => undefined, targetSummary: () => [] },
    journal: new Journal(),
    delivery: { targetHealth: () => new Map() },
    config: { config, secret, configPath: '', secretPath: '' },
  });
  const names = new Set((await m.registry.getMetricsAsJSON()).map((x) => x.name));
  m.close();
  return names;
}

function used(text: string): string[] {
  return [...new Set([...text.matchAll(/pwsync_[a-z_]+/g)].map((x) => x[0].replace(/_(bucket|count|sum)$/, '')))];
}

test('alert rules use exported metrics', async () => {
  const names = await exported();
  const doc = parse(readFileSync(path.join(root, 'deploy/prometheus/pwsync-alerts.yml'), 'utf8')) as { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> };
  const rules = doc.groups.flatMap((g) => g.rules);
  for (const want of ['PwsyncTargetPaused', 'PwsyncOldestPendingChange', 'PwsyncChangesExpired', 'PwsyncIntakeErrors']) assert.ok(rules.some((r) => r.alert === want), want);
  for (const r of rules) for (const n of used(r.expr)) assert.ok(names.has(n), `${r.alert}: ${n} is not exported`);
});

test('the Grafana dashboard is valid JSON and uses exported metrics', async () => {
  const names = await exported();
  const text = readFileSync(path.join(root, 'deploy/grafana/pwsync-dashboard.json'), 'utf8');
  const dash = JSON.parse(text) as { panels: unknown[] };
  assert.ok(dash.panels.length >= 8);
  for (const n of used(text)) assert.ok(names.has(n), `${n} is not exported`);
});
