// Meanings defined once: the unpaired-surrogate test (intake and SCIM targets), the account-disabled bit (delivery and
// coverage) and the password length limit (intake frame and the Samba hook) each have a single definition.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hasLoneSurrogate } from '../../src/targets/target.js';
import { isEnabledAccount } from '../../src/directory/directory.js';
import { MAX_PASSWORD_CHARS, parseChangeFrame } from '../../src/intake/frame.js';
import { InvalidUtf16Error } from '../../src/errors.js';

const payload = (password: string) =>
  Buffer.from(JSON.stringify({ v: 1, type: 'change', account: 'alice', password, source: 'cli', capturedAt: new Date().toISOString() }));

test('hasLoneSurrogate finds unpaired high and low surrogates and nothing else', () => {
  for (const s of ['', 'ascii', 'パスワード', 'emoji \u{1F600} pair', '\uD83D\uDE00']) assert.equal(hasLoneSurrogate(s), false, JSON.stringify(s));
  for (const s of ['\uD800', 'a\uDC00b', 'end\uD83D', '\uDE00\uD83D', '\uD83D\uD83D\uDE00x\uDE00']) assert.equal(hasLoneSurrogate(s), true, JSON.stringify(s));
});

test('intake refuses a lone surrogate with the same definition', () => {
  assert.throws(() => parseChangeFrame(payload('Pw-\uD800-1!')), InvalidUtf16Error);
  assert.equal(parseChangeFrame(payload('Pw-\u{1F600}-1!')).password, 'Pw-\u{1F600}-1!');
});

test('isEnabledAccount reads userAccountControl ACCOUNTDISABLE (0x2) only', () => {
  assert.equal(isEnabledAccount(0x200), true);
  assert.equal(isEnabledAccount(0x202), false);
  assert.equal(isEnabledAccount(0x2), false);
  assert.equal(isEnabledAccount(0x10200), true);
});

test('the frame accepts exactly MAX_PASSWORD_CHARS UTF-16 code units', () => {
  assert.equal(MAX_PASSWORD_CHARS, 1024);
  assert.equal(parseChangeFrame(payload('x'.repeat(MAX_PASSWORD_CHARS))).password?.length, MAX_PASSWORD_CHARS);
  assert.throws(() => parseChangeFrame(payload('x'.repeat(MAX_PASSWORD_CHARS + 1))));
});
