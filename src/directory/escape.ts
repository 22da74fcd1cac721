// RFC 4515 escaping of values put into LDAP search filters, so an account name can never change a filter's shape.
// Never used for DNs (RFC 4514 is a different escape) and never for filters an operator wrote (filter.user).

/**
 * Escapes a string for use as an assertion value in a string filter: `\`, `*`, `(`, `)` and NUL become `\5c`,
 * `\2a`, `\28`, `\29`, `\00` (RFC 4515 §3). Other characters, non-ASCII included, are left as they are and
 * travel as UTF-8. We deliberately do NOT hex-escape non-ASCII: ldapts 8's string filter parser decodes each
 * `\xx` into the single character U+00xx and re-encodes it as UTF-8, so an escaped `é` (`\c3\a9`) would reach
 * the DC as four bytes and match nobody.
 */
export function escapeFilterValue(value: string): string {
  let out = '';
  for (const ch of value) {
    switch (ch) {
      case '\\':
        out += '\\5c';
        break;
      case '*':
        out += '\\2a';
        break;
      case '(':
        out += '\\28';
        break;
      case ')':
        out += '\\29';
        break;
      case '\0':
        out += '\\00';
        break;
      default:
        out += ch;
    }
  }
  return out;
}

/**
 * Escapes every byte of a binary value (`\d3\c5...`), the form AD documents for objectGUID / objectSid filters.
 * For logs and for other LDAP tools only: through ldapts, send binary values as a Buffer in an EqualityFilter
 * instead, because its string parser mangles bytes above 0x7f (see escapeFilterValue).
 */
export function escapeBinaryFilterValue(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += '\\' + b.toString(16).padStart(2, '0');
  return out;
}
