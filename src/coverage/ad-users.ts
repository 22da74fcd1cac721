// Lists the in-scope AD users (ad.ldap.filter.user under base_dn) with their password metadata, for the coverage
// report. Same connection settings as src/directory/ldap-directory.ts; reads only sAMAccountName, pwdLastSet,
// msDS-KeyVersionNumber and userAccountControl. Accounts the agent never forwards (krbtgt, computers) are left
// out. Never logs or echoes the bind password.

import { readFileSync } from 'node:fs';
import { rootCertificates, type ConnectionOptions } from 'node:tls';
import { Client } from 'ldapts';
import type { LdapConfig } from '../config/schema.js';
import { ConfigError, DirectoryUnavailableError } from '../errors.js';
import { refusalFor } from '../capture/account-filter.js';
import type { AdUser } from './report.js';

export interface InScopeUserSource {
  listInScopeUsers(): Promise<AdUser[]>;
}

const ATTRIBUTES = ['sAMAccountName', 'pwdLastSet', 'msDS-KeyVersionNumber', 'userAccountControl'];

function tls(cfg: LdapConfig): ConnectionOptions {
  const s = cfg.server;
  const opts: ConnectionOptions = { rejectUnauthorized: s.verify_mode, minVersion: 'TLSv1.2' };
  if (s.ca_file !== undefined) {
    try {
      opts.ca = [...rootCertificates, readFileSync(s.ca_file, 'utf8')];
    } catch (err) {
      throw new ConfigError(`ad.ldap.server.ca_file: cannot read ${s.ca_file} (${(err as Error).message})`);
    }
  }
  if (s.tls_servername !== undefined) opts.servername = s.tls_servername;
  return opts;
}

function first(v: unknown): string | undefined {
  const x = Array.isArray(v) ? v[0] : v;
  return x === undefined ? undefined : Buffer.isBuffer(x) ? x.toString('utf8') : String(x);
}

/** A paged subtree search per call; tries each configured address in turn, like the delivery directory. */
export function createAdUserSource(cfg: LdapConfig, bindPassword: string): InScopeUserSource {
  const filter = cfg.filter.user.trim().startsWith('(') ? cfg.filter.user.trim() : `(${cfg.filter.user.trim()})`;
  return {
    async listInScopeUsers(): Promise<AdUser[]> {
      const s = cfg.server;
      const opts = s.encryption === 'none' ? undefined : tls(cfg);
      const failures: string[] = [];
      for (const address of s.addresses) {
        const secure = s.encryption === 'ldaps';
        const host = address.includes(':') && !address.startsWith('[') ? `[${address}]` : address;
        const url = `${secure ? 'ldaps' : 'ldap'}://${host}:${s.port ?? (secure ? 636 : 389)}`;
        // ldapts 8: tlsOptions in the constructor means "connect with TLS", so only for ldaps (see ldap-directory.ts).
        const client = new Client({ url, timeout: s.timeout, connectTimeout: s.timeout, ...(secure ? { tlsOptions: opts } : {}) });
        try {
          if (s.encryption === 'start_tls') await client.startTLS(opts);
          await client.bind(s.user, bindPassword);
          const { searchEntries } = await client.search(cfg.base_dn, { scope: 'sub', filter, attributes: ATTRIBUTES, paged: { pageSize: 500 } });
          return searchEntries.map((e) => {
            const kvno = first(e['msDS-KeyVersionNumber']);
            const uac = Number(first(e.userAccountControl) ?? '0');
            const u: AdUser = { sAMAccountName: first(e.sAMAccountName) ?? '', dn: e.dn, enabled: (uac & 0x2) === 0 };
            const pls = first(e.pwdLastSet);
            if (pls !== undefined) u.pwdLastSet = pls;
            if (kvno !== undefined && /^\d+$/.test(kvno)) u.kvno = Number(kvno);
            return u;
          }).filter((u) => u.sAMAccountName !== '' && refusalFor(u.sAMAccountName) === undefined);
        } catch (err) {
          if (err instanceof ConfigError) throw err;
          const msg = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
          failures.push(`${url}: ${bindPassword ? msg.split(bindPassword).join('***') : msg}`);
        } finally {
          await client.unbind().catch(() => undefined);
        }
      }
      throw new DirectoryUnavailableError(`cannot list in-scope users: ${failures.join('; ')}`);
    },
  };
}
