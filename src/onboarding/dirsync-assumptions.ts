// The ONE place that encodes what IIJ's manuals do not say about Directory Sync's files, for `pwsync init
// --from-dirsync`. Pure constants and one function. If IIJ documents otherwise, change only this file and its tests.

/**
 * ASSUMPTION: key paths of Directory Sync's secret.yml. IIJ's manual says the bind password and the access token
 * live in secret.yml (the token "on one line") but publishes no key names (docs/onboarding.md, "What init
 * assumes"). We accept the spelling that mirrors config.yml (`ad.ldap.server.user` → `ad.ldap.server.password`)
 * and the token under `iid.scim`, where every other IIJ ID setting of Directory Sync lives. Any other key is
 * listed as not carried over (by path, never by value) and init asks for the secret instead of guessing.
 */
export const DIRSYNC_SECRET_KEYS = {
  adPassword: [['ad', 'ldap', 'server', 'password']],
  accessToken: [
    ['iid', 'scim', 'access_token'],
    ['iid', 'scim', 'token'],
  ],
} as const;

/** Directory Sync's documented defaults (DirSync-WinAD_en/17896953.html): port 389, encryption none, verify_mode false. */
export const DIRSYNC_DEFAULTS = { port: 389, encryption: 'none', verifyMode: false } as const;

/**
 * ASSUMPTION: how Directory Sync's `encryption` maps to pwsync's. DS knows only `none` and `start_tls`, and its manual
 * says "for LDAPS use start_tls". A StartTLS request sent to an LDAPS port (636, TLS from the first byte) cannot
 * work, so DS must open TLS at once there: `start_tls` on port 636 (or 3269, the global catalog over TLS) is
 * pwsync's `ldaps`; on any other port it is a real StartTLS (`start_tls`).
 */
export function pwsyncEncryption(dsEncryption: 'none' | 'start_tls', port: number): 'none' | 'start_tls' | 'ldaps' {
  if (dsEncryption === 'none') return 'none';
  return port === 636 || port === 3269 ? 'ldaps' : 'start_tls';
}

/**
 * ASSUMPTION: Directory Sync's default for `ad_bind.externalId` is not published. When the key is absent we write
 * the attribute of IIJ's only sample (userPrincipalName) and flag it, so the admin proves it with
 * `pwsync report mapping` before go-live.
 */
export const EXTERNAL_ID_FALLBACK = 'userPrincipalName';
