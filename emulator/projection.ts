// `attributes` / `excludedAttributes` (RFC 7644 §3.9): which attributes of a rendered user go into a response.
// Works on rendered users only, so it can never reveal what rendering left out (the password).

import { existingKey, parseAttributePath, type AttributePath } from './attribute-path.js';
import { isPlainObject } from './filter.js';

type Scim = Record<string, unknown>;

/** Splits the GET form "a,b.c" (and tolerates an array) into paths. */
export function attributeList(raw: unknown): string[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  const items = Array.isArray(raw) ? raw : [raw];
  const paths = items.flatMap((item) => String(item).split(',')).map((p) => p.trim()).filter((p) => p !== '');
  return paths.length > 0 ? paths : undefined;
}

export function project(user: Scim, attributes: string[] | undefined, excluded: string[] | undefined): Scim {
  if (attributes !== undefined) {
    // schemas and id are "returned: always" (RFC 7643 §7).
    const out: Scim = { schemas: user.schemas, id: user.id };
    for (const raw of attributes) copyPath(user, out, safeParse(raw));
    return out;
  }
  if (excluded !== undefined) {
    const out = structuredClone(user);
    for (const raw of excluded) removePath(out, safeParse(raw));
    return out;
  }
  return user;
}

function safeParse(raw: string): AttributePath | undefined {
  try {
    return parseAttributePath(raw);
  } catch {
    return undefined; // RFC 7644: unknown attributes in the list are ignored, not an error
  }
}

function scopeOf(source: Scim, target: Scim, path: AttributePath): [Scim, Scim] | undefined {
  if (path.extension === undefined) return [source, target];
  const ext = source[path.extension];
  if (!isPlainObject(ext)) return undefined;
  const into = isPlainObject(target[path.extension]) ? (target[path.extension] as Scim) : {};
  target[path.extension] = into;
  return [ext, into];
}

function copyPath(source: Scim, target: Scim, path: AttributePath | undefined): void {
  if (!path) return;
  if (path.attribute === undefined) {
    if (path.extension !== undefined && source[path.extension] !== undefined) target[path.extension] = source[path.extension];
    return;
  }
  const scope = scopeOf(source, target, path);
  if (!scope) return;
  const [from, into] = scope;
  const key = existingKey(from, path.attribute);
  const value = from[key];
  if (value === undefined) return;
  if (path.subAttribute === undefined) {
    into[key] = value;
    return;
  }
  const sub = path.subAttribute;
  if (Array.isArray(value)) {
    into[key] = value.filter(isPlainObject).map((v) => pick(v, sub));
  } else if (isPlainObject(value)) {
    const merged = isPlainObject(into[key]) ? (into[key] as Scim) : {};
    into[key] = { ...merged, ...pick(value, sub) };
  }
}

function pick(from: Scim, name: string): Scim {
  const key = existingKey(from, name);
  return from[key] === undefined ? {} : { [key]: from[key] };
}

function removePath(target: Scim, path: AttributePath | undefined): void {
  if (!path) return;
  if (path.attribute === undefined) {
    if (path.extension !== undefined) delete target[path.extension];
    return;
  }
  const scope = path.extension === undefined ? target : target[path.extension];
  if (!isPlainObject(scope)) return;
  const key = existingKey(scope, path.attribute);
  if (path.extension === undefined && (key === 'id' || key === 'schemas')) return;
  if (path.subAttribute === undefined) {
    delete scope[key];
    return;
  }
  const value = scope[key];
  for (const item of Array.isArray(value) ? value : [value]) {
    if (isPlainObject(item)) delete item[existingKey(item, path.subAttribute)];
  }
}
