// §5 Memory with a large backlog (delivery paused) and start-up time of the real CLI (`pwsync run`): time from
// spawn until the intake socket accepts a connection, and until journal event 2004 (Intake listening) is written.

import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { summarise, type LatencySummary } from '../lib/stats.js';
import { CLI, copyDataDir, prefillOutbox, removeDir, startAgentChild, tempDir, writeConfig } from '../lib/stack.js';

export interface MemoryResult {
  pending: number;
  emptyRssMiB: number;
  rssMiB: number;
  heapUsedMiB: number;
  startWithBacklogMs: number;
}
export interface StartupResult {
  runs: number;
  backlog: number;
  socket: LatencySummary;
  event2004: LatencySummary;
}

const MiB = 2 ** 20;

export async function benchMemory(o: { pending: number; settleMs: number }): Promise<MemoryResult> {
  const root = tempDir('memory');
  try {
    const tpl = path.join(root, 'tpl');
    prefillOutbox(tpl, Array.from({ length: o.pending }, (_, j) => `m${j}`));
    const measure = async (withBacklog: boolean) => {
      const dir = path.join(root, withBacklog ? 'full' : 'empty');
      if (withBacklog) copyDataDir(tpl, dir);
      const config = writeConfig(dir, { scimBase: 'http://127.0.0.1:9/scim/v2/', token: 'bench-unused', concurrency: 8 });
      const { child, startMs } = await startAgentChild({ configFile: config, directory: { kind: 'static', accounts: 0, iijUsers: 1 }, target: 'hang' });
      try {
        await new Promise((r) => setTimeout(r, o.settleMs));
        const m = await child.call<NodeJS.MemoryUsage>('memory');
        const states = await child.call<Record<string, number>>('states');
        return { m, startMs, states };
      } finally {
        await child.close();
      }
    };
    const empty = await measure(false);
    const full = await measure(true);
    const pending = (full.states.pending ?? 0) + (full.states.inflight ?? 0);
    return { pending, emptyRssMiB: empty.m.rss / MiB, rssMiB: full.m.rss / MiB, heapUsedMiB: full.m.heapUsed / MiB, startWithBacklogMs: full.startMs };
  } finally {
    removeDir(root);
  }
}

async function startOnce(dir: string): Promise<{ socketMs: number; eventMs: number }> {
  const config = path.join(dir, 'config.yml');
  const socketPath = path.join(dir, 'intake.sock');
  const t0 = performance.now();
  const t0Wall = Date.now();
  const proc = spawn(process.execPath, [CLI, 'run', '--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  try {
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`pwsync run exited with ${proc.exitCode}: ${stderr.slice(0, 500)}`);
      const ok = await new Promise<boolean>((resolve) => {
        const s = net.connect(socketPath);
        s.once('connect', () => {
          s.destroy();
          resolve(true);
        });
        s.once('error', () => resolve(false));
      });
      if (ok) break;
      if (performance.now() - t0 > 30_000) throw new Error('pwsync run did not accept connections within 30 s');
      await new Promise((r) => setTimeout(r, 2));
    }
    const socketMs = performance.now() - t0;
    // The event is written right after listen() returns: it may land a moment after our first connection.
    let ev: { id: number; ts: string } | undefined;
    for (let i = 0; i < 200 && !ev; i++) {
      const file = path.join(dir, 'data', 'journal.jsonl');
      const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
      ev = text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { id: number; ts: string }).find((e) => e.id === 2004);
      if (!ev) await new Promise((r) => setTimeout(r, 10));
    }
    return { socketMs, eventMs: ev ? Date.parse(ev.ts) - t0Wall : NaN };
  } finally {
    proc.kill('SIGTERM');
    await exited;
  }
}

/** `backlogTemplate`: a prefilled data dir to start on (delivery cannot reach anyone: AD address is .invalid). */
export async function benchStartup(o: { runs: number; backlog: number }): Promise<StartupResult> {
  const root = tempDir('startup');
  try {
    let tpl: string | undefined;
    if (o.backlog > 0) {
      tpl = path.join(root, 'tpl');
      prefillOutbox(tpl, Array.from({ length: o.backlog }, (_, j) => `s${j}`));
    }
    const socket: number[] = [];
    const event: number[] = [];
    for (let i = 0; i < o.runs; i++) {
      const dir = path.join(root, `run${i}`);
      if (tpl) copyDataDir(tpl, dir);
      writeConfig(dir, { scimBase: 'http://127.0.0.1:9/scim/v2/', token: 'bench-unused', concurrency: 8 });
      const r = await startOnce(dir);
      socket.push(r.socketMs);
      event.push(r.eventMs);
      removeDir(dir);
    }
    return { runs: o.runs, backlog: o.backlog, socket: summarise(socket), event2004: summarise(event) };
  } finally {
    removeDir(root);
  }
}
