#!/usr/bin/env node
// The Windows filter's latency/drop table for bench/passfilt.md: PasswordChangeNotify timed by harness.exe under
// Wine at several rates and in bursts, with the agent up (real intake code), down and hung. Prints markdown rows.
// Needs mingw-w64 and Wine. Not part of `npm run bench` (minutes of Wine time).
//
//   node dist/bench/passfilt-latency.js [--rows 10,100,1000,burst] [--agents up,down,hung] [--soak SECONDS]

import { parseArgs } from 'node:util';
import { RecordingIntake, deadPort, startAgent, startHungAgent, type TestAgent } from '../test/e2e/passfilt-intake.js';
import { WineBox, buildPassfilt, repoRoot } from '../test/e2e/passfilt-wine.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '10,100,1000,burst' },
    agents: { type: 'string', default: 'up,down,hung' },
    soak: { type: 'string', default: '0' },
  },
});

// rate → [calls, paceUs, burst]: each row runs 10-20 s; a burst is 500 calls back to back, then 1 s of quiet.
const ROWS: Record<string, [number, number, number]> = {
  '10': [200, 100_000, 0],
  '100': [2000, 10_000, 0],
  '1000': [20_000, 1000, 0],
  burst: [5000, 1_000_000, 500],
};

const fmt = (us: number): string => (us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us.toFixed(1)} µs`);

async function main(): Promise<void> {
  const build = buildPassfilt(repoRoot());
  const box = await WineBox.create(build);
  const agents: TestAgent[] = [];
  try {
    const up = await startAgent(new RecordingIntake());
    const hung = await startHungAgent();
    agents.push(up, hung);
    const ports: Record<string, number> = { up: up.port, down: await deadPort(), hung: hung.port };
    const rows = Number(values.soak) > 0 ? ['soak'] : values.rows.split(',');
    if (Number(values.soak) > 0) ROWS.soak = [Number(values.soak) * 1000, 1000, 0];
    console.log('| rate | agent | calls | p50 | p99 | max | dropped | sent / spooled | p99 < 1 ms |');
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const row of rows) {
      const [calls, pace, burst] = ROWS[row]!;
      for (const agent of values.agents.split(',')) {
        const env = {
          PWSYNC_TEST_ACK_MS: '5000', // production timeouts
          PWSYNC_TEST_RETRY_MS: '10000',
          PWSYNC_TEST_PORT: String(ports[agent]),
          PWSYNC_TEST_SPOOL: box.driveC(`bench-${row}-${agent}-${Date.now()}`).win,
        };
        const r = await box.harness('pwfilt-test.dll', ['bench', agent, String(calls), String(pace), String(burst)], env, 900_000);
        const line = r.lines.find((l) => l.bench === agent) as { all: { p50us: number; p99us: number; maxUs: number } } | undefined;
        const s = r.lines.find((l) => 'stats' in l)?.stats as Record<string, number> | undefined;
        if (!line || !s) throw new Error(`no result for ${row}/${agent}:\n${r.stdout}\n${r.stderr.slice(-2000)}`);
        const label = row === 'burst' ? 'burst (500 back to back)' : row === 'soak' ? `1000/s for ${values.soak} s` : `${row}/s`;
        console.log(
          `| ${label} | ${agent} | ${calls} | ${fmt(line.all.p50us)} | ${fmt(line.all.p99us)} | ${fmt(line.all.maxUs)} | ` +
            `${s.droppedFull} | ${s.sent} / ${s.spooled} | ${line.all.p99us < 1000 ? 'yes' : '**MISS**'} |`,
        );
      }
    }
  } finally {
    for (const a of agents) await a.close().catch(() => undefined);
    box.destroy();
  }
}

await main();
