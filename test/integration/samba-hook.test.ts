// The native Samba hook (native/samba-hook) against the agent's real intake (Intake + Outbox + listener) and against
// scripted fake agents: the DONE-EXIT line only after the commit, every failure a non-DONE-EXIT line and a non-zero
// exit, the size bound, partial reads and writes, the deadline, the socket trust check, and no password anywhere.
// The Samba DC path (syncpasswords running the hook) is test/e2e/samba-capture.test.ts.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { forwardSambaObject } from '../../src/capture/samba-forward.js';
import { StorageError } from '../../src/errors.js';
import { FrameReader, MAX_SAMBA_LDIF_BYTES, SAMBA_LDIF_TAG } from '../../src/intake/frame-codec.js';
import type { ChangeFrame } from '../../src/intake/frame.js';
import { Intake } from '../../src/intake/intake.js';
import { listenIntake, type IntakeListener } from '../../src/intake/intake-server.js';
import { EV } from '../../src/journal/catalogue.js';
import { Journal, type JournalEntry } from '../../src/journal/journal.js';
import { Outbox } from '../../src/outbox/store.js';
import { deferred, type Deferred } from '../support/determinism.js';
import { nativeSambaHook } from '../support/samba-hook.js';
import { filesContaining } from '../support/stack.js';

const secrets: string[] = [];
function pw(label: string): string {
  const p = `Pw-${label}-${randomBytes(6).toString('hex')}Z9`;
  secrets.push(p);
  return p;
}

/** One object as syncpasswords hands it to --script (shape of samba/netcmd/user.py's write_ldif). */
function ldif(account: string, password: string | undefined, extra = ''): string {
  return `dn: CN=${account},OU=Staff,DC=example,DC=test
objectGUID: 5a83c5d3-e4bc-426d-9024-${randomBytes(6).toString('hex')}
objectSid: S-1-5-21-252044963-3806901787-3426836701-${1000 + Math.floor(Math.random() * 9000)}
sAMAccountName: ${account}
userPrincipalName: ${account}@example.test
userAccountControl: 512
pwdLastSet: 134402565731285800
msDS-KeyVersionNumber: 7
${extra}${password === undefined ? '' : `virtualClearTextUTF8:: ${Buffer.from(password).toString('base64')}\n`}
`;
}

interface HookRun {
  code: number | null;
  output: string;
}

const outputs: string[] = [];

/** Runs the hook as syncpasswords does (no arguments, LDIF on stdin, stdout and stderr merged). */
function runHook(hook: string, socket: string, input: Buffer | string, env: Record<string, string> = {}): { done: Promise<HookRun>; exited: () => boolean } {
  const p = spawn(hook, [], { env: { PATH: process.env.PATH ?? '', PWSYNC_SOCKET: socket, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  let exited = false;
  p.stdout.on('data', (c: Buffer) => (output += c.toString()));
  p.stderr.on('data', (c: Buffer) => (output += c.toString()));
  p.stdin.on('error', () => undefined); // the hook stops reading an oversized input
  const done = new Promise<HookRun>((resolve, reject) => {
    p.once('error', reject);
    p.once('close', (code) => {
      exited = true;
      outputs.push(output);
      resolve({ code, output });
    });
  });
  p.stdin.end(input);
  return { done, exited: () => exited };
}

/** Intake whose commits wait for the test to open a gate (or fail), to see when the hook answers. */
class GatedIntake extends Intake {
  gate: Deferred<void> | undefined;
  entered: Deferred<void> | undefined;
  failWith: Error | undefined;
  override async accept(frame: ChangeFrame): Promise<{ id: string }> {
    this.entered?.resolve();
    if (this.gate) await this.gate.promise;
    if (this.failWith) throw this.failWith;
    return super.accept(frame);
  }
}

describe('native Samba hook', () => {
  let hook: string | undefined;
  let dir: string;
  let socket: string;
  let outbox: Outbox;
  let journal: Journal;
  let intake: GatedIntake;
  let listener: IntakeListener;
  const events: JournalEntry[] = [];

  before(() => {
    hook = nativeSambaHook();
    dir = mkdtempSync(path.join(tmpdir(), 'pwsync-hook-'));
    mkdirSync(path.join(dir, 'run'), { mode: 0o700 });
    socket = path.join(dir, 'run', 'intake.sock');
  });
  before(async () => {
    if (!hook) return;
    outbox = new Outbox(path.join(dir, 'outbox.db'), randomBytes(32));
    journal = new Journal({ file: path.join(dir, 'journal.jsonl'), level: 'debug' });
    journal.on('event', (e: JournalEntry) => events.push(e));
    intake = new GatedIntake(outbox, journal, {
      targets: () => ['iij'], onCommitted: () => {}, dc: () => 'dc-test',
      sambaForward: (bytes, submit) => forwardSambaObject(bytes, { send: submit }),
    });
    listener = await listenIntake(socket, intake);
  });
  after(async () => {
    await listener?.close();
    journal?.close();
    outbox?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('hands the object over and prints DONE-EXIT only once the change is committed', async (t) => {
    if (!hook) return t.skip('no gcc');
    const password = pw('commit');
    intake.gate = deferred();
    intake.entered = deferred();
    const run = runHook(hook, socket, ldif('hookalice', password));
    await intake.entered.promise;
    // The agent holds the commit: the hook is still waiting, nothing printed (syncpasswords cannot advance).
    await new Promise((r) => setImmediate(r));
    assert.equal(run.exited(), false, 'the hook waits for the commit');
    intake.gate.resolve();
    const r = await run.done;
    intake.gate = undefined;
    assert.equal(r.code, 0, r.output);
    const m = /^DONE-EXIT: queued hookalice kvno=7 change=([0-9a-f-]+)\n$/.exec(r.output);
    assert.ok(m, r.output);
    // By the time the hook exited, the row was committed: sealed, with the capture's version and the agent's dc.
    const row = outbox.get(m[1]!);
    assert.equal(row?.account, 'hookalice');
    assert.equal(row?.kvno, 7);
    assert.equal(row?.dc, 'dc-test');
    assert.equal(row?.hasSecret, true);
    assert.ok(events.some((e) => e.id === EV.captured.id && e.change === m[1] && e.source === 'samba'));
  });

  it('a commit that fails: no DONE-EXIT, a non-zero exit and the reason (syncpasswords keeps the object)', async (t) => {
    if (!hook) return t.skip('no gcc');
    intake.failWith = new StorageError('outbox write failed');
    const r = await runHook(hook, socket, ldif('hookbob', pw('storage'))).done;
    intake.failWith = undefined;
    assert.equal(r.code, 1);
    assert.equal(r.output, 'pwsync-samba-hook: the agent did not accept the change for hookbob: outbox write failed [E_STORAGE]\n');
  });

  it('objects that carry nothing to send are acked as skips the agent journaled', async (t) => {
    if (!hook) return t.skip('no gcc');
    const r = await runHook(hook, socket, ldif('hookguest', undefined)).done;
    assert.equal(r.code, 0, r.output);
    assert.equal(r.output, 'DONE-EXIT: skip no-cleartext hookguest\n');
    assert.ok(events.some((e) => e.id === EV.hookSkipped.id && e.account === 'hookguest' && e.reason === 'no-cleartext'));
    const k = await runHook(hook, socket, ldif('krbtgt', pw('krbtgt'))).done;
    assert.equal(k.output, 'DONE-EXIT: skip krbtgt krbtgt\n');
  });

  it('malformed LDIF: a clear E_LDIF refusal from the agent, journaled, exit 1, no password', async (t) => {
    if (!hook) return t.skip('no gcc');
    const secret = pw('malformed');
    const b64 = Buffer.from(secret).toString('base64');
    const bad: Array<[string, Buffer | string]> = [
      ['empty', ''],
      ['garbage', 'this is not ldif'],
      ['binary', Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x80, 0x0a])],
      ['bad base64', `dn: CN=x\nsAMAccountName: x\nvirtualClearTextUTF8:: ${secret}!!\n`],
      ['plain value with a CR', `dn: CN=x\nsAMAccountName: x\nvirtualClearTextUTF8: ${secret}\rX\n`],
      ['two entries', `${ldif('x', secret)}\n${ldif('y', secret)}`],
    ];
    for (const [label, input] of bad) {
      const before = events.length;
      const r: HookRun = await runHook(hook, socket, input).done;
      assert.equal(r.code, 1, `${label}: ${r.output}`);
      assert.match(r.output, /^pwsync-samba-hook: syncpasswords handed over invalid LDIF: .*\[E_LDIF\]\n$/, label);
      assert.ok(!r.output.includes(secret) && !r.output.includes(b64), `${label}: no secret in the output`);
      const ev = events.slice(before).find((e) => e.id === EV.intakeFrameRejected.id);
      assert.equal(ev?.code, 'E_LDIF', `${label}: journaled as 2002`);
      assert.equal(ev?.peer, 'samba-hook');
    }
  });

  it('input over the bound is refused before anything is sent; input at the bound is handed over', async (t) => {
    if (!hook) return t.skip('no gcc');
    const before = events.length;
    const over = await runHook(hook, socket, Buffer.alloc(MAX_SAMBA_LDIF_BYTES + 1, 0x41)).done;
    assert.equal(over.code, 1);
    assert.equal(over.output, `pwsync-samba-hook: the LDIF on stdin exceeds ${MAX_SAMBA_LDIF_BYTES} bytes: refused [E_LDIF]\n`);
    assert.equal(events.length, before, 'the agent saw nothing');
    // Exactly at the bound: a valid object padded with a long attribute (left out of the frame's attrs by the agent).
    const password = pw('bound');
    const head = ldif('hookbig', password, 'description: ');
    const pad = MAX_SAMBA_LDIF_BYTES - Buffer.byteLength(head) - 1;
    const at = head.replace('description: ', `description: ${'d'.repeat(pad)}\n`);
    assert.equal(Buffer.byteLength(at), MAX_SAMBA_LDIF_BYTES);
    const r = await runHook(hook, socket, at).done;
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /^DONE-EXIT: queued hookbig kvno=7 change=/);
  });

  it('agent down: cannot reach it, exit 1, no DONE-EXIT', async (t) => {
    if (!hook) return t.skip('no gcc');
    const r = await runHook(hook, path.join(dir, 'run', 'absent.sock'), ldif('hookdown', pw('down'))).done;
    assert.equal(r.code, 1);
    assert.match(r.output, /^pwsync-samba-hook: cannot reach the agent at .*absent\.sock \(No such file or directory\) \[E_AGENT_UNAVAILABLE\]\n$/);
  });

  it('refuses a socket in a directory other users can write (a squatter could have put it there)', async (t) => {
    if (!hook) return t.skip('no gcc');
    const open = path.join(dir, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    const server = net.createServer((s) => s.destroy());
    const sock = path.join(open, 'intake.sock');
    await new Promise<void>((r) => server.listen(sock, r));
    try {
      let connected = false;
      server.on('connection', () => (connected = true));
      const r = await runHook(hook, sock, ldif('hooksquat', pw('squat'))).done;
      assert.equal(r.code, 1);
      assert.match(r.output, /^pwsync-samba-hook: the intake socket .* which other users can write: .*\[E_SOCKET_UNTRUSTED\]\n$/);
      assert.equal(connected, false, 'never connected');
    } finally {
      server.close();
    }
  });

  describe('against a scripted agent', () => {
    /** A fake agent on its own socket; `serve` gets each connection. */
    async function fakeAgent(serve: (s: net.Socket) => void): Promise<{ sock: string; close: () => Promise<void> }> {
      const d = mkdtempSync(path.join(dir, 'fake-'));
      chmodSync(d, 0o700);
      const sock = path.join(d, 's.sock');
      const server = net.createServer(serve);
      await new Promise<void>((r) => server.listen(sock, r));
      return { sock, close: () => new Promise((r) => server.close(() => r())) };
    }

    /** Reads the one frame the hook sends. */
    function readFrame(s: net.Socket): Promise<Buffer> {
      const reader = new FrameReader();
      return new Promise((resolve) => s.on('data', (c: Buffer) => {
        const [p] = reader.push(c);
        if (p) resolve(p);
      }));
    }

    function textFrame(line: string | Buffer): Buffer {
      const body = Buffer.isBuffer(line) ? line : Buffer.from(line);
      const h = Buffer.alloc(4);
      h.writeUInt32LE(body.length);
      return Buffer.concat([h, body]);
    }

    it('an object at the bound arrives intact through a reader that starts late, and a reply dribbled byte by byte is read whole', async (t) => {
      if (!hook) return t.skip('no gcc');
      const input = Buffer.alloc(MAX_SAMBA_LDIF_BYTES, 0x61);
      let received: Buffer | undefined;
      const agent = await fakeAgent((s) => {
        s.pause(); // let the hook's writes block until the socket buffers are full
        void readFrame(s).then(async (p) => {
          received = Buffer.from(p);
          const reply = textFrame('DONE-EXIT: queued slow change=1');
          for (const byte of reply) {
            s.write(Buffer.from([byte]));
            await new Promise((r) => setImmediate(r));
          }
        });
        setTimeout(() => s.resume(), 100);
      });
      try {
        const r = await runHook(hook, agent.sock, input).done;
        assert.equal(r.output, 'DONE-EXIT: queued slow change=1\n');
        assert.equal(r.code, 0);
        assert.ok(received?.equals(Buffer.concat([SAMBA_LDIF_TAG, input])), 'the frame is the tag and the LDIF, byte for byte');
      } finally {
        await agent.close();
      }
    });

    it('no answer before the deadline: exit 1 with the reason (PWSYNC_HOOK_TIMEOUT_MS)', async (t) => {
      if (!hook) return t.skip('no gcc');
      const agent = await fakeAgent((s) => s.on('data', () => undefined));
      try {
        const r = await runHook(hook, agent.sock, ldif('hookslow', pw('slow')), { PWSYNC_HOOK_TIMEOUT_MS: '300' }).done;
        assert.equal(r.code, 1);
        assert.equal(r.output, 'pwsync-samba-hook: the agent did not answer within 300 ms [E_AGENT_UNAVAILABLE]\n');
      } finally {
        await agent.close();
      }
      const bad = await runHook(hook, socket, '', { PWSYNC_HOOK_TIMEOUT_MS: 'soon' }).done;
      assert.equal(bad.code, 1);
      assert.match(bad.output, /^pwsync-samba-hook: PWSYNC_HOOK_TIMEOUT_MS must be .*\[E_CONFIG\]\n$/);
    });

    it('what the agent answers decides: only a DONE-EXIT reply succeeds; any other reply, a close or a bad length fails', async (t) => {
      if (!hook) return t.skip('no gcc');
      const cases: Array<[string, (s: net.Socket) => void, RegExp, number]> = [
        ['control characters are made harmless', (s) => s.end(textFrame('DONE-EXIT: ok\nsecond\rline')), /^DONE-EXIT: ok\?second\?line\n$/, 0],
        ['a refusal is printed after the prefix', (s) => s.end(textFrame('DONE-EXIT:no space')), /^pwsync-samba-hook: DONE-EXIT:no space\n$/, 1],
        ['closed without an answer', (s) => s.end(), /^pwsync-samba-hook: the agent closed the connection without an answer \[E_AGENT_UNAVAILABLE\]\n$/, 1],
        ['half a header', (s) => s.end(Buffer.from([5, 0])), /^pwsync-samba-hook: the agent closed the connection without an answer/, 1],
        ['an oversized reply', (s) => s.end(Buffer.from([0, 0, 1, 0])), /^pwsync-samba-hook: the agent answered with a reply of 65536 bytes, expected 1 to 4096 \[E_AGENT_UNAVAILABLE\]\n$/, 1],
        ['an empty reply', (s) => s.end(Buffer.from([0, 0, 0, 0])), /^pwsync-samba-hook: the agent answered with a reply of 0 bytes/, 1],
      ];
      for (const [label, answer, expect, code] of cases) {
        const agent = await fakeAgent((s) => void readFrame(s).then(() => answer(s)));
        try {
          const r: HookRun = await runHook(hook, agent.sock, ldif('hookreply', pw('reply'))).done;
          assert.match(r.output, expect, label);
          assert.equal(r.code, code, label);
        } finally {
          await agent.close();
        }
      }
    });

    it('takes no arguments', async (t) => {
      if (!hook) return t.skip('no gcc');
      const r = await new Promise<HookRun>((resolve) => {
        const p = spawn(hook!, ['--socket', socket], { stdio: ['ignore', 'pipe', 'pipe'] });
        let output = '';
        p.stderr.on('data', (c: Buffer) => (output += c.toString()));
        p.once('close', (code) => resolve({ code, output }));
      });
      assert.equal(r.code, 1);
      assert.match(r.output, /^pwsync-samba-hook: takes no arguments .*\[E_CONFIG\]\n$/);
    });
  });

  it('no password in any output, the journal, or the outbox files', async (t) => {
    if (!hook) return t.skip('no gcc');
    const all = outputs.join('\n') + readFileSync(path.join(dir, 'journal.jsonl'), 'utf8');
    for (const s of secrets) {
      assert.ok(!all.includes(s), 'a password appeared in an output or the journal');
      assert.ok(!all.includes(Buffer.from(s).toString('base64')), 'a password (base64) appeared in an output or the journal');
    }
    assert.deepEqual(filesContaining(dir, secrets), []);
  });
});
