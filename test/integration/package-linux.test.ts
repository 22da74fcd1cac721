// The documented production install for a Samba DC (docs/operations-samba.md §2), run as written in a temporary
// directory: the tarball `npm run package:linux` builds is unpacked, verified, linked and started — no compiler, no
// TypeScript, no npm on the "DC" — and the installed agent and CLI deliver a change to the emulator for real.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createUser, sambaDcForSuite, uniqueName, type SambaDcInfo } from '../support/samba.js';
import { filesContaining, makeStack, spawnAgent, waitForJournal, type ChildAgent, type Stack } from '../support/stack.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const DOC = path.join(root, 'docs', 'operations-samba.md');

/** The shell lines of the block under `<!-- install:linux -->` in the Samba operations guide. */
function documentedInstall(): string[] {
  const doc = readFileSync(DOC, 'utf8');
  const m = /<!-- install:linux -->\n```sh\n([\s\S]*?)```/.exec(doc);
  assert.ok(m, 'docs/operations-samba.md has the install:linux block');
  return m[1]!.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}

describe('production install on a Linux DC, as documented', () => {
  let work: string;
  let installed: string;
  let launcher: string;
  let dc: SambaDcInfo | undefined;
  let stack: Stack | undefined;
  let agent: ChildAgent | undefined;

  before(() => {
    work = mkdtempSync(path.join(os.tmpdir(), 'pwsync-install-'));
    // The build step of the docs is `npm ci && npm run package:linux`; npm test already ran `npm ci` and the build,
    // and rebuilding dist/ under tests that are running would race them, so only the packaging step runs here.
    const scripts = (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    assert.equal(scripts['package:linux'], 'npm run build --silent && node scripts/package-linux.mjs');
    const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'package-linux.mjs')], { cwd: root, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const major = process.versions.node.split('.')[0];
    const tarball = path.join(root, 'dist', readdirSync(path.join(root, 'dist')).find((f) => f.endsWith(`-linux-x64-node${major}.tar.gz`))!);
    copyFileSync(tarball, path.join(work, path.basename(tarball)));
    dc = sambaDcForSuite();
  });

  after(async () => {
    agent?.proc.kill('SIGTERM');
    await agent?.exited;
    await stack?.emulator.close();
    rmSync(work, { recursive: true, force: true });
  });

  test('every documented install line works when pasted (paths moved into a temporary root)', () => {
    const fakeRoot = path.join(work, 'root');
    mkdirSync(path.join(fakeRoot, 'opt'), { recursive: true });
    mkdirSync(path.join(fakeRoot, 'usr/local/bin'), { recursive: true });
    const lines = documentedInstall();
    assert.ok(lines.length >= 3 && lines.at(-1) === 'pwsync --help', `the block ends by starting pwsync --help: ${lines.join(' | ')}`);
    for (const line of lines) {
      const moved = line.replaceAll('/opt', `${fakeRoot}/opt`).replaceAll('/usr/local/bin', `${fakeRoot}/usr/local/bin`);
      const r = spawnSync('bash', ['-euo', 'pipefail', '-c', moved], {
        cwd: work,
        encoding: 'utf8',
        env: { ...process.env, PATH: `${fakeRoot}/usr/local/bin:${process.env.PATH ?? ''}` },
      });
      assert.equal(r.status, 0, `"${line}" failed (exit ${String(r.status)}):\n${r.stdout}${r.stderr}`);
      if (line === 'pwsync --help') assert.match(r.stdout, /^Usage:\n {2}pwsync run /m);
    }
    installed = path.join(fakeRoot, 'opt', 'pwsync');
    launcher = path.join(installed, 'bin', 'pwsync');
  });

  test('the package holds what runs and nothing a DC must not get', () => {
    assert.ok(installed, 'installed by the previous test');
    const files = listFiles(installed);
    assert.ok(files.includes('lib/cli/main.js'));
    assert.ok(files.includes('node_modules/better-sqlite3/build/Release/better_sqlite3.node'), 'the SQLite addon comes built');
    assert.ok(files.includes('THIRD-PARTY-NOTICES.txt') && files.includes('SHA256SUMS'));
    assert.ok(files.includes('deploy/samba/pwsync-agent.service'));
    // The native Samba hook, built for this machine: syncpasswords runs it without arguments.
    assert.ok(files.includes('libexec/pwsync-samba-hook'), 'the Samba hook is shipped');
    const hook = spawnSync(path.join(installed, 'libexec', 'pwsync-samba-hook'), ['--help'], { encoding: 'utf8' });
    assert.equal(hook.status, 1);
    assert.match(hook.stderr, /^pwsync-samba-hook: takes no arguments/);
    const forbidden = files.filter((f) => /^lib\/.*\.ts$|^node_modules\/(typescript|playwright-core|scimmy|express|@types)\/|^(emulator|test|bench)\/|^node_modules\/prebuild-install\/|better-sqlite3\/deps\//.test(f));
    assert.deepEqual(forbidden, []);
    const notices = readFileSync(path.join(installed, 'THIRD-PARTY-NOTICES.txt'), 'utf8');
    for (const dep of ['ldapts', 'better-sqlite3', 'undici', 'zod', 'yaml', 'prom-client']) assert.match(notices, new RegExp(`==== ${dep}@`));
    const demo = spawnSync(launcher, ['demo', '--once'], { encoding: 'utf8' });
    assert.equal(demo.status, 2);
    assert.match(demo.stdout, /runs from a source checkout/);
  });

  test('the installed agent and CLI deliver a change from the real DC to the emulator', async (t) => {
    if (!dc) return t.skip();
    assert.ok(launcher, 'installed by the first test');
    stack = await makeStack(dc);
    agent = spawnAgent(stack.configFile, [launcher]);
    const journal = path.join(stack.dir, 'data', 'journal.jsonl');
    await waitForJournal(journal, (e) => e.id === 2004);
    const name = uniqueName('pkg');
    await createUser(dc, name);
    await stack.emulator.addUser({ userName: `${name}@example.jp`, externalId: `${name}@example.test` });
    const password = `Pkg-${Math.random().toString(36).slice(2, 10)}9Z`;
    const r = spawnSync(launcher, ['submit', '--config', stack.configFile, '--account', name], { input: `${password}\n`, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const id = r.stdout.trim();
    await waitForJournal(journal, (e) => e.id === 3000 && e.change === id);
    assert.equal((await stack.emulator.verifyPassword({ externalId: `${name}@example.test` }, password)).match, true);
    assert.deepEqual(filesContaining(installed, [password]), [], 'no password inside the installation');
    assert.deepEqual(filesContaining(stack.dir, [password]), [], 'no password in the data directory or journal');
    assert.ok(existsSync(path.join(stack.dir, 'data', 'outbox.sqlite')));
  });
});
