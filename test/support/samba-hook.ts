// The native Samba hook for tests: built once per test process with the system gcc (scripts/build-samba-hook.mjs)
// into dist/libexec, where `pwsync samba setup` looks for it. In CI (CI=true) a missing gcc FAILS the test.

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** Where the build script puts the hook, and where `pwsync samba setup` looks for it from this checkout. */
export const NATIVE_HOOK = path.join(root, 'dist', 'libexec', 'pwsync-samba-hook');

let built: { path?: string; why?: string } | undefined;

function build(): { path?: string; why?: string } {
  const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'build-samba-hook.mjs'), NATIVE_HOOK], { encoding: 'utf8' });
  return r.status === 0 ? { path: NATIVE_HOOK } : { why: (r.stderr || r.error?.message || 'unknown').trim() };
}

/** The hook's path, or undefined (outside CI only: the test skipped itself) when it cannot be built here. */
export function nativeSambaHook(t?: TestContext): string | undefined {
  built ??= build();
  if (built.path) return built.path;
  if (process.env.CI === 'true') throw new Error(`the native Samba hook cannot be built in CI: ${built.why}`);
  t?.skip(`the native Samba hook cannot be built: ${built.why}`);
  return undefined;
}
