// `pwsync samba-hook`: the program `samba-tool user syncpasswords --script` runs once per changed object.
// Reads that object's LDIF from stdin (bounded), hands it to the agent and prints `DONE-EXIT: …` as its FIRST and
// only success output, only after the agent acked. On failure it prints only the error (never the password) and
// exits 1, so syncpasswords stops without advancing its cache and hands the object over again when restarted.
//
// Start-up matters (one process per change): only node:os, node:net, node:util and the pure LDIF/entry modules
// load on this path. No zod, yaml, ldapts or SQLite; --config (slower) is loaded only when no socket is given.

import { parse } from './args.js';
import { MAX_LDIF_BYTES } from '../capture/ldif.js';
import { forwardSambaObject } from '../capture/samba-forward.js';
import { IntakeUnavailableError, sendFrameBytes } from '../capture/intake-client.js';
import { ConfigError } from '../errors.js';

const USAGE = 'usage: pwsync samba-hook [--socket PATH | --config FILE [--secret FILE]] [--dc NAME] [--timeout MS]';

export async function sambaHookCommand(argv: string[]): Promise<number> {
  try {
    const a = parse(argv, {
      socket: { type: 'string' }, config: { type: 'string' }, secret: { type: 'string' }, dc: { type: 'string' }, timeout: { type: 'string' },
    });
    const timeoutMs = a.timeout === undefined ? 10_000 : Number(a.timeout);
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1) return failed(`--timeout must be a positive number of milliseconds; ${USAGE}`, 2);
    const socket = a.socket ?? nonEmpty(process.env.PWSYNC_SOCKET) ?? (a.config ? await socketFromConfig(a.config, a.secret) : undefined);
    if (!socket) return failed(`no intake socket: give --socket PATH, set PWSYNC_SOCKET, or give --config FILE; ${USAGE}`, 2);

    const ldif = await readStdinBounded(MAX_LDIF_BYTES);
    if (!ldif) return failed(`the LDIF on stdin exceeds ${MAX_LDIF_BYTES} bytes [E_LDIF]`, 1);
    let outcome;
    try {
      // Without --dc the frame names no DC and the agent uses its own agent.dc (default: the host name).
      outcome = await forwardSambaObject(ldif, { dc: a.dc, send: (bytes) => sendFrameBytes(socket, bytes, timeoutMs) });
    } finally {
      ldif.fill(0);
    }
    if (!outcome.done) return failed(outcome.message, 1);
    process.stdout.write(outcome.line + '\n');
    return 0;
  } catch (err) {
    // Everything below is value-free by construction (usage, config key paths, socket errors).
    const e = err as Error & { code?: string };
    const code = typeof e.code === 'string' ? ` [${e.code}]` : '';
    return failed(`${err instanceof IntakeUnavailableError ? '' : 'error: '}${e.message ?? String(err)}${code}`, e.code === ConfigError.code ? 2 : 1);
  }
}

function failed(message: string, code: number): number {
  process.stderr.write(`pwsync samba-hook: ${message}\n`);
  return code;
}

function nonEmpty(v: string | undefined): string | undefined {
  return v && v.length > 0 ? v : undefined;
}

async function socketFromConfig(config: string, secret: string | undefined): Promise<string> {
  const { loadConfig } = await import('../config/load.js');
  return loadConfig(config, secret).config.agent.intake.socket;
}

/** All of stdin, or undefined as soon as it exceeds `max` bytes (what was read is wiped either way on overflow). */
async function readStdinBounded(max: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.length;
    chunks.push(chunk);
    if (size > max) {
      for (const c of chunks) c.fill(0);
      process.stdin.destroy();
      return undefined;
    }
  }
  const all = Buffer.concat(chunks, size);
  for (const c of chunks) c.fill(0);
  return all;
}
