// Conversions between AD's binary identity attributes and their text forms: objectGUID and objectSid.
// Pure; never guesses: malformed input throws a RangeError instead of producing a plausible wrong identity.

const GUID_RE = /^\{?([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})\}?$/i;

function reverseHex(hex: string): string {
  return hex.match(/../g)!.reverse().join('');
}

/**
 * objectGUID (16 bytes) → `5a83c5d3-e4bc-426d-9024-a9698ef54afb`. The first three groups are stored
 * little-endian (Windows GUID struct: Data1 uint32, Data2 uint16, Data3 uint16), the last two byte by byte,
 * which is the form samba-tool, PowerShell and ldbsearch print.
 */
export function guidToString(bytes: Uint8Array): string {
  if (bytes.length !== 16) throw new RangeError(`objectGUID must be 16 bytes, got ${bytes.length}`);
  const h = Buffer.from(bytes).toString('hex');
  return [
    reverseHex(h.slice(0, 8)),
    reverseHex(h.slice(8, 12)),
    reverseHex(h.slice(12, 16)),
    h.slice(16, 20),
    h.slice(20, 32),
  ].join('-');
}

/** The inverse of guidToString (accepts upper case and `{…}` braces). */
export function guidFromString(text: string): Buffer {
  const m = GUID_RE.exec(text.trim());
  if (!m) throw new RangeError('not a GUID string (expected 8-4-4-4-12 hex digits)');
  const [, a, b, c, d, e] = m as unknown as [string, string, string, string, string, string];
  return Buffer.from(reverseHex(a) + reverseHex(b) + reverseHex(c) + d + e, 'hex');
}

export function isGuidString(text: string): boolean {
  return GUID_RE.test(text.trim());
}

/**
 * Binary SID (MS-DTYP §2.4.2.2: revision, sub-authority count, 6-byte big-endian authority, then count
 * little-endian uint32 sub-authorities) → `S-1-5-21-…-1104`.
 */
export function sidToString(bytes: Uint8Array): string {
  const b = Buffer.from(bytes);
  if (b.length < 8) throw new RangeError('SID too short');
  const count = b[1]!;
  if (b[0] !== 1 || count > 15 || b.length !== 8 + 4 * count) throw new RangeError('malformed SID');
  const authority = b.readUIntBE(2, 6);
  const subs: number[] = [];
  for (let i = 0; i < count; i++) subs.push(b.readUInt32LE(8 + 4 * i));
  return ['S', 1, authority, ...subs].join('-');
}

/** `S-1-5-21-…` → binary SID (the form objectSid filters need). */
export function sidFromString(text: string): Buffer {
  const m = /^S-1-(\d+)((?:-\d+){0,15})$/i.exec(text.trim());
  if (!m) throw new RangeError('not a SID string (expected S-1-…)');
  const authority = Number(m[1]);
  const subs = m[2] ? m[2].slice(1).split('-').map(Number) : [];
  if (!Number.isSafeInteger(authority) || authority >= 2 ** 48) throw new RangeError('SID authority out of range');
  const b = Buffer.alloc(8 + 4 * subs.length);
  b[0] = 1;
  b[1] = subs.length;
  b.writeUIntBE(authority, 2, 6);
  subs.forEach((s, i) => {
    if (!Number.isInteger(s) || s < 0 || s > 0xffffffff) throw new RangeError('SID sub-authority out of range');
    b.writeUInt32LE(s, 8 + 4 * i);
  });
  return b;
}

/** The relative ID: the last sub-authority of a domain account's SID (what PasswordChangeNotify reports). */
export function ridFromSid(sid: Uint8Array | string): number {
  const b = typeof sid === 'string' ? sidFromString(sid) : Buffer.from(sid);
  sidToString(b); // validates the layout
  const count = b[1]!;
  if (count < 1) throw new RangeError('SID has no sub-authority, so no RID');
  return b.readUInt32LE(8 + 4 * (count - 1));
}

/** The SID of account `rid` in the domain whose SID is `domainSid`. */
export function sidWithRid(domainSid: Uint8Array, rid: number): Buffer {
  if (!Number.isInteger(rid) || rid < 0 || rid > 0xffffffff) throw new RangeError('RID out of range');
  return sidFromString(`${sidToString(domainSid)}-${rid}`);
}
