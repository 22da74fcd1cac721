// The capture side of the intake socket (docs/architecture.md#intake-frame): one frame out, one reply back. Used by `pwsync submit`,
// the demo and `pwsync samba-hook`. Dependency-free (no zod): the Samba hook starts once per changed object.
// Never prints or logs the frame, and wipes its bytes whatever happens.

import net from 'node:net';
import { FrameReader, decodeIntakeReply, encodeFrame, type IntakeReply } from '../intake/frame-codec.js';
import { checkSocketTrust } from './socket-trust.js';

import { IntakeUnavailableError } from '../errors.js';

export { IntakeUnavailableError, UntrustedSocketError } from '../errors.js';

/**
 * Sends an already encoded frame (wiped afterwards) and resolves with the agent's reply. Rejects with
 * UntrustedSocketError, before connecting, when the socket may belong to someone else than the agent.
 */
export function sendFrameBytes(socketPath: string, bytes: Buffer, timeoutMs = 10_000): Promise<IntakeReply> {
  try {
    checkSocketTrust(socketPath);
  } catch (err) {
    bytes.fill(0);
    return Promise.reject(err as Error);
  }
  return new Promise<IntakeReply>((resolve, reject) => {
    const reader = new FrameReader();
    let settled = false;
    const sock = net.connect(socketPath);
    const finish = (err: Error | undefined, reply?: IntakeReply) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      bytes.fill(0);
      reader.wipe();
      sock.destroy();
      if (err) reject(err);
      else resolve(reply!);
    };
    const timer = setTimeout(() => finish(new IntakeUnavailableError(`the agent did not answer within ${timeoutMs} ms`)), timeoutMs);
    sock.once('connect', () => sock.write(bytes));
    sock.on('data', (chunk: Buffer) => {
      let payload: Buffer | undefined;
      try {
        [payload] = reader.push(chunk);
      } catch {
        return finish(new IntakeUnavailableError('the agent answered with an oversized frame'));
      }
      if (!payload) return;
      const reply = decodeIntakeReply(payload);
      finish(reply ? undefined : new IntakeUnavailableError('the agent answered with an unexpected reply'), reply);
    });
    sock.once('error', (err: NodeJS.ErrnoException) => finish(new IntakeUnavailableError(`cannot reach the agent at ${socketPath} (${err.code ?? err.message})`)));
    sock.once('close', () => finish(new IntakeUnavailableError('the agent closed the connection without an answer')));
  });
}

/** Encodes and sends one message (e.g. a change frame); throws FrameTooLargeError before connecting when it cannot fit. */
export function sendChange(socketPath: string, frame: Record<string, unknown>, timeoutMs = 10_000): Promise<IntakeReply> {
  return sendFrameBytes(socketPath, encodeFrame(frame), timeoutMs);
}
