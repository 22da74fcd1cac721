// A forked process for bench §2: the least a delivery client can do against the stand-in target — per change, IIJ's
// search and then the password PATCH, over undici with keep-alive as the agent sends them, C changes at a time — and
// nothing else: no outbox, directory, sealing, journal or rate limit. Its rate is what this machine allows at (L, C);
// the agent's rate divided by it is the agent's own share of the gap to C/(2L).

import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import { iijExternalIdFilter } from '../src/targets/scim-filter.js';
import { passwordPatch, searchRequest } from '../src/targets/scim-messages.js';
import { benchPassword } from './lib/stack.js';
import { iijExternalId } from './lib/accounts.js';
import { serve } from './lib/rpc.js';

export interface DeliveryFloorRun {
  changes: number;
  elapsedMs: number;
  perSecond: number;
  /** This process's CPU (user + system) per change, ms. */
  cpuMs: number;
  failures: number;
}

serve({
  async run(a: { scimBase: string; token: string; concurrency: number; changes: number; iijUsers: number }): Promise<DeliveryFloorRun> {
    const dispatcher = new Agent({ keepAliveTimeout: 30_000 });
    const headers = { authorization: `Bearer ${a.token}`, accept: 'application/scim+json, application/json', 'content-type': 'application/scim+json' };
    let next = 0;
    let failures = 0;
    const one = async (j: number): Promise<void> => {
      const search = await request(`${a.scimBase}Users/.search`, {
        method: 'POST', dispatcher, headers, body: JSON.stringify(searchRequest(iijExternalIdFilter(iijExternalId(j % a.iijUsers)), ['id', 'externalId'])),
      });
      const found = JSON.parse(await search.body.text()) as { Resources?: Array<{ id: string }> };
      const id = found.Resources?.[0]?.id;
      if (search.statusCode !== 200 || !id) return void failures++;
      const patch = await request(`${a.scimBase}Users/${id}`, { method: 'PATCH', dispatcher, headers, body: JSON.stringify(passwordPatch(benchPassword())) });
      await patch.body.dump();
      if (patch.statusCode !== 204) failures++;
    };
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: a.concurrency }, async () => {
        while (next < a.changes) await one(next++);
      }),
    );
    const elapsedMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    await dispatcher.close();
    return { changes: a.changes, elapsedMs, perSecond: a.changes / (elapsedMs / 1000), cpuMs: (cpu.user + cpu.system) / 1000 / a.changes, failures };
  },
});
