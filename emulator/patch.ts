// Applies a SCIM PatchOp (RFC 7644 §3.5.2) to a copy of a user's attributes and pulls the password out of it.
// Pure: it never stores, hashes or checks the password, and never mutates its input.

import { existingKey, parseAttributePath, type AttributePath } from './attribute-path.js';
import { isPlainObject, UserFilter } from './filter.js';
import { ScimError } from './scim-error.js';
import { canonicalAttribute, isReadOnly, type UserAttributes } from './user-schema.js';

export const PATCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

export interface PatchResult {
  readonly attributes: UserAttributes;
  /** The last password the operations set, if any. */
  readonly password: string | undefined;
  /** false when every operation only set the password (IIJ-style 204 No Content). */
  readonly changedOtherAttributes: boolean;
}

type Op = 'add' | 'replace' | 'remove';

export function applyPatch(current: UserAttributes, body: unknown): PatchResult {
  if (!isPlainObject(body)) throw new ScimError(400, 'invalidSyntax', 'The request body must be a PatchOp object.');
  const schemas = body.schemas;
  if (!Array.isArray(schemas) || !schemas.includes(PATCH_SCHEMA)) {
    throw new ScimError(400, 'invalidSyntax', `schemas must contain ${PATCH_SCHEMA}.`);
  }
  const operations = body.Operations ?? body.operations;
  if (!Array.isArray(operations) || operations.length === 0) {
    throw new ScimError(400, 'invalidSyntax', 'Operations must be a non-empty array.');
  }
  const attrs = structuredClone(current);
  let password: string | undefined;
  let changedOtherAttributes = false;
  for (const [index, raw] of operations.entries()) {
    if (!isPlainObject(raw)) throw new ScimError(400, 'invalidSyntax', `Operations[${index}] must be an object.`);
    const op = String(raw.op ?? '').toLowerCase();
    if (op !== 'add' && op !== 'replace' && op !== 'remove') {
      throw new ScimError(400, 'invalidSyntax', `Operations[${index}].op must be add, replace or remove.`);
    }
    if (raw.path === undefined || raw.path === null || raw.path === '') {
      if (op === 'remove') throw new ScimError(400, 'noTarget', `Operations[${index}]: remove needs a path.`);
      if (!isPlainObject(raw.value)) throw new ScimError(400, 'invalidSyntax', `Operations[${index}].value must be an object when there is no path.`);
      // Entra-style {"op":"replace","value":{"password":"…"}}: each key is applied as if it were the path.
      for (const [key, value] of Object.entries(raw.value)) {
        if (key.toLowerCase() === 'password') password = passwordValue(value, index);
        else {
          applyAt(attrs, op, parseAttributePath(key), value, index);
          changedOtherAttributes = true;
        }
      }
      continue;
    }
    if (typeof raw.path !== 'string') throw new ScimError(400, 'invalidPath', `Operations[${index}].path must be a string.`);
    const path = parseAttributePath(raw.path);
    if (path.extension === undefined && path.attribute?.toLowerCase() === 'password' && !path.valueFilter && !path.subAttribute) {
      if (op === 'remove') throw new ScimError(400, 'mutability', 'The password cannot be removed.');
      password = passwordValue(raw.value, index);
      continue;
    }
    applyAt(attrs, op, path, raw.value, index);
    changedOtherAttributes = true;
  }
  return { attributes: attrs, password, changedOtherAttributes };
}

function passwordValue(value: unknown, index: number): string {
  // The detail names the rule only: the value itself is never echoed.
  if (typeof value !== 'string') throw new ScimError(400, 'invalidValue', `Operations[${index}]: password must be a string.`);
  return value;
}

function applyAt(attrs: UserAttributes, op: Op, path: AttributePath, value: unknown, index: number): void {
  if (path.extension === undefined && path.attribute !== undefined) {
    const name = canonicalAttribute(path.attribute);
    if (name === undefined) throw new ScimError(400, 'invalidPath', `Unknown attribute: ${path.attribute}.`);
    if (isReadOnly(name)) throw new ScimError(400, 'mutability', `${name} is read-only.`);
  }
  let container: Record<string, unknown> = attrs;
  if (path.extension !== undefined) {
    if (path.attribute === undefined) {
      setOrMerge(attrs, path.extension, op, value, index);
      return;
    }
    const ext = attrs[path.extension];
    if (!isPlainObject(ext)) {
      if (op === 'remove') return;
      attrs[path.extension] = {};
    }
    container = attrs[path.extension] as Record<string, unknown>;
  }
  const attribute = path.attribute ?? '';
  const key = path.extension === undefined ? (canonicalAttribute(attribute) ?? attribute) : existingKey(container, attribute);

  if (path.valueFilter !== undefined) {
    applyToMatchingValues(container, key, op, path, value, index);
    return;
  }
  if (path.subAttribute === undefined) {
    setOrMerge(container, key, op, value, index);
    return;
  }
  let parent = container[key];
  if (parent === undefined) {
    if (op === 'remove') return;
    parent = {};
    container[key] = parent;
  }
  const targets = Array.isArray(parent) ? parent.filter(isPlainObject) : isPlainObject(parent) ? [parent] : [];
  for (const target of targets) setOrMerge(target, existingKey(target, path.subAttribute), op, value, index);
}

function applyToMatchingValues(container: Record<string, unknown>, key: string, op: Op, path: AttributePath,
  value: unknown, index: number): void {
  const values = container[key];
  const filter = new UserFilter(path.valueFilter ?? '');
  const matched = Array.isArray(values) ? values.filter((v) => isPlainObject(v) && filter.matches(v)) : [];
  if (matched.length === 0) throw new ScimError(400, 'noTarget', `Operations[${index}]: no value matches ${key}[${path.valueFilter}].`);
  const list = values as unknown[];
  if (path.subAttribute === undefined) {
    if (op === 'remove') container[key] = list.filter((v) => !matched.includes(v));
    else {
      if (!isPlainObject(value)) throw new ScimError(400, 'invalidValue', `Operations[${index}].value must be an object.`);
      container[key] = list.map((v) => (matched.includes(v) ? { ...(v as Record<string, unknown>), ...value } : v));
    }
    return;
  }
  for (const target of matched as Record<string, unknown>[]) {
    setOrMerge(target, existingKey(target, path.subAttribute), op, value, index);
  }
}

function setOrMerge(container: Record<string, unknown>, key: string, op: Op, value: unknown, index: number): void {
  if (op === 'remove') {
    delete container[key];
    return;
  }
  if (value === undefined) throw new ScimError(400, 'invalidValue', `Operations[${index}] needs a value.`);
  const existing = container[key];
  if (op === 'add' && Array.isArray(existing)) {
    // RFC 7644 §3.5.2.1: add to a multi-valued attribute appends.
    container[key] = [...existing, ...(Array.isArray(value) ? value : [value])];
  } else if (isPlainObject(existing) && isPlainObject(value)) {
    // Complex attribute: the sub-attributes given replace theirs, the others stay.
    container[key] = { ...existing, ...value };
  } else {
    container[key] = value;
  }
}
