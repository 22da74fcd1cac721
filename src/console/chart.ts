// Changes per minute over the last 24 h by outcome: pure bucketing and a server-rendered SVG (numbers and
// constants only, so it is safe to embed without escaping; no script, no inline style — CSP forbids both).

export const OUTCOMES = ['synced', 'retried', 'rejected', 'superseded'] as const;
export type ChartOutcome = (typeof OUTCOMES)[number];

export interface ChartPoint {
  at: number;
  outcome: ChartOutcome;
  count?: number;
}

export interface ChartData {
  /** Epoch ms of the first bucket (a whole minute). */
  start: number;
  bucketMs: number;
  buckets: number;
  series: Record<ChartOutcome, number[]>;
  totals: Record<ChartOutcome, number>;
}

/** Buckets points into `buckets` whole minutes ending with the minute that contains `now`; points outside are ignored. */
export function bucketPerMinute(points: Iterable<ChartPoint>, now: number, buckets = 24 * 60, bucketMs = 60_000): ChartData {
  const start = Math.floor(now / bucketMs) * bucketMs - (buckets - 1) * bucketMs;
  const series = Object.fromEntries(OUTCOMES.map((o) => [o, new Array<number>(buckets).fill(0)])) as Record<ChartOutcome, number[]>;
  const totals = Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<ChartOutcome, number>;
  for (const p of points) {
    const i = Math.floor((p.at - start) / bucketMs);
    if (i < 0 || i >= buckets) continue;
    const n = p.count ?? 1;
    series[p.outcome][i]! += n;
    totals[p.outcome] += n;
  }
  return { start, bucketMs, buckets, series, totals };
}

export const COLOURS: Record<ChartOutcome, string> = { synced: '#2e7d32', retried: '#ef6c00', rejected: '#c62828', superseded: '#6a6a6a' };

/** One polyline per outcome on a shared scale; the x axis is marked every 3 hours (UTC). */
export function renderChartSvg(d: ChartData, width = 960, height = 180): string {
  const pad = { l: 36, r: 8, t: 8, b: 20 };
  const w = width - pad.l - pad.r;
  const h = height - pad.t - pad.b;
  const max = Math.max(1, ...OUTCOMES.flatMap((o) => d.series[o]));
  const x = (i: number) => (pad.l + (d.buckets <= 1 ? 0 : (i * w) / (d.buckets - 1))).toFixed(1);
  const y = (v: number) => (pad.t + h - (v / max) * h).toFixed(1);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 ${width} ${height}" role="img" aria-label="Changes per minute, last 24 hours">`);
  parts.push(`<rect x="${pad.l}" y="${pad.t}" width="${w}" height="${h}" fill="#fafafa" stroke="#ccc"/>`);
  parts.push(`<text x="${pad.l - 4}" y="${pad.t + 10}" text-anchor="end" font-size="10">${max}</text>`);
  parts.push(`<text x="${pad.l - 4}" y="${pad.t + h}" text-anchor="end" font-size="10">0</text>`);
  const step = (3 * 3_600_000) / d.bucketMs;
  for (let i = 0; i < d.buckets; i++) {
    const t = d.start + i * d.bucketMs;
    if (t % (3 * 3_600_000) !== 0 || step < 1) continue;
    const hh = String(new Date(t).getUTCHours()).padStart(2, '0');
    parts.push(`<line x1="${x(i)}" x2="${x(i)}" y1="${pad.t}" y2="${pad.t + h}" stroke="#e0e0e0"/>`);
    parts.push(`<text x="${x(i)}" y="${height - 6}" text-anchor="middle" font-size="10">${hh}:00</text>`);
  }
  for (const o of OUTCOMES) {
    const pts = d.series[o].map((v, i) => `${x(i)},${y(v)}`).join(' ');
    parts.push(`<polyline fill="none" stroke="${COLOURS[o]}" stroke-width="1.2" points="${pts}"><title>${o}</title></polyline>`);
  }
  parts.push('</svg>');
  return parts.join('');
}
