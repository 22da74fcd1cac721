// Reads a V8 .cpuprofile (node --cpu-prof) and lists the functions with the most self time: the "where did the
// time go" line of the report. No dependencies.

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface HotSpot {
  fn: string;
  ms: number;
  share: number;
}

export function hotSpots(dir: string, top = 8): HotSpot[] {
  const file = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort().pop();
  if (!file) return [];
  const p = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as CpuProfile;
  const perNode = new Map<number, number>();
  p.samples.forEach((id, i) => perNode.set(id, (perNode.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  const perFn = new Map<string, number>();
  let total = 0;
  for (const n of p.nodes) {
    const us = perNode.get(n.id) ?? 0;
    if (n.callFrame.functionName === '(idle)') continue;
    total += us;
    const where = n.callFrame.url ? `${n.callFrame.url.replace(/^file:\/\/.*?\/(dist|node_modules)\//, '$1/')}:${n.callFrame.lineNumber + 1}` : 'native';
    const key = `${n.callFrame.functionName || '(anonymous)'} ${where}`;
    perFn.set(key, (perFn.get(key) ?? 0) + us);
  }
  return [...perFn]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([fn, us]) => ({ fn, ms: us / 1000, share: total > 0 ? us / total : 0 }));
}
