// `pwsync run`: the agent in the foreground until SIGTERM/SIGINT (systemd), or until its stdin closes (the Windows
// service host, native/service: Windows has no SIGTERM for another process, and closing a pipe cannot be missed).

import { loadConfig } from '../config/load.js';
import { startAgent } from '../agent.js';
import { fail, parse } from './args.js';

export async function runCommand(argv: string[]): Promise<number> {
  const a = parse(argv, { config: { type: 'string' }, secret: { type: 'string' }, 'until-stdin-closes': { type: 'boolean' } });
  if (!a.config) return fail('run: --config FILE is required');
  const agent = await startAgent(loadConfig(a.config, a.secret));
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    if (a['until-stdin-closes']) {
      // Whatever arrives on stdin is ignored; its end is the stop request (agent.stop() lets in-flight work finish).
      process.stdin.on('data', () => undefined);
      process.stdin.once('end', stop);
      process.stdin.once('error', stop);
    }
  });
  await agent.stop();
  if (a['until-stdin-closes']) process.stdin.destroy(); // stopped by a signal: the open pipe must not keep us alive
  return 0;
}
