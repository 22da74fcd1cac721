// Chart data: per-minute buckets over 24 h and the SVG made from them.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bucketPerMinute, renderChartSvg } from '../../src/console/chart.js';

const NOW = Date.parse('2025-03-01T12:34:56Z');

test('1440 whole-minute buckets ending with the current minute', () => {
  const d = bucketPerMinute([], NOW);
  assert.equal(d.buckets, 1440);
  assert.equal(d.start, Date.parse('2025-02-28T12:35:00Z'));
  assert.equal(d.series.synced.length, 1440);
});

test('points land in their minute; points outside the window are ignored; counts add up', () => {
  const d = bucketPerMinute(
    [
      { at: Date.parse('2025-03-01T12:34:00Z'), outcome: 'synced' },
      { at: Date.parse('2025-03-01T12:34:59.999Z'), outcome: 'synced', count: 4 },
      { at: Date.parse('2025-03-01T12:33:59Z'), outcome: 'retried' },
      { at: Date.parse('2025-02-28T12:35:00Z'), outcome: 'rejected' },
      { at: Date.parse('2025-02-28T12:34:59Z'), outcome: 'rejected' },
      { at: Date.parse('2025-03-01T12:35:00Z'), outcome: 'superseded' },
    ],
    NOW,
  );
  assert.equal(d.series.synced[1439], 5);
  assert.equal(d.series.retried[1438], 1);
  assert.equal(d.series.rejected[0], 1);
  assert.deepEqual(d.totals, { synced: 5, retried: 1, rejected: 1, superseded: 0 });
});

test('the SVG has one polyline per outcome and no script or style', () => {
  const svg = renderChartSvg(bucketPerMinute([{ at: NOW, outcome: 'synced', count: 7 }], NOW));
  assert.equal((svg.match(/<polyline/g) ?? []).length, 4);
  assert.ok(svg.includes('>7<'), 'the scale shows the maximum');
  assert.ok(!/script|style=/i.test(svg));
});
