// Serves one capture connection: reads frames, hands each change to the intake and answers with the ack or a
// coded error. A bad frame gets an error reply and the connection is closed; nothing here can crash the agent.

import type { Socket } from 'node:net';
import { PwsyncError, FrameError, errorCode } from '../errors.js';
import { FrameReader, encodeFrame, parseFrame, type ChangeFrame, type IntakeReply, type SkipFrame } from './frame.js';

export interface IntakeHandler {
  /** Commits the change durably and returns its id; throws a PwsyncError (refused, storage) otherwise. */
  accept(frame: ChangeFrame): Promise<{ id: string }>;
  /** A capture hook reports an object it did not forward; journaled, then acked. */
  skipped?(frame: SkipFrame): void;
  /** Told about frames that never became a change (for the journal and metrics). */
  frameRejected(err: PwsyncError, peer: string): void;
}

const IDLE_TIMEOUT_MS = 30_000;
/**
 * A frame must be complete this long after its first byte. Capture clients write a frame in one go; without a
 * deadline one byte every 20 s held a connection (and its buffer) for ever, since the idle timer restarts per byte.
 */
export const FRAME_DEADLINE_MS = 2_000;

/** What the listener needs to know to pick a connection to evict when all slots are taken. */
export interface IntakeConnectionState {
  /** A complete frame is being handled (its ack is due): never evicted. */
  readonly busy: boolean;
}

export function serveIntakeConnection(socket: Socket, intake: IntakeHandler, peer = 'local', frameDeadlineMs = FRAME_DEADLINE_MS): IntakeConnectionState {
  const reader = new FrameReader();
  let queue = Promise.resolve();
  let inProgress = 0;
  let frameTimer: NodeJS.Timeout | undefined;
  let closed = false;
  // Set once a bad frame was answered: frames that followed it in the stream are never accepted, since the capture
  // side gets no ack for them and keeps its copy (committing them would queue a change nobody was told about).
  let closing = false;
  socket.setTimeout(IDLE_TIMEOUT_MS, () => socket.destroy());
  socket.on('error', () => socket.destroy());
  socket.on('close', () => {
    closed = true;
    if (frameTimer) clearTimeout(frameTimer);
    reader.wipe();
  });

  const reply = (r: IntakeReply, thenClose: boolean) => {
    if (closed) return;
    const out = encodeFrame(r);
    if (thenClose) socket.end(out);
    else socket.write(out);
  };

  const fail = (err: unknown, closeAfter: boolean) => {
    const e = err instanceof PwsyncError ? err : undefined;
    if (closeAfter) closing = true;
    if (e instanceof FrameError) intake.frameRejected(e, peer);
    reply({ v: 1, ok: false, code: errorCode(err), message: e ? e.message : 'internal error' }, closeAfter);
  };

  socket.on('data', (chunk: Buffer) => {
    if (closing) return void chunk.fill(0);
    let payloads: Buffer[];
    try {
      payloads = reader.push(chunk);
    } catch (err) {
      socket.pause();
      reader.wipe();
      queue = queue.then(() => fail(err, true));
      return;
    }
    // The deadline runs from the first byte of a frame until the frame is complete.
    if (frameTimer && (payloads.length > 0 || reader.pending === 0)) {
      clearTimeout(frameTimer);
      frameTimer = undefined;
    }
    if (reader.pending > 0 && !frameTimer) {
      frameTimer = setTimeout(() => socket.destroy(), frameDeadlineMs);
      frameTimer.unref?.();
    }
    for (const payload of payloads) {
      // Frames of one connection are answered in order; parse now so the payload buffer can be wiped at once.
      let frame: ChangeFrame | SkipFrame | undefined;
      let parseErr: unknown;
      try {
        frame = parseFrame(payload);
      } catch (err) {
        parseErr = err;
      } finally {
        payload.fill(0);
      }
      const handle = async (): Promise<void> => {
        if (closed || closing) {
          if (frame?.type === 'change') frame.password = '';
          return;
        }
        if (!frame) return fail(parseErr, true);
        if (frame.type === 'skip') {
          intake.skipped?.(frame);
          return reply({ v: 1, ok: true, id: '' }, false);
        }
        try {
          const { id } = await intake.accept(frame);
          reply({ v: 1, ok: true, id }, false);
        } catch (err) {
          fail(err, false);
        } finally {
          frame.password = '';
        }
      };
      inProgress++;
      queue = queue.then(async () => {
        try {
          await handle();
        } finally {
          inProgress--;
        }
      });
    }
  });
  return {
    get busy() {
      return inProgress > 0;
    },
  };
}
