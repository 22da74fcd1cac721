// `pwsync run`: the agent in the foreground until SIGTERM/SIGINT (systemd / the Windows service wrapper).

import { loadConfig } from '../config/load.js';
import { startAgent } from '../agent.js';
import { fail, parse } from './args.js';

export async function runCommand(argv: string[]): Promise<number> {
  const a = parse(argv, { config: { type: 'string' }, secret: { type: 'string' } });
  if (!a.config) return fail('run: --config FILE is required');
  const agent = await startAgent(loadConfig(a.config, a.secret));
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  await agent.stop();
  return 0;
}
