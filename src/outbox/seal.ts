// Seals a queued password with AES-256-GCM: a fresh 96-bit nonce per row, AAD binding it to its row (id + account +
// target), so a ciphertext copied to another row does not open. Plaintext exists only in the caller's memory.

import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';

export interface Sealed {
  nonce: Buffer;
  /** ciphertext || 16-byte tag */
  box: Buffer;
}

function aad(id: string, account: string, target: string): Buffer {
  return Buffer.from(`pwsync/v1\0${id}\0${account}\0${target}`, 'utf8');
}

export function sealPassword(key: Buffer, id: string, account: string, target: string, password: string): Sealed {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(aad(id, account, target));
  const plain = Buffer.from(password, 'utf8');
  const box = Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
  plain.fill(0);
  return { nonce, box };
}

/** Throws if the row was tampered with or moved; callers treat that as a corrupt row, never as a password. */
export function openPassword(key: Buffer, id: string, account: string, target: string, sealed: Sealed): string {
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.nonce);
  decipher.setAAD(aad(id, account, target));
  decipher.setAuthTag(sealed.box.subarray(sealed.box.length - 16));
  const plain = Buffer.concat([decipher.update(sealed.box.subarray(0, sealed.box.length - 16)), decipher.final()]);
  const s = plain.toString('utf8');
  plain.fill(0);
  return s;
}

/** Keyed fingerprint of a delivered password (never the password): HMAC-SHA-256 over account, target and password. */
export function passwordFingerprint(key: Buffer, account: string, target: string, password: string): string {
  return createHmac('sha256', key).update(`${account}\0${target}\0`).update(password, 'utf8').digest('base64');
}
