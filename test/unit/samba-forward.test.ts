// The Samba hook's decision and wire format without sockets: change vs skip frames, the DONE-EXIT line only after
// an ack, failure on anything else, the zod-free codec identical to frame.ts, fuzzed input never crashes or leaks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFrame } from '../../src/intake/frame.js';
import { forwardSambaObject } from '../../src/capture/samba-forward.js';
import { decodeIntakeReply, type IntakeReply } from '../../src/intake/frame-codec.js';

/** A reply as a test writes it; the fake agent adds the protocol version. */
type HookReply = { ok: true; id: string } | { ok: false; code: string; message: string };

const PASSWORD = 'Sync!Pässwörd-42';
const B64 = Buffer.from(PASSWORD).toString('base64');
const NOW = new Date('2026-11-27T13:00:00.000Z');

function entry(extra = '', clear = true): Buffer {
  return Buffer.from(`dn: CN=Alice Smith,OU=Staff,DC=example,DC=test
objectGUID: 5a83c5d3-e4bc-426d-9024-a9698ef54afb
objectSid: S-1-5-21-1111111111-2222222222-3333333333-1102
sAMAccountName: alice
userPrincipalName: alice@example.test
employeeID: E1001
userAccountControl: 512
pwdLastSet: 134402565731285800
msDS-KeyVersionNumber: 11
${clear ? `virtualClearTextUTF8:: ${B64}\n` : ''}${extra}`);
}

/** A fake agent: records the decoded frames, answers with `reply`. */
function agent(reply: HookReply | ((f: Record<string, unknown>) => HookReply) | Error) {
  const frames: Array<Record<string, unknown>> = [];
  const sent: Buffer[] = [];
  const send = async (bytes: Buffer): Promise<IntakeReply> => {
    sent.push(bytes);
    const f = parseFrame(bytes.subarray(4)) as unknown as Record<string, unknown>;
    frames.push({ ...f });
    if (reply instanceof Error) throw reply;
    return { v: 1, ...(typeof reply === 'function' ? reply(f) : reply) } as IntakeReply;
  };
  return { frames, sent, send };
}

test('a password change becomes a change frame; DONE-EXIT names the account, kvno and change id, never the password', async () => {
  const a = agent({ ok: true, id: 'c-1' });
  const ldif = entry();
  const out = await forwardSambaObject(ldif, { dc: 'dc1', send: a.send, now: NOW });
  assert.deepEqual(out, { done: true, line: 'DONE-EXIT: queued alice kvno=11 change=c-1' });
  assert.equal(a.frames.length, 1);
  const f = a.frames[0]!;
  assert.equal(f.type, 'change');
  assert.equal(f.source, 'samba');
  assert.equal(f.account, 'alice');
  assert.equal(f.password, PASSWORD);
  assert.equal(f.rid, 1102);
  assert.equal(f.guid, '5a83c5d3-e4bc-426d-9024-a9698ef54afb');
  assert.deepEqual(f.version, { kvno: 11, pwdLastSet: '134402565731285800' });
  assert.equal(f.uac, 512);
  assert.deepEqual(f.attrs, { userPrincipalName: 'alice@example.test', employeeID: 'E1001' });
  assert.ok(a.sent[0]!.every((b) => b === 0), 'the encoded frame is wiped after sending');
});

test('disabled users are forwarded (decision: keep the IIJ password current for re-enable)', async () => {
  const a = agent({ ok: true, id: 'c-2' });
  const out = await forwardSambaObject(Buffer.from(entry().toString().replace('userAccountControl: 512', 'userAccountControl: 514')), { dc: 'dc1', send: a.send });
  assert.ok(out.done);
  assert.equal(a.frames[0]!.uac, 514);
  assert.equal(a.frames[0]!.type, 'change');
});

test('skips are reported to the agent as skip frames (event 2007), then DONE-EXIT: skip <reason>', async () => {
  const cases: Array<[string, Buffer, string, string | undefined]> = [
    ['no cleartext', entry('', false), 'no-cleartext', 'alice'],
    ['deleted', entry('isDeleted: TRUE\n'), 'deleted', 'alice'],
    ['krbtgt', Buffer.from(`dn: CN=krbtgt,CN=Users,DC=x\nsAMAccountName: krbtgt\nvirtualClearTextUTF8:: ${B64}\n`), 'krbtgt', 'krbtgt'],
    ['computer', Buffer.from(`dn: CN=PC1,CN=Computers,DC=x\nsAMAccountName: PC1$\nuserAccountControl: 4096\nvirtualClearTextUTF8:: ${B64}\n`), 'computer', 'PC1$'],
    ['no account', Buffer.from(`dn: CN=x,DC=x\nvirtualClearTextUTF8:: ${B64}\n`), 'no-account', undefined],
    ['invalid utf-8', Buffer.from(entry().toString().replace(B64, Buffer.from([0xc3, 0x28, 0x41]).toString('base64'))), 'invalid-utf8', 'alice'],
    ['too long', Buffer.from(entry().toString().replace(B64, Buffer.from('x'.repeat(1025)).toString('base64'))), 'too-long', 'alice'],
  ];
  for (const [label, input, reason, account] of cases) {
    const a = agent({ ok: true, id: '' });
    const out = await forwardSambaObject(input, { dc: 'dc1', send: a.send });
    assert.deepEqual(out, { done: true, line: `DONE-EXIT: skip ${reason}${account ? ` ${account}` : ''}` }, label);
    assert.equal(a.frames.length, 1, label);
    assert.deepEqual(a.frames[0], { v: 1, type: 'skip', source: 'samba', dc: 'dc1', reason, ...(account ? { account } : {}) }, label);
  }
});

test('agent unreachable or failing: no DONE-EXIT, a message without the password (syncpasswords stops and retries later)', async () => {
  const down = agent(new Error('cannot reach the agent at /run/pwsync/intake.sock (ENOENT)'));
  await assert.rejects(forwardSambaObject(entry(), { dc: 'dc1', send: down.send }), /cannot reach the agent/);
  for (const code of ['E_STORAGE', 'E_BAD_FRAME', 'E_INTERNAL']) {
    const a = agent({ ok: false, code, message: 'outbox write failed' });
    const out = await forwardSambaObject(entry(), { dc: 'dc1', send: a.send });
    assert.equal(out.done, false, code);
    assert.ok(!out.done && out.message.includes(`[${code}]`) && out.message.includes('alice'));
    assert.equal(!out.done && out.code, code, 'the code travels beside the message (the agent journals E_LDIF by it)');
    assert.ok(!JSON.stringify(out).includes(PASSWORD));
  }
  // A skip the agent did not take is a failure too (the 2007 event would be missing).
  const s = agent({ ok: false, code: 'E_STORAGE', message: 'disk full' });
  assert.equal((await forwardSambaObject(entry('', false), { dc: 'dc1', send: s.send })).done, false);
});

test("the agent's refusal (krbtgt, computer …) is final: DONE-EXIT so syncpasswords does not stop on it forever", async () => {
  const a = agent({ ok: false, code: 'E_REFUSED', message: 'account alice is never forwarded (x)' });
  assert.deepEqual(await forwardSambaObject(entry(), { dc: 'dc1', send: a.send }), { done: true, line: 'DONE-EXIT: refused alice' });
});

test('attributes that make the frame too large are left out; the change still goes', async () => {
  const big = Array.from({ length: 20 }, (_, i) => `extra${i}: ${'v'.repeat(4000)}`).join('\n') + '\n';
  const a = agent({ ok: true, id: 'c-3' });
  const out = await forwardSambaObject(entry(big), { dc: 'dc1', send: a.send });
  assert.ok(out.done && out.line.endsWith('(attributes left out: frame too large)'));
  assert.equal(a.frames[0]!.attrs, undefined);
  assert.equal(a.frames[0]!.password, PASSWORD);
});

test('invalid LDIF: a value-free E_LDIF message, nothing sent', async () => {
  for (const input of ['', 'garbage', `dn: x\nvirtualClearTextUTF8:: ${PASSWORD}\n`, `dn: x\nvirtualClearTextUTF8: ${PASSWORD}\r\n\rx\n`, `dn: x\n\ndn: y\n`]) {
    const a = agent({ ok: true, id: 'x' });
    const out = await forwardSambaObject(Buffer.from(input), { dc: 'dc1', send: a.send });
    assert.equal(out.done, false);
    assert.ok(!out.done && /invalid LDIF: .*\[E_LDIF\]$/.test(out.message), !out.done ? out.message : '');
    assert.ok(!JSON.stringify(out).includes(PASSWORD));
    assert.equal(a.frames.length, 0);
  }
});

test('fuzz: 5000 mutations of a valid entry never throw anything but the send error, never leak the password', async () => {
  let seed = 42;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
  const base = entry();
  let forwarded = 0;
  for (let i = 0; i < 5000; i++) {
    const buf = Buffer.from(base);
    for (let k = 0, n = 1 + rnd(6); k < n; k++) {
      const at = rnd(buf.length);
      switch (rnd(4)) {
        case 0: buf[at] = rnd(256); break;
        case 1: buf[at] = [0x0a, 0x0d, 0x20, 0x3a, 0x3c, 0x23, 0x00][rnd(7)]!; break;
        case 2: buf.copy(buf, at, at + 1); break;
        default: buf.copy(buf, at + 1, at);
      }
    }
    const input = rnd(5) === 0 ? buf.subarray(0, rnd(buf.length)) : buf;
    const a = agent({ ok: true, id: 'f' });
    const out = await forwardSambaObject(Buffer.from(input), { dc: 'dc1', send: a.send });
    if (out.done) {
      assert.match(out.line, /^DONE-EXIT: (queued|skip|refused) /);
      forwarded++;
    } else assert.match(out.message, /\[E_LDIF\]$|\[E_FRAME_TOO_LARGE\]$/);
    const text = out.done ? out.line : out.message;
    assert.ok(!text.includes(PASSWORD) && !text.includes(B64), `mutation ${i} leaked: ${text}`);
  }
  assert.ok(forwarded > 0, 'some mutations stay valid');
});

test('the agent reply is checked before the hook trusts it', () => {
  assert.deepEqual(decodeIntakeReply(Buffer.from('{"v":1,"ok":true,"id":"a"}')), { v: 1, ok: true, id: 'a' });
  assert.deepEqual(decodeIntakeReply(Buffer.from('{"v":1,"ok":false,"code":"E_X","message":"m"}')), { v: 1, ok: false, code: 'E_X', message: 'm' });
  assert.equal(decodeIntakeReply(Buffer.from('{"ok":"yes"}')), undefined);
  assert.equal(decodeIntakeReply(Buffer.from('nope')), undefined);
});

test('no control character from AD or the agent reaches an output line: a forged second DONE-EXIT is impossible', async () => {
  const forged = 'bob\nDONE-EXIT: queued alice change=fake';
  const deleted = Buffer.from(`dn: CN=bob\\0ADEL:5a83c5d3-e4bc-426d-9024-a9698ef54afb,CN=Deleted Objects,DC=example,DC=test
objectGUID: 5a83c5d3-e4bc-426d-9024-a9698ef54afb
sAMAccountName:: ${Buffer.from(forged).toString('base64')}
isDeleted: TRUE
`);
  const a = agent({ ok: true, id: 'c-1' });
  const out = await forwardSambaObject(deleted, { dc: 'dc1', send: a.send, now: NOW });
  assert.equal(out.done, true);
  const line = (out as { line: string }).line;
  assert.doesNotMatch(line, /[\u0000-\u001f\u007f-\u009f]/, 'one line, no control characters');
  assert.equal(line.match(/DONE-EXIT/g)?.length, 1);
  assert.equal(line, 'DONE-EXIT: skip deleted');
  // the skip frame the agent got passes the agent's own validation (the fake parses it) and carries no such name
  assert.equal(a.frames[0]!.account, undefined);

  // A change whose name carries a control character is a skip (no-account), never a frame the agent refuses.
  const ctl = Buffer.from(`dn: CN=x,OU=Staff,DC=example,DC=test\nsAMAccountName:: ${Buffer.from('al\u0085ice').toString('base64')}\nvirtualClearTextUTF8:: ${B64}\n`);
  const b = agent({ ok: true, id: 'c-2' });
  assert.deepEqual(await forwardSambaObject(ctl, { dc: 'dc1', send: b.send, now: NOW }), { done: true, line: 'DONE-EXIT: skip no-account' });

  // The agent's own words are printed on one line too.
  const c = agent({ ok: false, code: 'E_X\nDONE-EXIT: y', message: 'bad\nDONE-EXIT: queued mallory change=z' });
  const failed = await forwardSambaObject(entry(), { dc: 'dc1', send: c.send, now: NOW });
  assert.equal(failed.done, false);
  assert.doesNotMatch((failed as { message: string }).message, /[\n\r]/);
});

test('long account names are truncated on the output line', async () => {
  const long = 'a'.repeat(200);
  const ldif = Buffer.from(`dn: CN=x,OU=Staff,DC=example,DC=test\nsAMAccountName: ${long}\nvirtualClearTextUTF8:: ${B64}\n`);
  const a = agent({ ok: true, id: 'c-3' });
  const out = await forwardSambaObject(ldif, { dc: 'dc1', send: a.send, now: NOW });
  assert.equal(a.frames[0]!.account, long, 'the frame carries the full name');
  const line = (out as { line: string }).line;
  assert.ok(line.length < 120, line);
  assert.match(line, /^DONE-EXIT: queued a{64}… change=c-3$/);
});

test('without --dc the frame names no DC (the agent names it with agent.dc)', async () => {
  const a = agent({ ok: true, id: 'c-4' });
  await forwardSambaObject(entry(), { send: a.send, now: NOW });
  assert.equal('dc' in a.frames[0]!, false);
});
