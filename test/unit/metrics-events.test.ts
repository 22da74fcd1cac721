// Metrics fed from journal events, and the queue gauges read at scrape time; no account names in labels.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configSchema, secretSchema } from '../../src/config/schema.js';
import type { LoadedConfig } from '../../src/config/load.js';
import { EV } from '../../src/journal/catalogue.js';
import { Journal } from '../../src/journal/journal.js';
import { createMetrics } from '../../src/metrics/metrics.js';
import { metricUpdates } from '../../src/metrics/events.js';
import { healthVerdict } from '../../src/metrics/health.js';

const NOW = Date.parse('2025-03-01T00:00:00Z');

function loaded(): LoadedConfig {
  const config = configSchema.parse({
    ad: { ldap: { server: { addresses: ['dc1'], user: 'reader' }, base_dn: 'DC=x' } },
    targets: [{ name: 'iij', type: 'iij', token_expires: '2025-03-08' }],
  });
  const secret = secretSchema.parse({ ad: { ldap: { server: { password: 'bind-pw' } } }, targets: { iij: { access_token: 'tok' } } });
  return { config, secret, configPath: '/x/config.yml', secretPath: '/x/secret.yml' };
}

test('metricUpdates maps delivery and intake events', () => {
  assert.deepEqual(metricUpdates({ ts: '', id: 3000, level: 'info', msg: '', target: 'iij', latencyMs: 1500, requestMs: 20 }), [
    { kind: 'outcome', target: 'iij', outcome: 'synced' },
    { kind: 'deliveryLatency', seconds: 1.5 },
    { kind: 'requestLatency', target: 'iij', seconds: 0.02 },
  ]);
  assert.deepEqual(metricUpdates({ ts: '', id: 2002, level: 'warn', msg: '', code: 'E_FRAME_TOO_LARGE' }), [{ kind: 'intakeError', code: 'E_FRAME_TOO_LARGE' }]);
  assert.deepEqual(metricUpdates({ ts: '', id: 2007, level: 'info', msg: '', source: 'passfilt', reason: 'ring-full' }), [
    { kind: 'captureSkipped', source: 'passfilt', reason: 'ring-full' },
  ]);
  assert.deepEqual(metricUpdates({ ts: '', id: 1000, level: 'info', msg: '' }), []);
});

test('the registry exposes outcomes, latencies, queue, pause and token expiry', async () => {
  const journal = new Journal();
  let paused = false;
  const m = createMetrics({
    outbox: {
      countsByState: () => ({ pending: 3, waiting: 2, done: 7 }),
      oldestOpenReceivedAt: () => NOW - 90_000,
      targetSummary: () => [{ target: 'iij', paused: false, reason: null, since: null, lastSuccessAt: NOW - 1000, lastErrorAt: null, lastError: null }],
    },
    journal,
    delivery: { targetHealth: () => new Map([['iij', { paused }]]) },
    config: loaded(),
    now: () => NOW,
  });
  journal.write(EV.synced, { change: 'c1', account: 'alice', target: 'iij', latencyMs: 2000, requestMs: 30 });
  journal.write(EV.synced, { change: 'c2', account: 'bob', target: 'iij', latencyMs: 100, requestMs: 10 });
  journal.write(EV.rejected, { change: 'c3', account: 'carol', target: 'iij', code: 'E_REJECTED' });
  journal.write(EV.superseded, { change: 'c4', account: 'dave', target: 'iij' });
  journal.write(EV.intakeFrameRejected, { code: 'E_BAD_FRAME' });
  journal.write(EV.hookSkipped, { account: 'frank', reason: 'disabled', source: 'passfilt', dc: 'DC1' });
  paused = true;
  const text = await m.registry.metrics();
  m.close();
  journal.write(EV.synced, { change: 'c5', account: 'erin', target: 'iij', latencyMs: 1, requestMs: 1 });
  const text2 = await m.registry.metrics();

  assert.match(text, /^pwsync_changes_total\{target="iij",outcome="synced"\} 2$/m);
  assert.match(text, /^pwsync_changes_total\{target="iij",outcome="rejected"\} 1$/m);
  assert.match(text, /^pwsync_changes_total\{target="iij",outcome="superseded"\} 1$/m);
  assert.match(text, /^pwsync_changes_total\{target="iij",outcome="expired"\} 0$/m);
  assert.match(text, /^pwsync_intake_errors_total\{code="E_BAD_FRAME"\} 1$/m);
  assert.match(text, /^pwsync_capture_skipped_total\{source="passfilt",reason="disabled"\} 1$/m);
  assert.match(text, /^pwsync_delivery_latency_seconds_count 2$/m);
  assert.match(text, /^pwsync_delivery_latency_seconds_bucket\{le="0.1"\} 1$/m);
  assert.match(text, /^pwsync_target_request_duration_seconds_count\{target="iij"\} 2$/m);
  assert.match(text, /^pwsync_queue_changes\{state="pending"\} 3$/m);
  assert.match(text, /^pwsync_queue_changes\{state="inflight"\} 0$/m);
  assert.doesNotMatch(text, /state="parked"/, 'no state that nothing enters');
  assert.match(text, /^pwsync_oldest_open_change_age_seconds 90$/m);
  assert.match(text, /^pwsync_target_paused\{target="iij"\} 1$/m);
  assert.match(text, /^pwsync_target_token_expiry_seconds\{target="iij"\} 604800$/m);
  assert.match(text, /^pwsync_target_last_success_timestamp_seconds\{target="iij"\} /m);
  for (const secret of ['alice', 'bob', 'frank', 'tok', 'bind-pw']) assert.ok(!text.includes(`"${secret}"`), `${secret} in a label`);
  assert.match(text2, /outcome="synced"\} 2$/m, 'detached after close()');
});

test('healthVerdict', () => {
  assert.deepEqual(healthVerdict({ intakeRunning: true, targets: new Map([['iij', { paused: false }]]) }), { status: 'ok', reasons: [] });
  const v = healthVerdict({ intakeRunning: false, targets: new Map([['iij', { paused: true, pausedReason: '401 token revoked' }]]), expiredTokens: ['iij'] });
  assert.equal(v.status, 'failing');
  assert.equal(v.reasons.length, 3);
  assert.match(v.reasons[1]!, /iij is paused: 401 token revoked/);
});
