// §6 Samba path: `samba-tool user syncpasswords --script` starts the hook once per changed object, sequentially,
// so the hook's process start-up plus its ack bounds the changes per second of that path. Runs the real
// `pwsync samba-hook` with a syncpasswords-shaped LDIF on stdin against a real agent (delivery paused), when the
// command exists; otherwise only `pwsync help` start-up as a lower bound.

import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { summarise, type LatencySummary } from '../lib/stats.js';
import { benchPassword, CLI, removeDir, startAgentChild, tempDir, writeConfig } from '../lib/stack.js';

export interface SambaResult {
  hookExists: boolean;
  measured: string;
  runs: number;
  nodeBaseline: LatencySummary;
  cli: LatencySummary;
  ceilingPerSecond: number;
  hookFailures: number;
}

function time(args: string[], runs: number): LatencySummary {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    spawnSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'ignore'] });
    out.push(performance.now() - t0);
  }
  return summarise(out);
}

/** One object as syncpasswords hands it to --script (shape captured from the test DC, see test/unit). */
function ldif(i: number): string {
  return `dn: CN=Bench ${i},OU=Staff,DC=example,DC=test
objectGUID: ${randomUUID()}
userAccountControl: 512
pwdLastSet: 134402590150227480
objectSid: S-1-5-21-252044963-3806901787-3426836701-${5000 + i}
sAMAccountName: hook${i}
userPrincipalName: hook${i}@example.test
msDS-KeyVersionNumber: 2
virtualClearTextUTF8:: ${Buffer.from(benchPassword()).toString('base64')}

`;
}

function hookOnce(socket: string, input: string): Promise<{ ms: number; ok: boolean }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const p = spawn(process.execPath, [CLI, 'samba-hook', '--socket', socket, '--dc', 'bench-dc'], { stdio: ['pipe', 'pipe', 'ignore'] });
    let out = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.once('exit', (code) => resolve({ ms: performance.now() - t0, ok: code === 0 && out.startsWith('DONE-EXIT') }));
    p.stdin.end(input);
  });
}

export async function benchSamba(o: { runs: number }): Promise<SambaResult> {
  const help = spawnSync(process.execPath, [CLI, 'help'], { encoding: 'utf8' });
  const hookExists = /samba-hook/.test(help.stdout ?? '');
  const nodeBaseline = time(['-e', '0'], o.runs);
  if (!hookExists) {
    const cli = time([CLI, 'help'], o.runs);
    return { hookExists, measured: 'node dist/src/cli/main.js help', runs: o.runs, nodeBaseline, cli, ceilingPerSecond: 1000 / cli.p50, hookFailures: 0 };
  }
  const dir = tempDir('samba');
  const config = writeConfig(dir, { scimBase: 'http://127.0.0.1:9/scim/v2/', token: 'bench-unused', concurrency: 8 });
  const { child, socketPath } = await startAgentChild({ configFile: config, directory: { kind: 'static', accounts: 0, iijUsers: 1 }, target: 'hang' });
  try {
    const ms: number[] = [];
    let failures = 0;
    const t0 = performance.now();
    for (let i = 0; i < o.runs; i++) {
      const r = await hookOnce(socketPath, ldif(i));
      ms.push(r.ms);
      if (!r.ok) failures++;
    }
    const total = performance.now() - t0;
    return {
      hookExists, measured: 'node dist/src/cli/main.js samba-hook --socket S (LDIF on stdin, acked by the agent)', runs: o.runs, nodeBaseline, cli: summarise(ms),
      ceilingPerSecond: o.runs / (total / 1000), hookFailures: failures,
    };
  } finally {
    await child.close();
    removeDir(dir);
  }
}
