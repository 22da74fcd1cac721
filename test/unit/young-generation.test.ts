// src/cli/young-generation.ts: a process that loads it first keeps V8's young generation at its initial size while
// it allocates many long-lived objects (what loading the agent's modules does); without it V8 grows it to 16 MiB
// semi-spaces. And the CLI entry loads it before any other module, or it would take effect too late.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const moduleUrl = pathToFileURL(path.join(here, '..', '..', 'src', 'cli', 'young-generation.js')).href;

/** new_space's size in MiB after keeping ~60 MB of small objects alive, with or without the module loaded first. */
function newSpaceMiB(withModule: boolean): number {
  const script = `${withModule ? `await import(${JSON.stringify(moduleUrl)});` : ''}
    const v8 = await import('node:v8');
    const keep = [];
    for (let i = 0; i < 600000; i++) keep.push({ i, s: 'x' + i, a: [i, i + 1] });
    const ns = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    process.stdout.write(String(ns.space_size / 2 ** 20) + ' ' + keep.length);`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const [mib, kept] = r.stdout.split(' ');
  assert.equal(kept, '600000');
  return Number(mib);
}

describe('young generation', () => {
  it('stays at its initial size when the module is loaded first, and grows without it', () => {
    const without = newSpaceMiB(false);
    const withIt = newSpaceMiB(true);
    assert.ok(without >= 8, `without the module V8 should have grown new space (got ${without} MiB)`);
    assert.ok(withIt <= 2, `with the module new space should stay at its initial 2 MiB (got ${withIt} MiB)`);
  });

  it('is the first module the CLI entry loads', () => {
    const main = readFileSync(path.join(here, '..', '..', 'src', 'cli', 'main.js'), 'utf8');
    const firstImport = main.split('\n').find((l) => l.startsWith('import '));
    assert.equal(firstImport, "import './young-generation.js';");
  });
});
