// The intake wire format (docs/architecture.md#intake-frame): 4-byte little-endian length + UTF-8 JSON, at most 64 KiB, and the reply
// shape. Dependency-free on purpose: capture clients (the Samba hook runs once per change) load only this.

import { FrameTooLargeError } from '../errors.js';

export const MAX_FRAME_BYTES = 64 * 1024;
/**
 * The Samba hook's frame (native/samba-hook): its payload is this tag, then the object's LDIF exactly as
 * syncpasswords wrote it; the agent parses it (src/capture/samba-forward.ts) and answers with one line of text
 * (encodeTextFrame), not JSON, so the hook stays a few lines of C. A JSON payload starts with "{", never with "P".
 */
export const SAMBA_LDIF_TAG = Buffer.from('PWSYNC-SAMBA-LDIF/1\n', 'latin1');
/** The largest LDIF the hook hands over (the C hook's MAX_LDIF_BYTES; a unit test keeps them equal). */
export const MAX_SAMBA_LDIF_BYTES = MAX_FRAME_BYTES - SAMBA_LDIF_TAG.length;
/** The longest reply line the hook accepts (the C hook's MAX_REPLY_BYTES). */
export const MAX_SAMBA_REPLY_BYTES = 4096;
/** The longest password a frame may carry, in UTF-16 code units (as zod's max and JavaScript's length count them). */
export const MAX_PASSWORD_CHARS = 1024;

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

/**
 * Accumulates stream chunks and yields whole frame payloads; throws FrameTooLargeError as soon as a header says so.
 * Each frame's payload is allocated once, at its announced size, and filled in place: a peer dribbling a frame byte
 * by byte costs linear time, not one re-concatenation per chunk (docs/security.md). push() takes ownership of the
 * chunk and zeroes it once its bytes are copied (it may hold part of a password).
 */
export class FrameReader {
  private readonly header = Buffer.alloc(4);
  private headerBytes = 0;
  private body: Buffer | undefined;
  private bodyBytes = 0;

  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    try {
      let off = 0;
      for (;;) {
        if (!this.body) {
          if (off >= chunk.length) break;
          const n = Math.min(4 - this.headerBytes, chunk.length - off);
          chunk.copy(this.header, this.headerBytes, off, off + n);
          this.headerBytes += n;
          off += n;
          if (this.headerBytes < 4) break;
          const len = this.header.readUInt32LE(0);
          if (len > MAX_FRAME_BYTES) throw new FrameTooLargeError(`frame of ${len} bytes exceeds the ${MAX_FRAME_BYTES}-byte limit`);
          this.header.fill(0);
          this.headerBytes = 0;
          this.body = Buffer.alloc(len);
          this.bodyBytes = 0;
        }
        const n = Math.min(this.body.length - this.bodyBytes, chunk.length - off);
        chunk.copy(this.body, this.bodyBytes, off, off + n);
        this.bodyBytes += n;
        off += n;
        if (this.bodyBytes < this.body.length) break;
        out.push(this.body);
        this.body = undefined;
        this.bodyBytes = 0;
      }
    } finally {
      chunk.fill(0);
    }
    return out;
  }

  /** Bytes of an incomplete frame still buffered (a peer that closes mid-frame sent a truncated frame). */
  get pending(): number {
    return this.body ? 4 + this.bodyBytes : this.headerBytes;
  }

  /** Overwrites buffered bytes; they may hold part of a password. */
  wipe(): void {
    this.header.fill(0);
    this.headerBytes = 0;
    this.body?.fill(0);
    this.body = undefined;
    this.bodyBytes = 0;
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

/** A payload of the Samba hook's frame type (SAMBA_LDIF_TAG, then the LDIF). */
export function isSambaLdifPayload(payload: Buffer): boolean {
  return payload.length >= SAMBA_LDIF_TAG.length && payload.subarray(0, SAMBA_LDIF_TAG.length).equals(SAMBA_LDIF_TAG);
}

/** The reply to a Samba LDIF frame: one line of UTF-8 text, cut to MAX_SAMBA_REPLY_BYTES, length-prefixed. */
export function encodeTextFrame(line: string): Buffer {
  let body = Buffer.from(line.replace(/[\r\n]+/g, ' '), 'utf8');
  if (body.length > MAX_SAMBA_REPLY_BYTES) body = Buffer.from(body.subarray(0, MAX_SAMBA_REPLY_BYTES).toString('utf8').replace(/\uFFFD$/, ''), 'utf8');
  const out = Buffer.alloc(4 + body.length);
  out.writeUInt32LE(body.length, 0);
  body.copy(out, 4);
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
