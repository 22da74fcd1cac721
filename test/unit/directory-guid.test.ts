// objectGUID / objectSid conversions against known vectors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { guidFromString, guidToString, isGuidString, ridFromSid, sidFromString, sidToString, sidWithRid } from '../../src/directory/guid.js';

// The GUID of a real Samba syncpasswords sample; bytes as AD stores them (first three groups little-endian).
const GUID = '5a83c5d3-e4bc-426d-9024-a9698ef54afb';
const GUID_BYTES = Buffer.from('d3c5835abce46d429024a9698ef54afb', 'hex');

test('objectGUID bytes → string: first three groups little-endian', () => {
  assert.equal(guidToString(GUID_BYTES), GUID);
});

test('string → objectGUID bytes, braces and upper case accepted', () => {
  assert.deepEqual(guidFromString(GUID), GUID_BYTES);
  assert.deepEqual(guidFromString(`{${GUID.toUpperCase()}}`), GUID_BYTES);
});

test('GUID round trip on random bytes', () => {
  for (let i = 0; i < 200; i++) {
    const b = Buffer.from(Array.from({ length: 16 }, () => Math.floor(Math.random() * 256)));
    assert.deepEqual(guidFromString(guidToString(b)), b);
  }
});

test('bad GUIDs are refused, not guessed', () => {
  assert.throws(() => guidToString(Buffer.alloc(15)), RangeError);
  assert.throws(() => guidFromString('5a83c5d3-e4bc-426d-9024-a9698ef54af'), RangeError);
  assert.throws(() => guidFromString('zz83c5d3-e4bc-426d-9024-a9698ef54afb'), RangeError);
  assert.equal(isGuidString(GUID), true);
  assert.equal(isGuidString('alice'), false);
});

// S-1-5-21-3623811015-3361044348-30300820-1013 (bytes computed independently with Python's struct.pack('<I')).
const SID = 'S-1-5-21-3623811015-3361044348-30300820-1013';
const SID_BYTES = Buffer.from('010500000000000515000000c7f7fed77c7755c8945ace01f5030000', 'hex');

test('SID bytes ⇄ string with a known vector', () => {
  assert.equal(sidToString(SID_BYTES), SID);
  assert.deepEqual(sidFromString(SID), SID_BYTES);
});

test('RID is the last sub-authority', () => {
  assert.equal(ridFromSid(SID_BYTES), 1013);
  assert.equal(ridFromSid(SID), 1013);
  assert.equal(ridFromSid('S-1-5-21-1-2-3-4294967295'), 4294967295);
});

test('domain SID + RID builds the account SID', () => {
  const domain = sidFromString('S-1-5-21-3623811015-3361044348-30300820');
  assert.deepEqual(sidWithRid(domain, 1013), SID_BYTES);
  assert.throws(() => sidWithRid(domain, -1), RangeError);
});

test('malformed SIDs throw', () => {
  assert.throws(() => sidToString(Buffer.from('0105', 'hex')), RangeError);
  assert.throws(() => sidToString(SID_BYTES.subarray(0, SID_BYTES.length - 1)), RangeError);
  assert.throws(() => sidFromString('S-2-5'), RangeError);
  assert.throws(() => ridFromSid('S-1-5'), RangeError);
});
