// RFC 2849 parsing of one syncpasswords entry: real samples, every syntax rule, and fuzzing for robustness and secrecy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LdifError } from '../../src/errors.js';
import { MAX_LDIF_BYTES, parseLdifEntry } from '../../src/capture/ldif.js';
import { seededRandom } from '../support/determinism.js';

// Captured from `samba-tool user syncpasswords --decrypt-samba-gpg` on the test DC (Samba 4.17), user created
// with the password "Sync!Pässwörd-002" (non-ASCII: the hook must carry UTF-8 faithfully).
const REAL_ENTRY = `dn: CN=Ldif Sample,OU=Staff,DC=example,DC=test
objectGUID: 28cc67d4-d6df-4bed-ab3d-df361a82f514
userAccountControl: 512
employeeID: E4242
pwdLastSet: 134402590150227480
objectSid: S-1-5-21-252044963-3806901787-3426836701-1162
sAMAccountName: ldifsample
userPrincipalName: ldifsample@example.test
msDS-KeyVersionNumber: 1
virtualClearTextUTF8:: U3luYyFQw6Rzc3fDtnJkLTAwMg==

`;
const REAL_PASSWORD = 'Sync!Pässwörd-002';

function ldifError(fn: () => unknown, pattern?: RegExp): LdifError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof LdifError, `expected LdifError, got ${String(err)}`);
    assert.equal(err.code, 'E_LDIF');
    if (pattern) assert.match(err.message, pattern);
    return err;
  }
  assert.fail('expected an LdifError');
}

test('parses the real syncpasswords entry', () => {
  const e = parseLdifEntry(Buffer.from(REAL_ENTRY));
  assert.equal(e.dn, 'CN=Ldif Sample,OU=Staff,DC=example,DC=test');
  assert.equal(e.text('sAMAccountName'), 'ldifsample');
  assert.equal(e.text('samaccountname'), 'ldifsample', 'names are case-insensitive');
  assert.equal(e.text('virtualClearTextUTF8'), REAL_PASSWORD);
  assert.deepEqual(e.names().slice(0, 3), ['objectGUID', 'userAccountControl', 'employeeID']);
  assert.equal(e.has('isDeleted'), false);
  e.wipe();
  assert.ok(e.values('virtualClearTextUTF8')[0]!.every((b) => b === 0), 'wipe zeroes the value buffers');
});

test('folded lines (one leading space) are joined, also inside base64 and the dn', () => {
  const e = parseLdifEntry(
    'dn: CN=A Very Long Na\n me,OU=Staff,DC=exa\n mple,DC=test\nvirtualClearTextUTF8:: U3luYyFQw6Rzc3f\n DtnJkLTAwMg==\ndescription: two  \n  spaces\n',
  );
  assert.equal(e.dn, 'CN=A Very Long Name,OU=Staff,DC=example,DC=test');
  assert.equal(e.text('virtualClearTextUTF8'), REAL_PASSWORD);
  assert.equal(e.text('description'), 'two   spaces', 'only the first space of a continuation is removed');
});

test('CRLF line ends, comments (also folded), version line, several values', () => {
  const e = parseLdifEntry(
    '# written by a test\r\n#  folded\r\n  comment\r\nversion: 1\r\n\r\ndn: CN=x,DC=example,DC=test\r\n# inside\r\nmember: a\r\nmember: b\r\nMember: c\r\n\r\n# trailing comment\r\n',
  );
  assert.equal(e.dn, 'CN=x,DC=example,DC=test');
  assert.deepEqual(e.values('member').map(String), ['a', 'b', 'c']);
});

test('base64 dn, attribute options, OIDs, empty values, values containing ": " and "::"', () => {
  const e = parseLdifEntry('dn:: Q049SsO2cmcsREM9dGVzdA==\ncn;lang-de: Jörg\n1.2.840.113556.1.4.1941: x\nempty:\nnote: a: b :: c\n');
  assert.equal(e.dn, 'CN=Jörg,DC=test');
  assert.equal(e.text('cn;lang-de'), 'Jörg');
  assert.equal(e.text('1.2.840.113556.1.4.1941'), 'x');
  assert.equal(e.text('empty'), '');
  assert.equal(e.text('note'), 'a: b :: c');
});

test('missing final newline is fine; no entry is not', () => {
  assert.equal(parseLdifEntry('dn: CN=a\nsAMAccountName: a').text('sAMAccountName'), 'a');
  ldifError(() => parseLdifEntry(''), /no entry/);
  ldifError(() => parseLdifEntry('# only a comment\n\n'), /no entry/);
});

test('refusals: URL values, change records, two entries, bad base64, control characters, bad names', () => {
  ldifError(() => parseLdifEntry('dn: CN=a\njpegPhoto:< file:///etc/shadow\n'), /line 2: URL value for attribute jpegPhoto/);
  ldifError(() => parseLdifEntry('dn: CN=a\nchangetype: modify\n'), /change records/);
  ldifError(() => parseLdifEntry('dn: CN=a\ncn: a\n\ndn: CN=b\ncn: b\n'), /line 4: more than one entry/);
  ldifError(() => parseLdifEntry('dn: CN=a\nvirtualClearTextUTF8:: not base64!\n'), /line 2: invalid base64/);
  ldifError(() => parseLdifEntry('dn: CN=a\nvirtualClearTextUTF8:: U3luYy\n'), /invalid base64/);
  ldifError(() => parseLdifEntry('dn: CN=a\ncn: a\rb\n'), /control character/);
  ldifError(() => parseLdifEntry('dn: CN=a\ncn: a\0b\n'), /control character/);
  ldifError(() => parseLdifEntry('dn: CN=a\nno colon here\n'), /line 2: expected/);
  ldifError(() => parseLdifEntry('dn: CN=a\nbad name: x\n'), /invalid attribute description/);
  ldifError(() => parseLdifEntry('cn: a\n'), /must start with "dn:"/);
  ldifError(() => parseLdifEntry('dn: CN=a\ndn: CN=b\n'), /second "dn:"/);
  ldifError(() => parseLdifEntry(' continued\ndn: CN=a\n'), /line 1: continuation/);
  ldifError(() => parseLdifEntry('dn: CN=a\n\n continued\n'), /line 3: continuation/);
  ldifError(() => parseLdifEntry('version: 2\ndn: CN=a\n'), /version/);
  ldifError(() => parseLdifEntry(Buffer.from([0x64, 0x6e, 0x3a, 0x20, 0xff, 0x0a])), /not valid UTF-8/);
  ldifError(() => parseLdifEntry('dn:: /w==\n'), /not valid UTF-8/);
});

test('input is bounded', () => {
  const huge = Buffer.alloc(MAX_LDIF_BYTES + 1, 0x61);
  ldifError(() => parseLdifEntry(huge), /exceeds/);
  ldifError(() => parseLdifEntry('dn: CN=a\ncn: abc\n', { maxBytes: 5 }), /exceeds the 5-byte limit/);
});

test('a huge folded line within the bound parses in linear time', () => {
  const chunk = 'QUFB'; // "AAA"
  const lines = ['dn: CN=big', `description:: ${chunk}`];
  for (let i = 0; i < 40_000; i++) lines.push(` ${chunk}`);
  const input = lines.join('\n') + '\n';
  assert.ok(input.length < MAX_LDIF_BYTES);
  const t0 = performance.now();
  const e = parseLdifEntry(input);
  assert.equal(e.values('description')[0]!.length, 3 * 40_001);
  assert.ok(performance.now() - t0 < 1000);
});

// Fuzzing: mutated real entries never crash with anything but LdifError, and no error ever shows the password
// (cleartext or its base64 form).

test('fuzz: truncation, byte flips, insertions, random bytes', () => {
  const rnd = seededRandom(20261127);
  const secrets = [REAL_PASSWORD, Buffer.from(REAL_PASSWORD).toString('base64'), 'U3luYyFQw6Rzc3f'];
  const base = Buffer.from(REAL_ENTRY);
  const special = [0x0a, 0x0d, 0x20, 0x3a, 0x3c, 0x23, 0x00, 0xff, 0xc3, 0x3d];
  let parsed = 0;
  let refused = 0;
  for (let i = 0; i < 5000; i++) {
    let input: Buffer;
    const mode = i % 4;
    if (mode === 0) input = base.subarray(0, Math.floor(rnd() * base.length));
    else if (mode === 3) input = Buffer.from(Array.from({ length: Math.floor(rnd() * 300) }, () => Math.floor(rnd() * 256)));
    else {
      input = Buffer.from(base);
      const n = 1 + Math.floor(rnd() * 4);
      for (let k = 0; k < n; k++) {
        const at = Math.floor(rnd() * input.length);
        const byte = rnd() < 0.7 ? special[Math.floor(rnd() * special.length)]! : Math.floor(rnd() * 256);
        if (mode === 1) input[at] = byte;
        else input = Buffer.concat([input.subarray(0, at), Buffer.from([byte]), input.subarray(at)]);
      }
    }
    try {
      parseLdifEntry(input);
      parsed++;
    } catch (err) {
      assert.ok(err instanceof LdifError, `non-LDIF error ${String(err)} for input ${input.toString('hex')}`);
      for (const s of secrets) assert.ok(!err.message.includes(s), `password leaked: ${err.message}`);
      assert.ok(err.message.length < 200);
      refused++;
    }
  }
  assert.ok(parsed > 100 && refused > 100, `both outcomes exercised (${parsed} parsed, ${refused} refused)`);
});
