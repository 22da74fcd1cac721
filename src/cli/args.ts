// Shared argument parsing for the commands (node:util parseArgs), with usage errors as ConfigError-free messages.
// A usage error never echoes an argument the command did not expect: `pwsync submit --account bob PASSWORD`
// must not print the password (docs/security.md).

import { parseArgs, type ParseArgsConfig } from 'node:util';

export class UsageError extends Error {}

/** parseArgs' messages quote the offending argument; these say which kind of mistake it was and where. */
export function usageMessage(err: unknown, argv: readonly string[], options: Readonly<Record<string, unknown>>): string {
  const code = (err as { code?: string }).code;
  const message = (err as Error).message ?? '';
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    return `unexpected argument (argument ${positionOfUnexpected(argv, options)}, not shown: it may be a secret); this command takes only --options, and a password is never given on the command line; see pwsync help`;
  }
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return 'unknown option (not shown: it may be a secret); a password is never given on the command line; see pwsync help';
  // "Option '--account <value>' argument missing" / "Option '--json' does not take an argument" name only our own options.
  const own = /^Option '(-[a-zA-Z]|--[a-z][a-z-]*)[ ']/.exec(message);
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && own && options[own[1]!.replace(/^-+/, '')] !== undefined) {
    return message.includes('does not take an argument') ? `option ${own[1]} does not take a value` : `option ${own[1]} needs a value`;
  }
  return 'invalid arguments (not shown: they may hold a secret); see pwsync help';
}

/** 1-based position of the first argument that is neither an option nor an option's value. */
function positionOfUnexpected(argv: readonly string[], options: Readonly<Record<string, unknown>>): number {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('-')) {
      const name = a.replace(/^-+/, '').split('=')[0]!;
      const opt = options[name] as { type?: string } | undefined;
      if (opt?.type === 'string' && !a.includes('=')) i++;
      continue;
    }
    return i + 1;
  }
  return argv.length;
}

export function parse<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: false, strict: true }).values;
  } catch (err) {
    throw new UsageError(usageMessage(err, argv, options));
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
    throw new UsageError(usageMessage(err, argv, options));
  }
}
