// A forked process running the bench emulator (lib/bench-emulator.ts), driven over IPC by bench/run.ts, so the
// emulator's CPU never competes with the agent's event loop. Never prints a password or a token.

import { startBenchEmulator, type BenchEmulator } from './lib/bench-emulator.js';
import { serve } from './lib/rpc.js';

let em: BenchEmulator | undefined;

serve(
  {
    async start(a: { hashCost: number; latencyMs: number; users: Array<{ userName: string; externalId: string }> }) {
      em = await startBenchEmulator({ hashCost: a.hashCost, faults: { latencyMs: a.latencyMs } });
      for (const u of a.users) await em.control.addUser(u);
      const token = em.control.addToken({ scopes: ['escim_read_users', 'escim_write_users'] });
      return { scimBase: em.scimBase, token };
    },
    setLatency(a: { latencyMs: number }) {
      em!.control.setFaults({ latencyMs: a.latencyMs });
      return true;
    },
    revoke(a: { token: string }) {
      return em!.control.revokeToken(a.token);
    },
    async verify(a: { externalId: string; password: string }) {
      return (await em!.control.verifyPassword({ externalId: a.externalId }, a.password)).match;
    },
    stats() {
      const users = em!.control.listUsers();
      return { searchStats: em!.searchStats, requestCounts: em!.requestCounts, passwordSets: users.reduce((n, u) => n + u.passwordSetCount, 0), rss: process.memoryUsage().rss, cpu: process.cpuUsage() };
    },
  },
  async () => {
    await em?.close();
  },
);
