// Request/response over a forked child's IPC channel, so the bench can drive the agent and the emulator in their
// own processes (their own event loops and CPU) without sharing code paths with what is measured.

import { fork, type ChildProcess } from 'node:child_process';

interface Request {
  rpc: number;
  cmd: string;
  args: unknown;
}
interface Reply {
  rpc: number;
  ok: boolean;
  value?: unknown;
  error?: string;
}
export interface Notice {
  notice: string;
  value: unknown;
}

export interface ChildHandle {
  proc: ChildProcess;
  call<T = unknown>(cmd: string, args?: unknown, timeoutMs?: number): Promise<T>;
  onNotice(fn: (n: Notice) => void): void;
  /** Asks the child to stop, then kills it if it does not exit within 10 s. */
  close(): Promise<void>;
}

export function forkChild(script: string, execArgv: string[] = []): ChildHandle {
  const proc = fork(script, [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let next = 1;
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  const listeners: Array<(n: Notice) => void> = [];
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  proc.on('message', (m: Reply | Notice) => {
    if ('notice' in m) {
      for (const fn of listeners) fn(m);
      return;
    }
    const w = waiting.get(m.rpc);
    if (!w) return;
    waiting.delete(m.rpc);
    clearTimeout(w.timer);
    if (m.ok) w.resolve(m.value);
    else w.reject(new Error(m.error ?? 'child failed'));
  });
  proc.once('exit', (code, signal) => {
    for (const w of waiting.values()) {
      clearTimeout(w.timer);
      w.reject(new Error(`${script} exited (${code ?? signal})`));
    }
    waiting.clear();
  });
  return {
    proc,
    call<T>(cmd: string, args?: unknown, timeoutMs = 30 * 60_000): Promise<T> {
      const rpc = next++;
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(rpc);
          reject(new Error(`${cmd}: no answer from ${script} within ${timeoutMs} ms`));
        }, timeoutMs);
        waiting.set(rpc, { resolve: resolve as (v: unknown) => void, reject, timer });
        proc.send({ rpc, cmd, args } satisfies Request);
      });
    },
    onNotice(fn) {
      listeners.push(fn);
    },
    async close() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      try {
        await this.call('exit', undefined, 10_000);
      } catch {
        /* it may exit before answering */
      }
      await exited;
      clearTimeout(t);
    },
  };
}

/** Child side: answers the parent's calls with `handlers`; `exit` is built in. */
export function serve(handlers: Record<string, (args: any) => unknown>, onExit: () => Promise<void> = async () => undefined): void {
  process.on('message', (m: Request) => {
    void (async () => {
      try {
        if (m.cmd === 'exit') {
          await onExit();
          process.send!({ rpc: m.rpc, ok: true } satisfies Reply, () => process.exit(0));
          return;
        }
        const h = handlers[m.cmd];
        if (!h) throw new Error(`unknown command ${m.cmd}`);
        const value = await h(m.args);
        process.send!({ rpc: m.rpc, ok: true, value } satisfies Reply);
      } catch (err) {
        process.send!({ rpc: m.rpc, ok: false, error: err instanceof Error ? err.stack ?? err.message : String(err) } satisfies Reply);
      }
    })();
  });
}

export function notify(notice: string, value: unknown): void {
  process.send?.({ notice, value } satisfies Notice);
}
