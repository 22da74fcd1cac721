// Reads a password from stdin (piped) or an interactive prompt without echo — never from argv or the environment,
// where other local users and process listings could see it.

import { createInterface } from 'node:readline';

export async function readPassword(prompt = 'New password: '): Promise<string> {
  if (!process.stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    const all = Buffer.concat(chunks);
    const text = all.toString('utf8');
    all.fill(0);
    // One trailing newline is the terminator of `echo`/`printf '%s\n'`, not part of the password.
    return text.replace(/\r?\n$/, '');
  }
  process.stderr.write(prompt);
  const rl = createInterface({ input: process.stdin, output: undefined, terminal: true });
  (process.stdin as NodeJS.ReadStream).setRawMode?.(true);
  try {
    return await new Promise<string>((resolve) => {
      let value = '';
      process.stdin.on('data', function onData(buf: Buffer) {
        for (const ch of buf.toString('utf8')) {
          if (ch === '\r' || ch === '\n' || ch === '\u0004') {
            process.stdin.off('data', onData);
            process.stderr.write('\n');
            resolve(value);
            return;
          }
          if (ch === '\u0003') process.exit(130);
          if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
          else value += ch;
        }
      });
    });
  } finally {
    (process.stdin as NodeJS.ReadStream).setRawMode?.(false);
    rl.close();
  }
}
