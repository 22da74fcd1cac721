// The intake frame codec (docs/architecture.md#intake-frame): 4-byte little-endian length + UTF-8 JSON, at most 64 KiB.
// Pure logic, no I/O. Errors name the field and the rule, never a value: a frame may carry a password.

import { z } from 'zod';
import { FrameError, InvalidUtf16Error } from '../errors.js';
import { MAX_KVNO } from '../directory/directory.js';
import { accountNameProblem } from './account-filter.js';
import { MAX_PASSWORD_CHARS } from './frame-codec.js';
import { hasLoneSurrogate } from '../targets/target.js';

export { MAX_FRAME_BYTES, MAX_PASSWORD_CHARS, FrameReader, encodeFrame, type IntakeReply, type IntakeReplyOk, type IntakeReplyError } from './frame-codec.js';

const attrValue = z.union([z.string().max(4096), z.array(z.string().max(4096)).max(64)]);

const changeFrameSchema = z
  .object({
    v: z.literal(1),
    type: z.literal('change'),
    source: z.enum(['passfilt', 'samba', 'cli']),
    dc: z.string().max(255).optional(),
    account: z.string().min(1).max(256),
    rid: z.number().int().min(0).max(0xffffffff).optional(),
    guid: z
      .string()
      .regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/)
      .optional(),
    // strict like the frame itself: a misspelt version key silently dropped would let the worker take AD's current
    // version as this change's own, and a stale change would then pass the staleness check (invariant 2, docs/architecture.md#invariants).
    version: z
      .object({ kvno: z.number().int().min(0).max(MAX_KVNO).optional(), pwdLastSet: z.string().regex(/^\d{1,20}$/).optional() })
      .strict()
      .optional(),
    attrs: z.record(z.string().max(128), attrValue).optional(),
    uac: z.number().int().min(0).optional(),
    capturedAt: z.iso.datetime({ offset: true }),
    password: z.string().min(1).max(MAX_PASSWORD_CHARS).optional(),
    /** Set by the Windows filter when the UTF-16 password had an unpaired surrogate (it sends no password then). */
    passwordInvalidUtf16: z.literal(true).optional(),
  })
  .strict();

/** A capture hook's report of an object it did not forward (Samba: no cleartext, no version change, deleted …). */
const skipFrameSchema = z
  .object({
    v: z.literal(1),
    type: z.literal('skip'),
    source: z.enum(['passfilt', 'samba', 'cli']),
    dc: z.string().max(255).optional(),
    account: z.string().max(256).optional(),
    reason: z.string().regex(/^[a-z0-9-]{1,64}$/),
  })
  .strict();

export type SkipFrame = z.infer<typeof skipFrameSchema>;

export type ChangeFrame = Omit<z.infer<typeof changeFrameSchema>, 'password' | 'passwordInvalidUtf16'> & { password: string };

const fatalUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes and validates one payload. Throws FrameError (or a subclass) with a message safe to send back. */
export function parseFrame(payload: Buffer): ChangeFrame | SkipFrame {
  let text: string;
  try {
    text = fatalUtf8.decode(payload);
  } catch {
    throw new FrameError('frame is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new FrameError('frame is not valid JSON');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new FrameError('frame must be a JSON object');
  const obj = json as Record<string, unknown>;
  if (obj.v !== 1) throw new FrameError(`unsupported frame version (expected "v":1)`);
  const r = obj.type === 'skip' ? skipFrameSchema.safeParse(obj) : changeFrameSchema.safeParse(obj);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    // Only names of the schema's own: a field name is the sender's text (attrs keys, unknown fields) and lands in
    // the reply, the journal and the console (docs/security.md).
    const where = issue.path.map((p) => (typeof p === 'string' && KNOWN_FIELDS.has(p) ? p : typeof p === 'number' ? String(p) : '[field]')).join('.') || '(frame)';
    const what = issue.code === 'unrecognized_keys' ? `${issue.keys.length} unknown field(s)` : describeIssue(issue.code);
    throw new FrameError(`invalid frame field ${where}: ${what}`);
  }
  if (r.data.type === 'skip') {
    if (r.data.account !== undefined) checkAccountName(r.data.account);
    return r.data;
  }
  const f = r.data;
  if (f.passwordInvalidUtf16) throw new InvalidUtf16Error(`the captured password of account ${f.account} is not valid UTF-16 (unpaired surrogate)`);
  if (f.password === undefined) throw new FrameError('invalid frame field password: required');
  if (hasLoneSurrogate(f.password)) throw new InvalidUtf16Error(`the password of account ${f.account} contains an unpaired surrogate`);
  checkAccountName(f.account);
  return { ...f, password: f.password };
}

function checkAccountName(account: string): void {
  const problem = accountNameProblem(account);
  if (problem) throw new FrameError(`invalid frame field account: ${problem}`);
}

const KNOWN_FIELDS = new Set([
  ...Object.keys(changeFrameSchema.shape), ...Object.keys(skipFrameSchema.shape), 'kvno', 'pwdLastSet',
]);

// zod's own messages are value-free, but keep the wording fixed so a frame's content can never leak through them.
function describeIssue(code: string): string {
  switch (code) {
    case 'invalid_type':
      return 'wrong type or missing';
    case 'too_big':
      return 'too long or too large';
    case 'too_small':
      return 'empty or too small';
    case 'invalid_format':
    case 'invalid_string':
      return 'wrong format';
    case 'invalid_value':
    case 'invalid_literal':
    case 'invalid_enum_value':
      return 'value not allowed';
    default:
      return 'invalid';
  }
}

/** Like parseFrame, for callers that accept only change frames. */
export function parseChangeFrame(payload: Buffer): ChangeFrame {
  const f = parseFrame(payload);
  if (f.type !== 'change') throw new FrameError('invalid frame field type: value not allowed');
  return f;
}
