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
