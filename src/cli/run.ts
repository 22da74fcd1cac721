// `pwsync run`: the agent in the foreground until SIGTERM/SIGINT (systemd), or until its stdin closes (the Windows
// service host, native/service: Windows has no SIGTERM for another process, and closing a pipe cannot be missed).

import { existsSync } from 'node:fs';
import path from 'node:path';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import { assertOnlyAdminsCanRead } from '../config/windows-acl.js';
import { ConfigError } from '../errors.js';
import { KEY_FILE, startAgent } from '../agent.js';
import { fail, parse } from './args.js';

export async function runCommand(argv: string[]): Promise<number> {
  const a = parse(argv, { config: { type: 'string' }, secret: { type: 'string' }, 'until-stdin-closes': { type: 'boolean' } });
  if (!a.config) return fail('run: --config FILE is required');
  const loaded = loadConfig(a.config, a.secret);
  if (process.platform === 'win32') checkWindowsAcls(loaded);
  const agent = await startAgent(loaded);
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

/** Windows: secret.yml, agent.key and the data directory must be private to SYSTEM and Administrators (docs/security.md). */
function checkWindowsAcls(loaded: LoadedConfig): void {
  const dataDir = loaded.config.agent.data_dir;
  if (!existsSync(dataDir)) throw new ConfigError(`data directory ${dataDir} does not exist: run pwsync-service.exe install, which creates it with the right access rights`);
  const key = path.join(dataDir, KEY_FILE);
  const unread = assertOnlyAdminsCanRead(
    [
      { label: 'the data directory', path: dataDir },
      { label: 'secret.yml', path: loaded.secretPath },
      ...(existsSync(key) ? [{ label: 'agent.key', path: key }] : []),
    ],
    dataDir,
  );
  if (unread.length > 0) process.stderr.write(`pwsync: warning: Wine's icacls reports no access rights; not checked: ${unread.join(', ')}\n`);
}
