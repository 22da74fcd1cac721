// pwdLastSet FILETIME ⇄ Date.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareFiletime, dateToFiletime, filetimeToDate } from '../../src/directory/filetime.js';

test('the Unix epoch is 116444736000000000 ticks', () => {
  assert.equal(dateToFiletime(new Date(0)), '116444736000000000');
  assert.equal(filetimeToDate('116444736000000000')?.toISOString(), '1970-01-01T00:00:00.000Z');
});

test('the pwdLastSet of a real Samba syncpasswords sample is 2026-11-27', () => {
  // 134402565731285800 ticks = checked with Python: datetime(1601,1,1) + timedelta(microseconds=ticks//10) = 2026-11-27 12:36:13.128580.
  assert.equal(filetimeToDate('134402565731285800')?.toISOString(), '2026-11-27T12:36:13.128Z');
});

test('round trip at millisecond precision', () => {
  for (const iso of ['2000-01-01T00:00:00.000Z', '2026-11-27T12:34:56.789Z', '1601-01-01T00:00:00.001Z']) {
    assert.equal(filetimeToDate(dateToFiletime(new Date(iso)))?.toISOString(), iso);
  }
});

test('0 (must change at next logon) and 0x7FFFFFFFFFFFFFFF (never) are not dates', () => {
  assert.equal(filetimeToDate('0'), undefined);
  assert.equal(filetimeToDate('9223372036854775807'), undefined);
  assert.equal(filetimeToDate(-1n), undefined);
});

test('compares numerically, not as strings', () => {
  assert.equal(compareFiletime('99', '100'), -1);
  assert.equal(compareFiletime('134402565731285800', '134402565731285801'), -1);
  assert.equal(compareFiletime('134402565731285800', '134402565731285800'), 0);
  assert.equal(compareFiletime(2n, '1'), 1);
});

test('garbage is refused', () => {
  assert.throws(() => filetimeToDate('12abc'), RangeError);
  assert.throws(() => filetimeToDate(''), RangeError);
  assert.throws(() => dateToFiletime(new Date('nope')), RangeError);
  assert.throws(() => dateToFiletime(new Date('1500-01-01T00:00:00Z')), RangeError);
});
