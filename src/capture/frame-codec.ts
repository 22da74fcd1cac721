// The intake wire format (DESIGN §3.1): 4-byte little-endian length + UTF-8 JSON, at most 64 KiB, and the reply
// shape. Dependency-free on purpose: capture clients (the Samba hook runs once per change) load only this.

import { FrameTooLargeError } from '../errors.js';

export const MAX_FRAME_BYTES = 64 * 1024;

export interface IntakeReplyOk {
  v: 1;
  ok: true;
  id: string;
}
export interface IntakeReplyError {
  v: 1;
  ok: false;
  code: string;
  message: string;
}
export type IntakeReply = IntakeReplyOk | IntakeReplyError;

/** Accumulates stream chunks and yields whole frame payloads; throws FrameTooLargeError as soon as a header says so. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: Buffer[] = [];
    while (this.buf.length >= 4) {
      const len = this.buf.readUInt32LE(0);
      if (len > MAX_FRAME_BYTES) throw new FrameTooLargeError(`frame of ${len} bytes exceeds the ${MAX_FRAME_BYTES}-byte limit`);
      if (this.buf.length < 4 + len) break;
      out.push(this.buf.subarray(4, 4 + len));
      this.buf = this.buf.subarray(4 + len);
    }
    return out;
  }

  /** Bytes of an incomplete frame still buffered (a peer that closes mid-frame sent a truncated frame). */
  get pending(): number {
    return this.buf.length;
  }

  /** Overwrites buffered bytes; they may hold part of a password. */
  wipe(): void {
    this.buf.fill(0);
    this.buf = Buffer.alloc(0);
  }
}

/** Length-prefixed UTF-8 JSON; throws FrameTooLargeError over the limit. The caller wipes the result. */
export function encodeFrame(message: unknown): Buffer {
  const json = JSON.stringify(message);
  const len = Buffer.byteLength(json, 'utf8');
  if (len > MAX_FRAME_BYTES) throw new FrameTooLargeError(`frame of ${len} bytes exceeds the ${MAX_FRAME_BYTES}-byte limit`);
  const out = Buffer.alloc(4 + len);
  out.writeUInt32LE(len, 0);
  out.write(json, 4, 'utf8');
  return out;
}

/** Checks the shape of the agent's reply; anything else is a protocol error (the caller keeps its copy). */
export function decodeIntakeReply(payload: Buffer): IntakeReply | undefined {
  let r: unknown;
  try {
    r = JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
  const o = (typeof r === 'object' && r !== null ? r : {}) as Record<string, unknown>;
  if (o.ok === true && typeof o.id === 'string') return { v: 1, ok: true, id: o.id };
  if (o.ok === false && typeof o.code === 'string' && typeof o.message === 'string') return { v: 1, ok: false, code: o.code, message: o.message };
  return undefined;
}
