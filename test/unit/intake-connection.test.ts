// Unit tests of one intake connection over a real Unix socket with a fake IntakeHandler: ordering of replies,
// closing after a bad frame, refusals that keep the connection, truncated frames, and no reply to a closed peer.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FrameError, RefusedChangeError, StorageError, type PwsyncError } from '../../src/errors.js';
import { FrameReader, encodeFrame, type ChangeFrame, type IntakeReply } from '../../src/intake/frame.js';
import { serveIntakeConnection, type IntakeHandler } from '../../src/intake/intake-connection.js';
import { deferred } from '../support/determinism.js';

/** Lets `n` rounds of already-queued promise callbacks run: an ordering lever that needs no clock. */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await Promise.resolve();
}

const frame = (account: string, extra: Record<string, unknown> = {}) => ({
  v: 1, type: 'change', source: 'cli', account, capturedAt: '2024-05-01T10:00:00Z', password: `pw-of-${account}`, ...extra,
});

class FakeIntake implements IntakeHandler {
  accepted: string[] = [];
  rejected: PwsyncError[] = [];
  acceptImpl: (f: ChangeFrame) => Promise<{ id: string }> = async (f) => ({ id: `id-${f.account}` });
  accept(f: ChangeFrame): Promise<{ id: string }> {
    this.accepted.push(f.account);
    return this.acceptImpl(f);
  }
  frameRejected(err: PwsyncError): void {
    this.rejected.push(err);
  }
}

interface ServerConn {
  socket: net.Socket;
  /** write()/end() calls with data made after the socket closed */
  writesAfterClose: number;
  closed: Promise<void>;
}

let dir: string;
let sockPath: string;
let server: net.Server;
let intake: FakeIntake;
let conns: ServerConn[];
let connWaiters: Array<(c: ServerConn) => void>;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'pwsync-intake-'));
  sockPath = path.join(dir, 'intake.sock');
  server = net.createServer((socket) => {
    let isClosed = false;
    const c: ServerConn = { socket, writesAfterClose: 0, closed: new Promise((r) => socket.once('close', () => r())) };
    socket.once('close', () => (isClosed = true));
    // Spy on the server side's writes: nothing may be written to a socket whose peer is gone.
    const write = socket.write.bind(socket) as (...a: unknown[]) => boolean;
    const end = socket.end.bind(socket) as (...a: unknown[]) => net.Socket;
    socket.write = ((...a: unknown[]) => {
      if (isClosed) c.writesAfterClose++;
      return write(...a);
    }) as typeof socket.write;
    socket.end = ((...a: unknown[]) => {
      if (isClosed && a.length > 0 && a[0] !== undefined && typeof a[0] !== 'function') c.writesAfterClose++;
      return end(...a);
    }) as typeof socket.end;
    serveIntakeConnection(socket, intake, 'test');
    conns.push(c);
    connWaiters.splice(0).forEach((w) => w(c));
  });
  await new Promise<void>((r) => server.listen(sockPath, r));
});
after(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

function fresh(): void {
  intake = new FakeIntake();
  conns = [];
  connWaiters = [];
}

function nextServerConn(): Promise<ServerConn> {
  return new Promise((r) => connWaiters.push(r));
}

class Client {
  readonly sock: net.Socket;
  readonly replies: IntakeReply[] = [];
  ended = false;
  private readonly reader = new FrameReader();
  private waiters: Array<{ n: number; resolve: () => void }> = [];
  readonly closed: Promise<void>;
  readonly connected: Promise<void>;
  constructor() {
    this.sock = net.connect(sockPath);
    this.connected = new Promise((r) => this.sock.once('connect', () => r()));
    this.closed = new Promise((r) => this.sock.once('close', () => r()));
    this.sock.on('error', () => {});
    this.sock.on('end', () => (this.ended = true));
    this.sock.on('data', (chunk: Buffer) => {
      for (const p of this.reader.push(chunk)) this.replies.push(JSON.parse(p.toString('utf8')) as IntakeReply);
      this.waiters = this.waiters.filter((w) => (this.replies.length >= w.n ? (w.resolve(), false) : true));
    });
  }
  /** Resolves once `n` replies arrived in total (or the connection closed). */
  waitReplies(n: number): Promise<IntakeReply[]> {
    if (this.replies.length >= n) return Promise.resolve(this.replies);
    return Promise.race([new Promise<void>((resolve) => this.waiters.push({ n, resolve })), this.closed]).then(() => this.replies);
  }
}

describe('serveIntakeConnection', () => {
  it('answers several frames sent in one write in order, even when earlier accepts finish later', async () => {
    fresh();
    // The first frame's accept takes the longest: a connection that answered out of order would show it.
    intake.acceptImpl = async (f) => {
      await turns(f.account === 'a' ? 60 : f.account === 'b' ? 30 : 0);
      return { id: `id-${f.account}` };
    };
    const c = new Client();
    c.sock.write(Buffer.concat([encodeFrame(frame('a')), encodeFrame(frame('b')), encodeFrame(frame('c'))]));
    const replies = await c.waitReplies(3);
    assert.deepEqual(replies, [
      { v: 1, ok: true, id: 'id-a' },
      { v: 1, ok: true, id: 'id-b' },
      { v: 1, ok: true, id: 'id-c' },
    ]);
    assert.deepEqual(intake.accepted, ['a', 'b', 'c']);
    assert.equal(c.ended, false, 'a good connection stays open');
    c.sock.destroy();
  });

  it('hands the handler the parsed frame with its password, and answers a frame split byte by byte', async () => {
    fresh();
    let seen: ChangeFrame | undefined;
    intake.acceptImpl = async (f) => {
      seen = { ...f };
      return { id: 'x' };
    };
    const c = new Client();
    await c.connected;
    const bytes = encodeFrame(frame('split'));
    for (let i = 0; i < bytes.length; i++) c.sock.write(bytes.subarray(i, i + 1));
    assert.deepEqual(await c.waitReplies(1), [{ v: 1, ok: true, id: 'x' }]);
    assert.equal(seen?.password, 'pw-of-split');
    c.sock.destroy();
  });

  it('replies E_BAD_FRAME to a bad frame, then closes; frames after it are never accepted', async () => {
    fresh();
    const c = new Client();
    const bad = Buffer.from('{"v":1,"type":"change"');
    const badFrame = Buffer.concat([Buffer.from([bad.length, 0, 0, 0]), bad]);
    c.sock.write(Buffer.concat([encodeFrame(frame('good')), badFrame, encodeFrame(frame('after'))]));
    await c.closed;
    assert.equal(c.replies.length, 2);
    assert.deepEqual(c.replies[0], { v: 1, ok: true, id: 'id-good' });
    const r = c.replies[1]!;
    assert.equal(r.ok, false);
    assert.equal(r.ok === false && r.code, 'E_BAD_FRAME');
    assert.ok(c.ended, 'the agent ended the connection');
    // The capture side never gets an ack for "after", so the agent must not have committed it either.
    assert.deepEqual(intake.accepted, ['good']);
    assert.equal(intake.rejected.length, 1);
    assert.ok(intake.rejected[0] instanceof FrameError);
  });

  it('replies E_FRAME_TOO_LARGE to an oversized header and closes, without waiting for the body', async () => {
    fresh();
    const c = new Client();
    c.sock.write(Buffer.from([0x01, 0x00, 0x01, 0x00])); // 65537
    await c.closed;
    assert.equal(c.replies.length, 1);
    const r = c.replies[0]!;
    assert.equal(r.ok === false && r.code, 'E_FRAME_TOO_LARGE');
    assert.equal(intake.rejected[0]?.code, 'E_FRAME_TOO_LARGE');
  });

  it('an error reply never echoes the password', async () => {
    fresh();
    const c = new Client();
    c.sock.write(encodeFrame(frame('alice', { password: 'Zebra-Secret-77\ud800', extra: true })));
    await c.closed;
    const r = c.replies[0]!;
    assert.equal(r.ok, false);
    assert.ok(!JSON.stringify(r).includes('Zebra-Secret-77'));
  });

  it('answers a refused change with {ok:false, code:E_REFUSED} and keeps the connection open for the next frame', async () => {
    fresh();
    intake.acceptImpl = async (f) => {
      if (f.account === 'krbtgt') throw new RefusedChangeError('krbtgt', 'account krbtgt is never forwarded (krbtgt)');
      return { id: `id-${f.account}` };
    };
    const c = new Client();
    c.sock.write(encodeFrame(frame('krbtgt')));
    const [r1] = await c.waitReplies(1);
    assert.deepEqual(r1, { v: 1, ok: false, code: 'E_REFUSED', message: 'account krbtgt is never forwarded (krbtgt)' });
    c.sock.write(encodeFrame(frame('bob')));
    const replies = await c.waitReplies(2);
    assert.deepEqual(replies[1], { v: 1, ok: true, id: 'id-bob' });
    assert.equal(c.ended, false);
    assert.equal(intake.rejected.length, 0, 'a refusal is not a rejected frame');
    c.sock.destroy();
  });

  it('answers a storage failure with E_STORAGE and an unexpected error with E_INTERNAL, without its message', async () => {
    fresh();
    intake.acceptImpl = async (f) => {
      if (f.account === 'disk') throw new StorageError('outbox write failed (SQLITE_FULL)');
      throw new Error('boom with pw-of-oops inside');
    };
    const c = new Client();
    c.sock.write(Buffer.concat([encodeFrame(frame('disk')), encodeFrame(frame('oops'))]));
    const replies = await c.waitReplies(2);
    assert.deepEqual(replies[0], { v: 1, ok: false, code: 'E_STORAGE', message: 'outbox write failed (SQLITE_FULL)' });
    assert.deepEqual(replies[1], { v: 1, ok: false, code: 'E_INTERNAL', message: 'internal error' });
    c.sock.destroy();
  });

  it('a half frame followed by close neither crashes nor reaches the handler', async () => {
    fresh();
    const conn = nextServerConn();
    const c = new Client();
    const bytes = encodeFrame(frame('half'));
    c.sock.end(bytes.subarray(0, bytes.length - 5));
    const sc = await conn;
    await sc.closed;
    await c.closed;
    assert.deepEqual(intake.accepted, []);
    assert.deepEqual(intake.rejected, []);
    assert.equal(sc.writesAfterClose, 0);
    // the server still serves new connections
    const c2 = new Client();
    c2.sock.write(encodeFrame(frame('next')));
    assert.deepEqual(await c2.waitReplies(1), [{ v: 1, ok: true, id: 'id-next' }]);
    c2.sock.destroy();
  });

  it('writes no reply once the peer has closed, even when the accept completes afterwards', async () => {
    fresh();
    const gate = deferred<{ id: string }>();
    const called = deferred<void>();
    intake.acceptImpl = () => {
      called.resolve();
      return gate.promise;
    };
    const conn = nextServerConn();
    const c = new Client();
    c.sock.write(encodeFrame(frame('gone')));
    await called.promise;
    c.sock.destroy();
    const sc = await conn;
    await sc.closed;
    gate.resolve({ id: 'late' });
    await turns(20);
    assert.deepEqual(intake.accepted, ['gone']);
    assert.equal(sc.writesAfterClose, 0, 'a reply was written to a closed socket');
  });
});
