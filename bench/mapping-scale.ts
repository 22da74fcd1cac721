#!/usr/bin/env node
// The mapping report's engine at directory scale: N in-scope AD users arriving in LDAP pages of 500 and a target
// listing of N users in pages of 100 (both in process, no latency), so the numbers are pwsync's own cost: time
// and memory. Run: node dist/bench/mapping-scale.js [N]   (default 100000). Prints one JSON line.

import { configSchema } from '../src/config/schema.js';
import { runMappingReport } from '../src/mapping/run.js';
import type { Target, TargetUserPage } from '../src/targets/target.js';

const n = Number(process.argv[2] ?? 100_000);
const target = configSchema.parse({
  ad: { ldap: { server: { addresses: ['dc'], user: 'u' }, base_dn: 'DC=x' } },
  // rate_limit high: this measures pwsync, not a target's allowance (1000 pages at 20/s would be 50 s of waiting).
  targets: [{ name: 'iij', type: 'iij', rate_limit: 1e9, attribute: { user: { convert: { externalId: [{ pattern: '^(.+)@example\\.test$', replacement: '$1@example.jp' }] } } } }],
}).targets[0]!;

const ad = {
  async *inScopePages() {
    for (let p = 0; p < n; p += 500) {
      const page = [];
      for (let i = p; i < Math.min(n, p + 500); i++)
        page.push({ dn: `CN=user${i},OU=Staff,DC=example,DC=test`, attributes: { sAMAccountName: `user${i}`, userPrincipalName: `user${i}@example.test` } });
      yield page;
    }
  },
};
// Every 100th AD user is missing at the target; 1 % orphans.
const fake: Target = {
  name: 'iij',
  checkPassword() {},
  async find() {
    throw new Error('listing expected');
  },
  async setPassword() {
    throw new Error('read-only');
  },
  async probe() {},
  async listPage(start: number, count: number): Promise<TargetUserPage> {
    const users = [];
    for (let i = start - 1; i < Math.min(n, start - 1 + count); i++)
      users.push({ id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, value: i % 100 === 0 ? `orphan${i}@example.jp` : `user${i}@example.jp` });
    return { users, total: n, compare: 'exact' };
  },
  async close() {},
};

global.gc?.();
const before = process.memoryUsage();
let peakHeap = before.heapUsed;
const timer = setInterval(() => (peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed)), 20);
const t0 = performance.now();
const report = await runMappingReport(ad, [{ config: target, target: fake, pendingDeletion: new Set() }], {
  progress: () => (peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed)),
});
const ms = performance.now() - t0;
clearInterval(timer);
process.stdout.write(
  JSON.stringify({
    users: n, seconds: +(ms / 1000).toFixed(2), requests: report.targets[0]!.requests, counts: report.targets[0]!.counts,
    peakHeapMB: +((peakHeap - before.heapUsed) / 1048576).toFixed(1), rssMB: +(process.memoryUsage().rss / 1048576).toFixed(1),
  }) + '\n',
);
