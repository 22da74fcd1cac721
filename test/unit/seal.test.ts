// Unit tests of password sealing (AES-256-GCM, AAD bound to the row), fingerprints, and the agent's key file.

import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { randomBytes } from 'node:crypto';
import { ConfigError } from '../../src/errors.js';
import { loadOrCreateKeys } from '../../src/outbox/key-file.js';
import { openPassword, passwordFingerprint, sealPassword } from '../../src/outbox/seal.js';

const KEY = randomBytes(32);
const PW = 'Pässwörd-😀-secret';

describe('sealPassword / openPassword', () => {
  it('round-trips any UTF-8 password, including empty and non-BMP', () => {
    for (const pw of [PW, '', 'a', 'x'.repeat(1024), '\u{10FFFF}']) {
      const s = sealPassword(KEY, 'id1', 'alice', 'iij', pw);
      assert.equal(s.nonce.length, 12);
      assert.equal(s.box.length, Buffer.byteLength(pw) + 16, 'ciphertext || 16-byte tag');
      assert.equal(openPassword(KEY, 'id1', 'alice', 'iij', s), pw);
    }
  });

  it('the sealed box does not contain the password bytes', () => {
    const s = sealPassword(KEY, 'id1', 'alice', 'iij', PW);
    assert.ok(!s.box.includes(Buffer.from(PW, 'utf8')));
  });

  it('AAD binds the box to its row: another id, account or target does not open it', () => {
    const s = sealPassword(KEY, 'id1', 'alice', 'iij', PW);
    for (const [id, account, target] of [
      ['id2', 'alice', 'iij'],
      ['id1', 'bob', 'iij'],
      ['id1', 'alice', 'scim'],
      ['id1', 'Alice', 'iij'],
      // the separator keeps fields apart: moving a character from one field to the next must not open it
      ['id1a', 'lice', 'iij'],
    ] as const)
      assert.throws(() => openPassword(KEY, id, account, target, s), `opened with ${id}/${account}/${target}`);
  });

  it('another key does not open it', () => {
    const s = sealPassword(KEY, 'id1', 'alice', 'iij', PW);
    assert.throws(() => openPassword(randomBytes(32), 'id1', 'alice', 'iij', s));
  });

  it('a tampered tag, ciphertext or nonce fails to open', () => {
    const s = sealPassword(KEY, 'id1', 'alice', 'iij', PW);
    const tag = Buffer.from(s.box);
    tag[tag.length - 1]! ^= 1;
    assert.throws(() => openPassword(KEY, 'id1', 'alice', 'iij', { nonce: s.nonce, box: tag }));
    const ct = Buffer.from(s.box);
    ct[0]! ^= 0x80;
    assert.throws(() => openPassword(KEY, 'id1', 'alice', 'iij', { nonce: s.nonce, box: ct }));
    const nonce = Buffer.from(s.nonce);
    nonce[5]! ^= 1;
    assert.throws(() => openPassword(KEY, 'id1', 'alice', 'iij', { nonce, box: s.box }));
    assert.throws(() => openPassword(KEY, 'id1', 'alice', 'iij', { nonce: s.nonce, box: s.box.subarray(0, 15) }), 'a truncated box must not open');
  });

  it('uses a fresh nonce for every seal (5000 seals of the same row, no repeat)', () => {
    const seen = new Set<string>();
    const boxes = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      const s = sealPassword(KEY, 'id1', 'alice', 'iij', PW);
      seen.add(s.nonce.toString('hex'));
      boxes.add(s.box.toString('hex'));
    }
    assert.equal(seen.size, 5000);
    assert.equal(boxes.size, 5000);
  });
});

describe('passwordFingerprint', () => {
  const FK = randomBytes(32);
  it('is stable for the same inputs and differs per account, target, password and key', () => {
    const f = passwordFingerprint(FK, 'alice', 'iij', PW);
    assert.equal(passwordFingerprint(FK, 'alice', 'iij', PW), f);
    assert.notEqual(passwordFingerprint(FK, 'bob', 'iij', PW), f);
    assert.notEqual(passwordFingerprint(FK, 'alice', 'scim', PW), f);
    assert.notEqual(passwordFingerprint(FK, 'alice', 'iij', PW + '!'), f);
    assert.notEqual(passwordFingerprint(randomBytes(32), 'alice', 'iij', PW), f);
    // the separator keeps account and target apart
    assert.notEqual(passwordFingerprint(FK, 'ab', 'c', PW), passwordFingerprint(FK, 'a', 'bc', PW));
  });

  it('does not contain the password in any encoding', () => {
    const pw = 'CorrectHorseBatteryStaple';
    const f = passwordFingerprint(FK, 'alice', 'iij', pw);
    assert.ok(!f.includes(pw));
    assert.ok(!Buffer.from(f, 'base64').includes(Buffer.from(pw)));
    assert.equal(Buffer.from(f, 'base64').length, 32, 'an HMAC-SHA-256');
  });
});

describe('loadOrCreateKeys', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'pwsync-key-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('creates a 64-byte key file with mode 0600 (also in a new directory) and reuses it on the next call', () => {
    const file = path.join(dir, 'sub', 'agent.key');
    const first = loadOrCreateKeys(file);
    assert.equal(first.created, true);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(path.dirname(file)).mode & 0o077, 0, 'the key directory is private');
    assert.equal(readFileSync(file).length, 64);
    assert.equal(first.keys.sealKey.length, 32);
    assert.equal(first.keys.fingerprintKey.length, 32);
    assert.ok(!first.keys.sealKey.equals(first.keys.fingerprintKey));
    const second = loadOrCreateKeys(file);
    assert.equal(second.created, false);
    assert.ok(second.keys.sealKey.equals(first.keys.sealKey));
    assert.ok(second.keys.fingerprintKey.equals(first.keys.fingerprintKey));
  });

  it('refuses a key file readable by group or others, naming the fix', () => {
    const file = path.join(dir, 'open.key');
    writeFileSync(file, randomBytes(64));
    for (const mode of [0o644, 0o640, 0o604]) {
      chmodSync(file, mode);
      assert.throws(
        () => loadOrCreateKeys(file),
        (e: unknown) => e instanceof ConfigError && e.code === 'E_CONFIG' && e.message.includes(`chmod 600 ${file}`),
      );
    }
  });

  it('refuses a key file of the wrong length (damaged) instead of regenerating it', () => {
    for (const len of [0, 32, 63, 65]) {
      const file = path.join(dir, `short-${len}.key`);
      writeFileSync(file, randomBytes(len), { mode: 0o600 });
      assert.throws(() => loadOrCreateKeys(file), (e: unknown) => e instanceof ConfigError && /damaged/.test(e.message));
      assert.equal(readFileSync(file).length, len, 'the damaged file is left as it was');
    }
  });
});
