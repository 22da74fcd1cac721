// Builds the password filter with mingw-w64 and runs its harness in a throwaway Wine prefix, for passfilt.test.ts.
// Never touches the user's own ~/.wine: every run gets its own WINEPREFIX under the temp dir.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, from either test/e2e/*.ts or dist/test/e2e/*.js. */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'native', 'passfilt', 'Makefile'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot find native/passfilt/Makefile above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
}

export const REQUIRED_TOOLS = [
  'make',
  'x86_64-w64-mingw32-gcc',
  'x86_64-w64-mingw32-objdump',
  'x86_64-w64-mingw32-objcopy',
  'x86_64-w64-mingw32-windmc',
  'x86_64-w64-mingw32-windres',
  'wine',
  'wineserver',
];

export function missingTools(): string[] {
  return REQUIRED_TOOLS.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' }).status !== 0);
}

/** make -C native/passfilt → build/pwfilt.dll (+ .debug), pwfilt-wine.dll, pwfilt-test.dll, harness.exe. */
export function buildPassfilt(root: string): string {
  const dir = path.join(root, 'native', 'passfilt');
  const r = spawnSync('make', ['-C', dir, 'all'], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`make -C ${dir} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return path.join(dir, 'build');
}

export function objdumpImportsAndExports(file: string): { dlls: string[]; exports: string[] } {
  const r = spawnSync('x86_64-w64-mingw32-objdump', ['-p', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`objdump -p ${file} failed: ${r.stderr}`);
  const dlls = [...r.stdout.matchAll(/DLL Name: (\S+)/g)].map((m) => m[1]!.toLowerCase());
  const exports = [...r.stdout.matchAll(/^\s*\[\s*\d+\]\s+(\S+)$/gm)].map((m) => m[1]!);
  return { dlls, exports };
}

/** objdump -p / -h of a PE file: DllCharacteristics flags and section names. */
export function objdumpHeaders(file: string): { characteristics: string[]; sections: string[]; text: string } {
  const p = spawnSync('x86_64-w64-mingw32-objdump', ['-p', file], { encoding: 'utf8' });
  const h = spawnSync('x86_64-w64-mingw32-objdump', ['-h', file], { encoding: 'utf8' });
  if (p.status !== 0 || h.status !== 0) throw new Error(`objdump ${file} failed: ${p.stderr}${h.stderr}`);
  const block = /DllCharacteristics\s+[0-9a-f]+\n((?:\t+[A-Z_]+\n)*)/.exec(p.stdout)?.[1] ?? '';
  const characteristics = block.split('\n').map((l) => l.trim()).filter(Boolean);
  const sections = [...h.stdout.matchAll(/^\s*\d+\s+(\S+)/gm)].map((m) => m[1]!);
  return { characteristics, sections, text: p.stdout };
}

/** Symbols of an object file (objdump -t), names only. */
export function objdumpSymbols(file: string): string[] {
  const r = spawnSync('x86_64-w64-mingw32-objdump', ['-t', file], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`objdump -t ${file} failed: ${r.stderr}`);
  return [...r.stdout.matchAll(/\s(\S+)$/gm)].map((m) => m[1]!);
}

/**
 * Windows Event Log entries the DLL reported, read from Wine's own trace of ReportEventW (Wine's event log is a
 * stub that keeps nothing: OpenEventLog/ReadEventLog return nothing to read back). Run the harness with
 * EVENTLOG_TRACE in its environment; the event ID is the low 16 bits, the type 1 error, 2 warning, 4 info.
 */
export const EVENTLOG_TRACE = { WINEDEBUG: '-all,fixme+advapi,warn+eventlog,err+eventlog,trace+eventlog' };
export function reportedEvents(stderr: string): Array<{ id: number; type: number; strings: string[] }> {
  const out: Array<{ id: number; type: number; strings: string[] }> = [];
  for (const line of stderr.split('\n')) {
    const m = /ReportEventW \([0-9A-Fa-f]+,0x([0-9a-f]{4}),0x[0-9a-f]{4},0x([0-9a-f]{8}),/.exec(line);
    if (m) out.push({ id: parseInt(m[2]!, 16) & 0xffff, type: parseInt(m[1]!, 16), strings: [] });
    const s = /:eventlog:ReportEventW L"(.*)"$/.exec(line);
    if (s && out.length > 0) out[out.length - 1]!.strings.push(s[1]!);
  }
  return out;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Every stdout line that is a JSON object, parsed. */
  lines: Array<Record<string, unknown>>;
  ms: number;
}

/**
 * Asynchronous on purpose: the intake server answering the DLL lives in this same Node process.
 * Output goes to files, not pipes, and we wait for 'exit', not 'close': Wine's helper processes (services.exe,
 * winedevice.exe, a persistent wineserver) inherit the descriptors and outlive the harness.
 */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd: string, timeoutMs: number): Promise<RunResult> {
  const started = Date.now();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pwsync-run-'));
  const outFd = fs.openSync(path.join(dir, 'out'), 'w+');
  const errFd = fs.openSync(path.join(dir, 'err'), 'w+');
  const finish = () => {
    const stdout = fs.readFileSync(path.join(dir, 'out'), 'utf8');
    const stderr = fs.readFileSync(path.join(dir, 'err'), 'utf8');
    fs.closeSync(outFd);
    fs.closeSync(errFd);
    fs.rmSync(dir, { recursive: true, force: true });
    return { stdout, stderr };
  };
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, cwd, stdio: ['ignore', outFd, errFd] });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      finish();
      reject(e);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      const { stdout, stderr } = finish();
      const lines: Array<Record<string, unknown>> = [];
      for (const l of stdout.split(/\r?\n/)) {
        if (!l.startsWith('{')) continue;
        try {
          lines.push(JSON.parse(l) as Record<string, unknown>);
        } catch {
          /* not ours */
        }
      }
      resolve({ code, stdout, stderr, lines, ms: Date.now() - started });
    });
  });
}

export class WineBox {
  readonly prefix: string;

  private constructor(
    readonly buildDir: string,
    prefix: string,
  ) {
    this.prefix = prefix;
  }

  /** A fresh prefix (wineboot -i, ~5-10 s the first time on a machine). */
  static async create(buildDir: string): Promise<WineBox> {
    const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'pwsync-wine-'));
    const box = new WineBox(buildDir, prefix);
    const r = await run('wineboot', ['-i'], box.env(), buildDir, 120_000);
    if (r.code !== 0) throw new Error(`wineboot -i failed (${r.code}): ${r.stderr.slice(-2000)}`);
    // Keep one persistent wineserver for the whole file: a cold start of Wine's services costs ~1 s per run.
    spawnSync('wineserver', ['-w'], { env: box.env(), stdio: 'ignore', timeout: 30_000 });
    spawnSync('wineserver', ['-p'], { env: box.env(), stdio: 'ignore', timeout: 30_000 });
    return box;
  }

  env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return {
      ...process.env,
      WINEPREFIX: this.prefix,
      WINEDEBUG: '-all',
      WINEDLLOVERRIDES: 'mscoree,mshtml=',
      DISPLAY: '',
      ...extra,
    };
  }

  /** C:\<name> inside the prefix, as Windows and as Linux see it. */
  driveC(name: string): { win: string; linux: string } {
    return { win: `C:\\${name}`, linux: path.join(this.prefix, 'drive_c', name) };
  }

  /** wine harness.exe <dll> <args...>, cwd = build dir so LoadLibrary finds the DLL next to the harness. */
  harness(dll: string, args: string[], extra: Record<string, string> = {}, timeoutMs = 60_000): Promise<RunResult> {
    return run('wine', [path.join(this.buildDir, 'harness.exe'), dll, ...args], this.env(extra), this.buildDir, timeoutMs);
  }

  /** wine reg add|delete ... */
  async reg(args: string[]): Promise<void> {
    const r = await run('wine', ['reg', ...args], this.env(), this.buildDir, 30_000);
    if (r.code !== 0 && args[0] !== 'delete') throw new Error(`wine reg ${args.join(' ')} failed: ${r.stderr}`);
  }

  /** wine reg query KEY → its output. */
  async regQuery(key: string): Promise<string> {
    const r = await run('wine', ['reg', 'query', key], this.env(), this.buildDir, 30_000);
    if (r.code !== 0) throw new Error(`wine reg query ${key} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  }

  /** Stops wineserver and its helpers, then removes the prefix. */
  destroy(): void {
    spawnSync('wineserver', ['-k'], { env: this.env(), stdio: 'ignore', timeout: 30_000 });
    spawnSync('wineserver', ['-w'], { env: this.env(), stdio: 'ignore', timeout: 30_000 });
    fs.rmSync(this.prefix, { recursive: true, force: true });
  }
}

/** Every regular file under dir (no symlinks followed). */
export function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push(p);
    }
  };
  walk(dir);
  return out;
}

/**
 * Files under dir containing any needle as UTF-8 or UTF-16LE; returns "file: needle (encoding)" lines.
 * GNU grep -F with all byte patterns at once reads the ~700 MB of a fresh drive_c in a few seconds (one
 * Buffer.includes per pattern and file took 20 s). The caller plants a canary to prove the scan finds things.
 */
export function findPlaintext(dir: string, needles: string[]): string[] {
  const patterns = needles.flatMap((n) => [
    { n, enc: 'utf8', b: Buffer.from(n, 'utf8') },
    { n, enc: 'utf16le', b: Buffer.from(n, 'utf16le') },
  ]);
  for (const p of patterns) if (p.b.includes(0x0a)) throw new Error(`needle ${JSON.stringify(p.n)} has a newline byte as ${p.enc}`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pwsync-needles-'));
  const file = path.join(tmp, 'needles');
  try {
    fs.writeFileSync(file, Buffer.concat(patterns.flatMap((p) => [p.b, Buffer.from('\n')])), { mode: 0o600 });
    const r = spawnSync('grep', ['-rlasF', '-f', file, dir], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    if (r.status !== 0 && r.status !== 1) throw new Error(`grep failed (${r.status}): ${r.stderr}`);
    const hits: string[] = [];
    for (const f of r.stdout.split('\n').filter(Boolean)) {
      const data = fs.readFileSync(f);
      for (const p of patterns) if (data.includes(p.b)) hits.push(`${f}: ${JSON.stringify(p.n)} (${p.enc})`);
    }
    return hits;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
