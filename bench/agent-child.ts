// A forked process running the real agent (startAgent) for bench/run.ts: real config files, Unix socket, SQLite
// outbox and IIJ target; the directory is either a StaticDirectory (AD is not what is measured) or the real LDAP
// directory from config.yml, and the target can be "hung" (find never resolves) to pause delivery.
// Reports counts and timings over IPC; never sees or sends a password except inside the agent itself.

// First, as in the CLI entry: the agent runs with the young generation `pwsync run` has (src/cli/young-generation.ts).
import '../src/cli/young-generation.js';
import { performance } from 'node:perf_hooks';
import { startAgent, type RunningAgent } from '../src/agent.js';
import { loadConfig } from '../src/config/load.js';
import { StaticDirectory } from '../src/directory/static-directory.js';
import type { Directory } from '../src/directory/directory.js';
import { Journal, type JournalEntry } from '../src/journal/journal.js';
import type { Target } from '../src/targets/target.js';
import { iijExternalId, staticAccount } from './lib/accounts.js';
import { notify, serve } from './lib/rpc.js';
import { countsByState } from '../src/outbox/queries.js';

export interface AgentChildStart {
  configFile: string;
  /** static: accounts b<j> (j < accounts) whose UPN is u<j % iijUsers>@example.test; ldap: config.yml's AD. */
  directory: { kind: 'static'; accounts: number; iijUsers: number } | { kind: 'ldap' };
  /** hang: directory and target never answer (delivery paused, intake measured alone); config: the real IIJ target. */
  target: 'hang' | 'config';
  /** Forward every 3000 (synced) event to the parent (end-to-end latency). */
  forwardSynced?: boolean;
}

/** Events that end a change's life (final states: docs/architecture.md#outbox-states). */
const TERMINAL = new Set([3000, 3003, 3004, 3005, 3006, 3007, 2005, 2006]);


function hungTarget(name: string): Target {
  return {
    name,
    checkPassword() {},
    find: () => new Promise(() => undefined),
    setPassword: () => new Promise(() => undefined),
    probe: async () => ({ canRead: true, writeVerified: false }),
    close: async () => undefined,
  };
}

/** Paused delivery: the first `concurrency` claimed changes wait here forever; nothing else is claimed. */
function hungDirectory(): Directory {
  return { resolve: () => new Promise(() => undefined), probe: async () => ({}), listInScope: async () => [], close: async () => undefined };
}

let agent: RunningAgent | undefined;
let hung = false;
let startedAt = 0;
let cpuAtStart: NodeJS.CpuUsage = { user: 0, system: 0 };
const counts = new Map<number, number>();
let terminal = 0;
let firstTerminalAt = 0;
let lastTerminalAt = 0;
const doneWaiters: Array<{ n: number; resolve: () => void }> = [];

function onEvent(e: JournalEntry, forward: boolean): void {
  counts.set(e.id, (counts.get(e.id) ?? 0) + 1);
  if (forward && e.id === 3000) notify('synced', { change: e.change, latencyMs: e.latencyMs, at: performance.timeOrigin + performance.now() });
  if (!TERMINAL.has(e.id)) return;
  terminal++;
  const t = performance.now();
  if (firstTerminalAt === 0) firstTerminalAt = t;
  lastTerminalAt = t;
  for (let i = doneWaiters.length - 1; i >= 0; i--) {
    if (terminal >= doneWaiters[i]!.n) doneWaiters.splice(i, 1)[0]!.resolve();
  }
}

serve(
  {
    async start(a: AgentChildStart) {
      const loaded = loadConfig(a.configFile);
      hung = a.target === 'hang';
      const directory = hung
        ? hungDirectory()
        : a.directory.kind === 'static'
          ? new StaticDirectory(
              Array.from({ length: a.directory.accounts }, (_, j) => ({
                sAMAccountName: staticAccount(j),
                userPrincipalName: iijExternalId(j % (a.directory as { iijUsers: number }).iijUsers),
                guid: `00000000-0000-4000-8000-${String(j).padStart(12, '0')}`,
              })),
            )
          : undefined;
      const targets = hung ? loaded.config.targets.map((t) => hungTarget(t.name)) : undefined;
      startedAt = performance.now();
      cpuAtStart = process.cpuUsage();
      // Listening before the agent starts: its first attempts run before startAgent's promise settles.
      const log = loaded.config.log;
      const journal = new Journal({ file: log.file, stderr: log.stderr, level: log.loglevel });
      journal.on('event', (e: JournalEntry) => onEvent(e, a.forwardSynced === true));
      agent = await startAgent(loaded, { ...(directory ? { directory } : {}), ...(targets ? { targets } : {}), journal });
      return { socketPath: agent.socketPath, startMs: performance.now() - startedAt };
    },
    /** Resolves when `n` changes reached a final state; timings are from the moment startAgent returned. */
    async waitTerminal(a: { n: number }) {
      if (terminal < a.n) await new Promise<void>((resolve) => doneWaiters.push({ n: a.n, resolve }));
      return { cpu: process.cpuUsage(cpuAtStart), terminal, firstMs: firstTerminalAt - startedAt, lastMs: lastTerminalAt - startedAt, counts: Object.fromEntries(counts) };
    },
    states() {
      return countsByState(agent!.outbox.reader);
    },
    memory() {
      return process.memoryUsage();
    },
    gc() {
      (globalThis as { gc?: () => void }).gc?.();
      return process.memoryUsage();
    },
  },
  async () => {
    // A hung target never finishes its in-flight attempts: stopping would wait forever. Exit instead (the
    // outbox is WAL + synchronous=FULL: nothing acked is lost, which is the agent's own crash guarantee).
    if (agent && !hung) await agent.stop();
  },
);
