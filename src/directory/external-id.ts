// The external ID exactly as IIJ Directory Sync writes it: the `ad_bind.externalId` attribute of the AD user,
// rewritten by each `convert.externalId` rule in order. Pure; a different result here means the SCIM search
// finds nobody (docs/architecture.md#directory), so it never "fixes up" values beyond what the rules say.

import type { UserAttributeConfig } from '../config/schema.js';
import type { DirectoryUser } from './directory.js';
import { guidToString } from './guid.js';

/** Looks an attribute up case-insensitively: LDAP attribute names are (RFC 4512 §2.5), config spellings vary. */
export function attributeValue(
  attributes: DirectoryUser['attributes'],
  name: string,
): string | Buffer | Array<string | Buffer> | undefined {
  if (Object.hasOwn(attributes, name)) return attributes[name];
  const lower = name.toLowerCase();
  for (const [key, value] of Object.entries(attributes)) if (key.toLowerCase() === lower) return value;
  return undefined;
}

/** A binary value as text in the configured `binary_format`. */
export function formatBinary(value: Buffer, format: UserAttributeConfig['binary_format']): string {
  switch (format) {
    case 'guid':
      // A value that is not 16 bytes cannot be a GUID; fall back to nothing rather than a wrong ID.
      return value.length === 16 ? guidToString(value) : '';
    case 'base64':
      return value.toString('base64');
    case 'hex':
      return value.toString('hex');
  }
}

/**
 * Applies one convert rule. Semantics: the FIRST match is replaced (like Ruby's String#sub and JavaScript's
 * replace without the g flag), with `$1`, `$<name>` and `$&` references. IIJ's manual (DirSync-WinAD_en/17896902)
 * shows `{pattern, replacement}` without saying first-or-all; anchored patterns (`^…$`), which is what IIJ's
 * examples use, give the same result either way. No flags: case-sensitive, as in IIJ's examples.
 */
export function applyConvertRule(value: string, rule: { pattern: string; replacement: string }): string {
  return value.replace(new RegExp(rule.pattern), rule.replacement);
}

/**
 * The external ID of `user` for a target whose attribute rule is `rule`; undefined when the attribute is absent
 * or the result is empty (such a user cannot be found at the target, and must not be matched by an empty ID).
 * A multi-valued attribute uses its first value.
 */
export function computeExternalId(user: Pick<DirectoryUser, 'attributes'>, rule: UserAttributeConfig): string | undefined {
  const raw = attributeValue(user.attributes, rule.ad_bind.externalId);
  const first = Array.isArray(raw) ? raw[0] : raw;
  if (first === undefined) return undefined;
  let value = Buffer.isBuffer(first) ? formatBinary(first, rule.binary_format) : first;
  for (const r of rule.convert.externalId) value = applyConvertRule(value, r);
  return value === '' ? undefined : value;
}
