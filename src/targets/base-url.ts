// Normalises a target's SCIM base URL so that relative paths ("Users/.search") resolve under it.
// Pure. Never appends user input here: ids are percent-encoded by the caller.

/** The URL with exactly one trailing "/" (IIJ: https://scim.auth.iij.jp/scim/v2/), without query or fragment. */
export function normaliseBaseUrl(url: string): string {
  const u = new URL(url);
  u.search = '';
  u.hash = '';
  if (!u.pathname.endsWith('/')) u.pathname += '/';
  return u.href;
}

/**
 * The URL for display (console, journal, `pwsync check`): userinfo (`https://user:SECRET@host/`) replaced, query
 * and fragment dropped. Credentials belong in secret.yml, but a URL that carries some must never show them.
 */
export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return '[unparseable url]';
  }
  const hadUserinfo = u.username !== '' || u.password !== '';
  u.username = '';
  u.password = '';
  u.search = '';
  u.hash = '';
  const text = u.href;
  return hadUserinfo ? text.replace('://', '://[redacted]@') : text;
}
