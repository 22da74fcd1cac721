// SCIM 2.0 message bodies pwsync sends (SearchRequest, PatchOp, PUT body) and the ListResponse it reads.
// Pure: no I/O. Never returns or throws text that contains the password; only the request bodies carry it.

import { NotProvisionedError, RejectedChangeError, TargetFaultError } from '../errors.js';
import type { TargetUser } from './target.js';

export const SEARCH_REQUEST_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';
export const PATCH_OP_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

/** A SearchRequest with IIJ's key order (schemas, attributes, filter); JSON key order is not significant. */
export function searchRequest(filter: string, attributes: readonly string[]): Record<string, unknown> {
  return { schemas: [SEARCH_REQUEST_SCHEMA], attributes: [...attributes], filter };
}

/** PATCH body replacing the password (RFC 7644 §3.5.2.3 with a path). */
export function passwordPatch(password: string): Record<string, unknown> {
  return { schemas: [PATCH_OP_SCHEMA], Operations: [{ op: 'replace', path: 'password', value: password }] };
}

// Attributes a server computes or owns: sending them back in a PUT is at best ignored, at worst a 400.
const READ_ONLY_ON_PUT = ['meta', 'groups', 'password'];

/**
 * The PUT body for password_update "put": the user exactly as GET returned it, minus read-only `meta` and
 * `groups`, plus the new password. `schemas` and `id` are kept (RFC 7644 §3.5.1: PUT replaces the whole user).
 */
export function passwordPutBody(fetched: Record<string, unknown>, password: string): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fetched)) if (!READ_ONLY_ON_PUT.includes(k)) body[k] = v;
  body['password'] = password;
  return body;
}

/** Parses a GET /Users/{id} body for a PUT; a body that is not a user object is a reason to stop, not to guess. */
export function parseUserForPut(target: string, body: string, id: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    json = undefined;
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json) || (json as Record<string, unknown>)['id'] !== id) {
    throw new RejectedChangeError(
      `${target}: GET of the user did not return that user as JSON (or it is larger than 64 KiB), so it cannot be PUT back; use password_update: patch`,
    );
  }
  return json as Record<string, unknown>;
}

/** How the matched attribute's value is compared with what we searched for. */
export type MatchRule = 'exact' | 'case-insensitive';

/**
 * Picks the one user of a ListResponse. 0 hits → undefined; 2+ → RejectedChangeError naming the count; a hit whose
 * attribute differs from the searched value → NotProvisionedError saying so (a server whose matching differs
 * from ours must not make us set the password of someone else).
 */
export function pickOneUser(
  target: string,
  body: string,
  attribute: string,
  value: string,
  rule: MatchRule,
): TargetUser | undefined {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    json = undefined;
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    // 200 with something else than JSON: a maintenance page, a captive portal or a wrong URL. Transient in the first
    // two cases; the third shows up as repeated events and in `pwsync check`. Credentials were not refused: no pause.
    throw new TargetFaultError(`${target}: the search answered 200 but not with a SCIM ListResponse (maintenance page or wrong url?)`);
  }
  const o = json as Record<string, unknown>;
  const resources = Array.isArray(o['Resources']) ? (o['Resources'] as unknown[]) : [];
  const total = typeof o['totalResults'] === 'number' ? o['totalResults'] : resources.length;
  const count = Math.max(total, resources.length);
  if (count === 0) return undefined;
  if (count > 1) {
    throw new RejectedChangeError(`${target}: ${count} users match ${attribute}; refusing to guess which one gets the password`);
  }
  const hit = resources[0];
  if (typeof hit !== 'object' || hit === null) {
    throw new TargetFaultError(`${target}: the search reported 1 result but returned no resource: the target's answer is malformed`);
  }
  const h = hit as Record<string, unknown>;
  const id = h['id'];
  const got = h[attribute];
  if (typeof id !== 'string' || id.length === 0) {
    throw new TargetFaultError(`${target}: the search result has no id: the target's answer is malformed`);
  }
  const same = typeof got === 'string' && (rule === 'exact' ? got === value : got.toLowerCase() === value.toLowerCase());
  if (!same) {
    throw new NotProvisionedError(
      `${target}: the search returned a user whose ${attribute} is not exactly the searched value; treated as not found (check ${attribute} at the target for case or normalisation differences)`,
    );
  }
  return { id, matchedValue: value };
}
