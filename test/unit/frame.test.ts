// Unit tests of the intake frame codec (docs/architecture.md#intake-frame): framing across chunk boundaries, the 64 KiB limit, schema
// validation of every field, UTF-16 checks, error codes, and that no error message ever carries the password.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrameError, FrameTooLargeError, InvalidUtf16Error } from '../../src/errors.js';
import { FrameReader, MAX_FRAME_BYTES, encodeFrame, parseChangeFrame, parseFrame } from '../../src/intake/frame.js';
import { seededRandom } from '../support/determinism.js';


const PASSWORD = 'Tr0ub4dor&3-horse';
const valid = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  v: 1,
  type: 'change',
  source: 'samba',
  dc: 'dc1',
  account: 'alice',
  rid: 1104,
  guid: '0b7d5b0c-7e62-4a4a-9b6f-0c1f0e5d7a11',
  version: { kvno: 3, pwdLastSet: '133497123456789012' },
  attrs: { displayName: 'Alice', mail: ['a@example.test'] },
  uac: 0x200,
  capturedAt: '2024-05-01T10:00:00.000Z',
  password: PASSWORD,
  ...extra,
});
const json = (o: unknown): Buffer => Buffer.from(JSON.stringify(o), 'utf8');

function parseError(payload: Buffer): FrameError {
  try {
    parseChangeFrame(payload);
  } catch (err) {
    assert.ok(err instanceof FrameError, `expected a FrameError, got ${String(err)}`);
    return err;
  }
  assert.fail('parseChangeFrame accepted the frame');
}

function header(len: number): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt32LE(len, 0);
  return h;
}

/** A valid change frame whose JSON body is exactly `size` bytes (padding in attrs). */
function frameOfSize(size: number): Buffer {
  const attrs: Record<string, string> = {};
  const msg = valid({ attrs });
  let i = 0;
  for (;;) {
    const missing = size - json(msg).length;
    if (missing === 0) return json(msg);
    assert.ok(missing > 0, 'overshot');
    const key = `p${i++}`;
    // "key":"" with a comma costs key.length + 6 bytes
    const room = missing - (key.length + 6);
    if (room < 0) {
      // not enough room for a new attribute: lengthen the previous one instead
      const last = `p${i - 2}`;
      attrs[last] = attrs[last]! + 'y'.repeat(missing);
      continue;
    }
    attrs[key] = 'x'.repeat(Math.min(4096, room));
  }
}

describe('FrameReader', () => {
  it('yields a frame delivered one byte at a time, exactly once and only when complete', () => {
    const bytes = encodeFrame(valid());
    const reader = new FrameReader();
    const out: Buffer[] = [];
    for (let i = 0; i < bytes.length; i++) {
      const got = reader.push(bytes.subarray(i, i + 1));
      if (i < bytes.length - 1) assert.equal(got.length, 0, `frame yielded early at byte ${i}`);
      out.push(...got);
    }
    assert.equal(out.length, 1);
    assert.equal(parseChangeFrame(out[0]!).password, PASSWORD);
    assert.equal(reader.pending, 0);
  });

  it('splits several coalesced frames out of one chunk, in order, keeping the tail of a partial one', () => {
    const a = encodeFrame(valid({ account: 'a1' }));
    const b = encodeFrame(valid({ account: 'b2' }));
    const c = encodeFrame(valid({ account: 'c3' }));
    const all = Buffer.concat([a, b, c]);
    const reader = new FrameReader();
    const cut = a.length + b.length + 7;
    const first = reader.push(all.subarray(0, cut));
    assert.deepEqual(first.map((p) => parseChangeFrame(p).account), ['a1', 'b2']);
    assert.equal(reader.pending, 7);
    const rest = reader.push(all.subarray(cut));
    assert.deepEqual(rest.map((p) => parseChangeFrame(p).account), ['c3']);
    assert.equal(reader.pending, 0);
  });

  it('splits frames at every possible cut point of a two-frame stream', () => {
    const all = Buffer.concat([encodeFrame(valid({ account: 'x' })), encodeFrame(valid({ account: 'y' }))]);
    for (let cut = 0; cut <= all.length; cut++) {
      const reader = new FrameReader();
      // Copies: push() zeroes the chunks it consumed.
      const got = [...reader.push(Buffer.from(all.subarray(0, cut))), ...reader.push(Buffer.from(all.subarray(cut)))];
      assert.deepEqual(got.map((p) => parseChangeFrame(p).account), ['x', 'y'], `cut at ${cut}`);
    }
  });

  it('holds a header-only frame (no body yet) as pending and yields nothing', () => {
    const reader = new FrameReader();
    assert.deepEqual(reader.push(header(10)), []);
    assert.equal(reader.pending, 4);
    assert.deepEqual(reader.push(Buffer.from([1, 2])), []);
    assert.equal(reader.pending, 6);
  });

  it('yields an empty payload for a zero-length frame, which then fails to parse as E_BAD_FRAME', () => {
    const [p] = new FrameReader().push(header(0));
    assert.ok(p);
    assert.equal(p.length, 0);
    assert.equal(parseError(p).code, 'E_BAD_FRAME');
  });

  it('accepts a header announcing exactly 64 KiB and delivers that frame', () => {
    const body = frameOfSize(MAX_FRAME_BYTES);
    assert.equal(body.length, MAX_FRAME_BYTES);
    const reader = new FrameReader();
    assert.deepEqual(reader.push(header(MAX_FRAME_BYTES)), []);
    const [p] = reader.push(body);
    assert.ok(p);
    assert.equal(p.length, MAX_FRAME_BYTES);
    assert.equal(parseChangeFrame(p).password, PASSWORD);
  });

  it('throws E_FRAME_TOO_LARGE as soon as the header announces 64 KiB + 1, before any body arrives', () => {
    const reader = new FrameReader();
    assert.throws(() => reader.push(header(MAX_FRAME_BYTES + 1)), (e: unknown) => e instanceof FrameTooLargeError && e.code === 'E_FRAME_TOO_LARGE');
    assert.throws(() => new FrameReader().push(header(0xffffffff)), FrameTooLargeError);
  });

  it('wipe() zeroes the buffered partial frame (it may hold part of a password)', () => {
    const bytes = encodeFrame(valid());
    const chunk = Buffer.from(bytes.subarray(0, bytes.length - 1));
    const reader = new FrameReader();
    reader.push(chunk);
    reader.wipe();
    assert.equal(reader.pending, 0);
    assert.ok(!chunk.includes(Buffer.from(PASSWORD)), 'password bytes still in the buffer after wipe()');
  });
});

describe('encodeFrame', () => {
  it('writes a little-endian length header followed by UTF-8 JSON', () => {
    const f = encodeFrame({ a: 'é' });
    assert.equal(f.readUInt32LE(0), f.length - 4);
    assert.equal(f.subarray(4).toString('utf8'), '{"a":"é"}');
  });

  it('encodes a 64 KiB body and refuses 64 KiB + 1 with E_FRAME_TOO_LARGE', () => {
    const okMsg = JSON.parse(frameOfSize(MAX_FRAME_BYTES).toString('utf8')) as Record<string, unknown>;
    assert.equal(encodeFrame(okMsg).length, MAX_FRAME_BYTES + 4);
    const big = JSON.parse(frameOfSize(MAX_FRAME_BYTES + 1).toString('utf8')) as Record<string, unknown>;
    assert.throws(() => encodeFrame(big), (e: unknown) => e instanceof FrameTooLargeError && e.code === 'E_FRAME_TOO_LARGE');
  });
});

describe('parseChangeFrame', () => {
  it('accepts a full valid frame and returns every field', () => {
    const f = parseChangeFrame(json(valid()));
    assert.deepEqual(f, valid());
  });

  it('accepts a minimal frame (only required fields)', () => {
    const f = parseChangeFrame(json({ v: 1, type: 'change', source: 'passfilt', account: 'bob', capturedAt: '2024-05-01T10:00:00+09:00', password: 'p' }));
    assert.equal(f.account, 'bob');
    assert.equal(f.password, 'p');
  });

  it('accepts a non-BMP password made of valid surrogate pairs', () => {
    assert.equal(parseChangeFrame(json(valid({ password: 'a\u{1F600}b\u{10FFFF}' }))).password, 'a\u{1F600}b\u{10FFFF}');
  });

  it('rejects invalid UTF-8 (overlong, lone continuation byte, CESU surrogate) with E_BAD_FRAME', () => {
    const good = json(valid());
    for (const bad of [[0xc0, 0xaf], [0x80], [0xed, 0xa0, 0x80], [0xff]]) {
      const p = Buffer.concat([good.subarray(0, 10), Buffer.from(bad), good.subarray(10)]);
      const e = parseError(p);
      assert.equal(e.code, 'E_BAD_FRAME');
      assert.match(e.message, /UTF-8/);
    }
  });

  it('rejects text that is not JSON, and JSON that is not an object (array, null, string, number)', () => {
    assert.match(parseError(Buffer.from('{"v":1,')).message, /not valid JSON/);
    for (const t of ['[]', `[${JSON.stringify(valid())}]`, 'null', '"change"', '1', 'true']) {
      const e = parseError(Buffer.from(t));
      assert.equal(e.code, 'E_BAD_FRAME');
      assert.match(e.message, /must be a JSON object/, t);
    }
  });

  it('rejects v:2, v:"1" and a missing v as an unsupported version', () => {
    for (const v of [2, '1', 0, null, undefined]) {
      const e = parseError(json(valid({ v })));
      assert.equal(e.code, 'E_BAD_FRAME');
      assert.match(e.message, /unsupported frame version/);
    }
  });

  it('refuses account names with control, format or surrounding white-space characters, in change and skip frames', () => {
    for (const account of ['bob\nDONE-EXIT: queued alice', 'krbtgt\u200b', '\ufeffalice', 'krbtgt ', ' PC01$', 'krbtgt\u00a0', 'a\u0085b']) {
      const e = parseError(json(valid({ account })));
      assert.equal(e.code, 'E_BAD_FRAME', JSON.stringify(account));
      assert.match(e.message, /^invalid frame field account: /);
      assert.throws(() => parseFrame(json({ v: 1, type: 'skip', source: 'samba', reason: 'deleted', account })), /^FrameError: invalid frame field account: /, `skip ${JSON.stringify(account)}`);
    }
    assert.equal(parseFrame(json({ v: 1, type: 'skip', source: 'samba', reason: 'deleted', account: 'bob' })).type, 'skip');
    {
    }
  });

  it('rejects unknown fields and counts them, never echoing their names (strict schema)', () => {
    const e = parseError(json(valid({ 'Hunter2-Secret-Name': 'x', extra: 1 })));
    assert.equal(e.code, 'E_BAD_FRAME');
    assert.match(e.message, /2 unknown field\(s\)/);
    assert.ok(!e.message.includes('Hunter2-Secret-Name') && !e.message.includes('extra'), e.message);
  });

  it('names a bad attrs entry without its (sender-chosen) key', () => {
    const e = parseError(json(valid({ attrs: { 'Sekrit-Key-Name': 5 } })));
    assert.match(e.message, /attrs\.\[field\]/);
    assert.ok(!e.message.includes('Sekrit'), e.message);
  });

  it('rejects a wrong type for every field and names the field', () => {
    const wrong: Array<[string, unknown]> = [
      ['type', 'delete'], ['type', 1], ['source', 'ldap'], ['source', null], ['dc', 5], ['account', 7], ['account', ''],
      ['rid', '1104'], ['rid', 1.5], ['rid', -1], ['rid', 2 ** 32], ['guid', 'not-a-guid'], ['guid', 12],
      ['version', 'x'], ['version', { kvno: '3' }], ['version', { kvno: -1 }], ['version', { kvno: 1.5 }],
      // msDS-KeyVersionNumber is 32-bit: a larger "version" would outrank every genuine change
      ['version', { kvno: 2 ** 32 }], ['version', { kvno: 2 ** 53 - 1 }],
      ['version', { pwdLastSet: 1 }], ['version', { pwdLastSet: '12a' }],
      // a misspelt version key must not be dropped silently: the change would lose its staleness guard
      ['version', { KVNO: 5 }], ['attrs', 'x'], ['attrs', [1]],
      ['attrs', { a: 1 }], ['attrs', { a: [1] }], ['attrs', { a: null }], ['uac', -1], ['uac', '512'], ['uac', 0.5],
      ['capturedAt', 'yesterday'], ['capturedAt', 1714557600000], ['password', 42], ['password', ''], ['password', null],
      ['passwordInvalidUtf16', false], ['passwordInvalidUtf16', 'true'],
    ];
    for (const [field, value] of wrong) {
      const e = parseError(json(valid({ [field]: value })));
      assert.equal(e.code, 'E_BAD_FRAME', `${field}=${JSON.stringify(value)}`);
      assert.match(e.message, new RegExp(`invalid frame field ${field}`), `${field}=${JSON.stringify(value)}: ${e.message}`);
    }
  });

  it('rejects a missing required field (type, source, account, capturedAt, password)', () => {
    for (const field of ['type', 'source', 'account', 'capturedAt', 'password']) {
      const f = valid();
      delete f[field];
      const e = parseError(json(f));
      assert.equal(e.code, 'E_BAD_FRAME', field);
      assert.match(e.message, new RegExp(`field ${field}`), field);
    }
  });

  it('rejects a password with a lone high surrogate, a lone low surrogate, or a high surrogate at the end: E_INVALID_UTF16', () => {
    for (const pw of ['ab\ud800cd', 'ab\udc00cd', 'abcd\ud83d', '\udc00', '\ude00\ud83d']) {
      const e = parseError(json(valid({ password: pw })));
      assert.ok(e instanceof InvalidUtf16Error, JSON.stringify(pw));
      assert.equal(e.code, 'E_INVALID_UTF16');
    }
  });

  it('turns passwordInvalidUtf16:true (the filter sends no password then) into E_INVALID_UTF16', () => {
    const f = valid({ passwordInvalidUtf16: true });
    delete f.password;
    const e = parseError(json(f));
    assert.equal(e.code, 'E_INVALID_UTF16');
    // with a password as well, the flag still wins: the filter said the original could not be converted
    assert.equal(parseError(json(valid({ passwordInvalidUtf16: true }))).code, 'E_INVALID_UTF16');
  });

  it('rejects control characters in the account name', () => {
    for (const account of ['al\u0000ice', 'alice\n', '\u001fbob', 'bob\u007f', 'a\tb']) {
      const e = parseError(json(valid({ account })));
      assert.equal(e.code, 'E_BAD_FRAME');
      assert.match(e.message, /account: control characters/);
    }
  });

  it('enforces the length limits of password (1024), account (256), dc (255) and attrs', () => {
    assert.equal(parseChangeFrame(json(valid({ password: 'x'.repeat(1024) }))).password.length, 1024);
    assert.match(parseError(json(valid({ password: 'x'.repeat(1025) }))).message, /field password: too long/);
    assert.equal(parseChangeFrame(json(valid({ account: 'a'.repeat(256) }))).account.length, 256);
    assert.match(parseError(json(valid({ account: 'a'.repeat(257) }))).message, /field account: too long/);
    assert.match(parseError(json(valid({ dc: 'd'.repeat(256) }))).message, /field dc: too long/);
    parseChangeFrame(json(valid({ attrs: { a: 'v'.repeat(4096), b: Array(64).fill('v') } })));
    assert.match(parseError(json(valid({ attrs: { a: 'v'.repeat(4097) } }))).message, /field attrs\.\[field\]/);
    assert.match(parseError(json(valid({ attrs: { a: Array(65).fill('v') } }))).message, /field attrs\.\[field\]/);
    assert.match(parseError(json(valid({ attrs: { a: ['v', 'v'.repeat(4097)] } }))).message, /field attrs\.\[field\]/);
    assert.match(parseError(json(valid({ attrs: { ['k'.repeat(129)]: 'v' } }))).message, /field attrs/);
  });

  it('property: no error message ever contains the password, over many random passwords and bad frames', () => {
    const rnd = seededRandom(0x5eed);
    const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&()*+,-./:;<=>?@[]^_`{|}~ éüßあ漢😀';
    const chars = [...alphabet];
    let checked = 0;
    for (let n = 0; n < 400; n++) {
      const len = 8 + Math.floor(rnd() * 40);
      let pw = '';
      for (let i = 0; i < len; i++) pw += chars[Math.floor(rnd() * chars.length)];
      const bad: Array<Record<string, unknown> | Buffer> = [
        valid({ password: pw, v: 2 }),
        valid({ password: pw, type: 'x' }),
        valid({ password: pw, account: 'a\u0001' }),
        valid({ password: pw, account: '' }),
        valid({ password: pw, capturedAt: pw }),
        valid({ password: pw, source: pw }),
        valid({ password: pw, guid: pw }),
        valid({ password: pw, dc: pw.repeat(40) }),
        valid({ password: pw, version: { pwdLastSet: pw } }),
        valid({ password: pw, attrs: { a: pw.repeat(600) } }),
        valid({ password: pw + '\ud800' }),
        valid({ password: '\udc00' + pw }),
        valid({ password: pw, passwordInvalidUtf16: true }),
        valid({ password: pw.repeat(200) }),
        valid({ password: pw, unknown: pw }),
        valid({ password: pw, rid: pw }),
        valid({ password: pw, uac: pw }),
        valid({ password: [pw] }),
        valid({ password: { value: pw } }),
        Buffer.concat([json(valid({ password: pw })), Buffer.from([0xff])]),
        json(valid({ password: pw })).subarray(0, -1),
        json([valid({ password: pw })]),
      ];
      for (const b of bad) {
        const e = parseError(Buffer.isBuffer(b) ? b : json(b));
        assert.ok(!e.message.includes(pw), `message leaks the password: ${e.message}`);
        for (const piece of [pw.slice(0, 8), pw.slice(-8)]) assert.ok(!e.message.includes(piece), `message leaks part of the password: ${e.message}`);
        checked++;
      }
    }
    assert.ok(checked > 8000);
  });

  it('fuzz: random bytes and mutated valid frames only ever throw FrameError subclasses (seeded)', () => {
    const seed = 20240501;
    const rnd = seededRandom(seed);
    const int = (n: number) => Math.floor(rnd() * n);
    const weird: unknown[] = [null, true, false, 0, -1, 1.5, 2 ** 53, 1e308, '', 'x', '\ud800', '\u0000', [], {}, [1], { a: 1 }, 'z'.repeat(5000)];
    const fields = Object.keys(valid()).concat(['passwordInvalidUtf16', 'constructor', '__proto__', 'toString']);
    const base = json(valid());
    let accepted = 0;
    const tryParse = (p: Buffer, what: string) => {
      try {
        const f = parseChangeFrame(p);
        assert.equal(typeof f.password, 'string');
        accepted++;
      } catch (err) {
        assert.ok(err instanceof FrameError, `seed ${seed}, ${what}: threw ${String(err)}`);
        assert.match(err.code, /^E_(BAD_FRAME|FRAME_TOO_LARGE|INVALID_UTF16)$/);
      }
    };
    for (let i = 0; i < 2000; i++) {
      const raw = Buffer.alloc(int(200));
      for (let j = 0; j < raw.length; j++) raw[j] = int(256);
      tryParse(raw, `random bytes #${i}`);
    }
    for (let i = 0; i < 2000; i++) {
      const m = Buffer.from(base);
      const ops = 1 + int(4);
      let b: Buffer = m;
      for (let k = 0; k < ops; k++) {
        const at = int(b.length);
        switch (int(4)) {
          case 0: b[at] = int(256); break;
          case 1: b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]); break;
          case 2: b = Buffer.concat([b.subarray(0, at), Buffer.from([int(256)]), b.subarray(at)]); break;
          default: b = b.subarray(0, at);
        }
      }
      tryParse(b, `byte mutation #${i}`);
    }
    for (let i = 0; i < 2000; i++) {
      const f: Record<string, unknown> = valid();
      for (let k = 0, n = 1 + int(3); k < n; k++) f[fields[int(fields.length)]!] = weird[int(weird.length)];
      tryParse(json(f), `field mutation #${i}`);
    }
    for (let i = 0; i < 500; i++) {
      const reader = new FrameReader();
      const stream = Buffer.alloc(int(64));
      for (let j = 0; j < stream.length; j++) stream[j] = int(256);
      try {
        for (const p of reader.push(stream)) tryParse(p, `reader stream #${i}`);
      } catch (err) {
        assert.ok(err instanceof FrameError, `seed ${seed}, reader stream #${i}: threw ${String(err)}`);
      }
    }
    assert.ok(accepted > 0, 'some mutations should still be valid frames');
  });
});
