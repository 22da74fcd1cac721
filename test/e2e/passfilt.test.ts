// The Windows password filter (native/passfilt) end to end: built with mingw-w64, driven by its harness under
// Wine the way LSA calls it, talking to the agent's real frame handling over the test build's TCP transport.
// Skips without mingw-w64/Wine, except under CI=true where a missing tool is a failure.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { RefusedChangeError, StorageError } from '../../src/errors.js';
import { RecordingIntake, deadPort, startAgent, startHungAgent, type TestAgent } from './passfilt-intake.js';
import {
  WineBox,
  buildPassfilt,
  findPlaintext,
  missingTools,
  objdumpImportsAndExports,
  repoRoot,
  type RunResult,
} from './passfilt-wine.js';

const TEST_DLL = 'pwfilt-test.dll';
/** Short deadlines for the test build only (production: 5 s ack, 10 s between probes). */
const FAST = { PWSYNC_TEST_ACK_MS: '300', PWSYNC_TEST_RETRY_MS: '200' };

// Every password the harness uses, or a distinctive part of it; none may be found in any file the DLL wrote.
const PLAINTEXTS = [
  'N\u00e9wPassw0rd!',
  'p\u00e4ss\u{1F600}w"o\\rd',
  'cd-Unpaired1',
  'x-Unpaired2',
  'Long-Name-Pw-1!',
  'Odd-Pw-7!',
  'Krbtgt-Secret-502!',
  'Krbtgt-Secret-UP!',
  'Krbtgt-Secret-123!',
  'Host-Secret-1!',
  'Too-Long-Name-Pw!',
  'Spool-1-P\u00e4ssw\u00f6rd\u{1F600}',
  'Spool-2-P\u00e4ssw\u00f6rd\u{1F600}',
  'Spool-3-P\u00e4ssw\u00f6rd\u{1F600}',
  'Spool-4-P\u00e4ssw\u00f6rd\u{1F600}',
  'Spool-5-Newer!',
  'Krbtgt-Spool-Secret!',
  'Toggle-Pw-',
  'Disabled-Pw-1!',
  'Refuse-Pw-1!',
  'Busy-Pw-1!',
  '-Pw\u00e9!', // the 800 thread passwords Thr<t>-<i>-Pwé!
  'Bench-Pw-',
];

function stats(r: RunResult): Record<string, number> {
  const line = r.lines.find((l) => 'stats' in l);
  assert.ok(line, `harness printed no stats (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  return line.stats as Record<string, number>;
}

function assertClean(r: RunResult): Record<string, number> {
  runMs.push(r.ms);
  assert.equal(r.code, 0, `harness exited ${r.code}:\n${r.stdout}\n${r.stderr.slice(-2000)}`);
  assert.deepEqual(r.lines[0], { init: 1 });
  const idle = r.lines.find((l) => 'idle' in l);
  if (idle) assert.equal(idle.idle, true, 'the DLL worker did not become idle');
  const s = stats(r);
  assert.equal(s.badStatus, 0, 'PasswordChangeNotify returned something other than STATUS_SUCCESS');
  return s;
}

function spoolFiles(dir: string): string[] {
  return fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
}

const runMs: number[] = [];
const missing = missingTools();

if (missing.length > 0 && process.env.CI === 'true') {
  test('passfilt: Windows password filter under Wine', () => {
    assert.fail(
      `CI=true but ${missing.join(', ')} not found: apt-get install make gcc-mingw-w64-x86-64-posix wine64 (see reference/test-infrastructure.md §3)`,
    );
  });
} else {
  const skip =
    missing.length > 0
      ? `passfilt Wine test skipped: ${missing.join(', ')} not installed (apt-get install make gcc-mingw-w64-x86-64-posix wine64)`
      : false;

  describe('passfilt: Windows password filter under Wine', { skip, timeout: 240_000 }, () => {
    let build = '';
    let box: WineBox | undefined;
    const agents: TestAgent[] = [];
    const latency: Record<string, unknown> = {};

    const wine = (): WineBox => {
      assert.ok(box, 'no Wine prefix');
      return box;
    };

    before(async () => {
      build = buildPassfilt(repoRoot());
      box = await WineBox.create(build);
    });

    after(async () => {
      for (const a of agents) await a.close().catch(() => undefined);
      box?.destroy();
    });

    test('the production DLL exports the three LSA entry points, undecorated, and has no socket code', () => {
      const prod = objdumpImportsAndExports(path.join(build, 'pwfilt.dll'));
      assert.deepEqual(prod.exports.sort(), ['InitializeChangeNotify', 'PasswordChangeNotify', 'PasswordFilter']);
      assert.ok(!prod.dlls.includes('ws2_32.dll'), `pwfilt.dll imports ${prod.dlls.join(', ')}`);
      assert.ok(!prod.dlls.includes('user32.dll'), 'pwfilt.dll must not pull user32 into LSASS');
      const testBuild = objdumpImportsAndExports(path.join(build, TEST_DLL));
      assert.ok(testBuild.dlls.includes('ws2_32.dll'), 'the test build should carry the TCP transport');
    });

    test('forwards what LSA hands it, exactly, and never krbtgt, krbtgt_NNN or HOST$', async () => {
      const intake = new RecordingIntake();
      const agent = await startAgent(intake);
      agents.push(agent);
      const spool = wine().driveC('spool-smoke');
      const r = await wine().harness(TEST_DLL, ['smoke'], { ...FAST, PWSYNC_TEST_PORT: String(agent.port), PWSYNC_TEST_SPOOL: spool.win });
      const s = assertClean(r);
      assert.deepEqual(r.lines.find((l) => 'filterNull' in l)?.filterNull, [1, 1, 1], 'PasswordFilter with NULL arguments');

      const byAccount = new Map(intake.accepted.map((c) => [c.account, c]));
      assert.equal(byAccount.get('alice')?.password, 'N\u00e9wPassw0rd!');
      assert.equal(byAccount.get('alice')?.rid, 1102);
      assert.equal(byAccount.get('bob')?.password, 'p\u00e4ss\u{1F600}w"o\\rd\t\n\u0001', 'non-BMP, quote, backslash, controls');
      assert.equal(byAccount.get('u'.repeat(256))?.password, 'Long-Name-Pw-1!', '256-character account name');
      assert.equal(byAccount.get('oddname')?.password, 'Odd-Pw-7!', 'odd byte Length: the odd byte is dropped');
      assert.equal(byAccount.get('longpw')?.password, 'x'.repeat(512));
      for (const c of intake.accepted) {
        assert.equal(c.source, 'passfilt');
        assert.ok(c.dc && c.dc.length > 0, 'dc is the computer name');
        assert.ok(!Number.isNaN(Date.parse(c.capturedAt)) && c.capturedAt.endsWith('Z'), c.capturedAt);
      }
      // The unpaired surrogates arrive flagged, without a password, and the agent rejects them with its own code;
      // frank's empty password reaches the agent, which refuses an empty password as a bad frame.
      const utf16 = intake.rejectedFrames.filter((f) => f.code === 'E_INVALID_UTF16').map((f) => f.message);
      assert.equal(utf16.length, 2, JSON.stringify(intake.rejectedFrames));
      assert.ok(utf16.some((m) => m.includes('carol')) && utf16.some((m) => m.includes('dave')));
      assert.ok(intake.rejectedFrames.some((f) => f.code === 'E_BAD_FRAME'), 'the empty password of frank');
      assert.ok(!byAccount.has('carol') && !byAccount.has('dave') && !byAccount.has('frank'));

      for (const never of ['krbtgt', 'KRBTGT', 'krbtgt_123', 'HOST$', 'v'.repeat(257), 'toolongpw', 'erin'])
        assert.ok(!byAccount.has(never), `${never.slice(0, 20)} must never be forwarded`);
      assert.equal(s.filtered, 4, 'krbtgt, KRBTGT, krbtgt_123, HOST$');
      assert.equal(s.tooLong, 2, '257-character name, 513-character password');
      assert.equal(s.skipped, 6, 'NULL / Buffer-less UNICODE_STRINGs');

      // 8 threads x 100 changes at once: all arrive, each thread's changes in its order.
      const threads = intake.accepted.filter((c) => /^t\du\d+$/.test(c.account));
      assert.equal(threads.length, 800);
      for (let t = 0; t < 8; t++) {
        const seq = threads.filter((c) => c.account.startsWith(`t${t}u`)).map((c) => Number(c.account.slice(3)));
        assert.deepEqual(seq, [...Array(100).keys()], `thread ${t} order`);
      }
      for (const c of threads) {
        const [, t, i] = /^t(\d)u(\d+)$/.exec(c.account)!;
        assert.equal(c.password, `Thr${t}-${i}-Pw\u00e9!`);
        assert.equal(c.rid, 5000 + Number(t) * 100 + Number(i));
      }
      assert.equal(s.sent, 805, 'every queued change got an ok');
      assert.equal(s.refused, 3, 'carol, dave (E_INVALID_UTF16) and frank (E_BAD_FRAME) are final refusals');
      assert.equal(s.spooled, 0);
      assert.equal(s.droppedFull, 0);
    });

    test('spools (DPAPI, one file per change) while the agent is down, replays in order and empties the spool', async () => {
      const port = await deadPort();
      const spool = wine().driveC('spool-down');
      const env = { ...FAST, PWSYNC_TEST_PORT: String(port), PWSYNC_TEST_SPOOL: spool.win };

      const down = await wine().harness(TEST_DLL, ['spool'], env);
      const s1 = assertClean(down);
      assert.equal(s1.spooled, 4);
      assert.equal(s1.filtered, 1, 'krbtgt is dropped before it could be spooled');
      const files = spoolFiles(spool.linux);
      assert.deepEqual(files, ['0000000000000000.pws', '0000000000000001.pws', '0000000000000002.pws', '0000000000000003.pws']);
      assert.deepEqual(findPlaintext(spool.linux, PLAINTEXTS), [], 'spool files must be sealed');

      // The agent comes back on the same port; a newer change is captured while the spool is still there.
      const intake = new RecordingIntake();
      const agent = await startAgent(intake, port);
      agents.push(agent);
      const up = await wine().harness(TEST_DLL, ['after-replay'], env);
      const s2 = assertClean(up);
      assert.deepEqual(intake.accounts(), ['sp1', 'sp2', 'sp3', 'sp4', 'sp5'], 'spooled changes first, in order, then the newer one');
      assert.equal(intake.accepted[0]!.password, 'Spool-1-P\u00e4ssw\u00f6rd\u{1F600}');
      assert.equal(intake.accepted[0]!.rid, 1201);
      assert.equal(s2.replayed, 4);
      assert.equal(s2.sent, 1);
      assert.deepEqual(spoolFiles(spool.linux), [], 'the spool is emptied after the agent acked');
    });

    test('a refusal (E_REFUSED) drops the change; E_STORAGE keeps it in the spool until the agent takes it', async () => {
      const intake = new RecordingIntake();
      let busyOnce = true;
      intake.decide = (f) => {
        if (f.account === 'refuse-me') return new RefusedChangeError('out-of-scope', 'account is out of scope');
        if (f.account === 'busy-me' && busyOnce) {
          busyOnce = false;
          return new StorageError('disk full');
        }
        return undefined;
      };
      const agent = await startAgent(intake);
      agents.push(agent);
      const spool = wine().driveC('spool-refuse');
      const env = { ...FAST, PWSYNC_TEST_PORT: String(agent.port), PWSYNC_TEST_SPOOL: spool.win };
      const s1 = assertClean(await wine().harness(TEST_DLL, ['refuse'], env));
      assert.equal(s1.refused, 1);
      assert.equal(s1.spooled, 1);
      const s2 = assertClean(await wine().harness(TEST_DLL, ['replay'], env));
      assert.deepEqual(intake.refused, [
        { account: 'refuse-me', code: 'E_REFUSED' },
        { account: 'busy-me', code: 'E_STORAGE' },
      ]);
      assert.deepEqual(intake.accounts(), ['busy-me']);
      assert.equal((s1.replayed ?? 0) + (s2.replayed ?? 0), 1);
      assert.deepEqual(spoolFiles(spool.linux), []);
    });

    test('HKLM\\SOFTWARE\\pwsync: Enabled=0 stops forwarding without a reboot; RejectNonAscii=1 vetoes non-ASCII', async () => {
      const intake = new RecordingIntake();
      const agent = await startAgent(intake);
      agents.push(agent);
      const env = { ...FAST, PWSYNC_TEST_PORT: String(agent.port), PWSYNC_TEST_SPOOL: wine().driveC('spool-reg').win };

      // Flipped while the DLL is loaded (the worker re-reads at most once per second).
      assertClean(await wine().harness(TEST_DLL, ['toggle'], env));
      assert.deepEqual(intake.accounts(), ['toggle1', 'toggle3']);

      // Disabled at load.
      await wine().reg(['add', 'HKLM\\SOFTWARE\\pwsync', '/v', 'Enabled', '/t', 'REG_DWORD', '/d', '0', '/f']);
      const s = assertClean(await wine().harness(TEST_DLL, ['disabled'], env));
      assert.equal(s.disabled, 1);
      assert.ok(!intake.accounts().includes('zed'));

      const filterOf = (r: RunResult) => r.lines.find((l) => 'filter' in l)?.filter;
      await wine().reg(['add', 'HKLM\\SOFTWARE\\pwsync', '/v', 'Enabled', '/t', 'REG_DWORD', '/d', '1', '/f']);
      await wine().reg(['add', 'HKLM\\SOFTWARE\\pwsync', '/v', 'RejectNonAscii', '/t', 'REG_DWORD', '/d', '1', '/f']);
      const veto = await wine().harness(TEST_DLL, ['filter'], env);
      assert.deepEqual(filterOf(veto), { ascii: 1, latin: 0, emoji: 0, krbtgtLatin: 1, null: 1 });

      await wine().reg(['delete', 'HKLM\\SOFTWARE\\pwsync', '/f']);
      const open = await wine().harness(TEST_DLL, ['filter'], env);
      assert.deepEqual(filterOf(open), { ascii: 1, latin: 1, emoji: 1, krbtgtLatin: 1, null: 1 }, 'default: never veto');
    });

    test('PasswordChangeNotify latency over 10 000 calls with the agent up, down and hung (benchmark, reported)', async (t) => {
      const intake = new RecordingIntake();
      const up = await startAgent(intake);
      const hung = await startHungAgent();
      agents.push(up, hung);
      const scenarios: Array<[string, number]> = [
        ['up', up.port],
        ['down', await deadPort()],
        ['hung', hung.port],
      ];
      for (const [label, port] of scenarios) {
        const env = { ...FAST, PWSYNC_TEST_PORT: String(port), PWSYNC_TEST_SPOOL: wine().driveC(`spool-bench-${label}`).win };
        const r = await wine().harness(TEST_DLL, ['bench', label, '10000', '100'], env, 90_000);
        assert.equal(r.code, 0, r.stderr.slice(-2000));
        const line = r.lines.find((l) => l.bench === label);
        assert.ok(line, `no bench line for ${label}:\n${r.stdout}`);
        const all = line.all as Record<string, number>;
        for (const k of ['p50us', 'p99us', 'maxUs']) assert.ok(Number.isFinite(all[k]), `${label}.${k}`);
        assert.equal(stats(r).badStatus, 0);
        latency[label] = { ...line, worker: stats(r) };
      }
      assert.ok(hung.connections() > 0, 'the DLL did connect to the hung agent');
      const report = JSON.stringify({ passfiltNotifyLatency: latency, harnessRunMs: runMs });
      t.diagnostic(report);
      console.log(report);
    });

    test('no plaintext password in any file the DLL wrote (spool dirs and the whole drive_c, UTF-8 and UTF-16LE)', () => {
      const driveC = path.join(wine().prefix, 'drive_c');
      assert.ok(fs.readdirSync(driveC).some((d) => d.startsWith('spool-')), 'the spool directories are there');
      // The scan must be able to find what it looks for: plant a canary in both encodings, expect both found.
      const canary = path.join(driveC, 'users', 'canary-check');
      fs.mkdirSync(canary, { recursive: true });
      fs.writeFileSync(path.join(canary, 'a.txt'), 'x Canary-P\u00e4ss\u{1F600} x');
      fs.writeFileSync(path.join(canary, 'b.bin'), Buffer.from('x Canary-P\u00e4ss\u{1F600} x', 'utf16le'));
      assert.equal(findPlaintext(driveC, ['Canary-P\u00e4ss\u{1F600}']).length, 2, 'the scanner finds a planted canary');
      fs.rmSync(canary, { recursive: true, force: true });
      assert.deepEqual(findPlaintext(driveC, PLAINTEXTS), []);
    });
  });
}
