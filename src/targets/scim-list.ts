// A read-only, paged listing of SCIM users (RFC 7644 §3.4.2.4 startIndex/count), shared by the IIJ and generic
// targets for `pwsync report mapping`. Returns ids and matching values only; never sends or returns a secret.

import { ListingPageTooLargeError, ListingUnsupportedError, TargetUnusableError } from '../errors.js';
import { MAX_RESPONSE_BYTES, type HttpOutcome } from './classify.js';
import type { TargetHttpClient } from './http-client.js';
import { expectStatus } from './password-write.js';
import type { TargetUserPage } from './target.js';

/** Statuses that mean "this server does not list like that", not "this server is broken". */
const UNSUPPORTED = [400, 404, 405, 501];

/** Checks the outcome of a listing request and parses its ListResponse. */
export function readUserPage(
  client: TargetHttpClient,
  target: string,
  outcome: HttpOutcome,
  attribute: 'externalId' | 'userName',
  compare: TargetUserPage['compare'],
): TargetUserPage {
  if (outcome.kind === 'response' && UNSUPPORTED.includes(outcome.status))
    throw new ListingUnsupportedError(`${target}: the target answered ${outcome.status} to a paged listing of users`);
  expectStatus(client, target, 'search', outcome, [200]);
  // The body was cut at the cap (http-client.ts): the JSON is incomplete, never a smaller valid page.
  if (Buffer.byteLength(outcome.body, 'utf8') >= MAX_RESPONSE_BYTES)
    throw new ListingPageTooLargeError(`${target}: a listing page reached the ${MAX_RESPONSE_BYTES / 1024} KiB response cap`);
  let json: unknown;
  try {
    json = JSON.parse(outcome.body);
  } catch {
    json = undefined;
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json) || !Array.isArray((json as Record<string, unknown>)['Resources']) && (json as Record<string, unknown>)['totalResults'] === undefined)
    throw new TargetUnusableError(`${target}: the listing answered 200 but not with a SCIM ListResponse`);
  const o = json as Record<string, unknown>;
  const resources = Array.isArray(o['Resources']) ? (o['Resources'] as unknown[]) : [];
  const users: TargetUserPage['users'] = [];
  for (const r of resources) {
    if (typeof r !== 'object' || r === null) continue;
    const id = (r as Record<string, unknown>)['id'];
    const value = (r as Record<string, unknown>)[attribute];
    // IIJ shows an unset externalId as "": such a user can never be matched, so it is not listed.
    if (typeof id === 'string' && id !== '' && typeof value === 'string' && value !== '') users.push({ id, value });
  }
  const total = typeof o['totalResults'] === 'number' ? o['totalResults'] : resources.length;
  return { users, total, compare };
}
