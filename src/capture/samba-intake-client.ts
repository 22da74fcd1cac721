// The Samba hook's side of the intake socket (DESIGN §3.1): one frame out, one reply back, nothing else.
// Dependency-free on purpose (no zod): the hook starts once per changed object. Never logs the frame it sends.
//
// Same wire format as src/capture/frame.ts (4-byte little-endian length + UTF-8 JSON, at most 64 KiB);
// test/unit/samba-intake-client.test.ts checks both stay byte-for-byte identical.

import net from 'node:net';

/** DESIGN §3.1: the agent refuses larger frames. Equal to frame.ts MAX_FRAME_BYTES (checked by a unit test). */
export const INTAKE_MAX_FRAME_BYTES = 64 * 1024;

export type HookReply = { ok: true; id: string } | { ok: false; code: string; message: string };

/** The agent could not be asked or gave no usable answer: the hook must fail so syncpasswords retries later. */
export class AgentUnreachableError extends Error {
  readonly code = 'E_AGENT_UNAVAILABLE';
}

/** Length-prefixed UTF-8 JSON, or undefined when it would exceed INTAKE_MAX_FRAME_BYTES. The caller wipes it. */
export function encodeIntakeFrame(message: unknown): Buffer | undefined {
  const json = JSON.stringify(message);
  const len = Buffer.byteLength(json, 'utf8');
  if (len > INTAKE_MAX_FRAME_BYTES) return undefined;
  const out = Buffer.alloc(4 + len);
  out.writeUInt32LE(len, 0);
  out.write(json, 4, 'utf8');
  return out;
}

/** Checks the shape of the agent's reply; anything else is a protocol error. */
export function decodeIntakeReply(payload: Buffer): HookReply {
  let r: unknown;
  try {
    r = JSON.parse(payload.toString('utf8'));
  } catch {
    throw new AgentUnreachableError('the agent answered with something that is not JSON');
  }
  const o = (typeof r === 'object' && r !== null ? r : {}) as Record<string, unknown>;
  if (o.ok === true && typeof o.id === 'string') return { ok: true, id: o.id };
  if (o.ok === false && typeof o.code === 'string' && typeof o.message === 'string') return { ok: false, code: o.code, message: o.message };
  throw new AgentUnreachableError('the agent answered with an unexpected reply');
}

/**
 * Sends one encoded frame (wiped afterwards, whatever happens) and resolves with the agent's reply; rejects with
 * AgentUnreachableError when the socket is missing, refuses, closes early or stays silent for `timeoutMs`.
 */
export function sendIntakeFrame(socketPath: string, bytes: Buffer, timeoutMs = 10_000): Promise<HookReply> {
  return new Promise<HookReply>((resolve, reject) => {
    let got: Buffer = Buffer.alloc(0);
    let settled = false;
    const sock = net.connect(socketPath);
    const finish = (err: Error | undefined, reply?: HookReply) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      bytes.fill(0);
      got.fill(0);
      sock.destroy();
      if (err) reject(err);
      else resolve(reply!);
    };
    const timer = setTimeout(() => finish(new AgentUnreachableError(`the agent did not answer within ${timeoutMs} ms`)), timeoutMs);
    sock.once('connect', () => sock.write(bytes));
    sock.on('data', (chunk: Buffer) => {
      got = got.length === 0 ? chunk : Buffer.concat([got, chunk]);
      if (got.length < 4) return;
      const len = got.readUInt32LE(0);
      if (len > INTAKE_MAX_FRAME_BYTES) return finish(new AgentUnreachableError('the agent answered with an oversized frame'));
      if (got.length < 4 + len) return;
      try {
        finish(undefined, decodeIntakeReply(got.subarray(4, 4 + len)));
      } catch (err) {
        finish(err as Error);
      }
    });
    sock.once('error', (err: NodeJS.ErrnoException) =>
      finish(new AgentUnreachableError(`cannot reach the agent at ${socketPath} (${err.code ?? err.message})`)),
    );
    sock.once('close', () => finish(new AgentUnreachableError('the agent closed the connection without an answer')));
  });
}
