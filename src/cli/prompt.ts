// Questions on the terminal for `pwsync init`: answers line by line from stdin (works piped, not only on a TTY);
// secrets are read without echo on a TTY. Never echoes, logs or returns a secret anywhere but to the caller.

import { createInterface, type Interface } from 'node:readline';
import { Writable } from 'node:stream';
import type { Prompter } from '../onboarding/questions.js';

export type { Prompter };

export class PromptEndedError extends Error {}

/**
 * A prompter over process.stdin/stderr. Piped input is consumed one line per question in order (a script can
 * answer with printf '…\n…\n'); the end of input before an answer is an error, never an empty secret.
 */
export function terminalPrompter(input: NodeJS.ReadableStream = process.stdin, output: NodeJS.WritableStream = process.stderr): Prompter {
  const tty = (input as NodeJS.ReadStream).isTTY === true;
  let muted = false;
  // readline echoes typed characters through `output`; while a secret is typed, nothing reaches the terminal.
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      if (!muted) output.write(chunk);
      done();
    },
  });
  const rl: Interface = createInterface({ input, output: sink, terminal: tty });
  const queued: string[] = [];
  const waiters: Array<{ resolve: (line: string) => void; reject: (e: Error) => void }> = [];
  let ended = false;
  rl.on('line', (line) => {
    const w = waiters.shift();
    if (w) w.resolve(line);
    else queued.push(line);
  });
  rl.on('close', () => {
    ended = true;
    for (const w of waiters.splice(0)) w.reject(new PromptEndedError('input ended before every question was answered'));
  });
  const nextLine = (): Promise<string> => {
    const q = queued.shift();
    if (q !== undefined) return Promise.resolve(q);
    if (ended) return Promise.reject(new PromptEndedError('input ended before every question was answered'));
    return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
  };

  return {
    async ask(question, fallback) {
      output.write(`${question}${fallback !== undefined && fallback !== '' ? ` [${fallback}]` : ''}: `);
      const line = (await nextLine()).trim();
      if (!tty) output.write('\n');
      return line === '' ? (fallback ?? '') : line;
    },
    async askSecret(question) {
      output.write(`${question} (not shown): `);
      muted = true;
      try {
        const line = await nextLine();
        return line.replace(/\r$/, '');
      } finally {
        muted = false;
        output.write('\n');
      }
    },
    close() {
      rl.close();
    },
  };
}
