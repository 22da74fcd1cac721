// Test access to the throwaway Samba AD DC started by scripts/samba-dc.sh (named by PWSYNC_TEST_DC), plus fixture
// helpers. Passwords go over LDAPS (unicodePwd), never into a command line; in CI a missing DC fails, never skips.

import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';
import { Attribute, Change, Client } from 'ldapts';

const execFileAsync = promisify(execFile);

/** The contents of DIR/env.json written by `scripts/samba-dc.sh start DIR`. */
export interface SambaDcInfo {
  dir: string;
  smbConf: string;
  krb5Conf: string;
  gnupgHome: string;
  host: string;
  ldapsPort: number;
  ldapPort: number;
  baseDn: string;
  /** UPN-style bind name of the domain administrator. */
  adminDn: string;
  adminPassword: string;
  /** A plain domain user for read-only binds (what the agent should use). */
  readerDn: string;
  readerPassword: string;
  caFile: string;
  tlsServername: string;
  realm: string;
  pid: number;
}

let cached: { info?: SambaDcInfo; why?: string } | undefined;

function load(): { info?: SambaDcInfo; why?: string } {
  const path = process.env.PWSYNC_TEST_DC;
  if (!path) return { why: 'PWSYNC_TEST_DC is not set (run the tests with `npm test`)' };
  let info: SambaDcInfo;
  try {
    info = JSON.parse(readFileSync(path, 'utf8')) as SambaDcInfo;
  } catch (err) {
    return { why: `cannot read ${path}: ${(err as Error).message}` };
  }
  try {
    process.kill(info.pid, 0);
  } catch {
    return { why: `the DC described by ${path} (pid ${info.pid}) is not running` };
  }
  return { info };
}

/** The running test DC, or undefined when none is available. */
export function sambaDc(): SambaDcInfo | undefined {
  cached ??= load();
  return cached.info;
}

/**
 * The DC for a test that needs it. Without one: in CI (CI=true) this throws, so the test FAILS — a CI run that
 * silently skipped every AD test would prove nothing; elsewhere the test is skipped and the caller returns.
 */
export function requireSambaDc(t: TestContext): SambaDcInfo | undefined {
  const dc = sambaDc();
  if (dc) return dc;
  const why = cached?.why ?? 'unknown reason';
  if (process.env.CI === 'true') throw new Error(`Samba AD DC not available in CI: ${why}`);
  t.skip(`Samba AD DC not available: ${why}`);
  return undefined;
}

/**
 * For a suite's `before` hook (which has no `skip`): the DC, or undefined so each test skips itself with
 * `if (!dc) return t.skip()`. In CI a missing DC throws, failing the suite.
 */
export function sambaDcForSuite(): SambaDcInfo | undefined {
  const dc = sambaDc();
  if (!dc && process.env.CI === 'true') throw new Error(`Samba AD DC not available in CI: ${cached?.why ?? 'unknown reason'}`);
  return dc;
}

/** An LDAPS client bound as the domain administrator, certificate verified. Caller must unbind(). */
export async function adminClient(dc: SambaDcInfo): Promise<Client> {
  const client = new Client({
    url: `ldaps://${dc.host}:${dc.ldapsPort}`,
    timeout: 10_000,
    connectTimeout: 10_000,
    tlsOptions: { ca: readFileSync(dc.caFile), servername: dc.tlsServername },
  });
  try {
    await client.bind(dc.adminDn, dc.adminPassword);
  } catch (err) {
    await client.unbind().catch(() => undefined);
    throw err;
  }
  return client;
}

async function asAdmin<T>(dc: SambaDcInfo, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = await adminClient(dc);
  try {
    return await fn(c);
  } finally {
    await c.unbind().catch(() => undefined);
  }
}

/** unicodePwd is the UTF-16LE encoding of the password in double quotes (MS-ADTS 3.1.1.3.1.5.1). */
function unicodePwd(password: string): Buffer {
  return Buffer.from(`"${password}"`, 'utf16le');
}

/** DN of the account with this sAMAccountName (undefined when none). */
export async function findDn(dc: SambaDcInfo, account: string): Promise<string | undefined> {
  return asAdmin(dc, async (c) => {
    const safe = account.replace(/[\\*()\0]/g, (ch) => '\\' + ch.charCodeAt(0).toString(16).padStart(2, '0'));
    const r = await c.search(dc.baseDn, { filter: `(sAMAccountName=${safe})`, attributes: ['1.1'] });
    return r.searchEntries[0]?.dn;
  });
}

/**
 * Admin password reset over LDAPS. `samba-tool user setpassword` only takes the new password in argv
 * (--newpassword) or from an interactive prompt, so it is not used.
 */
export async function setPassword(dc: SambaDcInfo, account: string, password: string): Promise<void> {
  const dn = await findDn(dc, account);
  if (!dn) throw new Error(`no account ${account}`);
  await asAdmin(dc, (c) =>
    c.modify(dn, new Change({ operation: 'replace', modification: new Attribute({ type: 'unicodePwd', values: [unicodePwd(password)] }) })),
  );
}

export interface CreateUserOptions {
  /** Parent container DN; default OU=Staff,<baseDn>. */
  parentDn?: string;
  /** RDN value; default the account name. May contain `,`, `(`, `*` … (escaped here). */
  cn?: string;
  /** Default `<name>@example.test` (lower-cased realm). */
  userPrincipalName?: string;
  employeeID?: string;
  /** Initial password; default a random one. Sent in the add request over LDAPS. */
  password?: string;
  /** Extra attributes. */
  attributes?: Record<string, string | string[]>;
}

/** RFC 4514 escaping of an RDN value (for test fixture names such as "Doe, Jane (Sales)"). */
function escapeRdnValue(v: string): string {
  return v.replace(/[,+"\\<>;=]/g, (ch) => '\\' + ch).replace(/^[ #]/, (ch) => '\\' + ch).replace(/ $/, '\\ ');
}

/** Creates an enabled user over LDAPS and returns its DN. */
export async function createUser(dc: SambaDcInfo, name: string, opts: CreateUserOptions = {}): Promise<string> {
  const parent = opts.parentDn ?? `OU=Staff,${dc.baseDn}`;
  const dn = `CN=${escapeRdnValue(opts.cn ?? name)},${parent}`;
  const password = opts.password ?? `Pw1!${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;
  const attrs: Attribute[] = [
    new Attribute({ type: 'objectClass', values: ['top', 'person', 'organizationalPerson', 'user'] }),
    new Attribute({ type: 'sAMAccountName', values: [name] }),
    new Attribute({ type: 'userPrincipalName', values: [opts.userPrincipalName ?? `${name}@${dc.realm.toLowerCase()}`] }),
    new Attribute({ type: 'unicodePwd', values: [unicodePwd(password)] }),
    new Attribute({ type: 'userAccountControl', values: ['512'] }), // NORMAL_ACCOUNT, enabled
  ];
  if (opts.employeeID) attrs.push(new Attribute({ type: 'employeeID', values: [opts.employeeID] }));
  for (const [type, v] of Object.entries(opts.attributes ?? {})) attrs.push(new Attribute({ type, values: Array.isArray(v) ? v : [v] }));
  await asAdmin(dc, (c) => c.add(dn, attrs));
  return dn;
}

/** Replaces (or with `null` deletes) one attribute. */
export async function setAttribute(dc: SambaDcInfo, dn: string, attr: string, value: string | string[] | Buffer | null): Promise<void> {
  await asAdmin(dc, (c) =>
    c.modify(
      dn,
      value === null
        ? new Change({ operation: 'replace', modification: new Attribute({ type: attr, values: [] }) })
        : new Change({
            operation: 'replace',
            modification: new Attribute({ type: attr, values: Array.isArray(value) ? value : [value as string] }),
          }),
    ),
  );
}

/** Moves an entry under another container, keeping its RDN; returns the new DN. */
export async function moveUser(dc: SambaDcInfo, dn: string, newParentDn: string): Promise<string> {
  const rdn = splitRdn(dn);
  const newDn = `${rdn},${newParentDn}`;
  await asAdmin(dc, (c) => c.modifyDN(dn, newDn));
  return newDn;
}

/** Sets ACCOUNTDISABLE (0x2) in userAccountControl. */
export async function disableUser(dc: SambaDcInfo, dn: string): Promise<void> {
  await asAdmin(dc, async (c) => {
    const r = await c.search(dn, { scope: 'base', attributes: ['userAccountControl'] });
    const uac = Number(r.searchEntries[0]?.userAccountControl ?? 512);
    await c.modify(dn, new Change({ operation: 'replace', modification: new Attribute({ type: 'userAccountControl', values: [String(uac | 2)] }) }));
  });
}

export async function deleteUser(dc: SambaDcInfo, dn: string): Promise<void> {
  await asAdmin(dc, (c) => c.del(dn));
}

/** Runs samba-tool on the DC's local sam.ldb (root, no credentials). Never pass a secret in `args`. */
export async function sambaTool(dc: SambaDcInfo, args: readonly string[]): Promise<string> {
  const { stdout } = await execFileAsync('samba-tool', [...args, '-s', dc.smbConf], {
    env: { ...process.env, KRB5_CONFIG: dc.krb5Conf, GNUPGHOME: dc.gnupgHome },
    maxBuffer: 4 * 1024 * 1024,
  });
  return stdout;
}

/** The first RDN of a DN, respecting `\,` escapes. */
function splitRdn(dn: string): string {
  for (let i = 0; i < dn.length; i++) {
    if (dn[i] === '\\') i++;
    else if (dn[i] === ',') return dn.slice(0, i);
  }
  return dn;
}

/** A name unique to this process and call, for fixture accounts (sAMAccountName max 20 characters). */
export function uniqueName(prefix: string): string {
  const n = (Date.now() % 1e7).toString(36) + Math.floor(Math.random() * 1296).toString(36);
  return `${prefix}${n}`.slice(0, 20);
}
