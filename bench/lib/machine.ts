// What machine a benchmark ran on: CPU model, cores, RAM, Node version, OS, file system of the temp dir, date.

import { execFileSync } from 'node:child_process';
import os from 'node:os';

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  ramGiB: number;
  node: string;
  os: string;
  tmpFs: string;
  date: string;
  /** 1-minute load average when the run started: other work on the machine skews every number. */
  loadAvg?: number;
}

export function describeMachine(tmpDir: string): MachineInfo {
  const cpus = os.cpus();
  let tmpFs = 'unknown';
  try {
    // `df -T` names the file system the outbox's fsyncs hit: tmpfs would make durable-ack numbers meaningless.
    const out = execFileSync('df', ['-T', tmpDir], { encoding: 'utf8' }).trim().split('\n')[1] ?? '';
    const [dev, type] = out.split(/\s+/);
    tmpFs = `${type ?? '?'} (${dev ?? '?'})`;
  } catch {
    /* df missing: leave unknown */
  }
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    ramGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    tmpFs,
    date: new Date().toISOString(),
    loadAvg: Math.round(os.loadavg()[0]! * 100) / 100,
  };
}
