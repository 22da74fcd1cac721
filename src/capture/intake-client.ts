// A capture-side client of the intake socket: sends one change frame and waits for the agent's reply.
// Used by `pwsync submit` and `pwsync samba-hook`; never prints or logs the frame.

import net from 'node:net';
import { FrameReader, encodeFrame, type IntakeReply } from './frame.js';

export class IntakeUnavailableError extends Error {
  readonly code = 'E_AGENT_UNAVAILABLE';
}

export async function sendChange(socketPath: string, frame: Record<string, unknown>, timeoutMs = 10_000): Promise<IntakeReply> {
  const bytes = encodeFrame(frame);
  try {
    return await new Promise<IntakeReply>((resolve, reject) => {
      const sock = net.connect(socketPath);
      const reader = new FrameReader();
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new IntakeUnavailableError(`the agent did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      sock.once('connect', () => sock.write(bytes));
      sock.on('data', (chunk: Buffer) => {
        try {
          const [payload] = reader.push(chunk);
          if (!payload) return;
          clearTimeout(timer);
          sock.end();
          resolve(JSON.parse(payload.toString('utf8')) as IntakeReply);
        } catch (err) {
          clearTimeout(timer);
          sock.destroy();
          reject(err);
        }
      });
      sock.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new IntakeUnavailableError(`cannot reach the agent at ${socketPath} (${err.code ?? err.message})`));
      });
      sock.once('close', () => {
        clearTimeout(timer);
        reject(new IntakeUnavailableError('the agent closed the connection without an answer'));
      });
    });
  } finally {
    bytes.fill(0);
  }
}
