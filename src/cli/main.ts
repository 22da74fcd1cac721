#!/usr/bin/env node
// pwsync command line: a thin dispatcher; each command lives in its own module and calls the parts in src/.
// Never accepts a password or token as an argument.

// First: it must run before any other module is loaded (young-generation.ts).
import './young-generation.js';
import { ConfigError, PwsyncError } from '../errors.js';
import { UsageError } from './args.js';

const USAGE = `pwsync — Active Directory → IIJ ID / SCIM password synchronisation agent

Usage:
  pwsync run     --config FILE [--secret FILE]    run the agent (intake, outbox, delivery)
  pwsync check   --config FILE [--secret FILE]    validate the configuration and test each connection
  pwsync init    [--from-dirsync DIR [--with-secrets]] [--out DIR] [--data-dir DIR] [--target-url URL]
                 [--user NAME] [--force]
                                                 write config.yml + secret.yml (from IIJ Directory Sync's
                                                 files, or from a few questions), then run pwsync check
  pwsync status  --config FILE [--json]           queue counts, oldest pending age, per-target health
  pwsync submit  --account NAME (--config FILE | --socket PATH) [--rid N]
                                                 hand one password change to the agent; the password is
                                                 read from stdin or a prompt, never from the command line
  pwsync demo    [--once]                         emulator + agent on temporary paths, one change end to end
  pwsync queue   list|show|retry|drop --config FILE [ID] [--state S] [--account A]
                                                 inspect and act on waiting and failed changes
  pwsync report coverage --config FILE [--csv] [--all]
                                                 in-scope AD users whose current password has not reached a target
  pwsync report mapping --config FILE [--format csv|json] [--out FILE]
                                                 read-only: is every in-scope AD user found at each target
                                                 by the external ID delivery computes? (and the reverse)
  pwsync samba setup --config FILE [--smb-conf F] [--cache-ldb F] [--hook F] [--gnupghome D] [--init]
                                                 check a Samba DC and initialise the syncpasswords cache
  pwsync help

Exit codes: 0 ok, 1 failed (status: a target is paused), 2 usage or configuration error, 3 status: agent not started yet.`;

type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, () => Promise<Command>> = {
  init: async () => (await import('./init.js')).initCommand,
  run: async () => (await import('./run.js')).runCommand,
  check: async () => (await import('./check.js')).checkCommand,
  status: async () => (await import('./status.js')).statusCommand,
  submit: async () => (await import('./submit.js')).submitCommand,
  demo: async () => (await import('./demo.js')).demoCommand,
  queue: async () => (await import('./queue.js')).queueCommand,
  report: async () => async (argv: string[]) => {
    const [sub, ...rest] = argv;
    if (sub === 'mapping') return (await import('./report-mapping.js')).reportMappingCommand(rest);
    if (sub !== 'coverage') {
      process.stderr.write('pwsync: report: the reports are "coverage" and "mapping"\n');
      return 2;
    }
    return (await import('./report-coverage.js')).reportCoverageCommand(rest);
  },
  samba: async () => (await import('./samba-setup.js')).sambaCommand,
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(USAGE + '\n');
    return name ? 0 : 2;
  }
  const load = COMMANDS[name];
  if (!load) {
    // Not echoed: a mistyped command line may start with a secret.
    process.stderr.write(`pwsync: unknown command (not shown: it may be a secret)\n\n${USAGE}\n`);
    return 2;
  }
  return (await load())(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`pwsync: ${err.message}\n`);
      process.exitCode = 2;
    } else if (err instanceof PwsyncError) {
      process.stderr.write(`pwsync: ${err.message} [${err.code}]\n`);
      process.exitCode = err.code === ConfigError.code ? 2 : 1;
    } else {
      process.stderr.write(`pwsync: unexpected error: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    }
  },
);
