// TCP stand-ins for the pwsync agent, as the filter DLL's test transport sees it: the agent's real frame handling
// (serveIntakeConnection from src/intake/intake-connection.ts) in front of a recording IntakeHandler, a "hung"
// agent that accepts and never reads, and a port nobody listens on. Recorded passwords stay in memory only.

import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { serveIntakeConnection, type IntakeHandler } from '../../src/intake/intake-connection.js';
import type { ChangeFrame, SkipFrame } from '../../src/intake/frame.js';
import type { PwsyncError } from '../../src/errors.js';

export interface Recorded {
  account: string;
  rid: number | undefined;
  password: string;
  dc: string | undefined;
  source: string;
  capturedAt: string;
}

/** Decides per frame: undefined = accept, an error = the agent throws it (its code becomes the reply). */
export type Decide = (frame: ChangeFrame) => Error | undefined;

export class RecordingIntake implements IntakeHandler {
  readonly accepted: Recorded[] = [];
  readonly refused: Array<{ account: string; code: string }> = [];
  readonly rejectedFrames: Array<{ code: string; message: string }> = [];
  /** Skip frames: what the filter did not hand over, and why (the agent journals them as event 2007). */
  readonly skips: Array<{ account: string | undefined; reason: string; source: string }> = [];
  decide: Decide = () => undefined;

  async accept(frame: ChangeFrame): Promise<{ id: string }> {
    const err = this.decide(frame);
    if (err) {
      this.refused.push({ account: frame.account, code: (err as PwsyncError).code ?? 'E_INTERNAL' });
      throw err;
    }
    // serveIntakeConnection wipes frame.password after accept returns: keep our own copy.
    this.accepted.push({
      account: frame.account,
      rid: frame.rid,
      password: frame.password,
      dc: frame.dc,
      source: frame.source,
      capturedAt: frame.capturedAt,
    });
    return { id: `test-${this.accepted.length}` };
  }

  skipped(frame: SkipFrame): void {
    this.skips.push({ account: frame.account, reason: frame.reason, source: frame.source });
  }

  frameRejected(err: PwsyncError): void {
    this.rejectedFrames.push({ code: err.code, message: err.message });
  }

  accounts(): string[] {
    return this.accepted.map((r) => r.account);
  }
}

export interface TestAgent {
  port: number;
  close(): Promise<void>;
}

function listen(server: net.Server, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

function closer(server: net.Server, sockets: Set<net.Socket>): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
}

/** The agent's own frame codec and connection handling, answering from `intake`. */
export async function startAgent(intake: IntakeHandler, port = 0): Promise<TestAgent> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    serveIntakeConnection(s, intake, 'passfilt-test');
  });
  return { port: await listen(server, port), close: closer(server, sockets) };
}

/** Accepts connections and never reads or answers: the DLL must time out and spool, never hang LSA. */
export async function startHungAgent(): Promise<TestAgent & { connections: () => number }> {
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const server = net.createServer((s) => {
    connections++;
    sockets.add(s);
    s.pause();
    s.on('error', () => undefined);
  });
  return { port: await listen(server), close: closer(server, sockets), connections: () => connections };
}

/** A loopback port with no listener (bound, then released). */
export async function deadPort(): Promise<number> {
  const server = net.createServer();
  const port = await listen(server);
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}
