#!/usr/bin/env node
// The incumbent's design, as a baseline: ONE NEW PROCESS PER CHANGE, as IIJ's scheduled task runs its sync
// program — start, bind to AD over LDAPS, read the user's external ID, search IIJ ID (SCIM) for it, set the
// password, exit. Written plainly, no caching, no connection reuse (a fresh process has none to reuse).
// The job (including the password and the token) arrives as JSON on stdin, never in argv; nothing is printed
// but an error code on failure.

import { readFileSync } from 'node:fs';
import { Client } from 'ldapts';

interface Job {
  ldap: { url: string; caFile: string; servername: string; bindDn: string; bindPassword: string; baseDn: string };
  scimBase: string;
  token: string;
  account: string;
  password: string;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function escapeFilter(v: string): string {
  return v.replace(/[\\*()\0]/g, (ch) => '\\' + ch.charCodeAt(0).toString(16).padStart(2, '0'));
}

async function main(): Promise<void> {
  const job = JSON.parse(await readStdin()) as Job;
  const client = new Client({ url: job.ldap.url, tlsOptions: { ca: readFileSync(job.ldap.caFile), servername: job.ldap.servername } });
  let upn: string | undefined;
  try {
    await client.bind(job.ldap.bindDn, job.ldap.bindPassword);
    const r = await client.search(job.ldap.baseDn, { scope: 'sub', filter: `(&(objectClass=user)(sAMAccountName=${escapeFilter(job.account)}))`, attributes: ['userPrincipalName'] });
    upn = r.searchEntries[0]?.userPrincipalName as string | undefined;
  } finally {
    await client.unbind().catch(() => undefined);
  }
  if (!upn) throw new Error('E_UNKNOWN_ACCOUNT');
  const headers = { authorization: `Bearer ${job.token}`, 'content-type': 'application/scim+json', accept: 'application/scim+json' };
  const search = await fetch(`${job.scimBase}Users/.search`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:SearchRequest'], attributes: ['id', 'externalId'], filter: `externalId pr and (externalId eq ${JSON.stringify(upn)})` }),
  });
  if (search.status !== 200) throw new Error(`E_SEARCH_${search.status}`);
  const list = (await search.json()) as { Resources?: Array<{ id: string }> };
  const id = list.Resources?.[0]?.id;
  if (!id || list.Resources!.length !== 1) throw new Error('E_NOT_PROVISIONED');
  const patch = await fetch(`${job.scimBase}Users/${encodeURIComponent(id)}`, {
    method: 'PATCH',
    headers,
    body: JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'password', value: job.password }] }),
  });
  if (patch.status !== 200 && patch.status !== 204) throw new Error(`E_PATCH_${patch.status}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`incumbent: ${err instanceof Error ? err.message : 'failed'}\n`);
    process.exit(1);
  },
);
