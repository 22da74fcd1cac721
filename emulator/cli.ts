// The emulator's command line (`pwsync-emulator`): start, print one JSON line, stop on a signal.
// Never prints a token or a password; stdout carries only the single "listening" line.

import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { READ_SCOPE, WRITE_SCOPE } from './auth.js';
import { readSeedFile } from './seed-file.js';
import { startEmulator } from './server.js';
import type { EmulatorOptions, SeedFile } from './types.js';

export interface CliIo {
  readonly stdout: (line: string) => void;
  readonly stderr: (line: string) => void;
  /** Resolves when the process should stop; defaults to the first SIGINT or SIGTERM. */
  readonly stopSignal?: Promise<unknown>;
}

const USAGE = `usage: pwsync-emulator [--port N] [--seed FILE.json] [--token-file FILE] [--admin-key KEY]
                       [--latency-ms N] [--error-rate R] [--fault-seed N] [--rate-limit N] [--min-length N]
  --port N          listen on 127.0.0.1:N (default 0 = a random free port)
  --seed FILE       users and tokens to start with (see emulator/seed.example.json)
  --token-file FILE use the token in FILE (both scopes); when FILE is missing or empty, generate one and
                    write it there (mode 0600). The token is never printed.
  --admin-key KEY   key for the X-Emulator-Admin header of /_emulator/ (random by default, printed)
  --latency-ms N    added to every SCIM request
  --error-rate R    0..1, random faults (500/502/503/429/timeout/reset); --fault-seed makes them repeatable
  --rate-limit N    requests per second per token, then 429 with Retry-After
  --min-length N    password policy minimum length (6..24, default 8)
Prints one line: {"event":"listening","url":…,"scimBase":…,"adminKey":…}; SIGINT/SIGTERM stop it.`;

class UsageError extends Error {}

function numberOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number`);
  return n;
}

async function tokenFromFile(path: string): Promise<string> {
  let existing = '';
  try {
    existing = (await readFile(path, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (existing !== '') return existing;
  const token = randomBytes(32).toString('base64url');
  await writeFile(path, `${token}\n`, { mode: 0o600 });
  return token;
}

function defaultStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(signal);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/** Runs until stopped; resolves with the exit code (0 after a clean stop, 2 on a usage error, 1 on failure). */
export async function runEmulatorCli(argv: readonly string[], io?: Partial<CliIo>): Promise<number> {
  const out = io?.stdout ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const err = io?.stderr ?? ((line: string) => void process.stderr.write(`${line}\n`));
  let options: EmulatorOptions;
  try {
    const { values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        port: { type: 'string' }, seed: { type: 'string' }, 'token-file': { type: 'string' },
        'admin-key': { type: 'string' }, 'latency-ms': { type: 'string' }, 'error-rate': { type: 'string' },
        'fault-seed': { type: 'string' }, 'rate-limit': { type: 'string' }, 'min-length': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      out(USAGE);
      return 0;
    }
    const seed: SeedFile = values.seed ? await readSeedFile(values.seed) : {};
    if (values['token-file']) {
      const token = await tokenFromFile(values['token-file']);
      seed.tokens = [...(seed.tokens ?? []), { token, scopes: [READ_SCOPE, WRITE_SCOPE] }];
    }
    const faults: NonNullable<EmulatorOptions['faults']> = {};
    const latency = numberOption(values['latency-ms'], 'latency-ms');
    const errorRate = numberOption(values['error-rate'], 'error-rate');
    const faultSeed = numberOption(values['fault-seed'], 'fault-seed');
    const rate = numberOption(values['rate-limit'], 'rate-limit');
    const minLength = numberOption(values['min-length'], 'min-length');
    if (latency !== undefined) faults.latencyMs = latency;
    if (errorRate !== undefined) faults.errorRate = errorRate;
    if (faultSeed !== undefined) faults.seed = faultSeed;
    if (rate !== undefined) faults.rateLimit = { requestsPerSecond: rate };
    options = { port: numberOption(values.port, 'port') ?? 0, seed, faults };
    if (minLength !== undefined) options.policy = { minLength };
    if (values['admin-key']) options.adminKey = values['admin-key'];
  } catch (e) {
    // parseArgs quotes the offending argument; a mistyped command line may hold a secret, so it is not repeated.
    const code = (e as { code?: string }).code ?? '';
    const what = code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL' ? 'unexpected argument (not shown)' : code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? 'unknown option (not shown)' : code.startsWith('ERR_PARSE_ARGS') ? 'invalid arguments (not shown)' : e instanceof Error ? e.message : String(e);
    err(`pwsync-emulator: ${what}`);
    err(USAGE);
    return 2;
  }

  let emulator;
  try {
    emulator = await startEmulator(options);
  } catch (e) {
    err(`pwsync-emulator: cannot start: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
  out(JSON.stringify({ event: 'listening', url: emulator.url, scimBase: emulator.scimBase, adminKey: emulator.adminKey }));
  await (io?.stopSignal ?? defaultStopSignal());
  await emulator.close();
  return 0;
}
