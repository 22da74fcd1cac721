// Reads a seed file (users and tokens, see seed.example.json) for the emulator CLI.
// Never prints the file's passwords or tokens, including in error messages.

import { readFile } from 'node:fs/promises';
import { isPlainObject } from './filter.js';
import type { NewUserInput, SeedFile, TokenInput } from './types.js';

export class SeedFileError extends Error {
  override readonly name = 'SeedFileError';
}

export async function readSeedFile(path: string): Promise<SeedFile> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    const reason = err instanceof SyntaxError ? 'not valid JSON' : (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new SeedFileError(`seed file ${path}: ${reason}`);
  }
  return parseSeed(parsed, path);
}

export function parseSeed(value: unknown, where = 'seed'): SeedFile {
  if (!isPlainObject(value)) throw new SeedFileError(`${where}: must be a JSON object with "users" and/or "tokens"`);
  const { users, tokens } = value;
  if (users !== undefined && (!Array.isArray(users) || !users.every(isPlainObject))) {
    throw new SeedFileError(`${where}: "users" must be an array of objects`);
  }
  if (tokens !== undefined && (!Array.isArray(tokens) || !tokens.every(isPlainObject))) {
    throw new SeedFileError(`${where}: "tokens" must be an array of objects`);
  }
  // Keys starting with "$" (e.g. "$comment") are documentation inside the file, not attributes.
  const strip = (o: Record<string, unknown>): Record<string, unknown> =>
    Object.fromEntries(Object.entries(o).filter(([k]) => !k.startsWith('$')));
  const seed: SeedFile = {};
  if (users) seed.users = (users as Record<string, unknown>[]).map(strip) as NewUserInput[];
  if (tokens) seed.tokens = (tokens as Record<string, unknown>[]).map(strip) as unknown as TokenInput[];
  return seed;
}
