// `pwsync demo`: the IIJ ID emulator and a real agent on temporary paths, one password change end to end,
// confirmed by the emulator. Active Directory is simulated by a fixed in-memory directory (no DC is needed);
// everything else — config files, socket, sealed SQLite outbox, delivery, SCIM requests — is the real thing.
// Its temporary directory holds a secret.yml and a sealed outbox: it is removed whenever the demo ends (normal exit,
// failure, Ctrl-C or SIGTERM), never left behind.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startAgent } from '../agent.js';
import { sendChange } from '../capture/intake-client.js';
import { loadConfig } from '../config/load.js';
import { StaticDirectory } from '../directory/static-directory.js';
import type { JournalEntry } from '../journal/journal.js';
import { parse } from './args.js';

const here = path.dirname(fileURLToPath(import.meta.url));

export async function demoCommand(argv: string[]): Promise<number> {
  const a = parse(argv, { once: { type: 'boolean' } });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pwsync-demo-'));
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  // Last resort for an exit that skips the finally below (an uncaught error, process.exit elsewhere).
  process.once('exit', removeDir);
  const stop = stopSignal(removeDir);
  try {
    return await runDemo(dir, Boolean(a.once), stop.requested);
  } finally {
    stop.dispose();
    removeDir();
    process.removeListener('exit', removeDir);
  }
}

/**
 * Resolves on the first SIGINT/SIGTERM so the demo can stop its agent and remove its files; a second signal removes
 * the files at once and exits (130) without waiting for a clean stop.
 */
function stopSignal(removeDir: () => void): { requested: Promise<string>; dispose(): void } {
  let count = 0;
  let resolve!: (signal: string) => void;
  const requested = new Promise<string>((r) => (resolve = r));
  const onSignal = (signal: NodeJS.Signals) => {
    count += 1;
    if (count > 1) {
      removeDir();
      process.exit(130);
    }
    resolve(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    requested,
    dispose() {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    },
  };
}

class DemoInterrupted extends Error {}

/** Awaits `work`, or throws DemoInterrupted as soon as a stop signal arrives. */
async function unlessStopped<T>(work: Promise<T>, stop: Promise<string>): Promise<T> {
  return Promise.race([work, stop.then((signal) => Promise.reject(new DemoInterrupted(signal)))]);
}

/** The IIJ ID emulator is a development tool: present in a checkout, absent from the production package. */
async function loadEmulator() {
  try {
    const { startEmulator } = await import('../../emulator/server.js');
    const { readSeedFile } = await import('../../emulator/seed-file.js');
    return { startEmulator, readSeedFile };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') return undefined;
    throw err;
  }
}

async function runDemo(dir: string, once: boolean, stop: Promise<string>): Promise<number> {
  const out = (s: string) => process.stdout.write(s + '\n');
  const emulatorModules = await loadEmulator();
  if (!emulatorModules) {
    out('pwsync demo runs from a source checkout (`npm ci && npm run demo`): the installed package has no emulator');
    return 2;
  }
  const { startEmulator, readSeedFile } = emulatorModules;
  const seed = await readSeedFile(path.resolve(here, '../../../emulator/seed.example.json'));
  const emulator = await startEmulator({ seed });
  let agent: Awaited<ReturnType<typeof startAgent>> | undefined;
  try {
    const token = emulator.addToken({ scopes: ['escim_read_users', 'escim_write_users'] });
    writeFileSync(
      path.join(dir, 'config.yml'),
      `# written by pwsync demo; see docs/configuration.md
agent:
  data_dir: ${dir}/data
  intake:
    socket: ${dir}/intake.sock
log:
  stderr: false
ad:
  ldap:
    server:
      addresses: [demo.invalid]   # the demo simulates AD in memory; pwsync run asks a real DC
      user: CN=pwsync-reader,CN=Users,DC=example,DC=test
    base_dn: DC=example,DC=test
targets:
  - name: iij
    type: iij
    url: ${emulator.scimBase}
queue:
  retry:
    initial: 1s
    max: 10s
console:
  port: 0
`,
      { mode: 0o600 },
    );
    const adminToken = randomBytes(18).toString('base64url');
    writeFileSync(path.join(dir, 'console-token'), adminToken + '\n', { mode: 0o600 });
    writeFileSync(
      path.join(dir, 'secret.yml'),
      `ad:\n  ldap:\n    server:\n      password: demo-not-used\ntargets:\n  iij:\n    access_token: ${token}\nconsole:\n  admin_token: ${adminToken}\n`,
      { mode: 0o600 },
    );

    const users = (seed.users ?? [])
      .filter((u) => u.externalId)
      .map((u, i) => ({ sAMAccountName: u.externalId!.split('@')[0]!, userPrincipalName: u.externalId!, guid: `00000000-0000-4000-8000-${String(i + 1).padStart(12, '0')}` }));
    const configFile = path.join(dir, 'config.yml');
    agent = await unlessStopped(startAgent(loadConfig(configFile), { directory: new StaticDirectory(users) }), stop);
    out(`pwsync demo`);
    out(`  IIJ ID emulator:  ${emulator.scimBase}  (${users.length} users seeded)`);
    out(`  agent:            intake ${agent.socketPath}, outbox ${dir}/data/outbox.sqlite (sealed)`);
    out(`  journal:          ${dir}/data/journal.jsonl`);
    out(`  files:            ${dir}  (config, secret.yml, sealed outbox: removed when the demo stops)`);
    if (agent.console) out(`  console:          ${agent.console.url}  (admin token in ${dir}/console-token)`);
    const running = agent;
    running.journal.on('event', (e: JournalEntry) => {
      if (e.level !== 'debug') out(`  event ${e.id} ${e.msg}${e.account ? ` [${String(e.account)}${e.target ? ` → ${String(e.target)}` : ''}]` : ''}`);
    });

    // A fresh random password that fits IIJ's default policy; it is never printed.
    const password = `Demo-${randomBytes(6).toString('base64url')}7a`;
    const synced = running.journal.waitFor((e) => e.id === 3000 && e.account === 'alice', 20_000);
    out(`submitting a password change for alice (as a domain controller would) …`);
    const reply = await unlessStopped(sendChange(agent.socketPath, { v: 1, type: 'change', source: 'cli', dc: 'demo-dc', account: 'alice', capturedAt: new Date().toISOString(), password }), stop);
    let ok = false;
    if (!reply.ok) out(`the agent refused it: ${reply.message}`);
    else {
      try {
        const ev = await unlessStopped(synced, stop);
        const check = await emulator.verifyPassword({ externalId: 'alice@example.test' }, password);
        ok = check.match;
        out(ok ? `✔ delivered in ${String(ev.latencyMs)} ms — the emulator confirms alice@example.test now has the new password` : `✘ the emulator does not have the new password`);
      } catch (err) {
        if (err instanceof DemoInterrupted) throw err;
        out(`✘ not delivered: ${(err as Error).message}`);
      }
    }

    if (!once && ok) {
      out(`
Try more (the agent keeps running until Ctrl-C, which stops it and removes ${dir}):
  printf '%s\\n' 'An0ther-Passw0rd' | node ${path.relative(process.cwd(), path.resolve(here, 'main.js'))} submit --config ${configFile} --account bob
  node ${path.relative(process.cwd(), path.resolve(here, 'main.js'))} status --config ${configFile}
  users: ${users.map((u) => u.sAMAccountName).join(', ')} (dave is pending deletion at IIJ: watch it wait)`);
      await stop;
    }
    return ok ? 0 : 1;
  } catch (err) {
    if (!(err instanceof DemoInterrupted)) throw err;
    out(`stopped (${err.message}): removing ${dir}`);
    return 130;
  } finally {
    await agent?.stop();
    await emulator.close();
  }
}
