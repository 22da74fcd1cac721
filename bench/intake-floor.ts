// A forked process for bench §1: the least an intake can do behind the same socket and client — read a frame,
// append as many bytes as an intake commit writes to its WAL, fdatasync on libuv's thread pool (as the agent's
// WalSync does), then reply. What the client measures against it is this machine's floor for a durable ack: its
// process wake-ups, socket round trip and disk, without any of the agent's work. Modes (FloorMode): `append` makes
// the file longer with every frame, as SQLite's WAL grows until its first checkpoint; `overwrite` writes over blocks
// the file already has, as a checkpointed WAL is written; `answer` replies at once, without the disk: the floor of
// any answer over this socket. Keeps no frame: wipes each one.

import { closeSync, fdatasync, fsyncSync, openSync, writeSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { FrameReader, encodeFrame } from '../src/intake/frame-codec.js';
import { serve } from './lib/rpc.js';
import { FIRST_CHECKPOINT_WAL_BYTES, type FloorMode } from './sections/intake.js';

/** An intake commit of one change writes about nine 4 KiB pages to the WAL: the row and its indexes. */
const COMMIT_BYTES = 9 * 4096;

let server: net.Server | undefined;
let fd: number | undefined;

serve(
  {
    async start(a: { dir: string; mode: FloorMode }) {
      const socketPath = path.join(a.dir, 'floor.sock');
      fd = openSync(path.join(a.dir, 'floor.wal'), 'w', 0o600);
      const page = Buffer.alloc(COMMIT_BYTES, 0x5a);
      if (a.mode === 'overwrite') {
        for (let at = 0; at < FIRST_CHECKPOINT_WAL_BYTES; at += page.length) writeSync(fd, page, 0, page.length, at);
        fsyncSync(fd);
      }
      let at = 0;
      server = net.createServer((sock) => {
        const reader = new FrameReader();
        sock.on('error', () => sock.destroy());
        sock.on('data', (chunk: Buffer) => {
          for (const payload of reader.push(chunk)) {
            payload.fill(0);
            if (a.mode === 'answer') {
              sock.write(encodeFrame({ v: 1, ok: true, id: 'floor' }));
              continue;
            }
            if (a.mode === 'append') writeSync(fd!, page);
            else {
              writeSync(fd!, page, 0, page.length, at);
              at = at + 2 * page.length > FIRST_CHECKPOINT_WAL_BYTES ? 0 : at + page.length;
            }
            fdatasync(fd!, (err) => sock.write(encodeFrame(err ? { v: 1, ok: false, code: 'E_FLOOR', message: err.message } : { v: 1, ok: true, id: 'floor' })));
          }
        });
      });
      await new Promise<void>((resolve) => server!.listen(socketPath, resolve));
      return { socketPath };
    },
  },
  async () => {
    server?.close();
    if (fd !== undefined) closeSync(fd);
  },
);
