// A throwaway self-signed certificate for 127.0.0.1 (openssl, temp dir) and an HTTPS server answering SCIM searches.
// Test-only: the key is generated per run, never reused, and the directory is removed by `dispose`.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface SelfSignedHttps {
  /** https://127.0.0.1:PORT/scim/v2/ */
  readonly scimBase: string;
  /** PEM of the self-signed certificate (it is its own CA). */
  readonly caFile: string;
  readonly requests: number;
  dispose(): Promise<void>;
}

/** Serves `POST …/Users/.search` with an empty ListResponse over TLS with a certificate no default root trusts. */
export async function startSelfSignedHttps(): Promise<SelfSignedHttps> {
  const dir = mkdtempSync(path.join(tmpdir(), 'pwsync-tls-'));
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
    { stdio: 'ignore' },
  );
  let requests = 0;
  const server: Server = createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
    requests += 1;
    req.resume();
    res.writeHead(200, { 'content-type': 'application/scim+json' });
    res.end(JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'], totalResults: 0, Resources: [] }));
  });
  await new Promise<void>((resolve, reject) => {
    server.listen(0, '127.0.0.1', () => resolve());
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  return {
    scimBase: `https://127.0.0.1:${port}/scim/v2/`,
    caFile: cert,
    get requests() {
      return requests;
    },
    dispose: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        rmSync(dir, { recursive: true, force: true });
      }),
  };
}
