// Serves one capture connection: reads frames, hands each change to the intake and answers with the ack or a
// coded error. A bad frame gets an error reply and the connection is closed; nothing here can crash the agent.

import type { Socket } from 'node:net';
import { PwsyncError, FrameError, InternalError, errorCode } from '../errors.js';
import { FrameReader, encodeFrame, parseFrame, type ChangeFrame, type IntakeReply, type SkipFrame } from './frame.js';
import { SAMBA_LDIF_TAG, encodeTextFrame, isSambaLdifPayload } from './frame-codec.js';

/**
 * What the agent answers the Samba hook for one object: `line` starts with `DONE-EXIT: ` only when the object was
 * committed (or its skip recorded); otherwise it is the reason, and the hook fails so syncpasswords retries.
 */
export interface SambaObjectOutcome {
  done: boolean;
  line: string;
}

export interface IntakeHandler {
  /** Commits the change durably and returns its id; throws a PwsyncError (refused, storage) otherwise. */
  accept(frame: ChangeFrame): Promise<{ id: string }>;
  /** A capture hook reports an object it did not forward; journaled, then acked. */
  skipped?(frame: SkipFrame): void;
  /** Told about frames that never became a change (for the journal and metrics). */
  frameRejected(err: PwsyncError, peer: string): void;
  /**
   * One object from the native Samba hook, as raw LDIF (the caller wipes it afterwards). Decides, commits, and
   * resolves with the reply line only after the commit. Absent: such frames are refused.
   */
  sambaObject?(ldif: Buffer): Promise<SambaObjectOutcome>;
}

/** The reply to one decoded frame: a change is acked only after intake.accept committed it. Wipes the password. */
export async function answerFrame(intake: IntakeHandler, frame: ChangeFrame | SkipFrame): Promise<IntakeReply> {
  if (frame.type === 'skip') {
    intake.skipped?.(frame);
    return { v: 1, ok: true, id: '' };
  }
  try {
    const { id } = await intake.accept(frame);
    return { v: 1, ok: true, id };
  } catch (err) {
    return errorReply(err);
  } finally {
    frame.password = '';
  }
}

/** The same answer for an encoded frame handed over inside the agent (the Samba hook's objects); wipes the bytes. */
export async function answerEncodedFrame(intake: IntakeHandler, bytes: Buffer, peer: string): Promise<IntakeReply> {
  let frame: ChangeFrame | SkipFrame;
  try {
    frame = parseFrame(bytes.subarray(4));
  } catch (err) {
    if (err instanceof FrameError) intake.frameRejected(err, peer);
    return errorReply(err);
  } finally {
    bytes.fill(0);
  }
  return answerFrame(intake, frame);
}

function errorReply(err: unknown): IntakeReply {
  const e = err instanceof PwsyncError ? err : undefined;
  return { v: 1, ok: false, code: errorCode(err), message: e ? e.message : 'internal error' };
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
    if (closeAfter) closing = true;
    if (err instanceof FrameError) intake.frameRejected(err, peer);
    reply(errorReply(err), closeAfter);
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
      if (isSambaLdifPayload(payload)) {
        queueSambaObject(payload);
        continue;
      }
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
        const r = await answerFrame(intake, frame);
        reply(r, false);
      };
      enqueue(handle);
    }
  });

  const enqueue = (handle: () => Promise<void>) => {
    inProgress++;
    queue = queue.then(async () => {
      try {
        await handle();
      } finally {
        inProgress--;
      }
    });
  };

  /** The native Samba hook's frame: raw LDIF in, one text line out (docs/operations-samba.md#the-hook). */
  const queueSambaObject = (payload: Buffer) => {
    const ldif = Buffer.from(payload.subarray(SAMBA_LDIF_TAG.length));
    payload.fill(0);
    enqueue(async () => {
      try {
        if (closed || closing) return;
        let outcome: SambaObjectOutcome;
        try {
          outcome = intake.sambaObject
            ? await intake.sambaObject(ldif)
            : { done: false, line: `this agent does not take Samba objects [${FrameError.code}]` };
        } catch {
          outcome = { done: false, line: `internal error while handling the object [${InternalError.code}]` };
        }
        if (closed) return;
        // Never a DONE-EXIT line unless the object was committed: the hook prints what it gets.
        const line = outcome.done ? outcome.line : outcome.line.replace(/^DONE-EXIT: /, '');
        socket.write(encodeTextFrame(line));
      } finally {
        ldif.fill(0);
      }
    });
  };
  return {
    get busy() {
      return inProgress > 0;
    },
  };
}
