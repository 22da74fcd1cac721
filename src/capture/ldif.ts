// RFC 2849 LDIF parser for the ONE entry `samba-tool user syncpasswords --script` writes to the hook's stdin.
// Never puts a value (the entry carries virtualClearTextUTF8) into an error message, and never follows `:<` URLs.

import { LdifError } from '../errors.js';

/** Default bound on the input: syncpasswords entries are a few hundred bytes; 256 KiB leaves room for big groups. */
export const MAX_LDIF_BYTES = 256 * 1024;

// RFC 2849 AttributeDescription: a name (ALPHA *(ALPHA / DIGIT / "-")) or an OID, then ;options.
const ATTRIBUTE_DESCRIPTION = /^(?:[A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)*)(?:;[A-Za-z0-9-]+)*$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const MAX_NAME = 128;

const fatalUtf8 = new TextDecoder('utf-8', { fatal: true });

/** One parsed entry. Values are raw bytes (base64 decoded); names keep their spelling, lookups ignore case. */
export class LdifEntry {
  readonly #byName = new Map<string, { name: string; values: Buffer[] }>();

  constructor(readonly dn: string) {}

  /** @internal used by the parser */
  add(name: string, value: Buffer): void {
    const key = name.toLowerCase();
    let slot = this.#byName.get(key);
    if (!slot) this.#byName.set(key, (slot = { name, values: [] }));
    slot.values.push(value);
  }

  /** Every value of the attribute (case-insensitive name), in the order written; [] when absent. */
  values(name: string): Buffer[] {
    return this.#byName.get(name.toLowerCase())?.values ?? [];
  }

  /** The first value as UTF-8 text, or undefined when absent or not valid UTF-8. */
  text(name: string): string | undefined {
    const v = this.values(name)[0];
    if (v === undefined) return undefined;
    try {
      return fatalUtf8.decode(v);
    } catch {
      return undefined;
    }
  }

  has(name: string): boolean {
    return this.#byName.has(name.toLowerCase());
  }

  /** Attribute names as written in the LDIF (first spelling seen), in order of appearance. */
  names(): string[] {
    return [...this.#byName.values()].map((s) => s.name);
  }

  /** Overwrites every value buffer (call when done: one of them is the cleartext password). */
  wipe(): void {
    for (const slot of this.#byName.values()) for (const v of slot.values) v.fill(0);
  }
}

export interface ParseLdifOptions {
  /** Refuse larger inputs before looking at them (default MAX_LDIF_BYTES). */
  maxBytes?: number;
}

interface LogicalLine {
  text: string;
  line: number; // 1-based number of the physical line it starts on
}

/**
 * Parses exactly one LDIF content record. Accepts: an optional `version: 1` line, `#` comments (also folded),
 * lines folded with one leading space, LF or CRLF, `attr: value`, `attr:: base64`, several values per attribute,
 * attribute options (`;binary`). Refuses with LdifError: `:<` URL values, change records, a second entry,
 * bad base64, control characters in plain values, input larger than maxBytes or not valid UTF-8.
 */
export function parseLdifEntry(input: Buffer | string, options: ParseLdifOptions = {}): LdifEntry {
  const max = options.maxBytes ?? MAX_LDIF_BYTES;
  const size = typeof input === 'string' ? Buffer.byteLength(input, 'utf8') : input.length;
  if (size > max) throw new LdifError(`input of ${size} bytes exceeds the ${max}-byte limit`);
  let text: string;
  if (typeof input === 'string') text = input;
  else {
    try {
      text = fatalUtf8.decode(input);
    } catch {
      // ldb writes every value that is not plain safe text as base64, so raw invalid UTF-8 means corruption.
      throw new LdifError('input is not valid UTF-8');
    }
  }
  const lines = unfold(text);
  let i = 0;
  const skipBlankAndComments = () => {
    while (i < lines.length && (lines[i]!.text === '' || lines[i]!.text.startsWith('#'))) i++;
  };

  skipBlankAndComments();
  if (i < lines.length && /^version:/i.test(lines[i]!.text)) {
    if (!/^version:[ ]*1$/i.test(lines[i]!.text)) throw new LdifError('unsupported LDIF version (only 1)', lines[i]!.line);
    i++;
    skipBlankAndComments();
  }
  if (i >= lines.length) throw new LdifError('no entry in the input');

  const first = lines[i]!;
  const dnLine = splitAttrLine(first);
  if (dnLine.name.toLowerCase() !== 'dn') throw new LdifError('an entry must start with "dn:"', first.line);
  const entry = new LdifEntry(decodeText(dnLine, first.line));
  i++;

  for (; i < lines.length; i++) {
    const l = lines[i]!;
    if (l.text === '') break; // end of the entry
    if (l.text.startsWith('#')) continue;
    const a = splitAttrLine(l);
    const lower = a.name.toLowerCase();
    if (lower === 'dn') throw new LdifError('a second "dn:" inside one entry', l.line);
    if (lower === 'changetype' || lower === 'control')
      throw new LdifError('change records are not accepted (syncpasswords writes content records)', l.line);
    entry.add(a.name, decodeValue(a, l.line));
  }

  skipBlankAndComments();
  if (i < lines.length) throw new LdifError('more than one entry in the input (expected exactly one)', lines[i]!.line);
  return entry;
}

/** Splits physical lines (LF or CRLF) and joins folded continuations (a line starting with one space). */
function unfold(text: string): LogicalLine[] {
  const physical = text.split('\n');
  // A final "\n" leaves an empty last element that is not a line of its own.
  if (physical.length > 0 && physical[physical.length - 1] === '') physical.pop();
  const out: LogicalLine[] = [];
  let parts: string[] | undefined;
  let start = 0;
  const flush = () => {
    if (parts) out.push({ text: parts.join(''), line: start });
    parts = undefined;
  };
  physical.forEach((raw, idx) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.startsWith(' ')) {
      // RFC 2849 note 2: a continuation of the previous line; a blank line ends an entry, so nothing to continue.
      if (!parts || parts.length === 0 || (parts.length === 1 && parts[0] === ''))
        throw new LdifError('continuation line without a line to continue', idx + 1);
      parts.push(line.slice(1));
      return;
    }
    flush();
    parts = [line];
    start = idx + 1;
  });
  flush();
  return out;
}

interface AttrLine {
  name: string;
  kind: 'text' | 'base64' | 'url';
  raw: string;
}

function splitAttrLine(l: LogicalLine): AttrLine {
  const colon = l.text.indexOf(':');
  if (colon <= 0) throw new LdifError('expected "attribute: value"', l.line);
  const name = l.text.slice(0, colon);
  // The name is echoed in later errors only after it passed this check (a fragment of a value never does).
  if (name.length > MAX_NAME || !ATTRIBUTE_DESCRIPTION.test(name)) throw new LdifError('invalid attribute description', l.line);
  let rest = l.text.slice(colon + 1);
  let kind: AttrLine['kind'] = 'text';
  if (rest.startsWith(':')) {
    kind = 'base64';
    rest = rest.slice(1);
  } else if (rest.startsWith('<')) {
    kind = 'url';
    rest = rest.slice(1);
  }
  return { name, kind, raw: rest.replace(/^ +/, '') }; // FILL: any number of leading spaces
}

function decodeValue(a: AttrLine, line: number): Buffer {
  switch (a.kind) {
    case 'url':
      // `attr:< file:///etc/shadow` would make the hook read local files: never.
      throw new LdifError(`URL value for attribute ${a.name} is not accepted`, line);
    case 'base64': {
      const b64 = a.raw.replace(/ +$/, '');
      if (!BASE64.test(b64)) throw new LdifError(`invalid base64 value for attribute ${a.name}`, line);
      return Buffer.from(b64, 'base64');
    }
    case 'text':
      // SAFE-STRING (RFC 2849): no NUL, CR or LF; CR can only reach here alone (CRLF was stripped).
      if (/[\0\r]/.test(a.raw)) throw new LdifError(`control character in the value of attribute ${a.name}`, line);
      return Buffer.from(a.raw, 'utf8');
  }
}

function decodeText(a: AttrLine, line: number): string {
  const bytes = decodeValue(a, line);
  try {
    return fatalUtf8.decode(bytes);
  } catch {
    throw new LdifError(`value of ${a.name} is not valid UTF-8`, line);
  }
}
