// The target's `timeout` is one deadline for the whole request, headers and body, against a real local HTTP server:
// a reply that drips its body keeps undici's per-chunk body timer alive for ever, so only this deadline ends it.
// A deadline belongs to its request: one that fired must never end the requests after it.

import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createTargetHttpClient, type TargetHttpClient } from '../../src/targets/http-client.js';

const TIMEOUT_MS = 300;

describe('target HTTP client: one deadline per request', () => {
  let server: http.Server;
  let base: string;
  let client: TargetHttpClient;
  /** Drips that sent their whole body: one that finished before the client returned would prove nothing. */
  let completedDrips = 0;

  before(async () => {
    server = http.createServer((req, res) => {
      req.resume();
      if (req.url === '/drip') {
        // Headers at once, then one byte every 50 ms for 10 s: each chunk is well within undici's body timeout.
        res.writeHead(200, { 'content-type': 'application/json' });
        let left = 200;
        const t = setInterval(() => {
          if (left-- > 0) return void res.write(' ');
          clearInterval(t);
          completedDrips++;
          res.end();
        }, 50);
        res.on('close', () => clearInterval(t));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    client = createTargetHttpClient(
      { name: 't', timeout: TIMEOUT_MS, ca_file: undefined, http: { proxy: { use: false } } },
      { authorization: 'Bearer tok', secrets: ['tok'] },
      base,
    );
  });

  after(async () => {
    await client.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('ends a reply whose body drips past the timeout as a timeout, while the server is still sending', async () => {
    const out = await client.send('GET', `${base}/drip`);
    assert.equal(out.kind, 'network');
    assert.equal(out.kind === 'network' && out.timedOut, true);
    assert.equal(completedDrips, 0);
  });

  it('times out a request that starts after many that ended in time', async () => {
    for (let i = 0; i < 20; i++) {
      const ok = await client.send('GET', `${base}/ok`);
      assert.equal(ok.kind === 'response' && ok.status, 200);
    }
    const out = await client.send('GET', `${base}/drip`);
    assert.equal(out.kind === 'network' && out.timedOut, true);
    assert.equal(completedDrips, 0);
  });

  it('answers the requests after a deadline fired', async () => {
    const late = await client.send('GET', `${base}/drip`);
    assert.equal(late.kind === 'network' && late.timedOut, true);
    const results = await Promise.all(Array.from({ length: 8 }, () => client.send('POST', `${base}/ok`, { n: 1 })));
    for (const r of results) assert.deepEqual(r.kind === 'response' ? [r.status, r.body] : [r.kind], [200, '{"ok":true}']);
  });
});
