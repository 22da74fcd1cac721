// Lists the in-scope AD users (ad.ldap.filter.user under base_dn) with their password metadata, for the coverage
// report, through the Directory contract (src/directory/directory.ts) on a connection its owner keeps open: the
// agent's own directory, or the one `pwsync report coverage` opens. Reads only sAMAccountName, pwdLastSet,
// msDS-KeyVersionNumber and userAccountControl. Accounts the agent never forwards (krbtgt, computers) are left out.

import { isEnabledAccount, type Directory } from '../directory/directory.js';
import { refusalFor } from '../intake/account-filter.js';
import type { AdUser } from './report.js';

export interface InScopeUserSource {
  listInScopeUsers(): Promise<AdUser[]>;
}

const ATTRIBUTES = ['sAMAccountName', 'pwdLastSet', 'msDS-KeyVersionNumber', 'userAccountControl'];

/**
 * The in-scope users, read through `directory()` — asked at each use, so a reload that replaces the agent's
 * directory (another DC or bind password) reaches the report. Opens no connection of its own; never closes one.
 */
export function inScopeUsersOf(directory: () => Pick<Directory, 'listInScope'>): InScopeUserSource {
  return {
    async listInScopeUsers(): Promise<AdUser[]> {
      const entries = await directory().listInScope(ATTRIBUTES);
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
    },
  };
}
