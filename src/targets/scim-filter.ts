// SCIM filter text (RFC 7644 §3.4.2.2) built from values that come from AD: every value becomes ONE string literal.
// Pure: no I/O. Never concatenate a raw value into a filter anywhere else; attribute names come from an allow-list.

/**
 * A SCIM filter string literal for `value`, quotes included.
 * RFC 7644 §3.4.2.2 says a filter's string value is a JSON string (RFC 7159 §7), so JSON's escaping is exactly the
 * grammar the server parses: `"` and `\` are escaped, control characters become \uXXXX, and lone surrogates are
 * escaped (ES2019 well-formed JSON.stringify) rather than sent as broken UTF-8.
 */
export function scimStringLiteral(value: string): string {
  return JSON.stringify(value);
}

/** SCIM attributes the targets may filter on. Names are never taken from input, so they need no escaping. */
export type FilterAttribute = 'externalId' | 'userName';

const FILTER_ATTRIBUTES: ReadonlySet<string> = new Set<FilterAttribute>(['externalId', 'userName']);

function checkedAttribute(attribute: FilterAttribute): FilterAttribute {
  // Types guard callers in TS; this guards values that arrived from config at run time.
  if (!FILTER_ATTRIBUTES.has(attribute)) throw new TypeError(`not a filterable SCIM attribute: ${String(attribute)}`);
  return attribute;
}

/** `<attribute> eq "<value>"`: the generic SCIM target's search. */
export function equalityFilter(attribute: FilterAttribute, value: string): string {
  return `${checkedAttribute(attribute)} eq ${scimStringLiteral(value)}`;
}

/**
 * `externalId pr and (externalId eq "<value>")`: the filter IIJ's own Password Sync sends, byte for byte
 * (IIJ manual PassSync-WinAD/45162548.html). `pr` excludes users whose externalId is unset (IIJ shows "" then).
 */
export function iijExternalIdFilter(value: string): string {
  return `externalId pr and (${equalityFilter('externalId', value)})`;
}
