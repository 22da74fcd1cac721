// Password storage for the emulator: scrypt hashes with a random salt, compared in constant time.
// Never keeps, returns or logs the plaintext; callers drop their copy as soon as the hash exists.

import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

export interface PasswordHash {
  readonly salt: Buffer;
  readonly hash: Buffer;
  readonly cost: number;
}

const KEY_LENGTH = 32;
const SALT_LENGTH = 16;
export const DEFAULT_HASH_COST = 1024;

function scryptAsync(password: string, salt: Buffer, cost: number): Promise<Buffer> {
  const options: ScryptOptions = { N: cost, r: 8, p: 1, maxmem: 256 * cost * 8 + 1024 * 1024 };
  return new Promise((resolve, reject) => {
    scrypt(password, salt, KEY_LENGTH, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export async function hashPassword(password: string, cost: number = DEFAULT_HASH_COST): Promise<PasswordHash> {
  const salt = randomBytes(SALT_LENGTH);
  return { salt, hash: await scryptAsync(password, salt, cost), cost };
}

export async function passwordMatches(password: string, stored: PasswordHash): Promise<boolean> {
  const candidate = await scryptAsync(password, stored.salt, stored.cost);
  return timingSafeEqual(candidate, stored.hash);
}

export function isValidHashCost(cost: number): boolean {
  return Number.isInteger(cost) && cost >= 2 && (cost & (cost - 1)) === 0 && cost <= 1 << 20;
}
