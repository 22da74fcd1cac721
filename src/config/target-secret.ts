// Which secret.yml entries one configured target needs, checked in one place: the config loader (at start and on
// reload) and the target factories (which tests and the CLI also call directly) both resolve through here.
// Never puts a secret's value into an error; the message names the key and the file.

import { ConfigError } from '../errors.js';
import type { SecretFile, TargetConfig } from './schema.js';

export type TargetSecretEntry = SecretFile['targets'][string];

/** The credentials a target authenticates with, known to be complete. */
export interface ResolvedTargetSecret {
  auth: { kind: 'bearer'; token: string } | { kind: 'basic'; user: string; password: string };
  /** Present exactly when http.proxy.use and http.proxy.user are set. */
  proxy?: { user: string; password: string };
}

type SecretNeeds = Pick<TargetConfig, 'name' | 'type' | 'http'> & { auth?: { type: 'bearer' | 'basic'; user?: string | undefined } };

/**
 * Throws ConfigError naming the missing key, e.g. `secret.yml (/etc/pwsync/secret.yml): targets.iij.access_token is
 * missing: add the access token for target "iij"`. `file` is the secret.yml path when it is known.
 */
export function resolveTargetSecret(cfg: SecretNeeds, entry: TargetSecretEntry | undefined, file?: string): ResolvedTargetSecret {
  const where = file === undefined ? 'secret.yml' : `secret.yml (${file})`;
  const missing = (key: string, what: string, hint = ''): ConfigError =>
    new ConfigError(`${where}: targets.${cfg.name}.${key} is missing: add ${what} for target "${cfg.name}"${hint}`);

  let auth: ResolvedTargetSecret['auth'];
  if (cfg.type === 'scim' && cfg.auth?.type === 'basic') {
    const user = cfg.auth.user;
    if (user === undefined) throw new ConfigError(`config.yml: targets "${cfg.name}": auth.type is basic: set auth.user`);
    if (entry?.basic_password === undefined || entry.basic_password === '') throw missing('basic_password', 'the HTTP Basic password');
    auth = { kind: 'basic', user, password: entry.basic_password };
  } else {
    if (entry?.access_token === undefined || entry.access_token === '') {
      throw missing('access_token', 'the access token', cfg.type === 'iij' ? ' (an IIJ ID token with scopes escim_read_users and escim_write_users)' : '');
    }
    auth = { kind: 'bearer', token: entry.access_token };
  }

  const proxyUser = cfg.http.proxy.use ? cfg.http.proxy.user : undefined;
  if (proxyUser === undefined) return { auth };
  if (entry?.proxy_password === undefined) throw missing('proxy_password', `the password of proxy user "${proxyUser}"`);
  return { auth, proxy: { user: proxyUser, password: entry.proxy_password } };
}
