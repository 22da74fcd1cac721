#!/usr/bin/env node
// `npm run build:hook`: compiles the native Samba hook (native/samba-hook/pwsync-samba-hook.c) with the system gcc
// into dist/libexec/pwsync-samba-hook (or the path given), hardened, atomically replaced. Linux only; used by
// scripts/package-linux.mjs and the tests. Never runs the hook.

import { spawnSync } from 'node:child_process';
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const HOOK_SOURCE = join(root, 'native', 'samba-hook', 'pwsync-samba-hook.c');
export const DEFAULT_HOOK_OUT = join(root, 'dist', 'libexec', 'pwsync-samba-hook');

// Hardening for a program that runs as root with a cleartext password in memory: stack protector, fortified libc
// calls, position independent, full RELRO, non-executable stack; warnings are errors.
const CFLAGS = [
  '-std=c11', '-O2', '-Wall', '-Wextra', '-Werror', '-Wformat=2', '-Wconversion',
  '-fstack-protector-strong', '-D_FORTIFY_SOURCE=2', '-fPIE', '-pie', '-Wl,-z,relro,-z,now,-z,noexecstack', '-s',
];

/** Builds the hook at `out`; returns undefined, or the reason it could not (gcc missing, compile error). */
export function buildSambaHook(out = DEFAULT_HOOK_OUT) {
  const target = resolve(out);
  mkdirSync(dirname(target), { recursive: true });
  const tmp = `${target}.${process.pid}.tmp`;
  const r = spawnSync(process.env.CC || 'gcc', [...CFLAGS, '-o', tmp, HOOK_SOURCE], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    rmSync(tmp, { force: true });
    return r.error ? `cannot run ${process.env.CC || 'gcc'} (${r.error.code ?? r.error.message}): install gcc and libc6-dev` : `gcc failed:\n${r.stderr}`;
  }
  renameSync(tmp, target);
  return undefined;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.platform !== 'linux') {
    process.stderr.write('build-samba-hook: the Samba hook is built on Linux only\n');
    process.exit(1);
  }
  const why = buildSambaHook(process.argv[2] ?? DEFAULT_HOOK_OUT);
  if (why) {
    process.stderr.write(`build-samba-hook: ${why}\n`);
    process.exit(1);
  }
  process.stdout.write(`${process.argv[2] ?? DEFAULT_HOOK_OUT}\n`);
}
