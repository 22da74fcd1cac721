// A hostile SCIM target that echoes the request body in its error `detail` (issue 13 #1): a password containing
// `"` and `\` must not reach the journal (3003), the agent's stderr or the outbox files (last_error is not sealed)
// in any encoding. Real `pwsync run` child process, real Samba AD DC, a SCIM server of the test's own.

import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { encodingsOf } from '../../src/targets/classify.js';
import { createUser, sambaDcForSuite, uniqueName, type SambaDcInfo } from '../support/samba.js';
import { spawnAgent, submit, waitForJournal, type ChildAgent } from '../support/stack.js';

const PASSWORD = `Echo"Me\\Back-${Math.random().toString(36).slice(2, 8)}!Aa1`;
const TOKEN = `hostile-target-token-${Math.random().toString(36).slice(2)}`;

/** Answers every search with the searched user, and every password write with 400 echoing the body in many forms. */
function hostileTarget(): Promise<{ server: http.Server; base: string }> {
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (req.method === 'GET' && url.pathname.endsWith('/Users')) {
        const value = /eq "(.*)"/.exec(url.searchParams.get('filter') ?? '')?.[1] ?? '';
        res.writeHead(200, { 'content-type': 'application/scim+json' });
        return res.end(JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'], totalResults: 1, Resources: [{ id: 'u-1', externalId: value }] }));
      }
      const b64 = Buffer.from(body).toString('base64');
      const detail = `cannot apply ${body} (form: ${encodeURIComponent(body)}; b64: ${b64})`;
      res.writeHead(400, { 'content-type': 'application/scim+json' });
      res.end(JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: '400', scimType: 'invalidValue', detail }));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}/scim/v2/` })));
}

describe('a target echoing the request never leaks the password', () => {
  let dc: SambaDcInfo | undefined;
  let target: { server: http.Server; base: string };
  let agent: ChildAgent | undefined;
  let dir: string;

  before(async () => {
    dc = sambaDcForSuite();
    if (!dc) return;
    target = await hostileTarget();
    dir = mkdtempSync(path.join(os.tmpdir(), 'pwsync-hostile-'));
    mkdirSync(path.join(dir, 'run'), { mode: 0o700 });
    writeFileSync(
      path.join(dir, 'config.yml'),
      `agent:\n  data_dir: ${dir}/data\n  intake:\n    socket: ${dir}/run/intake.sock\nlog:\n  loglevel: debug\n  stderr: true\n` +
        `ad:\n  ldap:\n    server:\n      addresses: [${dc.host}]\n      port: ${dc.ldapsPort}\n      user: '${dc.readerDn}'\n      encryption: ldaps\n` +
        `      ca_file: ${dc.caFile}\n      tls_servername: ${dc.tlsServername}\n    base_dn: 'OU=Staff,${dc.baseDn}'\n` +
        `targets:\n  - name: echo\n    type: scim\n    url: ${target.base}\n    timeout: 5s\nconsole:\n  enabled: false\n`,
      { mode: 0o600 },
    );
    writeFileSync(path.join(dir, 'secret.yml'), `ad:\n  ldap:\n    server:\n      password: '${dc.readerPassword}'\ntargets:\n  echo:\n    access_token: ${TOKEN}\n`, { mode: 0o600 });
    agent = spawnAgent(path.join(dir, 'config.yml'));
    await waitForJournal(path.join(dir, 'data', 'journal.jsonl'), (e) => e.id === 2004, 20_000);
  });
  after(async () => {
    agent?.proc.kill('SIGKILL');
    await agent?.exited;
    target?.server.close();
  });

  test('journal, stderr, outbox and its WAL hold no encoding of the password; the rejection names the withheld detail', async (t) => {
    if (!dc) return t.skip();
    const name = uniqueName('echo');
    await createUser(dc, name);
    const id = await submit(path.join(dir, 'run', 'intake.sock'), name, PASSWORD);
    const journalFile = path.join(dir, 'data', 'journal.jsonl');
    const ev = await waitForJournal(journalFile, (e) => e.change === id && [3000, 3001, 3003].includes(e.id), 30_000);
    assert.equal(ev.id, 3003, `expected the rejection, got ${ev.id}`);
    assert.match(String(ev.detail), /detail withheld/);
    const forms = [...encodingsOf(PASSWORD), PASSWORD.slice(0, 10), TOKEN];
    const texts: Array<[string, Buffer]> = [['stderr', Buffer.from(agent!.stderr())]];
    for (const f of readdirSync(path.join(dir, 'data'))) texts.push([f, readFileSync(path.join(dir, 'data', f))]);
    assert.ok(texts.some(([f]) => f === 'outbox.sqlite-wal'), 'the WAL is checked while the agent runs');
    for (const [where, bytes] of texts) {
      for (const form of forms) assert.ok(!bytes.includes(Buffer.from(form, 'utf8')), `${where} contains ${JSON.stringify(form)}`);
    }
  });
});
