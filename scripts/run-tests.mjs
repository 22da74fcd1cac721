#!/usr/bin/env node
// The project's test entry (`npm test`): starts a throwaway Samba AD DC when samba is installed, runs
// `node --test`, ALWAYS stops the DC it started, and exits with node --test's exit code.
// Never reuses a DC without saying so, and never hides a DC start failure in CI.
//
//   npm test                         all of dist/test/
//   npm test -- dist/test/unit       only these paths (any extra argv replaces dist/test/)
//   PWSYNC_TEST_DC=/x/env.json npm test   use that running DC, do not start or stop one

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dcScript = join(root, 'scripts', 'samba-dc.sh');
const ci = process.env.CI === 'true';
const say = (msg) => process.stderr.write(`run-tests: ${msg}\n`);

function hasSamba() {
  return spawnSync('sh', ['-c', 'command -v samba || test -x /usr/sbin/samba'], { stdio: 'ignore' }).status === 0;
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The DC another DIR already runs on this machine (one DC per machine: fixed ports), if any. */
function runningDc() {
  try {
    const dir = readFileSync('/run/samba/pwsync-dc.dir', 'utf8').trim();
    const env = join(dir, 'env.json');
    const pid = Number(readFileSync(join(dir, 'samba.pid'), 'utf8'));
    return alive(pid) && existsSync(env) ? { dir, env } : undefined;
  } catch {
    return undefined;
  }
}

function tail(file, lines = 40) {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return `(no ${file})`;
  }
}

let startedDir; // the DC this run started and must stop
const env = { ...process.env };

if (env.PWSYNC_TEST_DC) {
  say(`using the DC named by PWSYNC_TEST_DC=${env.PWSYNC_TEST_DC} (not started or stopped by this run)`);
} else if (hasSamba() || ci) {
  const other = runningDc();
  const dir = join(process.env.TMPDIR || tmpdir(), 'pwsync-test-dc');
  if (other && other.dir !== dir) {
    say(`a DC from ${other.dir} is already running (one DC per machine): reusing it, not stopping it`);
    env.PWSYNC_TEST_DC = other.env;
  } else {
    // Fresh directory every run: stop a leftover DC from a crashed run first, then provision from scratch.
    spawnSync('bash', [dcScript, 'stop', dir], { stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
    startedDir = dir;
    const t0 = Date.now();
    const r = spawnSync('bash', [dcScript, 'start', dir], { stdio: ['ignore', 'inherit', 'inherit'] });
    if (r.status === 0) {
      say(`Samba AD DC up in ${((Date.now() - t0) / 1000).toFixed(1)} s (${dir})`);
      env.PWSYNC_TEST_DC = join(dir, 'env.json');
    } else {
      say(`starting the Samba AD DC FAILED (exit ${r.status ?? r.signal})`);
      for (const f of ['log/samba.out', 'log/provision.log', 'log/fixtures.log']) process.stderr.write(`--- ${f}\n${tail(join(dir, f))}\n`);
      if (ci) say('CI=true: running the tests anyway; every test that needs the DC will FAIL');
      else say('DC tests will be skipped');
    }
  }
} else {
  say('samba is not installed: tests that need a Samba AD DC will be skipped (set CI=true to make them fail)');
}

function stopDc() {
  if (!startedDir) return;
  const dir = startedDir;
  startedDir = undefined;
  // Quiet on success: node's test summary must stay the last lines of the output.
  const r = spawnSync('bash', [dcScript, 'stop', dir], { encoding: 'utf8' });
  if (r.status !== 0) process.stderr.write(`run-tests: stopping the DC failed:\n${r.stderr}\n`);
}

/**
 * Test files under the given paths. Directories are expanded here, not by node --test: Node 20 walks a directory
 * argument, Node 22 takes arguments as file globs, and the same command must run the same files on both.
 */
function testFiles(args) {
  const files = [];
  for (const arg of args) {
    const abs = join(root, arg);
    if (!existsSync(abs) || !statSync(abs).isDirectory()) {
      files.push(arg);
      continue;
    }
    for (const entry of readdirSync(abs, { recursive: true, withFileTypes: true })) {
      if (entry.isFile() && entry.name.endsWith('.test.js')) files.push(join(entry.parentPath, entry.name));
    }
  }
  return files.sort();
}

const paths = testFiles(process.argv.length > 2 ? process.argv.slice(2) : ['dist/test/']);
const child = spawn(process.execPath, ['--test', '--test-concurrency=2', ...paths], {
  cwd: root,
  env,
  stdio: 'inherit',
});

let interrupted;
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    interrupted = sig;
    // The terminal may already have sent it to the child too; a second signal is harmless.
    if (child.exitCode === null) child.kill(sig);
  });
}

child.on('exit', (code, signal) => {
  stopDc();
  if (interrupted) process.exit(128 + ({ SIGINT: 2, SIGTERM: 15, SIGHUP: 1 }[interrupted] ?? 0));
  process.exit(code ?? (signal ? 1 : 0));
});
child.on('error', (err) => {
  say(`cannot run node --test: ${err.message}`);
  stopDc();
  process.exit(1);
});
