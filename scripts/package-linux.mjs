#!/usr/bin/env node
// `npm run package:linux`: the production artefact for a Samba AD DC (or any Linux host running the agent):
// dist/pwsync-<version>-linux-x64-node<major>.tar.gz holding the compiled agent and CLI, the production
// dependencies already built for this Node.js major (better-sqlite3 is a native addon), a launcher, the native
// Samba hook (libexec/pwsync-samba-hook, compiled here with the system gcc), the systemd units, the docs, third-party licence notices and a SHA-256 list. Installing it needs no compiler, no TypeScript
// and no network: see docs/operations-samba.md §2. Never packs the emulator, tests, benchmarks or dev dependencies.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSambaHook } from './build-samba-hook.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const major = process.versions.node.split('.')[0];
const name = `pwsync-${pkg.version}-linux-x64-node${major}`;
const stage = join(root, 'dist', 'package', 'pwsync');

function fail(msg) {
  process.stderr.write(`package-linux: ${msg}\n`);
  process.exit(1);
}

if (!existsSync(join(root, 'dist', 'src', 'cli', 'main.js'))) fail('dist/src is not built: run `npm run build` first');

// Needed only while installing better-sqlite3 (it fetches a prebuilt addon or starts a compile); never at run time.
const INSTALL_TIME_ONLY = new Set(['prebuild-install']);

/** Paths (node_modules/…) of the production packages the code needs at run time, as npm resolved them. */
function productionPackages() {
  const r = spawnSync('npm', ['ls', '--omit=dev', '--all', '--json'], { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) fail(`npm ls --omit=dev failed: ${r.stderr.trim().slice(-400)}`);
  const names = new Set();
  const visit = (deps = {}) => {
    for (const [name, node] of Object.entries(deps)) {
      if (INSTALL_TIME_ONLY.has(name) || names.has(name)) continue;
      names.add(name);
      visit(node.dependencies);
    }
  };
  visit(JSON.parse(r.stdout).dependencies);
  return [...names].sort().map((name) => `node_modules/${name}`);
}

// better-sqlite3 needs only its JavaScript and the compiled addon at run time: not the SQLite amalgamation, the C++
// sources or the object files of its build.
const ADDON = 'node_modules/better-sqlite3/';
function neededAtRunTime(rel) {
  if (!rel.startsWith(ADDON)) return true;
  const inner = rel.slice(ADDON.length);
  if (inner === 'deps' || inner.startsWith('deps/') || inner === 'src' || inner.startsWith('src/')) return false;
  if (!inner.startsWith('build')) return true;
  return ['build', 'build/Release', 'build/Release/better_sqlite3.node'].includes(inner);
}

rmSync(dirname(stage), { recursive: true, force: true });
mkdirSync(stage, { recursive: true });

cpSync(join(root, 'dist', 'src'), join(stage, 'lib'), { recursive: true, filter: (src) => !src.endsWith('.map') });
const deps = productionPackages();
// Each package is copied whole (a nested node_modules inside is its own production dependency), less build leftovers.
for (const dep of deps) {
  cpSync(join(root, dep), join(stage, dep), {
    recursive: true,
    filter: (src) => neededAtRunTime(relative(root, src)),
  });
}
if (!existsSync(join(stage, 'node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node')))
  fail('better-sqlite3 is not built in node_modules (npm ci first)');

writeFileSync(
  join(stage, 'package.json'),
  JSON.stringify({ name: 'pwsync', version: pkg.version, private: true, type: 'module', license: pkg.license, engines: pkg.engines, nodeAbi: process.versions.modules }, null, 2) + '\n',
);
mkdirSync(join(stage, 'bin'));
writeFileSync(
  join(stage, 'bin', 'pwsync'),
  `#!/bin/sh
# pwsync launcher (docs/operations-samba.md): runs the packaged agent and CLI with this machine's Node.js ${major}.x —
# the major version the package was built for (its SQLite addon is compiled for it). PWSYNC_NODE picks another binary.
here=$(dirname "$(readlink -f "$0")")
exec "\${PWSYNC_NODE:-node}" "$here/../lib/cli/main.js" "$@"
`,
);
chmodSync(join(stage, 'bin', 'pwsync'), 0o755);
// The program syncpasswords runs once per changed object (docs/operations-samba.md#the-hook).
const hookProblem = buildSambaHook(join(stage, 'libexec', 'pwsync-samba-hook'));
if (hookProblem) fail(`the Samba hook: ${hookProblem}`);
chmodSync(join(stage, 'libexec', 'pwsync-samba-hook'), 0o755);
cpSync(join(root, 'deploy', 'samba'), join(stage, 'deploy', 'samba'), { recursive: true });
cpSync(join(root, 'docs'), join(stage, 'docs'), { recursive: true });
cpSync(join(root, 'README.md'), join(stage, 'README.md'));

// Third-party notices: every production package's licence text, as shipped by the package itself.
const notices = [`pwsync ${pkg.version} (${pkg.license}) bundles these packages; their licences follow.\n`];
for (const dep of deps) {
  const meta = JSON.parse(readFileSync(join(root, dep, 'package.json'), 'utf8'));
  const file = readdirSync(join(root, dep)).find((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f));
  notices.push(`\n==== ${meta.name}@${meta.version} (${meta.license ?? 'see below'})\n`);
  notices.push(file ? readFileSync(join(root, dep, file), 'utf8') : '(the package ships no licence file; see its package.json)\n');
}
writeFileSync(join(stage, 'THIRD-PARTY-NOTICES.txt'), notices.join(''));

// SHA-256 of every file, in sha256sum's format (check with `sha256sum -c SHA256SUMS` inside the folder).
const sums = [];
const walk = (dir) => {
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) walk(p);
    else if (entry.isFile()) sums.push(`${createHash('sha256').update(readFileSync(p)).digest('hex')}  ${relative(stage, p)}`);
  }
};
walk(stage);
writeFileSync(join(stage, 'SHA256SUMS'), sums.join('\n') + '\n');

const tarball = join(root, 'dist', `${name}.tar.gz`);
const tar = spawnSync('tar', ['-czf', tarball, '--owner=0', '--group=0', '-C', dirname(stage), 'pwsync'], { stdio: 'inherit' });
if (tar.status !== 0) fail('tar failed');
process.stdout.write(`${relative(process.cwd(), tarball)}  (${(statSync(tarball).size / 1e6).toFixed(1)} MB, ${sums.length} files)\n`);
