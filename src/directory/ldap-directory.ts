// The Directory (docs/architecture.md#directory) backed by Active Directory / Samba over LDAP with ldapts 8: one bound connection,
// reused, rebuilt on failure. Never logs or echoes the bind password; never sends it over an unencrypted
// connection unless the operator chose `encryption: none` (and is warned).

import { readFileSync } from 'node:fs';
import { rootCertificates, type ConnectionOptions } from 'node:tls';
import { AndFilter, Client, EqualityFilter, FilterParser, type Entry, type Filter } from 'ldapts';
import type { LdapConfig } from '../config/schema.js';
import { ConfigError, DirectoryLookupError, DirectoryUnavailableError, PwsyncError } from '../errors.js';
import { isEnabledAccount, type Directory, type DirectoryQuery, type DirectoryUser, type InScopeEntry, type InScopePages } from './directory.js';
import { escapeFilterValue } from './escape.js';
import { guidFromString, guidToString, ridFromSid, sidWithRid } from './guid.js';

export interface LdapDirectoryHooks {
  /** Called once for each insecure setting in use (encryption none, verify_mode false). Default: process warning. */
  warn?: (code: string, message: string) => void;
}

/** Attributes AD stores as octet strings: requesting them as text would mangle them (not valid UTF-8). */
const BINARY_ATTRIBUTES = ['objectGUID', 'objectSid', 'mS-DS-ConsistencyGuid'];
/** What every resolve needs, besides the caller's attributes. msDS-KeyVersionNumber is constructed: ask for it. */
const BASE_ATTRIBUTES = ['objectGUID', 'objectSid', 'sAMAccountName', 'userAccountControl', 'msDS-KeyVersionNumber', 'pwdLastSet'];

function defaultWarn(code: string, message: string): void {
  process.emitWarning(message, { code });
}

function describe(err: unknown): string {
  if (err instanceof PwsyncError) return err.message;
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    // ldapts ResultCodeErrors carry the numeric LDAP result code; Node socket errors a string code.
    return `${err.name}${code !== undefined ? ` (${String(code)})` : ''}: ${err.message}`;
  }
  return String(err);
}

/** Removes every occurrence of the password from a server or library message, in case one ever echoes it. */
function redact(text: string, secret: string): string {
  return secret.length > 0 ? text.split(secret).join('***') : text;
}

function firstValue(entry: Entry, name: string): string | Buffer | undefined {
  const lower = name.toLowerCase();
  for (const [key, value] of Object.entries(entry)) {
    if (key.toLowerCase() !== lower) continue;
    const v = Array.isArray(value) ? value[0] : value;
    return v as string | Buffer | undefined;
  }
  return undefined;
}

function asBuffer(v: string | Buffer | undefined): Buffer | undefined {
  return Buffer.isBuffer(v) ? v : undefined;
}

function asString(v: string | Buffer | undefined): string | undefined {
  return v === undefined ? undefined : Buffer.isBuffer(v) ? v.toString('utf8') : v;
}

class LdapDirectory implements Directory, InScopePages {
  readonly #cfg: LdapConfig;
  readonly #password: string;
  readonly #tls: ConnectionOptions | undefined;
  readonly #userFilter: string;
  #client: Client | undefined;
  #connecting: Promise<Client> | undefined;
  #domainSid: Buffer | undefined;
  #closed = false;

  constructor(cfg: LdapConfig, password: string, hooks: LdapDirectoryHooks) {
    this.#cfg = cfg;
    this.#password = password;
    const warn = hooks.warn ?? defaultWarn;
    const s = cfg.server;
    if (s.encryption === 'none')
      warn(
        'PWSYNC_LDAP_CLEARTEXT',
        'ad.ldap.server.encryption is "none": the AD bind password and every lookup travel unencrypted. Use ldaps or start_tls.',
      );
    if (s.encryption !== 'none' && !s.verify_mode)
      warn(
        'PWSYNC_LDAP_NO_VERIFY',
        'ad.ldap.server.verify_mode is false: the DC certificate is not checked and anyone on the path can read the bind password. Set ca_file instead.',
      );
    this.#tls = s.encryption === 'none' ? undefined : tlsOptions(cfg);
    // filter.user is operator-written (IIJ DS accepts it without parentheses, e.g. 'CN=IIJ Taro'): check it
    // now so a typo is a config error naming the key, not a retry loop of failed lookups.
    this.#userFilter = cfg.filter.user.trim().startsWith('(') ? cfg.filter.user.trim() : `(${cfg.filter.user.trim()})`;
    try {
      // ldapts quietly closes a missing final ")" of an &/| filter; an operator's typo must not be "fixed".
      if (!balanced(this.#userFilter)) throw new Error('unbalanced parentheses');
      FilterParser.parseString(this.#userFilter);
    } catch (err) {
      throw new ConfigError(`ad.ldap.filter.user is not a valid LDAP filter (RFC 4515): ${describe(err)}`);
    }
  }

  async resolve(query: DirectoryQuery, attributes: readonly string[]): Promise<DirectoryUser | undefined> {
    return this.#withSession(async (client) => {
      const filter = await this.#lookupFilter(client, query);
      const wanted = [...new Set([...BASE_ATTRIBUTES, ...attributes])];
      const { searchEntries } = await client.search(this.#cfg.base_dn, {
        scope: 'sub',
        filter,
        attributes: wanted,
        explicitBufferAttributes: binaryAttributeNames(wanted),
        timeLimit: this.#timeLimitSeconds(),
      });
      // searchReferences (Configuration, DomainDnsZones …) are ignored: an account lives in the domain NC.
      if (searchEntries.length === 0) return undefined;
      if (searchEntries.length > 1)
        throw new DirectoryLookupError(`${searchEntries.length} AD entries match account "${query.account}" under ${this.#cfg.base_dn}`);
      const entry = searchEntries[0]!;
      const user = this.#toUser(entry, attributes);
      if (query.rid !== undefined && query.guid !== undefined) {
        // Found by GUID; a capture whose RID names another account is contradictory: refuse to guess.
        const sid = asBuffer(firstValue(entry, 'objectSid'));
        if (sid && ridFromSid(sid) !== query.rid)
          throw new DirectoryLookupError(`objectGUID ${query.guid} has RID ${ridFromSid(sid)}, the capture said ${query.rid}`);
      }
      user.inScope = await this.#inScope(client, entry.dn);
      return user;
    });
  }

  async probe(): Promise<{ sampleDn?: string }> {
    return this.#withSession(async (client) => {
      const { searchEntries } = await client.search(this.#cfg.base_dn, {
        scope: 'sub',
        filter: this.#userFilter,
        attributes: ['1.1'],
        sizeLimit: 1,
        timeLimit: this.#timeLimitSeconds(),
      });
      const dn = searchEntries[0]?.dn;
      return dn === undefined ? {} : { sampleDn: dn };
    });
  }

  /** Every in-scope entry (filter.user under base_dn) with `attributes` as text, paged; for the coverage report. */
  async listInScope(attributes: readonly string[]): Promise<InScopeEntry[]> {
    return this.#withSession(async (client) => {
      const { searchEntries } = await client.search(this.#cfg.base_dn, {
        scope: 'sub',
        filter: this.#userFilter,
        attributes: [...attributes],
        paged: { pageSize: 500 },
        timeLimit: this.#timeLimitSeconds(),
      });
      return searchEntries.map((e) => ({
        dn: e.dn,
        values: Object.fromEntries(attributes.map((a) => [a, asString(firstValue(e, a))])),
      }));
    });
  }

  /**
   * The in-scope entries (filter.user under base_dn) one LDAP page at a time, with `attributes` raw (binary ones
   * as Buffer): memory holds one page however large the directory is. For `pwsync report mapping`.
   * No retry in the middle of a walk (the pages would repeat): a failure is a DirectoryUnavailableError.
   */
  async *inScopePages(attributes: readonly string[], pageSize = 500): AsyncGenerator<Array<{ dn: string; attributes: DirectoryUser['attributes'] }>> {
    const wanted = [...new Set(attributes)];
    const client = await this.#session();
    try {
      const pages = client.searchPaginated(this.#cfg.base_dn, {
        scope: 'sub',
        filter: this.#userFilter,
        attributes: wanted,
        explicitBufferAttributes: binaryAttributeNames(wanted),
        paged: { pageSize },
        timeLimit: this.#timeLimitSeconds(),
      });
      for await (const page of pages) yield page.searchEntries.map((e) => ({ dn: e.dn, attributes: pickAttributes(e, wanted) }));
    } catch (err) {
      if (err instanceof PwsyncError) throw err;
      if (this.#client === client) await this.#drop();
      throw new DirectoryUnavailableError(`AD search of the in-scope users failed: ${redact(describe(err), this.#password)}`, { cause: err });
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const pending = this.#connecting;
    this.#connecting = undefined;
    await pending?.catch(() => undefined);
    await this.#drop();
  }

  /**
   * Which account to look for. Precedence GUID > RID > name: GUID and RID are what the DC saw when the password
   * changed and survive renames; the name may since belong to someone else (renamed, or deleted and re-created),
   * and a password must never go to a different person. So when GUID or RID is given and finds nothing, the
   * answer is "no such account" — we do NOT fall back to the name.
   */
  async #lookupFilter(client: Client, query: DirectoryQuery): Promise<Filter | string> {
    const user = new EqualityFilter({ attribute: 'objectClass', value: 'user' });
    if (query.guid !== undefined) {
      let bytes: Buffer;
      try {
        bytes = guidFromString(query.guid);
      } catch {
        throw new DirectoryLookupError(`"${query.guid}" is not an objectGUID string`);
      }
      // A Buffer value goes onto the wire as raw octets; ldapts' string parser would mangle `\xx` > 0x7f.
      return new AndFilter({ filters: [user, new EqualityFilter({ attribute: 'objectGUID', value: bytes })] });
    }
    if (query.rid !== undefined) {
      const sid = sidWithRid(await this.#domainSidOf(client), query.rid);
      return new AndFilter({ filters: [user, new EqualityFilter({ attribute: 'objectSid', value: sid })] });
    }
    return `(&(objectClass=user)(sAMAccountName=${escapeFilterValue(query.account)}))`;
  }

  /** The domain SID (objectSid of the default naming context), to turn a RID into a full SID. Cached. */
  async #domainSidOf(client: Client): Promise<Buffer> {
    if (this.#domainSid) return this.#domainSid;
    const root = await client.search('', { scope: 'base', attributes: ['defaultNamingContext'], timeLimit: this.#timeLimitSeconds() });
    const nc = asString(root.searchEntries[0] ? firstValue(root.searchEntries[0], 'defaultNamingContext') : undefined);
    if (!nc) throw new DirectoryUnavailableError('the DC rootDSE has no defaultNamingContext');
    const dom = await client.search(nc, {
      scope: 'base',
      attributes: ['objectSid'],
      explicitBufferAttributes: ['objectSid'],
      timeLimit: this.#timeLimitSeconds(),
    });
    const sid = asBuffer(dom.searchEntries[0] ? firstValue(dom.searchEntries[0], 'objectSid') : undefined);
    if (!sid) throw new DirectoryUnavailableError(`cannot read the domain SID of ${nc}`);
    this.#domainSid = sid;
    return sid;
  }

  /**
   * Scope = the entry matches filter.user: a base-scope search of the entry's own DN with that filter. The DC
   * evaluates it, so AD-only syntax (memberOf:1.2.840.113556.1.4.1941:= matching-rule-in-chain for nested
   * groups, objectCategory short names) means exactly what it means to IIJ Directory Sync.
   */
  async #inScope(client: Client, dn: string): Promise<boolean> {
    const { searchEntries } = await client.search(dn, {
      scope: 'base',
      filter: this.#userFilter,
      attributes: ['1.1'],
      timeLimit: this.#timeLimitSeconds(),
    });
    return searchEntries.length === 1;
  }

  #toUser(entry: Entry, requested: readonly string[]): DirectoryUser {
    const guidBytes = asBuffer(firstValue(entry, 'objectGUID'));
    if (!guidBytes || guidBytes.length !== 16) throw new DirectoryUnavailableError(`AD returned ${entry.dn} without a 16-byte objectGUID`);
    const uac = Number(asString(firstValue(entry, 'userAccountControl')) ?? '0');
    const kvnoText = asString(firstValue(entry, 'msDS-KeyVersionNumber'));
    const pwdLastSet = asString(firstValue(entry, 'pwdLastSet'));
    const attributes = pickAttributes(entry, requested);
    const version: DirectoryUser['version'] = {};
    if (kvnoText !== undefined && /^\d+$/.test(kvnoText)) version.kvno = Number(kvnoText);
    if (pwdLastSet !== undefined) version.pwdLastSet = pwdLastSet;
    return {
      dn: entry.dn,
      guid: guidToString(guidBytes),
      sAMAccountName: asString(firstValue(entry, 'sAMAccountName')) ?? '',
      attributes,
      version,
      enabled: isEnabledAccount(uac),
      userAccountControl: uac,
      inScope: false,
    };
  }

  #timeLimitSeconds(): number {
    return Math.max(1, Math.ceil(this.#cfg.server.timeout / 1000));
  }

  /** Runs `op` on the shared bound connection; on any failure rebuilds the connection and tries once more. */
  async #withSession<T>(op: (client: Client) => Promise<T>): Promise<T> {
    let lastError: unknown;
    for (let attempt = 0; attempt < 2; attempt++) {
      const client = await this.#session(); // throws DirectoryUnavailableError after trying every address
      try {
        return await op(client);
      } catch (err) {
        if (err instanceof DirectoryLookupError || err instanceof ConfigError) throw err;
        lastError = err;
        if (this.#client === client) await this.#drop();
      }
    }
    throw new DirectoryUnavailableError(`AD lookup failed: ${redact(describe(lastError), this.#password)}`, { cause: lastError });
  }

  async #session(): Promise<Client> {
    if (this.#closed) throw new DirectoryUnavailableError('the directory connection is closed');
    const c = this.#client;
    // ldapts silently reconnects a dropped socket WITHOUT binding again (and cannot redo StartTLS): a client
    // that is no longer bound is useless to us, so build a fresh one.
    if (c && c.isConnected && c.isBound) return c;
    if (c) await this.#drop();
    this.#connecting ??= this.#connect().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  async #connect(): Promise<Client> {
    const failures: string[] = [];
    for (const address of this.#cfg.server.addresses) {
      try {
        const client = await this.#open(address);
        if (this.#closed) {
          await client.unbind().catch(() => undefined);
          throw new DirectoryUnavailableError('the directory connection is closed');
        }
        this.#client = client;
        return client;
      } catch (err) {
        failures.push(`${this.#url(address)}: ${redact(describe(err), this.#password)}`);
      }
    }
    throw new DirectoryUnavailableError(`cannot bind to AD as ${this.#cfg.server.user}: ${failures.join('; ')}`);
  }

  #url(address: string): string {
    const s = this.#cfg.server;
    const secure = s.encryption === 'ldaps';
    const port = s.port ?? (secure ? 636 : 389);
    const host = address.includes(':') && !address.startsWith('[') ? `[${address}]` : address; // IPv6 literal
    return `${secure ? 'ldaps' : 'ldap'}://${host}:${port}`;
  }

  async #open(address: string): Promise<Client> {
    const s = this.#cfg.server;
    const url = this.#url(address);
    // ldapts 8 treats ANY tlsOptions in the constructor as "connect with TLS", even for ldap:// (ECONNRESET
    // against 389): give them to the constructor only for ldaps, else to startTLS.
    const client = new Client({
      url,
      timeout: s.timeout,
      connectTimeout: s.timeout,
      ...(s.encryption === 'ldaps' ? { tlsOptions: this.#tls } : {}),
    });
    try {
      if (s.encryption === 'start_tls') await client.startTLS(this.#tls);
      await client.bind(s.user, this.#password);
      return client;
    } catch (err) {
      // After a failed bind the socket stays open and keeps Node alive (ldapts 8): always unbind.
      await client.unbind().catch(() => undefined);
      throw err;
    }
  }

  async #drop(): Promise<void> {
    const c = this.#client;
    this.#client = undefined;
    if (c) await c.unbind().catch(() => undefined);
  }
}

function tlsOptions(cfg: LdapConfig): ConnectionOptions {
  const s = cfg.server;
  const opts: ConnectionOptions = { rejectUnauthorized: s.verify_mode, minVersion: 'TLSv1.2' };
  if (s.ca_file !== undefined) {
    let pem: Buffer;
    try {
      pem = readFileSync(s.ca_file);
    } catch (err) {
      throw new ConfigError(`ad.ldap.server.ca_file: cannot read ${s.ca_file} (${describe(err)})`);
    }
    // "Adds" a CA: the public roots stay trusted, so a DC with a public certificate keeps working.
    opts.ca = [...rootCertificates, pem.toString('utf8')];
  }
  // Samba's self-signed certificate names CN=DC1.<realm> with no SAN; AD certificates often name the FQDN
  // while the config lists an IP. tls_servername says which name to verify (and send as SNI).
  if (s.tls_servername !== undefined) opts.servername = s.tls_servername;
  return opts;
}

/** The requested attributes of an entry under the caller's spelling, raw (binary ones as Buffer). */
function pickAttributes(entry: Entry, requested: readonly string[]): DirectoryUser['attributes'] {
  const attributes: DirectoryUser['attributes'] = {};
  for (const name of requested) {
    const lower = name.toLowerCase();
    const key = Object.keys(entry).find((k) => k.toLowerCase() === lower);
    const value = key === undefined ? undefined : (entry[key] as string | Buffer | Array<string | Buffer>);
    // ldapts reports a requested-but-absent attribute as []: that is "no value", not an empty value.
    if (value === undefined || (Array.isArray(value) && value.length === 0)) continue;
    attributes[name] = value;
  }
  return attributes;
}

/** Parentheses balance (values carry literal parens only as \28 and \29, RFC 4515). */
function balanced(filter: string): boolean {
  let depth = 0;
  for (const ch of filter) {
    if (ch === '(') depth++;
    else if (ch === ')' && --depth < 0) return false;
  }
  return depth === 0;
}

/** explicitBufferAttributes matches ldapts' returned attribute type exactly: list every spelling we may get. */
function binaryAttributeNames(wanted: readonly string[]): string[] {
  const binaryLower = new Set(BINARY_ATTRIBUTES.map((a) => a.toLowerCase()));
  const names = new Set<string>(BINARY_ATTRIBUTES);
  for (const w of wanted) if (binaryLower.has(w.toLowerCase())) names.add(w);
  for (const n of [...names]) names.add(n.toLowerCase());
  return [...names];
}

/**
 * A Directory over LDAP(S). `bindPassword` comes from secret.yml. Throws ConfigError at once for an invalid
 * filter.user or an unreadable ca_file; connection problems surface later as DirectoryUnavailableError.
 */
export function createLdapDirectory(cfg: LdapConfig, bindPassword: string, hooks: LdapDirectoryHooks = {}): Directory & InScopePages {
  return new LdapDirectory(cfg, bindPassword, hooks);
}
