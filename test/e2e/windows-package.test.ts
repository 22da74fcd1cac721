// End to end on the Windows package under Wine: the zip from `npm run package:windows` is unpacked into a fresh
// Windows 10 prefix, installed with its own installer, configured against the real Samba AD DC (LDAPS) and the IIJ
// emulator, and driven through pwfilt.dll the way LSA calls it: pipe delivery, agent stopped → DPAPI spool →
// agent started → delivered oldest first, status empty, uninstall. No test password may end up in any file.
// Skips without Wine/mingw-w64 or a DC, except under CI=true where that is a failure.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startEmulator } from '../../emulator/server.js';
import type { Emulator } from '../../emulator/types.js';
import { adminClient, createUser, sambaDcForSuite, uniqueName, type SambaDcInfo } from '../support/samba.js';
import { waitForJournal } from '../support/stack.js';
import { findPlaintext, listFiles } from './passfilt-wine.js';
import { buildWineFilter, ensureWindowsPackage, harnessExe, missingWindowsTools, WinePrefix } from './windows-package-wine.js';

const missing = missingWindowsTools();
if (missing.length > 0 && process.env.CI === 'true') throw new Error(`CI=true but ${missing.join(', ')} not found: see .ci/run's apt line`);

const DATA = 'C:\\ProgramData\\pwsync';
const INSTALL = 'C:\\Program Files\\pwsync';
const LSA = 'HKLM\\SYSTEM\\CurrentControlSet\\Control\\Lsa';
const EVENTLOG = 'HKLM\\SYSTEM\\CurrentControlSet\\Services\\EventLog\\Application\\pwsync-filter';

describe('Windows package under Wine: install, pipe, spool, service, uninstall', { skip: missing.length ? `missing ${missing.join(', ')}` : false, timeout: 600_000 }, () => {
  let dc: SambaDcInfo | undefined;
  let w: WinePrefix;
  let emulator: Emulator;
  let unpacked: string;
  let wineDll: string;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'pwsync-winpkg-work-'));
  const passwords: string[] = [];
  const pw = (label: string) => {
    // IIJ ID accepts printable ASCII only, 8-24 characters (the UTF-16 paths are covered by passfilt.test.ts).
    const p = `Wp-${label}-${randomBytes(5).toString('hex')}!A`;
    passwords.push(p);
    return p;
  };
  const journal = () => w.linux(`${DATA}\\journal.jsonl`);
  const winExe = (name: string) => `${INSTALL}\\${name}`;

  before(async () => {
    dc = sambaDcForSuite();
    if (!dc) return;
    const zip = ensureWindowsPackage();
    assert.ok(fs.statSync(zip).size < 60 * 1024 * 1024, 'the zip stays under 60 MB');
    unpacked = unzipInto(zip, work);
    wineDll = buildWineFilter(path.join(work, 'wine-filter'));
    [w, emulator] = await Promise.all([WinePrefix.create(), startEmulator({})]);
  });

  after(async () => {
    // PWSYNC_KEEP_WINE=1 keeps the prefix for a post-mortem (its path is printed); wineserver is stopped either way.
    if (process.env.PWSYNC_KEEP_WINE === '1' && w) process.stderr.write(`kept Wine prefix ${w.prefix}\n`);
    else w?.destroy();
    await emulator?.close();
    fs.rmSync(work, { recursive: true, force: true });
  });

  test('the package: SHA256SUMS covers every file; pwsync.exe is a Windows x64 executable with the agent inside', (t) => {
    if (!dc) return t.skip('no Samba AD DC');
    const sums = fs.readFileSync(path.join(unpacked, 'SHA256SUMS'), 'utf8').trim().split('\n');
    const listed = new Map(sums.map((l) => [l.slice(66), l.slice(0, 64)]));
    const files = fs.readdirSync(unpacked).filter((f) => f !== 'SHA256SUMS').sort();
    assert.deepEqual([...listed.keys()].sort(), files);
    for (const f of files) assert.equal(createHash('sha256').update(fs.readFileSync(path.join(unpacked, f))).digest('hex'), listed.get(f), f);
    for (const f of ['pwsync.exe', 'pwsync-service.exe', 'pwfilt.dll', 'install.cmd', 'uninstall.cmd', 'config.yml', 'secret.yml', 'THIRD-PARTY-NOTICES.txt'])
      assert.ok(files.includes(f), `${f} in the package`);
    const exe = fs.readFileSync(path.join(unpacked, 'pwsync.exe'));
    assert.equal(exe.subarray(0, 2).toString('latin1'), 'MZ');
    assert.ok(exe.includes(Buffer.from('NODE_SEA_BLOB')), 'the SEA blob is injected');
    assert.ok(!exe.includes(Buffer.from('scimmy')), 'the emulator (and its SCIM library) is not bundled');
    assert.match(fs.readFileSync(path.join(unpacked, 'THIRD-PARTY-NOTICES.txt'), 'utf8'), /Node\.js 22\.[\s\S]*ldapts [\s\S]*zod /);
  });

  test('install, check, service, pipe delivery, DPAPI spool replayed oldest first, status, uninstall', async (t) => {
    if (!dc) return t.skip('no Samba AD DC');
    // A real DC lists other notification packages; the installer must append, the uninstaller remove only ours.
    assert.equal((await w.wine(['reg', 'add', LSA, '/v', 'Notification Packages', '/t', 'REG_MULTI_SZ', '/d', 'scecli', '/f'])).code, 0);

    // --- install from the unpacked zip (Wine maps Z: to /)
    const setup = await w.wine([`Z:${unpacked.replaceAll('/', '\\')}\\pwsync-service.exe`, 'install']);
    assert.equal(setup.code, 0, setup.out);
    assert.match(setup.out, /pwfilt added/);
    assert.equal(await w.regValue(LSA, 'Notification Packages'), 'scecli\\0pwfilt');
    assert.equal(await w.regValue('HKLM\\SOFTWARE\\pwsync', 'Enabled'), '0x1');
    assert.equal(await w.regValue(EVENTLOG, 'EventMessageFile'), '%SystemRoot%\\System32\\pwfilt.dll');
    assert.equal(await w.regValue(EVENTLOG, 'TypesSupported'), '0x7');
    // Wine's sc.exe has no `qc`: the SCM's own registry entry says the same.
    const svcKey = 'HKLM\\SYSTEM\\CurrentControlSet\\Services\\pwsync';
    assert.equal(await w.regValue(svcKey, 'Start'), '0x2', 'automatic start');
    assert.equal(await w.regValue(svcKey, 'ImagePath'), `"${INSTALL}\\pwsync-service.exe" service --config "${DATA}\\config.yml"`);
    assert.equal(await w.regValue(svcKey, 'ObjectName'), 'LocalSystem');
    // The SCM failure actions (restart after 5 s, 30 s, 60 s) are set with ChangeServiceConfig2W; Wine accepts the
    // call but keeps nothing, so they are only reviewed (docs/operations-windows.md). The host's own restart of the
    // agent is what this test can see.
    assert.ok(fs.existsSync(w.linux('C:\\windows\\system32\\pwfilt.dll')));
    assert.ok(fs.existsSync(w.linux(`${DATA}\\config.yml`)), 'the config template is in place');
    // Installing again (an upgrade) keeps one entry and the operator's config.
    const again = await w.wine([`Z:${unpacked.replaceAll('/', '\\')}\\pwsync-service.exe`, 'install']);
    assert.equal(again.code, 0, again.out);
    assert.match(again.out, /pwfilt already listed/);
    assert.equal(await w.regValue(LSA, 'Notification Packages'), 'scecli\\0pwfilt');

    // --- configure against the real DC and the emulator
    const name = uniqueName('winpkg');
    const externalId = `${name}@${dc.realm.toLowerCase()}`;
    const dn = await createUser(dc, name);
    const rid = await ridOf(dc, dn); // LSA passes the account's RID; the agent looks the user up by it
    await emulator.addUser({ userName: `${name}@example.jp`, externalId });
    const token = emulator.addToken({ scopes: ['escim_read_users', 'escim_write_users'] });
    fs.copyFileSync(dc.caFile, w.linux(`${DATA}\\ad-ca.pem`));
    fs.writeFileSync(w.linux(`${DATA}\\config.yml`), windowsConfig(dc, emulator.scimBase));
    fs.writeFileSync(w.linux(`${DATA}\\secret.yml`), `ad:\n  ldap:\n    server:\n      password: '${dc.readerPassword}'\ntargets:\n  iij:\n    access_token: ${token}\n`);

    const check = await w.wine([winExe('pwsync.exe'), 'check', '--config', `${DATA}\\config.yml`], 120_000);
    assert.equal(check.code, 0, `pwsync.exe check failed:\n${check.out}`);

    // --- the service: started by Wine's SCM, agent supervised by pwsync-service.exe
    const startedAt = Date.now();
    const started = await w.startService('pwsync');
    assert.equal(started.code, 0, `sc start failed:\n${started.out}`);
    const listening = await waitForJournal(journal(), (e) => e.id === 2004 && Date.parse(String(e.ts)) >= startedAt - 1000, 60_000);
    t.diagnostic(`service start until the pipe listens: ${Date.parse(String(listening.ts)) - startedAt} ms (Wine process start included)`);
    await w.waitForService('pwsync', 'RUNNING');

    // --- 1. the production pwfilt.dll: under Wine its pipe server is not LocalSystem, so it must refuse to talk
    //     and keep the change in its DPAPI spool instead (what a squatter on \\.\pipe\pwsync would also get).
    const spoolDir = w.linux(`${DATA}\\spool`);
    const p0 = pw('p0');
    const prod = w.spawnWithStdin([harnessExe(), 'C:\\windows\\system32\\pwfilt.dll', 'stdin']);
    prod.child.stdin!.write(`${name}\t${rid}\t${p0}\n`);
    await waitFor(() => spoolFiles(spoolDir).length === 1, 30_000, 'the production DLL spools the change (server not LocalSystem)');
    prod.child.stdin!.end();
    assert.equal(await prod.exited, 0, prod.output());
    assert.equal((await emulator.verifyPassword({ externalId }, p0)).match, false, 'nothing reached the agent over the pipe');

    // --- 2. the same filter sources with only the LocalSystem answer swapped: the pipe delivers, and the change
    //     the production DLL spooled is replayed first (same spool, DPAPI machine scope).
    fs.mkdirSync(w.linux('C:\\pwsync-test'), { recursive: true });
    fs.copyFileSync(wineDll, w.linux('C:\\pwsync-test\\pwfilt.dll'));
    const lsa = w.spawnWithStdin([harnessExe(), 'C:\\pwsync-test\\pwfilt.dll', 'stdin']);
    t.after(() => void lsa.child.kill());
    const p1 = pw('p1');
    lsa.child.stdin!.write(`${name}\t${rid}\t${p1}\n`);
    await waitForJournal(journal(), (e) => e.id === 3000 && e.account === name.toLowerCase() && Date.parse(String(e.ts)) >= startedAt, 60_000);
    await waitFor(async () => (await emulator.verifyPassword({ externalId }, p1)).match, 30_000, 'the emulator has the password sent over the pipe');
    assert.equal(spoolFiles(spoolDir).length, 0, 'the spool was replayed and emptied');

    // --- 2b. the agent dies (kill -9 of its Wine process): the service host starts it again (backoff 1 s)
    const victim = winePids(w.prefix, 'pwsync.exe run');
    assert.equal(victim.length, 1, `one agent process in this prefix: ${victim.join(', ')}`);
    const killedAt = Date.now();
    process.kill(victim[0]!, 'SIGKILL');
    await waitForJournal(journal(), (e) => e.id === 2004 && Date.parse(String(e.ts)) >= killedAt, 60_000);
    assert.match(fs.readFileSync(w.linux(`${DATA}\\agent-output.log`), 'utf8'), /agent exited on its own \(exit code \d+\); restarting in 1000 ms/);
    assert.equal(await w.serviceState('pwsync'), 'RUNNING');

    // --- 3. agent stopped → spool → agent started → delivered, oldest first
    assert.equal((await w.wine(['sc', 'stop', 'pwsync'])).code, 0);
    await w.waitForService('pwsync', 'STOPPED');
    const stopped = fs.readFileSync(w.linux(`${DATA}\\agent-output.log`), 'utf8');
    assert.match(stopped, /"msg":"Agent stopped"/, 'the agent stopped cleanly on stdin EOF');
    assert.match(stopped, /agent stopped \(exit code 0\)/);
    // The ACL check ran: Wine's icacls is a stub, so it could only say what it could not check.
    assert.match(stopped, /Wine's icacls reports no access rights; not checked: C:\\ProgramData\\pwsync, C:\\ProgramData\\pwsync\\secret\.yml/);
    const [p2, p3] = [pw('p2'), pw('p3')];
    lsa.child.stdin!.write(`${name}\t${rid}\t${p2}\n`);
    lsa.child.stdin!.write(`${name}\t${rid}\t${p3}\n`);
    await waitFor(() => spoolFiles(spoolDir).length === 2, 30_000, 'both changes spooled while the agent is down');
    const restartAt = Date.now();
    const restarted = await w.startService('pwsync');
    assert.equal(restarted.code, 0, `sc start after the stop failed:\n${restarted.out}`);
    await waitFor(async () => (await emulator.verifyPassword({ externalId }, p3)).match, 90_000, 'the newest password reaches the emulator');
    await waitFor(() => spoolFiles(spoolDir).length === 0, 30_000, 'the spool is empty after the replay');
    assert.equal((await emulator.verifyPassword({ externalId }, p2)).match, false, 'the older password never overwrote the newer one');
    const captures = readJournalSince(journal(), restartAt).filter((e) => e.id === 2000 && e.account === name.toLowerCase());
    assert.equal(captures.length, 2, 'both spooled changes were taken in');
    lsa.child.stdin!.end();
    assert.equal(await lsa.exited, 0);

    // --- 4. status: nothing left in the queue
    const status = await w.wine([winExe('pwsync.exe'), 'status', '--config', `${DATA}\\config.yml`, '--json']);
    assert.equal(status.code, 0, status.out);
    const report = JSON.parse(status.out.slice(status.out.indexOf('{'))) as { counts: Record<string, number> };
    for (const s of ['pending', 'waiting', 'inflight']) assert.equal(report.counts[s] ?? 0, 0, `no ${s} change: ${JSON.stringify(report.counts)}`);

    // --- 5. uninstall: everything it added goes, the data directory and Enabled=0 stay
    const un = await w.wine([winExe('pwsync-service.exe'), 'uninstall'], 120_000);
    assert.equal(un.code, 0, un.out);
    assert.match(un.out, /Kept, on purpose/);
    assert.equal(await w.serviceState('pwsync'), undefined, 'the service is gone');
    assert.equal(await w.regValue(LSA, 'Notification Packages'), 'scecli', 'only pwfilt was removed');
    assert.equal(await w.regValue('HKLM\\SOFTWARE\\pwsync', 'Enabled'), '0x0');
    assert.equal(await w.regValue(EVENTLOG, 'TypesSupported'), undefined, 'the event source is removed');
    assert.ok(fs.existsSync(w.linux(`${DATA}\\agent.key`)), 'the data directory is kept');

    // --- 6. no test password in any file of the prefix (a canary proves the scan finds what is there)
    fs.writeFileSync(w.linux('C:\\canary.txt'), `canary ${passwords[0]}`);
    const hits = findPlaintext(w.prefix, passwords);
    assert.deepEqual(hits.filter((h) => !h.includes('canary.txt')), [], 'a test password is in a file of the prefix');
    assert.ok(hits.some((h) => h.includes('canary.txt')), 'the scan found the canary');
    assert.ok(listFiles(w.linux(DATA)).length > 0);
  });
});

function unzipInto(zip: string, into: string): string {
  const r = spawnSync('unzip', ['-q', zip, '-d', into], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`unzip failed: ${r.stderr}`);
  const dir = fs.readdirSync(into).find((d) => d.endsWith('-win-x64'));
  if (!dir) throw new Error(`no *-win-x64 folder in ${zip}`);
  return path.join(into, dir);
}

async function ridOf(dc: SambaDcInfo, dn: string): Promise<number> {
  const c = await adminClient(dc);
  try {
    const { searchEntries } = await c.search(dn, { scope: 'base', attributes: ['objectSid'], explicitBufferAttributes: ['objectSid'] });
    const sid = searchEntries[0]?.objectSid;
    if (!Buffer.isBuffer(sid)) throw new Error(`no objectSid for ${dn}`);
    return sid.readUInt32LE(sid.length - 4);
  } finally {
    await c.unbind().catch(() => undefined);
  }
}

/** Linux PIDs of this prefix's Wine processes whose command line contains `needle`. */
function winePids(prefix: string, needle: string): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (!cmd.includes(needle)) continue;
      if (fs.readFileSync(`/proc/${d}/environ`, 'utf8').split('\0').includes(`WINEPREFIX=${prefix}`)) out.push(Number(d));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return out;
}

function spoolFiles(dir: string): string[] {
  try {
    return fs.readdirSync(dir).filter((f) => f.endsWith('.pws'));
  } catch {
    return [];
  }
}

function readJournalSince(file: string, since: number): Array<Record<string, unknown>> {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((e) => Date.parse(String(e.ts)) >= since);
}

/** Re-checks `cond` (a file listing or an emulator lookup) until it holds or the deadline passes. */
async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function windowsConfig(dc: SambaDcInfo, scimBase: string): string {
  return `agent:
  data_dir: 'C:\\ProgramData\\pwsync'
  intake:
    socket: '\\\\.\\pipe\\pwsync'
  concurrency: 2
log:
  loglevel: debug
ad:
  ldap:
    server:
      addresses: [${dc.host}]
      port: ${dc.ldapsPort}
      user: '${dc.readerDn}'
      encryption: ldaps
      ca_file: 'C:\\ProgramData\\pwsync\\ad-ca.pem'
      tls_servername: ${dc.tlsServername}
    base_dn: 'OU=Staff,${dc.baseDn}'
targets:
  - name: iij
    type: iij
    url: ${scimBase}
    timeout: 5s
queue:
  retry:
    initial: 200ms
    max: 2s
console:
  enabled: false
`;
}
