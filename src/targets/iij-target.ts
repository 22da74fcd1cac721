// The IIJ ID Service target: finds a user with exactly the search IIJ's own Password Sync sends, sets the password.
// Never sends a password IIJ cannot take (checked before any request); never puts the password or token in an error.

import type { IijTargetConfig } from '../config/schema.js';
import { RejectedChangeError } from '../errors.js';
import { normaliseBaseUrl } from './base-url.js';
import { resolveTargetSecret } from '../config/target-secret.js';
import { createTargetHttpClient, credentialsOf } from './http-client.js';
import { expectStatus, writePassword } from './password-write.js';
import { iijExternalIdFilter } from './scim-filter.js';
import { readUserPage } from './scim-list.js';
import { pickOneUser, searchRequest } from './scim-messages.js';
import { PROBE_MATCH_VALUE, type ProbeResult, type Target, type TargetUser } from './target.js';

export interface IijTargetOptions {
  /** secret.yml targets.<name>.proxy_password. */
  proxyPassword?: string | undefined;
}

/** The attributes IIJ's agent asks for, in its order (PassSync-WinAD/45162548.html). */
const SEARCH_ATTRIBUTES = ['id', 'externalId'] as const;


/**
 * IIJ ID accepts only printable ASCII in passwords (its console and agents reject multibyte input); a password
 * outside 0x20–0x7E could never be set, so it is rejected here, before any request, and the user must change it.
 */
export function checkIijPassword(target: string, password: string): void {
  if (password.length === 0) throw new RejectedChangeError(`${target}: IIJ ID cannot set an empty password`);
  for (let i = 0; i < password.length; i++) {
    const c = password.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) {
      throw new RejectedChangeError(
        `${target}: IIJ ID does not accept multibyte characters in passwords (only printable ASCII 0x20-0x7E); the user must choose another password`,
      );
    }
  }
}

export function createIijTarget(cfg: IijTargetConfig, token: string, opts: IijTargetOptions = {}): Target {
  const name = cfg.name;
  const base = normaliseBaseUrl(cfg.url);
  const searchUrl = `${base}Users/.search`;
  const client = createTargetHttpClient(cfg, credentialsOf(resolveTargetSecret(cfg, { access_token: token, proxy_password: opts.proxyPassword })), base);

  async function search(value: string): Promise<TargetUser | undefined> {
    const res = await client.send('POST', searchUrl, searchRequest(iijExternalIdFilter(value), SEARCH_ATTRIBUTES));
    expectStatus(client, name, 'search', res, [200]);
    return pickOneUser(name, res.body, 'externalId', value, 'exact');
  }

  return {
    name,
    checkPassword(password) {
      checkIijPassword(name, password);
    },
    async find(value) {
      // `externalId pr` never matches an empty externalId: no request can ever find this user.
      if (value.length === 0) throw new RejectedChangeError(`${name}: the external ID computed from AD is empty; IIJ cannot match it`);
      return search(value);
    },
    async setPassword(user, password) {
      checkIijPassword(name, password);
      await writePassword(client, name, base, cfg.password_update, user.id, password, { attribute: 'externalId', value: user.matchedValue, compare: 'exact' });
    },
    async probe(): Promise<ProbeResult> {
      await search(PROBE_MATCH_VALUE);
      // A search needs escim_read_users only; escim_write_users is proven by the first real password write.
      return { canRead: true, writeVerified: false };
    },
    async listPage(startIndex, count) {
      // The same endpoint and attributes as IIJ's own search, with RFC 7644 paging; `externalId pr` skips the
      // users whose externalId is unset (IIJ shows ""), which no AD user can match anyway.
      const body = { ...searchRequest('externalId pr', SEARCH_ATTRIBUTES), startIndex, count };
      const res = await client.send('POST', searchUrl, body);
      return readUserPage(client, name, res, 'externalId', 'exact');
    },
    requestsSent: () => client.sent,
    close: () => client.close(),
  };
}
