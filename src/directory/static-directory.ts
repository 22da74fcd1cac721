// A fixed, in-memory directory for `pwsync demo` only, where no Active Directory exists. It is never selected by
// config.yml: the agent always asks a real DC over LDAP in production.

import type { Directory, DirectoryQuery, DirectoryUser, InScopeEntry } from './directory.js';

export interface StaticUser {
  sAMAccountName: string;
  userPrincipalName: string;
  guid: string;
  kvno?: number;
  inScope?: boolean;
}

export class StaticDirectory implements Directory {
  private readonly users = new Map<string, StaticUser>();

  constructor(users: readonly StaticUser[]) {
    for (const u of users) this.users.set(u.sAMAccountName.toLowerCase(), u);
  }

  async resolve(query: DirectoryQuery): Promise<DirectoryUser | undefined> {
    const u = this.users.get(query.account.toLowerCase());
    if (!u) return undefined;
    return {
      dn: dnOf(u),
      guid: u.guid,
      sAMAccountName: u.sAMAccountName,
      attributes: { userPrincipalName: u.userPrincipalName, sAMAccountName: u.sAMAccountName },
      version: u.kvno === undefined ? {} : { kvno: u.kvno },
      enabled: true,
      userAccountControl: 512,
      inScope: u.inScope ?? true,
    };
  }

  async probe(): Promise<{ sampleDn?: string }> {
    const first = this.users.values().next().value as StaticUser | undefined;
    return { sampleDn: first ? dnOf(first) : undefined };
  }

  /** The in-scope users with the attributes this directory knows (sAMAccountName, userPrincipalName, the version). */
  async listInScope(attributes: readonly string[]): Promise<InScopeEntry[]> {
    return [...this.users.values()]
      .filter((u) => u.inScope ?? true)
      .map((u) => {
        const known: Record<string, string | undefined> = {
          sAMAccountName: u.sAMAccountName, userPrincipalName: u.userPrincipalName, userAccountControl: '512',
          'msDS-KeyVersionNumber': u.kvno === undefined ? undefined : String(u.kvno),
        };
        return { dn: dnOf(u), values: Object.fromEntries(attributes.map((a) => [a, known[a]])) };
      });
  }

  async close(): Promise<void> {}
}

const dnOf = (u: StaticUser) => `CN=${u.sAMAccountName},OU=Demo,DC=example,DC=test`;
