// The contract between the native Samba hook (native/samba-hook/pwsync-samba-hook.c) and the agent: the C constants
// equal the agent's, and one intake connection answers the hook's LDIF frame with one text line — never a
// DONE-EXIT line for an object that was not committed — and wipes the LDIF afterwards. No compiler needed.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { HOOK_DEFAULT_SOCKET } from '../../src/cli/samba-setup.js';
import {
  FrameReader, MAX_FRAME_BYTES, MAX_SAMBA_LDIF_BYTES, MAX_SAMBA_REPLY_BYTES, SAMBA_LDIF_TAG, encodeTextFrame, isSambaLdifPayload,
} from '../../src/intake/frame-codec.js';
import { serveIntakeConnection, type IntakeHandler, type SambaObjectOutcome } from '../../src/intake/intake-connection.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const source = readFileSync(path.join(root, 'native', 'samba-hook', 'pwsync-samba-hook.c'), 'utf8');

function define(name: string): string {
  const m = new RegExp(`^#define ${name} (.+?)(?:\\s*/\\*.*)?$`, 'm').exec(source);
  assert.ok(m, `#define ${name} in the C hook`);
  return m[1]!.trim();
}

describe('C hook and agent agree', () => {
  it('on the frame tag, the bounds and the default socket', () => {
    assert.equal(define('LDIF_TAG'), JSON.stringify(SAMBA_LDIF_TAG.toString('latin1')));
    assert.equal(define('MAX_FRAME_BYTES'), '(64 * 1024)');
    assert.equal(64 * 1024, MAX_FRAME_BYTES);
    assert.equal(define('MAX_LDIF_BYTES'), '(MAX_FRAME_BYTES - LDIF_TAG_LEN)');
    assert.equal(MAX_SAMBA_LDIF_BYTES, MAX_FRAME_BYTES - SAMBA_LDIF_TAG.length);
    assert.equal(define('MAX_REPLY_BYTES'), String(MAX_SAMBA_REPLY_BYTES));
    assert.equal(define('DEFAULT_SOCKET'), JSON.stringify(HOOK_DEFAULT_SOCKET));
    // …which is also agent.intake.socket's default, so a default install needs no PWSYNC_SOCKET anywhere.
    const schema = readFileSync(path.join(root, 'src', 'config', 'schema.ts'), 'utf8');
    assert.ok(schema.includes(`: '${HOOK_DEFAULT_SOCKET}'`), 'agent.intake.socket defaults to the same path on Linux');
  });

  it('a JSON frame is never taken for an LDIF frame, nor the other way round', () => {
    assert.equal(isSambaLdifPayload(Buffer.from('{"v":1}')), false);
    assert.equal(isSambaLdifPayload(Buffer.from('PWSYNC-SAMBA-LDIF/1')), false);
    assert.equal(isSambaLdifPayload(Buffer.concat([SAMBA_LDIF_TAG, Buffer.from('dn: x\n')])), true);
  });

  it('the reply line is one line, at most MAX_SAMBA_REPLY_BYTES, length-prefixed', () => {
    const f = encodeTextFrame('DONE-EXIT: a\r\nb');
    assert.equal(f.readUInt32LE(0), f.length - 4);
    assert.equal(f.subarray(4).toString(), 'DONE-EXIT: a b');
    const long = encodeTextFrame('é'.repeat(5000));
    assert.equal(long.readUInt32LE(0), MAX_SAMBA_REPLY_BYTES);
    assert.doesNotMatch(long.subarray(4).toString('utf8'), /\uFFFD/, 'not cut inside a character');
  });
});

describe('one intake connection and the LDIF frame', () => {
  let dir: string;
  let sockPath: string;
  let server: net.Server;
  let handler: IntakeHandler;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'pwsync-ldif-frame-'));
    sockPath = path.join(dir, 's.sock');
    server = net.createServer((s) => serveIntakeConnection(s, handler, 'test'));
    await new Promise<void>((r) => server.listen(sockPath, r));
  });
  after(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  const base: IntakeHandler = {
    accept: () => Promise.reject(new Error('no JSON frame expected')),
    frameRejected: () => undefined,
  };

  /** Sends one LDIF frame and resolves with the text reply. */
  function ask(ldif: Buffer): Promise<string> {
    return new Promise((resolve, reject) => {
      const c = net.connect(sockPath);
      const reader = new FrameReader();
      const payload = Buffer.concat([SAMBA_LDIF_TAG, ldif]);
      const head = Buffer.alloc(4);
      head.writeUInt32LE(payload.length);
      c.on('error', reject);
      c.on('data', (chunk: Buffer) => {
        const [p] = reader.push(chunk);
        if (p) {
          c.destroy();
          resolve(p.toString('utf8'));
        }
      });
      c.write(Buffer.concat([head, payload]));
    });
  }

  it('hands the exact LDIF to sambaObject, answers its line, and wipes the LDIF afterwards', async () => {
    let seen: Buffer | undefined;
    let copy = '';
    handler = {
      ...base,
      sambaObject: async (ldif: Buffer): Promise<SambaObjectOutcome> => {
        seen = ldif;
        copy = ldif.toString('latin1');
        return { done: true, line: 'DONE-EXIT: queued alice change=1' };
      },
    };
    const ldif = Buffer.from('dn: CN=a\nsAMAccountName: alice\nvirtualClearTextUTF8:: c2VjcmV0\n');
    assert.equal(await ask(ldif), 'DONE-EXIT: queued alice change=1');
    assert.equal(copy, ldif.toString('latin1'));
    assert.ok(seen && seen.every((b) => b === 0), 'wiped after the answer');
  });

  it('a failure is never a DONE-EXIT line, whatever the handler says; no handler or a throwing one is a failure too', async () => {
    handler = { ...base, sambaObject: async () => ({ done: false, line: 'DONE-EXIT: looks done but is not' }) };
    assert.equal(await ask(Buffer.from('dn: x\n')), 'looks done but is not');
    handler = { ...base };
    assert.equal(await ask(Buffer.from('dn: x\n')), 'this agent does not take Samba objects [E_BAD_FRAME]');
    handler = { ...base, sambaObject: async () => Promise.reject(new Error('boom: c2VjcmV0')) };
    assert.equal(await ask(Buffer.from('dn: x\n')), 'internal error while handling the object [E_INTERNAL]');
  });
});
