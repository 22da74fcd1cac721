// SCIM filter evaluation for the emulator, delegated to scimmy's parser and matcher (third-party code on purpose:
// the client's side must be checked against a filter implementation we did not write). Never hand-parses filters.

import SCIMMY from 'scimmy';
import { ScimError } from './scim-error.js';

type Json = unknown;

// RFC 7643 §4.1: id and externalId are caseExact; meta holds dates and URIs. Every other string attribute of the
// User schema is compared case-insensitively, which scimmy's plain matcher does not know, so the emulator folds
// both sides for those attributes.
const CASE_EXACT_TOP_LEVEL = new Set(['id', 'externalid', 'meta', 'schemas']);

export class UserFilter {
  private readonly filter: InstanceType<typeof SCIMMY.Types.Filter>;

  /** Throws a 400 invalidFilter ScimError when scimmy cannot parse the expression. */
  constructor(expression: string) {
    if (expression.trim() === '') throw new ScimError(400, 'invalidFilter', 'The filter must not be empty.');
    try {
      const parsed = new SCIMMY.Types.Filter(expression);
      // Rebuilding from the parsed objects also runs scimmy's stricter object validation, which rejects what its
      // string parser lets through (e.g. `userName eq` without a value).
      this.filter = new SCIMMY.Types.Filter([...parsed].map((branch: Json) => foldBranch(branch)));
    } catch (err) {
      const reason = err instanceof Error ? err.message : 'unparseable';
      throw new ScimError(400, 'invalidFilter', `The filter is invalid: ${reason}`);
    }
  }

  /** `scim` is the user as the API renders it (password never in it). */
  matches(scim: Record<string, unknown>): boolean {
    try {
      return this.filter.match([matchView(scim)]).length === 1;
    } catch {
      // scimmy throws a TypeError when a filter dives into a complex attribute the user does not have
      // (e.g. `name.givenName eq "x"` on a user without `name`): that user simply does not match.
      return false;
    }
  }
}

/** Lower-cases expected values in a parsed filter branch, except under case-exact attributes. */
function foldBranch(branch: Json): Json {
  if (!isPlainObject(branch)) return branch;
  const out: Record<string, Json> = {};
  for (const [attr, expr] of Object.entries(branch)) {
    out[attr] = CASE_EXACT_TOP_LEVEL.has(attr.toLowerCase()) ? expr : foldExpression(expr);
  }
  return out;
}

function foldExpression(expr: Json): Json {
  if (isPlainObject(expr)) {
    return Object.fromEntries(Object.entries(expr).map(([k, v]) => [k, foldExpression(v)]));
  }
  if (!Array.isArray(expr)) return expr;
  if (expr.every(Array.isArray)) return expr.map(foldExpression);
  // [comparator, value] or ["not", comparator, value] or [comparator] for pr/np
  const valueIndex = String(expr[0]).toLowerCase() === 'not' ? 2 : 1;
  if (expr.length !== valueIndex + 1 || typeof expr[valueIndex] !== 'string') return expr;
  const folded = [...expr];
  folded[valueIndex] = (expr[valueIndex] as string).toLowerCase();
  return folded;
}

/**
 * The user as the matcher sees it: empty strings removed (RFC 7644 §3.4.2.2: `pr` needs a non-empty value, and
 * IIJ renders an unset externalId as ""), strings folded outside case-exact attributes, and extension attributes
 * also reachable by their full URN path (`urn:…:User:department`), which scimmy keeps as one flat key.
 */
function matchView(scim: Record<string, unknown>): Record<string, Json> {
  const view: Record<string, Json> = {};
  for (const [key, value] of Object.entries(scim)) {
    const exact = CASE_EXACT_TOP_LEVEL.has(key.toLowerCase());
    const cleaned = clean(value, !exact);
    if (cleaned === undefined) continue;
    view[key] = cleaned;
    if (key.startsWith('urn:') && isPlainObject(cleaned)) {
      for (const [sub, subValue] of Object.entries(cleaned)) view[`${key}:${sub}`] = subValue;
    }
  }
  return view;
}

function clean(value: Json, fold: boolean): Json {
  if (typeof value === 'string') {
    if (value === '') return undefined;
    return fold ? value.toLowerCase() : value;
  }
  if (Array.isArray(value)) return value.map((v) => clean(v, fold)).filter((v) => v !== undefined);
  if (isPlainObject(value)) {
    const out: Record<string, Json> = {};
    for (const [k, v] of Object.entries(value)) {
      const c = clean(v, fold);
      if (c !== undefined) out[k] = c;
    }
    return out;
  }
  return value;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
