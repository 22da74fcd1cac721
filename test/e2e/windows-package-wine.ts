// Support for windows-package.test.ts: builds (or reuses) the Windows zip, unpacks it, and runs its programs in a
// throwaway Wine prefix (Windows 10). Output of Windows programs goes to files, never pipes (Node inside Wine dies
// at start when stdout is a pipe). Never touches ~/.wine and never kills another prefix's wineserver.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from './passfilt-wine.js';

export const WINDOWS_TOOLS = ['make', 'zip', 'unzip', 'x86_64-w64-mingw32-gcc', 'x86_64-w64-mingw32-objdump', 'wine', 'wineserver'];

export function missingWindowsTools(): string[] {
  return WINDOWS_TOOLS.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' }).status !== 0);
}

function newestMtime(dir: string, match: (f: string) => boolean): number {
  let newest = 0;
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'build' && e.name !== 'node_modules') walk(p);
      } else if (match(p)) newest = Math.max(newest, fs.statSync(p).mtimeMs);
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return newest;
}

/** dist/pwsync-<version>-win-x64.zip, rebuilt with scripts/package-windows.mjs unless newer than all its inputs. */
export function ensureWindowsPackage(): string {
  const root = repoRoot();
  const version = (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;
  const zip = path.join(root, 'dist', `pwsync-${version}-win-x64.zip`);
  const inputs = Math.max(
    newestMtime(path.join(root, 'dist', 'src'), (f) => f.endsWith('.js')),
    newestMtime(path.join(root, 'native'), (f) => /\.(c|h|def)$|Makefile$/.test(f)),
    newestMtime(path.join(root, 'deploy', 'windows'), () => true),
    fs.statSync(path.join(root, 'scripts', 'package-windows.mjs')).mtimeMs,
  );
  if (fs.existsSync(zip) && fs.statSync(zip).mtimeMs >= inputs) return zip;
  const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'package-windows.mjs')], { cwd: root, encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) throw new Error(`package-windows failed (${r.status}):\n${r.stderr.slice(-3000)}`);
  return zip;
}

/**
 * The production filter's sources built with only its "is the pipe server LocalSystem?" answer swapped (no
 * process runs as LocalSystem under Wine): native/passfilt's pwfilt-wine.dll. Same Makefile and sources as the
 * shipped DLL, so a transport change reaches this build too.
 */
export function buildWineFilter(outDir: string): string {
  const root = repoRoot();
  // native/passfilt's pwfilt-wine.dll: the production DLL with only the LocalSystem check of the pipe server swapped
  // (under Wine no process is LocalSystem); the one difference is documented in the Makefile and docs/operations-windows.md.
  const built = path.join(outDir, 'pwfilt-wine.dll');
  const r = spawnSync('make', ['-C', path.join(root, 'native', 'passfilt'), `B=${outDir}`, built], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`building the Wine filter failed:\n${r.stdout}\n${r.stderr}`);
  const dll = path.join(outDir, 'pwfilt.dll');
  fs.copyFileSync(built, dll); // installed under the name LSA loads
  const h = spawnSync('make', ['-C', path.join(root, 'native', 'passfilt'), 'build/harness.exe'], { encoding: 'utf8', timeout: 120_000 });
  if (h.status !== 0) throw new Error(`building harness.exe failed:\n${h.stdout}\n${h.stderr}`);
  return dll;
}

export function harnessExe(): string {
  return path.join(repoRoot(), 'native', 'passfilt', 'build', 'harness.exe');
}

export interface WinResult {
  code: number | null;
  out: string;
  ms: number;
}

export class WinePrefix {
  readonly prefix: string;
  private readonly logs: string;

  private constructor() {
    this.prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'pwsync-winpkg-'));
    this.logs = fs.mkdtempSync(path.join(os.tmpdir(), 'pwsync-winpkg-out-'));
  }

  /** A fresh Windows 10 prefix with one persistent wineserver (otherwise every `wine` call would "boot" again). */
  static async create(): Promise<WinePrefix> {
    const w = new WinePrefix();
    const boot = await w.run('wineboot', ['-i'], 180_000);
    if (boot.code !== 0) throw new Error(`wineboot -i failed: ${boot.out.slice(-2000)}`);
    spawnSync('wineserver', ['-w'], { env: w.env(), stdio: 'ignore', timeout: 60_000 });
    spawnSync('wineserver', ['-p'], { env: w.env(), stdio: 'ignore', timeout: 30_000 });
    const ver = await w.wine(['reg', 'add', 'HKCU\\Software\\Wine', '/v', 'Version', '/d', 'win10', '/f']);
    if (ver.code !== 0) throw new Error(`setting Windows 10 failed: ${ver.out}`);
    return w;
  }

  env(): NodeJS.ProcessEnv {
    return { ...process.env, WINEPREFIX: this.prefix, WINEDEBUG: '-all', WINEDLLOVERRIDES: 'mscoree,mshtml=', DISPLAY: '' };
  }

  /** C:\... as Linux sees it. */
  linux(winPath: string): string {
    return path.join(this.prefix, 'drive_c', ...winPath.replace(/^C:\\/i, '').split('\\'));
  }

  /** Runs a command with stdout+stderr in one file; waits for 'exit' (Wine helpers inherit descriptors). */
  run(cmd: string, args: string[], timeoutMs = 120_000, cwd = this.logs, env: NodeJS.ProcessEnv = {}): Promise<WinResult> {
    const started = Date.now();
    const file = path.join(this.logs, `out-${process.hrtime.bigint()}`);
    const fd = fs.openSync(file, 'w+');
    return new Promise((resolve, reject) => {
      const child = spawn(cmd, args, { env: { ...this.env(), ...env }, cwd, stdio: ['ignore', fd, fd] });
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.once('error', (e) => {
        clearTimeout(timer);
        fs.closeSync(fd);
        reject(e);
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        fs.closeSync(fd);
        const out = fs.readFileSync(file, 'utf8');
        fs.rmSync(file, { force: true });
        resolve({ code, out, ms: Date.now() - started });
      });
    });
  }

  wine(args: string[], timeoutMs = 120_000): Promise<WinResult> {
    return this.run('wine', args, timeoutMs);
  }

  /** A long-running Windows program fed through stdin (no password ever in argv or env); stdout to a file. */
  spawnWithStdin(args: string[]): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
    const file = path.join(this.logs, `long-${process.hrtime.bigint()}`);
    const fd = fs.openSync(file, 'w+');
    const child = spawn('wine', args, { env: this.env(), cwd: this.logs, stdio: ['pipe', fd, fd] });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => (fs.closeSync(fd), r(code))));
    return { child, output: () => fs.readFileSync(file, 'utf8'), exited };
  }

  /** `reg query KEY /v NAME` → the value's data text, or undefined when absent. */
  async regValue(key: string, name: string): Promise<string | undefined> {
    const r = await this.wine(['reg', 'query', key, '/v', name]);
    if (r.code !== 0) return undefined;
    const line = r.out.split(/\r?\n/).find((l) => l.trim().startsWith(name));
    const m = line && /REG_\w+\s+(.*)$/.exec(line.trim());
    return m ? m[1]!.trim() : undefined;
  }

  /**
   * `sc start NAME`. A service process reports STOPPED a moment before it exits, and until it has, Wine's SCM refuses
   * a new start with ERROR_SERVICE_ALREADY_RUNNING (1056: services.exe checks the old process handle): only that
   * refusal is retried, until the old process is gone; any other failure is returned at once. Wine's sc.exe names the
   * error only on its trace channel, hence WINEDEBUG for this call.
   */
  async startService(name: string, timeoutMs = 30_000): Promise<WinResult> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await this.run('wine', ['sc', 'start', name], 120_000, this.logs, { WINEDEBUG: 'trace+sc' });
      if (r.code === 0 || !/failed to start service 1056\b/.test(r.out) || Date.now() > deadline) return r;
      await new Promise((res) => setTimeout(res, 250));
    }
  }

  /** The service's state as `sc query` names it (RUNNING, STOPPED, …), or undefined when it does not exist. */
  async serviceState(name: string): Promise<string | undefined> {
    const r = await this.wine(['sc', 'query', name]);
    return /STATE\s+:\s+\d+\s+(\w+)/.exec(r.out)?.[1];
  }

  /** Polls `sc query` until `state` (each call is a Wine process start, so this is not a busy loop). */
  async waitForService(name: string, state: string, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last: string | undefined;
    while (Date.now() < deadline) {
      last = await this.serviceState(name);
      if (last === state) return;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`service ${name} did not reach ${state} within ${timeoutMs} ms (last ${last})`);
  }

  destroy(): void {
    spawnSync('wineserver', ['-k'], { env: this.env(), stdio: 'ignore', timeout: 30_000 });
    spawnSync('wineserver', ['-w'], { env: this.env(), stdio: 'ignore', timeout: 30_000 });
    fs.rmSync(this.prefix, { recursive: true, force: true });
    fs.rmSync(this.logs, { recursive: true, force: true });
  }
}
