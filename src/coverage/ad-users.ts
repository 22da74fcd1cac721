// Lists the in-scope AD users (ad.ldap.filter.user under base_dn) with their password metadata, for the coverage
// report. Through src/directory/ldap-directory.ts; reads only sAMAccountName, pwdLastSet,
// msDS-KeyVersionNumber and userAccountControl. Accounts the agent never forwards (krbtgt, computers) are left
// out. Never logs or echoes the bind password.

import type { LdapConfig } from '../config/schema.js';
import { isEnabledAccount } from '../directory/directory.js';
import { createLdapDirectory } from '../directory/ldap-directory.js';
import { refusalFor } from '../intake/account-filter.js';
import type { AdUser } from './report.js';

export interface InScopeUserSource {
  listInScopeUsers(): Promise<AdUser[]>;
}

const ATTRIBUTES = ['sAMAccountName', 'pwdLastSet', 'msDS-KeyVersionNumber', 'userAccountControl'];

/** The in-scope users, read through the same LDAP directory (connection, TLS, failover, redaction) as delivery. */
export function createAdUserSource(cfg: LdapConfig, bindPassword: string): InScopeUserSource {
  return {
    async listInScopeUsers(): Promise<AdUser[]> {
      const directory = createLdapDirectory(cfg, bindPassword);
      try {
        const entries = await directory.listInScope(ATTRIBUTES);
        return entries
          .map(({ dn, values }) => {
            const uac = Number(values.userAccountControl ?? '0');
            const u: AdUser = { sAMAccountName: values.sAMAccountName ?? '', dn, enabled: isEnabledAccount(uac) };
            if (values.pwdLastSet !== undefined) u.pwdLastSet = values.pwdLastSet;
            const kvno = values['msDS-KeyVersionNumber'];
            if (kvno !== undefined && /^\d+$/.test(kvno)) u.kvno = Number(kvno);
            return u;
          })
          .filter((u) => u.sAMAccountName !== '' && refusalFor(u.sAMAccountName) === undefined);
      } finally {
        await directory.close();
      }
    },
  };
}
