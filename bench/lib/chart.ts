// The delivery chart as a self-contained SVG (no dependencies): per latency L, per concurrency C, measured changes
// per second next to the limit C/(2L), on a log scale. Optionally rendered to PNG by headless Chromium.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { DeliveryRun } from '../sections/delivery.js';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

export function deliverySvg(runs: readonly DeliveryRun[], title: string): string {
  const latencies = [...new Set(runs.map((r) => r.latencyMs))];
  const concurrencies = [...new Set(runs.map((r) => r.concurrency))];
  const W = 900, H = 420, top = 60, bottom = 70, left = 70, right = 20;
  const plotH = H - top - bottom;
  const panelW = (W - left - right) / Math.max(1, latencies.length);
  const maxV = Math.max(10, ...runs.flatMap((r) => [r.limit, r.perSecond]));
  const maxExp = Math.ceil(Math.log10(maxV));
  const y = (v: number) => top + plotH - (Math.log10(Math.max(1, v)) / maxExp) * plotH;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  out.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`);
  out.push(`<rect x="${W - 330}" y="32" width="12" height="12" fill="#2b6cb0"/><text x="${W - 314}" y="42">measured changes/s</text>`);
  out.push(`<rect x="${W - 180}" y="32" width="12" height="12" fill="#cbd5e0" stroke="#718096"/><text x="${W - 164}" y="42">limit C/(2L)</text>`);
  for (let e = 0; e <= maxExp; e++) {
    const yy = y(10 ** e);
    out.push(`<line x1="${left}" x2="${W - right}" y1="${yy}" y2="${yy}" stroke="#e2e8f0"/><text x="${left - 6}" y="${yy + 4}" text-anchor="end">${10 ** e}</text>`);
  }
  out.push(`<text transform="translate(18 ${top + plotH / 2}) rotate(-90)" text-anchor="middle">changes per second (log scale)</text>`);
  latencies.forEach((L, li) => {
    const x0 = left + li * panelW;
    const groupW = panelW / concurrencies.length;
    out.push(`<text x="${x0 + panelW / 2}" y="${H - 18}" text-anchor="middle" font-weight="bold">L = ${L} ms</text>`);
    concurrencies.forEach((C, ci) => {
      const r = runs.find((x) => x.latencyMs === L && x.concurrency === C);
      if (!r) return;
      const gx = x0 + ci * groupW + groupW * 0.15;
      const bw = groupW * 0.33;
      out.push(`<rect x="${gx}" y="${y(r.limit)}" width="${bw}" height="${top + plotH - y(r.limit)}" fill="#cbd5e0" stroke="#718096"/>`);
      out.push(`<rect x="${gx + bw}" y="${y(r.perSecond)}" width="${bw}" height="${top + plotH - y(r.perSecond)}" fill="#2b6cb0"/>`);
      out.push(`<text x="${gx + bw}" y="${top + plotH + 16}" text-anchor="middle">C=${C}</text>`);
      out.push(`<text x="${gx + bw * 1.5}" y="${y(r.perSecond) - 4}" text-anchor="middle" font-size="10">${Math.round(r.ratio * 100)}%</text>`);
    });
    if (li > 0) out.push(`<line x1="${x0}" x2="${x0}" y1="${top}" y2="${top + plotH}" stroke="#a0aec0" stroke-dasharray="4 3"/>`);
  });
  out.push(`<line x1="${left}" x2="${W - right}" y1="${top + plotH}" y2="${top + plotH}" stroke="#4a5568"/>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** Renders `svgFile` to `pngFile` with headless Chromium when /usr/bin/chromium exists; false otherwise. */
export function renderPng(svgFile: string, pngFile: string): boolean {
  const chromium = '/usr/bin/chromium';
  if (!existsSync(chromium)) return false;
  const r = spawnSync(
    chromium,
    ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', `--screenshot=${pngFile}`, '--window-size=900,420', `file://${svgFile}`],
    { stdio: 'ignore', timeout: 60_000 },
  );
  return r.status === 0 && existsSync(pngFile);
}
