// Shared argument parsing for the commands (node:util parseArgs), with usage errors as ConfigError-free messages.

import { parseArgs, type ParseArgsConfig } from 'node:util';

export class UsageError extends Error {}

export function parse<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: false, strict: true }).values;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export function fail(message: string): number {
  process.stderr.write(`pwsync: ${message}\n`);
  return 2;
}

/** Like `parse`, also returning positional arguments (e.g. `queue retry ID`). */
export function parseWithPositionals<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}
