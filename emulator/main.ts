#!/usr/bin/env node
// Entry point of the `pwsync-emulator` bin (a development and test tool: the production `pwsync` does not ship it);
// runEmulatorCli is exported for tests and scripts that start it in-process.
// Never does anything on import: it only runs when executed as the program.

import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runEmulatorCli } from './cli.js';

export { runEmulatorCli } from './cli.js';
export type { CliIo } from './cli.js';

function invokedDirectly(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    // npm's bin is a symlink to this file: compare real paths.
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (invokedDirectly()) {
  process.exitCode = await runEmulatorCli(process.argv.slice(2));
}
