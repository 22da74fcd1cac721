// The shape of an IIJ ID user: schema URNs, known attributes, defaults and validation of incoming attributes.
// Pure data rules; never stores anything and never sees a password (callers take it out first).

import { ScimError } from './scim-error.js';
import { isPlainObject } from './filter.js';

export const CORE_USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const ENTERPRISE_USER = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
// IIJ's own spelling "extention" (https://manual.iij.jp/iid/iidapi/19001059.html): keep it, clients must not fix it.
export const OIDFJ_USER = 'urn:oidfj:params:scim:schemas:extention:enterprisejp:2.0:User';
export const IIJ_USER = 'urn:iij:params:scim:schemas:extension:enterprisejp:2.0:User';
export const USER_SCHEMAS = [CORE_USER, ENTERPRISE_USER, OIDFJ_USER, IIJ_USER] as const;
export const EXTENSION_URNS = [ENTERPRISE_USER, OIDFJ_USER, IIJ_USER] as const;

/** Core attributes a client may write (RFC 7643 §4.1 as IIJ lists them). */
const WRITABLE_CORE = [
  'userName', 'externalId', 'name', 'nickName', 'profileUrl', 'title', 'userType', 'preferredLanguage', 'locale',
  'timezone', 'active', 'emails', 'phoneNumbers', 'ims', 'photos', 'addresses', 'entitlements', 'roles',
  'x509Certificates',
] as const;
/** Attributes the server owns; displayName is read-only at IIJ (derived from name). */
export const READ_ONLY = ['id', 'meta', 'schemas', 'groups', 'displayName'] as const;

const CANONICAL = new Map<string, string>(
  [...WRITABLE_CORE, ...READ_ONLY, 'password', ...EXTENSION_URNS].map((name) => [name.toLowerCase(), name]),
);

/** The canonical spelling of a top-level attribute (SCIM attribute names are case-insensitive), or undefined. */
export function canonicalAttribute(name: string): string | undefined {
  return CANONICAL.get(name.toLowerCase());
}

export function isReadOnly(name: string): boolean {
  return (READ_ONLY as readonly string[]).includes(name);
}

export type UserAttributes = Record<string, unknown>;

/**
 * Canonicalises keys of a client-sent user object. Read-only attributes are dropped (a client PUTs back what it
 * GOT); unknown attributes are a 400. The caller removes `password` first.
 */
export function normaliseAttributes(body: Record<string, unknown>): UserAttributes {
  const out: UserAttributes = {};
  for (const [key, value] of Object.entries(body)) {
    const name = canonicalAttribute(key);
    if (name === undefined) throw new ScimError(400, 'invalidSyntax', `Unknown attribute: ${key}.`);
    if (isReadOnly(name) || name === 'password') continue;
    out[name] = value;
  }
  return out;
}

/** Checks the resulting user; `requireEmails` is IIJ's rule for the SCIM API (emails is required there). */
export function validateAttributes(attrs: UserAttributes, requireEmails: boolean): void {
  const { userName, externalId, active, emails, name } = attrs;
  if (typeof userName !== 'string' || userName.trim() === '') {
    throw new ScimError(400, 'invalidValue', 'userName is required.');
  }
  if (!/^[^\s@]+@[^\s@]+$/.test(userName)) {
    throw new ScimError(400, 'invalidValue', 'userName must be in e-mail address form.');
  }
  if (externalId !== undefined && typeof externalId !== 'string') {
    throw new ScimError(400, 'invalidValue', 'externalId must be a string.');
  }
  if (active !== undefined && typeof active !== 'boolean') throw new ScimError(400, 'invalidValue', 'active must be a boolean.');
  if (name !== undefined && !isPlainObject(name)) throw new ScimError(400, 'invalidValue', 'name must be an object.');
  if (emails !== undefined) {
    const ok = Array.isArray(emails) && emails.every((e) => isPlainObject(e) && typeof e.value === 'string' && e.value !== '');
    if (!ok) throw new ScimError(400, 'invalidValue', 'emails must be an array of {value, primary?}.');
  }
  if (requireEmails && (!Array.isArray(emails) || emails.length === 0)) {
    throw new ScimError(400, 'invalidValue', 'emails is required.');
  }
  for (const urn of EXTENSION_URNS) {
    if (attrs[urn] !== undefined && !isPlainObject(attrs[urn])) {
      throw new ScimError(400, 'invalidValue', `${urn} must be an object.`);
    }
  }
}

/** IIJ's documented defaults for attributes a client did not send. */
export function withDefaults(attrs: UserAttributes): UserAttributes {
  return { active: true, preferredLanguage: 'ja-JP', timezone: 'Asia/Tokyo', externalId: '', ...attrs };
}

/** IIJ derives displayName; Japanese order (family name first). */
export function displayNameOf(attrs: UserAttributes): string {
  const name = isPlainObject(attrs.name) ? attrs.name : {};
  const parts = [name.familyName, name.givenName].filter((p): p is string => typeof p === 'string' && p !== '');
  return parts.length > 0 ? parts.join(' ') : String(attrs.userName ?? '');
}
