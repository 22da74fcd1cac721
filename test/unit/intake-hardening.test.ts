// The agent's front door under a hostile local user (issue 13 #3, #11, #12): socket squatting, a socket path that
// is not a socket, idle and dribbling connections, frame-buffer growth and unknown-field echo. Real Unix sockets;
// runs as root so another uid (nobody) can own the squatter's files.

import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { encodeFrame, FrameReader, MAX_FRAME_BYTES } from '../../src/intake/frame-codec.js';
import { sendChange, UntrustedSocketError } from '../../src/capture/intake-client.js';
import { serveIntakeConnection, type IntakeHandler } from '../../src/intake/intake-connection.js';
import { listenIntake } from '../../src/intake/intake-server.js';
import { checkSocketTrust } from '../../src/capture/socket-trust.js';
import { prepareSocketDir } from '../../src/intake/socket-dir.js';
import type { ChangeFrame } from '../../src/intake/frame.js';
import { UnsafePermissionsError } from '../../src/errors.js';

const NOBODY = 65534;
const PASSWORD = 'Squat-Target-Pw-1!';
const change = (account: string) => ({ v: 1, type: 'change', source: 'cli', account, capturedAt: '2024-05-01T10:00:00Z', password: PASSWORD });
const fresh = (label: string) => mkdtempSync(path.join(tmpdir(), `pwsync-${label}-`));

/** Resolves when `sock` closes, or rejects after `ms` (a bound, not a synchronisation sleep). */
function closedWithin(sock: net.Socket, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`connection still open after ${ms} ms`)), ms);
    sock.once('close', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

const okIntake = (): IntakeHandler & { accepted: string[] } => {
  const accepted: string[] = [];
  return { accepted, accept: async (f: ChangeFrame) => (accepted.push(f.account), { id: `id-${f.account}` }), frameRejected: () => {} };
};

describe('socket squatting (#3)', () => {
  it('a client refuses a socket owned by another user in a world-writable directory, and sends it nothing', async () => {
    const dir = fresh('squat');
    chmodSync(dir, 0o777);
    const sockPath = path.join(dir, 'intake.sock');
    const received: Buffer[] = [];
    let connections = 0;
    const squatter = net.createServer((s) => {
      connections++;
      s.on('data', (c) => received.push(Buffer.from(c)));
    });
    await new Promise<void>((r) => squatter.listen(sockPath, r));
    chownSync(sockPath, NOBODY, NOBODY);
    try {
      assert.throws(() => checkSocketTrust(sockPath), (e: unknown) => e instanceof UntrustedSocketError && /uid 65534/.test(e.message));
      await assert.rejects(sendChange(sockPath, change('alice')), (e: unknown) => e instanceof UntrustedSocketError && e.code === 'E_SOCKET_UNTRUSTED');
      assert.equal(connections, 0, 'the client connected to the squatter');
      assert.ok(!Buffer.concat(received).includes(Buffer.from(PASSWORD)));
    } finally {
      squatter.close();
    }
  });

  it('a client refuses a root-owned socket in a directory another user owns and can swap it in', async () => {
    const dir = fresh('swap');
    chownSync(dir, NOBODY, NOBODY);
    const sockPath = path.join(dir, 'intake.sock');
    const srv = net.createServer(() => {});
    await new Promise<void>((r) => srv.listen(sockPath, r));
    try {
      assert.throws(() => checkSocketTrust(sockPath), UntrustedSocketError);
    } finally {
      srv.close();
    }
  });

  it('a client accepts the agent layout: socket owned by the owner of its private directory (systemd RuntimeDirectory)', async () => {
    const parent = fresh('rundir');
    const dir = path.join(parent, 'pwsync');
    prepareSocketDir(path.join(dir, 'x'));
    chmodSync(dir, 0o755);
    chownSync(dir, NOBODY, NOBODY);
    const sockPath = path.join(dir, 'intake.sock');
    const srv = net.createServer(() => {});
    await new Promise<void>((r) => srv.listen(sockPath, r));
    chownSync(sockPath, NOBODY, NOBODY);
    try {
      checkSocketTrust(sockPath); // does not throw
    } finally {
      srv.close();
    }
  });

  it('the agent tightens a socket directory it owns that others can write, and refuses one it does not own', async () => {
    const own = fresh('owndir');
    chmodSync(own, 0o777);
    const l = await listenIntake(path.join(own, 'intake.sock'), okIntake());
    try {
      assert.equal(statSync(own).mode & 0o777, 0o700);
      assert.equal(l.tightenedDir, own);
    } finally {
      await l.close();
    }
    const foreign = fresh('foreign');
    chmodSync(foreign, 0o777);
    chownSync(foreign, NOBODY, NOBODY);
    await assert.rejects(listenIntake(path.join(foreign, 'intake.sock'), okIntake()), UnsafePermissionsError);
    const sticky = fresh('sticky');
    chmodSync(sticky, 0o1777);
    await assert.rejects(listenIntake(path.join(sticky, 'intake.sock'), okIntake()), /writable by other users/);
  });
});

describe('socket path that is not a socket (#12)', () => {
  it('the agent never deletes a regular file at the socket path (e.g. its outbox)', async () => {
    const dir = fresh('notsock');
    const file = path.join(dir, 'outbox.sqlite');
    writeFileSync(file, 'queued changes', { mode: 0o600 });
    const l = await listenIntake(file, okIntake()).then(
      (listener) => listener,
      (err: Error) => err,
    );
    if (!(l instanceof Error)) await l.close(); // the listener must not keep the test process alive when it fails
    assert.ok(l instanceof Error && /is not a socket: refusing to replace it/.test(l.message), String(l));
    assert.equal(readFileSync(file, 'utf8'), 'queued changes');
  });
});

describe('intake starvation (#11)', () => {
  it('a real capture gets through while the connection limit is held by idle and incomplete connections', async () => {
    const dir = fresh('starve');
    const sockPath = path.join(dir, 'intake.sock');
    const intake = okIntake();
    const l = await listenIntake(sockPath, intake, 8);
    const idle: net.Socket[] = [];
    try {
      for (let i = 0; i < 12; i++) {
        const s = net.connect(sockPath);
        s.on('error', () => {});
        await new Promise<void>((r) => s.once('connect', r));
        if (i % 2 === 0) s.write(Buffer.from([10, 0])); // half a header: an incomplete frame
        idle.push(s);
      }
      const reply = await sendChange(sockPath, change('real-user'), 5_000);
      assert.equal(reply.ok, true);
      assert.deepEqual(intake.accepted, ['real-user']);
      assert.ok(l.server.listening);
    } finally {
      for (const s of idle) s.destroy();
      await l.close();
    }
  });

  it('a frame must complete within the deadline from its first byte, however slowly bytes keep coming', async () => {
    const dir = fresh('dribble');
    const sockPath = path.join(dir, 'd.sock');
    const srv = net.createServer((s) => serveIntakeConnection(s, okIntake(), 'local', 300));
    await new Promise<void>((r) => srv.listen(sockPath, r));
    const c = net.connect(sockPath);
    c.on('error', () => {});
    await new Promise<void>((r) => c.once('connect', r));
    const bytes = encodeFrame(change('slow'));
    let i = 0;
    // One byte per 50 ms: the idle timer alone would never fire.
    const drip = setInterval(() => !c.destroyed && i < bytes.length && c.write(bytes.subarray(i, ++i)), 50);
    try {
      await closedWithin(c, 3_000);
      assert.ok(i < bytes.length, 'the frame completed before the deadline; the test proves nothing');
    } finally {
      clearInterval(drip);
      srv.close();
    }
  });

  it('buffers grow linearly: a frame dribbled byte by byte is allocated once and never re-concatenated', () => {
    const body = Buffer.alloc(MAX_FRAME_BYTES, 0x61);
    const header = Buffer.alloc(4);
    header.writeUInt32LE(body.length, 0);
    const stream = Buffer.concat([header, body]);
    const reader = new FrameReader();
    const chunks = [...stream].map((b) => Buffer.from([b]));
    const concat = Buffer.concat;
    const alloc = Buffer.alloc;
    let concats = 0;
    let allocs = 0;
    Buffer.concat = ((...a: Parameters<typeof concat>) => (concats++, concat(...a))) as typeof concat;
    Buffer.alloc = ((...a: Parameters<typeof alloc>) => (allocs++, alloc(...a))) as typeof alloc;
    const out: Buffer[] = [];
    try {
      for (const c of chunks) out.push(...reader.push(c));
    } finally {
      Buffer.concat = concat;
      Buffer.alloc = alloc;
    }
    assert.equal(out.length, 1);
    assert.equal(out[0]!.length, MAX_FRAME_BYTES);
    assert.equal(concats, 0, 'the buffer was re-concatenated per chunk');
    assert.equal(allocs, 1, 'one allocation for the frame body');
  });
});
