// `pwsync demo`: the IIJ ID emulator and a real agent on temporary paths, one password change end to end,
// confirmed by the emulator. Active Directory is simulated by a fixed in-memory directory (no DC is needed);
// everything else — config files, socket, sealed SQLite outbox, delivery, SCIM requests — is the real thing.

import { mkdtempSync, writeFileSync } from 'node:fs';
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
  const { startEmulator } = await import('../../emulator/server.js');
  const { readSeedFile } = await import('../../emulator/seed-file.js');
  const seed = await readSeedFile(path.resolve(here, '../../../emulator/seed.example.json'));
  const emulator = await startEmulator({ seed });
  const token = emulator.addToken({ scopes: ['escim_read_users', 'escim_write_users'] });

  const dir = mkdtempSync(path.join(os.tmpdir(), 'pwsync-demo-'));
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
  const agent = await startAgent(loadConfig(configFile), { directory: new StaticDirectory(users) });
  const out = (s: string) => process.stdout.write(s + '\n');
  out(`pwsync demo`);
  out(`  IIJ ID emulator:  ${emulator.scimBase}  (${users.length} users seeded)`);
  out(`  agent:            intake ${agent.socketPath}, outbox ${dir}/data/outbox.sqlite (sealed)`);
  out(`  journal:          ${dir}/data/journal.jsonl`);
  if (agent.console) out(`  console:          ${agent.console.url}  (admin token in ${dir}/console-token)`);
  agent.journal.on('event', (e: JournalEntry) => {
    if (e.level !== 'debug') out(`  event ${e.id} ${e.msg}${e.account ? ` [${String(e.account)}${e.target ? ` → ${String(e.target)}` : ''}]` : ''}`);
  });

  // A fresh random password that fits IIJ's default policy; it is never printed.
  const password = `Demo-${randomBytes(6).toString('base64url')}7a`;
  const synced = agent.journal.waitFor((e) => e.id === 3000 && e.account === 'alice', 20_000);
  out(`submitting a password change for alice (as a domain controller would) …`);
  const reply = await sendChange(agent.socketPath, { v: 1, type: 'change', source: 'cli', dc: 'demo-dc', account: 'alice', capturedAt: new Date().toISOString(), password });
  let ok = false;
  if (!reply.ok) out(`the agent refused it: ${reply.message}`);
  else {
    try {
      const ev = await synced;
      const check = await emulator.verifyPassword({ externalId: 'alice@example.test' }, password);
      ok = check.match;
      out(ok ? `✔ delivered in ${String(ev.latencyMs)} ms — the emulator confirms alice@example.test now has the new password` : `✘ the emulator does not have the new password`);
    } catch (err) {
      out(`✘ not delivered: ${(err as Error).message}`);
    }
  }

  if (!a.once && ok) {
    out(`
Try more (the agent keeps running until Ctrl-C):
  printf '%s\\n' 'An0ther-Passw0rd' | node ${path.relative(process.cwd(), path.resolve(here, 'main.js'))} submit --config ${configFile} --account bob
  node ${path.relative(process.cwd(), path.resolve(here, 'main.js'))} status --config ${configFile}
  users: ${users.map((u) => u.sAMAccountName).join(', ')} (dave is pending deletion at IIJ: watch it wait)`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
  }
  await agent.stop();
  await emulator.close();
  return ok ? 0 : 1;
}
