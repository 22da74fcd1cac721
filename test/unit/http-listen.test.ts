// The bind step the console and the stand-alone metrics server share (src/metrics/http-listen.ts): the URL it names
// (ephemeral port, IPv6 in brackets), the bind error passed through as is, close() ending keep-alive connections;
// and the metrics server on top of it answering at that URL, to loopback Host names only.

import assert from 'node:assert/strict';
import http from 'node:http';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { isLoopback, listenHttp } from '../../src/metrics/http-listen.js';
import { startMetricsServer } from '../../src/metrics/server.js';
import { request } from '../support/console-http.js';

const hello = () => http.createServer((_req, res) => res.end('hello'));

/** GET by URL: http.get takes an IPv6 host out of its brackets, unlike the console's bare client. */
function get(url: string, agent?: http.Agent): Promise<string> {
  return new Promise((resolve, reject) =>
    http.get(url, { agent }, (res) => {
      let s = '';
      res.on('data', (c: Buffer) => (s += c.toString()));
      res.on('end', () => resolve(s));
    }).on('error', reject),
  );
}

describe('listenHttp', () => {
  it('binds an ephemeral port on 127.0.0.1 and names the URL it answers at', async () => {
    const l = await listenHttp(hello(), '127.0.0.1', 0);
    try {
      assert.ok(l.port > 0);
      assert.equal(l.url, `http://127.0.0.1:${l.port}`);
      assert.equal((await request(l.url, '/')).body, 'hello');
    } finally {
      await l.close();
    }
  });

  it('writes an IPv6 address in brackets', async () => {
    const l = await listenHttp(hello(), '::1', 0);
    try {
      assert.equal(l.url, `http://[::1]:${l.port}`);
      assert.equal(await get(`${l.url}/`), 'hello');
    } finally {
      await l.close();
    }
  });

  it('rejects with the bind error itself (the agent journals its code), and leaves no listener behind', async () => {
    const first = await listenHttp(hello(), '127.0.0.1', 0);
    const second = hello();
    try {
      await assert.rejects(listenHttp(second, '127.0.0.1', first.port), (err: NodeJS.ErrnoException) => err.code === 'EADDRINUSE');
      assert.equal(second.listenerCount('error'), 0, 'no error listener left behind');
    } finally {
      await first.close();
    }
  });

  // Bounded: a close() that waited for the open response would wait for Node's request timeout (5 min); after 5 s
  // the test fails and ends the connection itself, so a regression fails instead of hanging the run.
  it('close() ends connections with a response still open and resolves once the server is closed', async () => {
    const server = http.createServer((_req, res) => res.writeHead(200).write('never ends'));
    const l = await listenHttp(server, '127.0.0.1', 0);
    const requested = new Promise<void>((resolve) => server.once('request', () => setImmediate(resolve)));
    const ended = new Promise<void>((resolve, reject) =>
      http.get(`${l.url}/`, (res) => {
        res.resume();
        res.once('close', () => resolve());
      }).on('error', reject),
    );
    await requested;
    let deadline: NodeJS.Timeout | undefined;
    const closed = await Promise.race([
      l.close().then(() => true),
      new Promise<false>((resolve) => (deadline = setTimeout(() => resolve(false), 5000))),
    ]);
    clearTimeout(deadline);
    if (!closed) server.closeAllConnections();
    assert.ok(closed, 'close() waited for the open response');
    assert.equal(server.listening, false);
    await ended;
  });

  it('isLoopback: localhost, ::1 and 127.0.0.0/8 only', () => {
    for (const a of ['localhost', '::1', '127.0.0.1', '127.1.2.3']) assert.equal(isLoopback(a), true, a);
    for (const a of ['0.0.0.0', '::', '10.0.0.1', 'host.example', '::ffff:127.0.0.1']) assert.equal(isLoopback(a), false, a);
  });
});

describe('startMetricsServer', () => {
  it('serves /metrics and /healthz at the URL it reports, and refuses a foreign Host on loopback', async () => {
    const registry = new Registry();
    const m = await startMetricsServer({
      listen: '127.0.0.1', port: 0,
      metrics: { registry, observe: () => {}, close: () => {} },
      health: () => ({ status: 'ok', reasons: [] }),
    });
    try {
      assert.match(m.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.equal((await request(m.url, '/metrics')).status, 200);
      assert.deepEqual(JSON.parse((await request(m.url, '/healthz')).body), { status: 'ok' });
      assert.equal((await request(m.url, '/healthz', { host: `evil.example:${new URL(m.url).port}` })).status, 421);
    } finally {
      await m.close();
    }
  });
});
