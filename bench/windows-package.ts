// Benchmark of the Windows package under Wine (not a timed test): the zip's size against its 60 MB budget, and how
// long `pwsync.exe run` takes from process start until its named pipe listens (budget 2 s), over several starts.
// Run: npm run build && node dist/bench/windows-package.js [starts]   (needs wine, mingw-w64, zip; no AD DC needed)

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { ensureWindowsPackage, WinePrefix } from '../test/e2e/windows-package-wine.js';

const ZIP_BUDGET = 60 * 1024 * 1024;
const START_BUDGET_MS = 2000;

const CONFIG = `agent:
  data_dir: 'C:\\pwsync-bench\\data'
  intake:
    socket: '\\\\.\\pipe\\pwsync-bench'
ad:
  ldap:
    server:
      addresses: [127.0.0.1]
      user: reader@example.test
    base_dn: 'DC=example,DC=test'
targets:
  - name: iij
    type: iij
    url: http://127.0.0.1:9/scim/v2/
console:
  enabled: false
`;

/** Resolves when the journal has event 2004 (intake listening) from this start, with the ms since spawn. */
async function oneStart(w: WinePrefix, exe: string, journal: string): Promise<number> {
  fs.rmSync(journal, { force: true });
  const out = fs.openSync(path.join(os.tmpdir(), `pwsync-bench-${process.pid}.out`), 'w');
  const t0 = performance.now();
  // stdin not a pipe: Node inside Wine cannot use a Linux pipe for stdio (the service host gives it a Windows one).
  const child = spawn('wine', [exe, 'run', '--config', 'C:\\pwsync-bench\\config.yml'], { env: w.env(), stdio: ['ignore', out, out] });
  const exited = new Promise<number | null>((r) => child.once('exit', r));
  try {
    for (;;) {
      if (fs.existsSync(journal) && fs.readFileSync(journal, 'utf8').includes('"id":2004')) return performance.now() - t0;
      const early = await Promise.race([exited, new Promise<'poll'>((r) => setTimeout(() => r('poll'), 5))]); // 5 ms granularity
      if (early !== 'poll') throw new Error(`pwsync.exe exited (${early}) before listening: ${fs.readFileSync(path.join(os.tmpdir(), `pwsync-bench-${process.pid}.out`), 'utf8')}`);
      if (performance.now() - t0 > 60_000) throw new Error('pwsync.exe did not listen within 60 s');
    }
  } finally {
    child.kill('SIGTERM');
    await exited;
    fs.closeSync(out);
  }
}

async function main(): Promise<void> {
  const starts = Number(process.argv[2] ?? 7);
  const zip = ensureWindowsPackage();
  const size = fs.statSync(zip).size;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'pwsync-bench-win-'));
  const w = await WinePrefix.create();
  try {
    spawnSync('unzip', ['-q', zip, '-d', work]);
    const dir = fs.readdirSync(work).find((d) => d.endsWith('-win-x64'))!;
    const benchDir = w.linux('C:\\pwsync-bench');
    fs.mkdirSync(path.join(benchDir, 'data'), { recursive: true });
    fs.copyFileSync(path.join(work, dir, 'pwsync.exe'), path.join(benchDir, 'pwsync.exe'));
    fs.writeFileSync(path.join(benchDir, 'config.yml'), CONFIG);
    fs.writeFileSync(path.join(benchDir, 'secret.yml'), `ad:\n  ldap:\n    server:\n      password: bench\ntargets:\n  iij:\n    access_token: bench\n`);
    const journal = path.join(benchDir, 'data', 'journal.jsonl');
    const ms: number[] = [];
    for (let i = 0; i < starts; i++) ms.push(await oneStart(w, 'C:\\pwsync-bench\\pwsync.exe', journal));
    const sorted = [...ms].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    const result = {
      zipBytes: size, zipMB: +(size / 1048576).toFixed(1), zipWithinBudget: size < ZIP_BUDGET,
      startToListenMs: { first: Math.round(ms[0]!), median: Math.round(median), max: Math.round(sorted.at(-1)!), all: ms.map(Math.round) },
      startWithinBudget: median < START_BUDGET_MS,
    };
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  } finally {
    w.destroy();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
