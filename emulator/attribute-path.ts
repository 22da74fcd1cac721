// Splits a SCIM attribute path (RFC 7644 §3.10: [urn:]attr[.sub] or attr[valueFilter][.sub]) into its parts.
// Only splits: the value filter inside [...] is handed to scimmy, never interpreted here.

import { ScimError } from './scim-error.js';
import { CORE_USER, EXTENSION_URNS } from './user-schema.js';

export interface AttributePath {
  /** Extension schema URN the attribute lives in; undefined = core. */
  readonly extension: string | undefined;
  /** Attribute name; undefined when the path names a whole extension object. */
  readonly attribute: string | undefined;
  /** The text between [ and ], for multi-valued attributes. */
  readonly valueFilter: string | undefined;
  readonly subAttribute: string | undefined;
}

const SIMPLE = /^([A-Za-z][\w$-]*)(?:\[(.+)\])?(?:\.([A-Za-z][\w$-]*))?$/s;

export function parseAttributePath(path: string): AttributePath {
  let rest = path.trim();
  let extension: string | undefined;
  const lower = rest.toLowerCase();
  if (lower.startsWith(`${CORE_USER.toLowerCase()}:`)) rest = rest.slice(CORE_USER.length + 1);
  else {
    for (const urn of EXTENSION_URNS) {
      const u = urn.toLowerCase();
      if (lower === u) return { extension: urn, attribute: undefined, valueFilter: undefined, subAttribute: undefined };
      if (lower.startsWith(`${u}:`)) {
        extension = urn;
        rest = rest.slice(urn.length + 1);
        break;
      }
    }
  }
  const match = SIMPLE.exec(rest);
  if (!match?.[1]) throw new ScimError(400, 'invalidPath', `The attribute path is invalid: ${path}`);
  return { extension, attribute: match[1], valueFilter: match[2], subAttribute: match[3] };
}

/** The key in `container` that matches `name` case-insensitively, else `name` itself. */
export function existingKey(container: Record<string, unknown>, name: string): string {
  const lower = name.toLowerCase();
  return Object.keys(container).find((k) => k.toLowerCase() === lower) ?? name;
}
