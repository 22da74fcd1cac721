// A generic SCIM 2.0 target: GET /Users?filter=<match> eq "VALUE", then PATCH (or PUT) the password.
// Allows any well-formed Unicode password; never puts the password, token or basic password in an error.

import type { ScimTargetConfig } from '../config/schema.js';
import { RejectedChangeError } from '../errors.js';
import { resolveTargetSecret, type TargetSecretEntry } from '../config/target-secret.js';
import { normaliseBaseUrl } from './base-url.js';
import { createTargetHttpClient, credentialsOf } from './http-client.js';
import { expectStatus, writePassword } from './password-write.js';
import { equalityFilter } from './scim-filter.js';
import { readUserPage } from './scim-list.js';
import { pickOneUser } from './scim-messages.js';
import { PROBE_MATCH_VALUE, hasLoneSurrogate, type ProbeResult, type Target, type TargetUser } from './target.js';


export function createScimTarget(cfg: ScimTargetConfig, secret: TargetSecretEntry | undefined): Target {
  const name = cfg.name;
  const base = normaliseBaseUrl(cfg.url);
  const match = cfg.match;
  const client = createTargetHttpClient(cfg, credentialsOf(resolveTargetSecret(cfg, secret)), base);

  async function search(value: string): Promise<TargetUser | undefined> {
    const query = `filter=${encodeURIComponent(equalityFilter(match, value))}&attributes=${encodeURIComponent(`id,${match}`)}`;
    const res = await client.send('GET', `${base}Users?${query}`);
    expectStatus(client, name, 'search', res, [200]);
    // RFC 7643 §4.1: externalId is caseExact, userName is not; compare the way the server matched.
    return pickOneUser(name, res.body, match, value, match === 'userName' ? 'case-insensitive' : 'exact');
  }

  function checkPassword(password: string): void {
    if (password.length === 0) throw new RejectedChangeError(`${name}: an empty password cannot be set`);
    if (hasLoneSurrogate(password)) {
      throw new RejectedChangeError(`${name}: the password is not valid Unicode (unpaired surrogate); it cannot be sent as UTF-8`);
    }
  }

  return {
    name,
    checkPassword,
    async find(value) {
      if (value.length === 0) throw new RejectedChangeError(`${name}: the ${match} computed from AD is empty; it cannot match`);
      return search(value);
    },
    async setPassword(user, password) {
      checkPassword(password);
      await writePassword(client, name, base, cfg.password_update, user.id, password, { attribute: match, value: user.matchedValue, compare: match === 'userName' ? 'case-insensitive' : 'exact' });
    },
    async probe(): Promise<ProbeResult> {
      await search(PROBE_MATCH_VALUE);
      return { canRead: true, writeVerified: false };
    },
    async listPage(startIndex, count) {
      const query = `filter=${encodeURIComponent(`${match} pr`)}&attributes=${encodeURIComponent(`id,${match}`)}&startIndex=${startIndex}&count=${count}`;
      const res = await client.send('GET', `${base}Users?${query}`);
      return readUserPage(client, name, res, match, match === 'userName' ? 'case-insensitive' : 'exact');
    },
    requestsSent: () => client.sent,
    close: () => client.close(),
  };
}
