// Writes a password to a SCIM user: PATCH replace (default) or GET-then-PUT, shared by the IIJ and generic targets.
// Never puts the password or the token in an error: failures go through classify.ts.

import type { IijTargetConfig } from '../config/schema.js';
import { classifyFailure, type HttpOutcome, type RequestPurpose } from './classify.js';
import type { TargetHttpClient } from './http-client.js';
import { NotProvisionedError } from '../errors.js';
import { parseUserForPut, passwordPatch, passwordPutBody, type MatchRule } from './scim-messages.js';

export type PasswordUpdateMode = IijTargetConfig['password_update'];

/** `{base}Users/{id}` with the id percent-encoded: an id is target data, never trusted as a path. */
export function userUrl(base: string, id: string): string {
  return `${base}Users/${encodeURIComponent(id)}`;
}

/** Throws the classified error unless the outcome is a response with one of `accepted`. */
export function expectStatus(
  client: TargetHttpClient,
  target: string,
  purpose: RequestPurpose,
  outcome: HttpOutcome,
  accepted: readonly number[],
  extraSecrets: readonly string[] = [],
): asserts outcome is Extract<HttpOutcome, { kind: 'response' }> {
  if (outcome.kind === 'response' && accepted.includes(outcome.status)) return;
  throw classifyFailure(outcome, {
    target,
    purpose,
    secrets: [...client.secrets, ...extraSecrets],
    timeoutMs: client.timeoutMs,
    ...(client.proxyLabel !== undefined ? { proxy: client.proxyLabel } : {}),
  });
}

/** The matching attribute and value the user was found by: a PUT checks the user it read still carries it. */
export interface MatchedBy {
  attribute: 'externalId' | 'userName';
  value: string;
  compare: MatchRule;
}

export async function writePassword(
  client: TargetHttpClient,
  target: string,
  base: string,
  mode: PasswordUpdateMode,
  id: string,
  password: string,
  matched?: MatchedBy,
): Promise<void> {
  const url = userUrl(base, id);
  if (mode === 'patch') {
    // 204 is what a server answers when nothing visible changed (the password is never returned): accept both.
    const res = await client.send('PATCH', url, passwordPatch(password));
    expectStatus(client, target, 'write-password', res, [200, 204], [password]);
    return;
  }
  // PUT mode: IIJ's manual says its agent "retrieves additional information needed to update the password"
  // before writing, which may mean GET-then-PUT; offered in case PATCH is refused (docs/targets.md#set-the-password-password_update-put).
  const got = await client.send('GET', url);
  expectStatus(client, target, 'read-user', got, [200], [password]);
  const user = parseUserForPut(target, got.body, id);
  // The id came from a search (or an id cache) a moment or minutes ago; the user read now must still be the one that
  // matched, or its password is not ours to set (docs/targets.md#id-cache). Not provisioned: search again, then wait.
  if (matched && !sameValue(user[matched.attribute], matched.value, matched.compare))
    throw new NotProvisionedError(`${target}: user ${id} no longer has ${matched.attribute} ${JSON.stringify(matched.value)}; its password was not set`);
  const body = passwordPutBody(user, password);
  const put = await client.send('PUT', url, body);
  expectStatus(client, target, 'write-password', put, [200, 204], [password]);
}

function sameValue(actual: unknown, expected: string, compare: MatchRule): boolean {
  if (typeof actual !== 'string') return false;
  return compare === 'exact' ? actual === expected : actual.toLowerCase() === expected.toLowerCase();
}
