// `pwsync submit`: the reference capture client. Reads the password from stdin or a prompt, sends one frame,
// prints the change id once the agent has committed it.

import os from 'node:os';
import { loadConfig } from '../config/load.js';
import { IntakeUnavailableError, UntrustedSocketError, sendChange } from '../capture/intake-client.js';
import { fail, parse } from './args.js';
import { readPassword } from './read-password.js';

export async function submitCommand(argv: string[]): Promise<number> {
  const a = parse(argv, { account: { type: 'string' }, config: { type: 'string' }, secret: { type: 'string' }, socket: { type: 'string' }, rid: { type: 'string' }, dc: { type: 'string' } });
  if (!a.account) return fail('submit: --account NAME is required');
  const socket = a.socket ?? (a.config ? loadConfig(a.config, a.secret).config.agent.intake.socket : undefined);
  if (!socket) return fail('submit: give --config FILE or --socket PATH');
  const rid = a.rid === undefined ? undefined : Number(a.rid);
  if (rid !== undefined && !Number.isInteger(rid)) return fail('submit: --rid must be an integer');
  const password = await readPassword();
  if (password.length === 0) return fail('submit: empty password');
  let reply;
  try {
    reply = await sendChange(socket, {
      v: 1, type: 'change', source: 'cli', dc: a.dc ?? os.hostname(), account: a.account, ...(rid === undefined ? {} : { rid }),
      capturedAt: new Date().toISOString(), password,
    });
  } catch (err) {
    if (!(err instanceof UntrustedSocketError || err instanceof IntakeUnavailableError)) throw err;
    process.stderr.write(`pwsync: submit: ${err.message} [${err.code}]\n`);
    return 1;
  }
  if (reply.ok) {
    process.stdout.write(`${reply.id}\n`);
    return 0;
  }
  process.stderr.write(`pwsync: the agent refused the change: ${reply.message} [${reply.code}]\n`);
  return 1;
}
