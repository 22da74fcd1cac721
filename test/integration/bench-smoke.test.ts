// `npm run bench` in smoke size, into a temp dir: the report is written with every section and parseable numbers.
// No timing assertions — CI machines vary; the committed bench/REPORT.md comes from a full run on a known machine.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const RUN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bench/run.js');

const SECTIONS = [
  '## Machine',
  '## 1. Intake',
  '## 2. Delivery against the limit',
  '## 3. The incumbent design as a baseline',
  '## 4. End to end',
  '## 5. Memory and start-up',
  '## 6. Samba path',
];

/** Markdown tables of one section: rows of cells, with which columns are right-aligned (numeric). */
function tables(section: string): Array<{ numeric: boolean[]; rows: string[][] }> {
  const out: Array<{ numeric: boolean[]; rows: string[][] }> = [];
  const lines = section.split('\n');
  for (let i = 0; i + 1 < lines.length; i++) {
    if (!lines[i]!.startsWith('|') || !/^\|( *-+:? *\|)+$/.test(lines[i + 1]!)) continue;
    const cells = (l: string) => l.slice(1, -1).split('|').map((c) => c.trim());
    const numeric = cells(lines[i + 1]!).map((c) => c.endsWith(':'));
    const rows: string[][] = [];
    for (let j = i + 2; j < lines.length && lines[j]!.startsWith('|'); j++) rows.push(cells(lines[j]!));
    out.push({ numeric, rows });
  }
  return out;
}

test('bench --smoke writes REPORT.md with every section and parseable numbers', { timeout: 180_000 }, async () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'pwsync-bench-smoke-'));
  try {
    const proc = spawn(process.execPath, [RUN, '--smoke', '--out', out], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((r) => proc.once('exit', r));
    assert.equal(code, 0, `bench failed:\n${stderr}`);

    const report = readFileSync(path.join(out, 'REPORT.md'), 'utf8');
    assert.match(report, /SMOKE SIZE/);
    const starts = SECTIONS.map((h) => report.indexOf(`\n${h}\n`));
    starts.forEach((at, i) => assert.ok(at >= 0, `section "${SECTIONS[i]}" missing`));
    for (let i = 0; i < SECTIONS.length; i++) {
      const body = report.slice(starts[i]!, starts[i + 1] ?? report.indexOf('\n## Findings'));
      const found = tables(body);
      const skipped = SECTIONS[i]!.startsWith('## 3.') && /Skipped: no Samba AD DC/.test(body);
      if (!skipped) assert.ok(found.length > 0, `section "${SECTIONS[i]}" has no table`);
      for (const t of found) {
        assert.ok(t.rows.length > 0, `empty table in "${SECTIONS[i]}"`);
        for (const row of t.rows) {
          row.forEach((cell, c) => {
            if (!t.numeric[c]) return;
            // "n/a" only where a design has no such number (e.g. per-change latency of a batch); never a whole row.
            if (cell === 'n/a') return;
            const n = Number(cell.replace(/ %$/, ''));
            assert.ok(Number.isFinite(n), `"${cell}" in "${SECTIONS[i]}" is not a number (row: ${row.join(' | ')})`);
          });
          assert.ok(row.some((cell, c) => t.numeric[c] && Number.isFinite(Number(cell.replace(/ %$/, '')))), `row without numbers in "${SECTIONS[i]}"`);
        }
      }
    }
    // Budget numbers that must be measured (not n/a) in every run.
    const results = JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8')) as {
      intake: { runs: Array<{ latency: { p99: number }; perSecond: number }> };
      delivery: { runs: Array<{ perSecond: number; limit: number }> };
      memory: { rssMiB: number };
      startup: Array<{ socket: { p50: number } }>;
    };
    for (const r of results.intake.runs) assert.ok(Number.isFinite(r.latency.p99) && r.perSecond > 0);
    assert.equal(results.delivery.runs.length, 9, 'L × C = 3 × 3 delivery runs');
    for (const r of results.delivery.runs) assert.ok(r.perSecond > 0 && r.limit > 0);
    assert.ok(results.memory.rssMiB > 0);
    assert.ok(results.startup.every((s) => Number.isFinite(s.socket.p50)));
    const svg = readFileSync(path.join(out, 'delivery.svg'), 'utf8');
    assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    if (existsSync('/usr/bin/chromium')) assert.ok(existsSync(path.join(out, 'delivery.png')), 'chromium exists but no PNG was rendered');
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
