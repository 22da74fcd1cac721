// §4 End to end on an idle system: one change at a time, from the client's submit to the agent's "delivered"
// event (sent after the emulator answered the PATCH), then checked at the emulator.

import { performance } from 'node:perf_hooks';
import { sendChange } from '../../src/capture/intake-client.js';
import { summarise, type LatencySummary } from '../lib/stats.js';
import { benchPassword, removeDir, startAgentChild, startEmulatorChild, tempDir, writeConfig, type DcInfo } from '../lib/stack.js';
import { iijExternalId, staticAccount } from '../lib/accounts.js';

export interface E2eRun {
  directory: string;
  latencyMs: number;
  changes: number;
  client: LatencySummary;
  journal: LatencySummary;
  verified: number;
}

/** `accounts[k]` → externalId; with `dc`, the agent reads them from the Samba DC. */
export async function benchE2e(o: { changes: number; latencyMs: number; dc?: DcInfo; adUsers?: Array<{ account: string; externalId: string }> }): Promise<E2eRun> {
  const dir = tempDir('e2e');
  const ldap = o.dc !== undefined && o.adUsers !== undefined;
  const pairs = ldap ? o.adUsers! : Array.from({ length: o.changes }, (_, j) => ({ account: staticAccount(j), externalId: iijExternalId(j) }));
  const em = await startEmulatorChild({ latencyMs: o.latencyMs, users: ldap ? 0 : o.changes, extraUsers: ldap ? pairs.map((p) => ({ userName: p.externalId.replace(/@.*/, '@example.jp'), externalId: p.externalId })) : [] });
  const config = writeConfig(dir, { scimBase: em.scimBase, token: em.token, concurrency: 8, ...(ldap ? { dc: o.dc } : {}) });
  const { child, socketPath } = await startAgentChild({
    configFile: config, directory: ldap ? { kind: 'ldap' } : { kind: 'static', accounts: o.changes, iijUsers: o.changes }, target: 'config', forwardSynced: true,
  });
  const waiting = new Map<string, (v: { at: number; latencyMs: number }) => void>();
  child.onNotice((n) => {
    if (n.notice !== 'synced') return;
    const v = n.value as { change: string; latencyMs: number; at: number };
    waiting.get(v.change)?.(v);
  });
  const client: number[] = [];
  const journal: number[] = [];
  let verified = 0;
  try {
    for (let k = 0; k < o.changes; k++) {
      const p = pairs[k % pairs.length]!;
      const password = benchPassword();
      const t0 = performance.timeOrigin + performance.now();
      const reply = await sendChange(socketPath, { v: 1, type: 'change', source: 'cli', dc: 'bench-dc', account: p.account, capturedAt: new Date().toISOString(), password });
      if (!reply.ok) throw new Error(`intake refused: ${reply.code}`);
      const ev = await new Promise<{ at: number; latencyMs: number }>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`change for ${p.account} not delivered within 30 s`)), 30_000);
        waiting.set(reply.id, (v) => {
          clearTimeout(t);
          resolve(v);
        });
      });
      waiting.delete(reply.id);
      client.push(ev.at - t0);
      journal.push(ev.latencyMs);
      if (await em.child.call<boolean>('verify', { externalId: p.externalId, password })) verified++;
    }
    return { directory: ldap ? 'LDAP (Samba AD DC, LDAPS)' : 'StaticDirectory', latencyMs: o.latencyMs, changes: o.changes, client: summarise(client), journal: summarise(journal), verified };
  } finally {
    await child.close();
    await em.child.close();
    removeDir(dir);
  }
}
