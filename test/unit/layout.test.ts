// The repository's layout holds: one home per responsibility (README "Layout"), no import cycles between the folders
// of src/, and only src/cli/ holds command-line entry points. Reads source text only; never imports what it checks.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const src = path.join(root, 'src');

/** Every .ts file under `dir`, as paths relative to the repository root with '/' separators. */
function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) out.push(...tsFiles(full));
    else if (name.endsWith('.ts')) out.push(path.relative(root, full).split(path.sep).join('/'));
  }
  return out.sort();
}

/** Relative module specifiers of static imports, re-exports and dynamic imports (type-only ones included). */
function relativeImports(text: string): string[] {
  const specs: string[] = [];
  const re = /(?:\bfrom\s+|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm;
  for (const m of text.matchAll(re)) specs.push(m[1]!);
  return specs;
}

/** The unit a module belongs to: its folder under src/ (`intake`), or the file itself for src/*.ts (`agent.ts`). */
function unitOf(file: string): string | undefined {
  const rel = path.posix.relative('src', file);
  if (rel.startsWith('..')) return undefined; // outside src/ (emulator/, node: …)
  const [first, ...rest] = rel.split('/');
  return rest.length ? first! : rel;
}

/** Edges between units of src/: `from → to` for each import that crosses a folder boundary. */
function unitGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const file of tsFiles(src)) {
    const from = unitOf(file)!;
    if (!graph.has(from)) graph.set(from, new Set());
    for (const spec of relativeImports(readFileSync(path.join(root, file), 'utf8'))) {
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec)).replace(/\.js$/, '.ts');
      const to = unitOf(target);
      if (to && to !== from) graph.get(from)!.add(to);
    }
  }
  return graph;
}

/** Strongly connected components with more than one member (Tarjan): each is an import cycle. Sorted for diffs. */
function cycles(graph: Map<string, Set<string>>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) found.push(scc.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return found.sort((a, b) => a.join().localeCompare(b.join()));
}

test('the import scanner sees static, type-only, re-export and dynamic imports', () => {
  const text = [
    "import { a } from './a.js';",
    "import type { B } from '../b/b.js';",
    "export { c } from './c.js';",
    "const d = await import('../d/d.js');",
    "import './side-effect.js';",
    "import x from 'node:fs';",
  ].join('\n');
  assert.deepEqual(relativeImports(text), ['./a.js', '../b/b.js', './c.js', '../d/d.js', './side-effect.js']);
});

test('the cycle finder reports a cycle between folders and nothing for a chain', () => {
  const g = (edges: [string, string][]) => {
    const m = new Map<string, Set<string>>();
    for (const [a, b] of edges) {
      if (!m.has(a)) m.set(a, new Set());
      if (!m.has(b)) m.set(b, new Set());
      m.get(a)!.add(b);
    }
    return m;
  };
  assert.deepEqual(cycles(g([['cli', 'intake'], ['intake', 'outbox']])), []);
  assert.deepEqual(cycles(g([['cli', 'intake'], ['intake', 'outbox'], ['outbox', 'cli'], ['x', 'y']])), [['cli', 'intake', 'outbox']]);
});

// Units are the folders of src/ plus its top-level files (agent.ts, errors.ts); imports inside one folder are not
// checked (a folder is one responsibility). Type-only imports count: they tie the folders' meanings together too.
test('no import cycles between the folders of src/', () => {
  const graph = unitGraph();
  assert.ok(graph.get('cli')?.has('capture') && graph.get('agent.ts')?.has('intake'), 'the scanner found cli → capture and agent.ts → intake');
  assert.deepEqual(cycles(graph), []);
});

/** The first backticked name of each row of README's "## Layout" table. */
function layoutRows(): string[] {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  const section = readme.split(/^## Layout\s*$/m)[1]?.split(/^## /m)[0];
  assert.ok(section, 'README.md has a "## Layout" section');
  const rows: string[] = [];
  for (const line of section.split('\n')) {
    const cell = /^\|\s*(`[^|]*`)\s*\|/.exec(line)?.[1];
    if (!cell) continue;
    const names = [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
    assert.equal(names.length, 1, `README layout row lists one folder, not ${cell}`);
    rows.push(names[0]!);
  }
  return rows;
}

test("the README's layout table lists exactly the folders of src/, one row each, and only folders that exist", () => {
  const rows = layoutRows();
  const duplicates = rows.filter((r, i) => rows.indexOf(r) !== i);
  assert.deepEqual(duplicates, [], 'a folder has two rows');
  const srcFolders = readdirSync(src)
    .filter((n) => statSync(path.join(src, n)).isDirectory())
    .map((n) => `src/${n}/`)
    .sort();
  assert.deepEqual(rows.filter((r) => r.startsWith('src/')).sort(), srcFolders);
  for (const r of rows) {
    assert.match(r, /^[a-z][a-z0-9/-]*\/$/, `layout row ${r} names a folder ending in /`);
    assert.ok(existsSync(path.join(root, r)) && statSync(path.join(root, r)).isDirectory(), `layout row ${r} is not a folder`);
  }
});

test('only src/cli/ holds command-line entry points; only the demo reaches the emulator', () => {
  const offenders: string[] = [];
  const emulatorUsers: string[] = [];
  for (const file of tsFiles(src)) {
    const text = readFileSync(path.join(root, file), 'utf8');
    const inCli = file.startsWith('src/cli/');
    // An entry point reads its arguments or is executable; a command module is one `(argv) => exit code` in cli/.
    if (!inCli && (/\bprocess\.argv\b/.test(text) || text.startsWith('#!') || /export async function \w+Command\(/.test(text)))
      offenders.push(file);
    if (!inCli && relativeImports(text).some((s) => s.startsWith('../cli/') || s.startsWith('./cli/'))) offenders.push(`${file} (imports cli/)`);
    if (relativeImports(text).some((s) => /(^|\/)emulator\//.test(s))) emulatorUsers.push(file);
  }
  assert.deepEqual(offenders, []);
  // The production CLI does not ship the IIJ emulator (`pwsync-emulator` is a dev/test tool): only the demo loads
  // it, from a checkout.
  assert.deepEqual(emulatorUsers, ['src/cli/demo.ts']);
  assert.ok(readFileSync(path.join(src, 'cli/main.ts'), 'utf8').includes('process.argv'), 'the scanner finds the real entry point');
});

// The data path, upstream to downstream: a password is captured, taken in, stored, delivered, and delivery talks to
// AD and the targets. A folder uses what is upstream of it freely, but what is downstream of it (or beside it) only
// through that folder's contract (docs/architecture.md#contracts): the path stays walkable in one direction and each
// stage replaceable behind its contract.
const DATA_PATH: Record<string, number> = { capture: 0, intake: 1, outbox: 2, delivery: 3, directory: 4, targets: 4 };
const CONTRACTS = new Set([
  // Intake frame: the wire format and the accounts no capture side ever forwards.
  'src/intake/frame.ts',
  'src/intake/frame-codec.ts',
  'src/intake/account-filter.ts',
  // Outbox: the store's own methods.
  'src/outbox/store.ts',
  // Directory: the contract and the AD value formats it speaks in (objectGUID, FILETIME, the external ID rule).
  'src/directory/directory.ts',
  'src/directory/guid.ts',
  'src/directory/filetime.ts',
  'src/directory/external-id.ts',
  // Target.
  'src/targets/target.ts',
]);
/** Folders that put the data path together or read it (commands, console, reports); the data path never imports them. */
const ABOVE_THE_PATH = new Set(['agent.ts', 'agent-console.ts', 'cli', 'console', 'coverage', 'mapping', 'onboarding']);

/** `file → imported file` for every import that goes against the data path's direction. */
function againstTheDataPath(): string[] {
  const found: string[] = [];
  for (const file of tsFiles(src)) {
    const from = unitOf(file)!;
    if (DATA_PATH[from] === undefined) continue;
    for (const spec of relativeImports(readFileSync(path.join(root, file), 'utf8'))) {
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec)).replace(/\.js$/, '.ts');
      const to = unitOf(target);
      if (!to || to === from) continue;
      const notUpstream = DATA_PATH[to] !== undefined && DATA_PATH[to]! >= DATA_PATH[from]!;
      if ((notUpstream && !CONTRACTS.has(target)) || ABOVE_THE_PATH.has(to)) found.push(`${file} → ${target}`);
    }
  }
  return found.sort();
}

test('the data path is walkable in one direction: downstream only through the contracts, never into its users', () => {
  for (const c of CONTRACTS) assert.ok(existsSync(path.join(root, c)), `contract ${c} exists`);
  assert.deepEqual(againstTheDataPath(), []);
});
