// Pure mapping from IIJ Directory Sync's config.yml (and secret.yml) to pwsync's config.yml and secrets, for
// `pwsync init --from-dirsync`. Reproduces the AD connection, scope, proxy and the external-ID rule exactly, and
// lists every key it does not carry over with the reason. Never puts a secret value into a note or an error.

import { parseDocument } from 'yaml';
import { DIRSYNC_DEFAULTS, DIRSYNC_SECRET_KEYS, EXTERNAL_ID_FALLBACK, pwsyncEncryption } from './dirsync-assumptions.js';

/** info: deliberately not needed by pwsync. warning: carried or dropped, but check it. blocking: no files written. */
export type NoteSeverity = 'info' | 'warning' | 'blocking';

export interface CarryOverNote {
  /** Dotted key path in Directory Sync's file (`secret.yml:` prefix for secret.yml). */
  key: string;
  severity: NoteSeverity;
  reason: string;
}

export interface DirSyncSecrets {
  adPassword?: string;
  accessToken?: string;
}

export interface DirSyncMapping {
  /** pwsync's config.yml content (only what is carried over; everything else keeps pwsync's documented defaults). */
  config: Record<string, unknown>;
  /** Secrets found in Directory Sync's secret.yml (only with --with-secrets). */
  secrets: DirSyncSecrets;
  notes: CarryOverNote[];
}

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A parsed YAML file, and whether it needed the pre-3.0 "list item on the key's line" repair. */
export interface ParsedDirSyncYaml {
  value: unknown;
  legacyListStyle: boolean;
}

export class DirSyncParseError extends Error {}

/**
 * Parses a Directory Sync YAML file. Directory Sync 3.0 parses strictly (DirSync-WinAD/35221751.html: a list item
 * may not sit on the same line as its key); older versions accepted `addresses: - 192.168.0.1`. Such a file is
 * not YAML, so we rewrite exactly that form into a block list and say so; any other YAML error is reported with
 * its position only (a secret.yml line may hold a secret).
 */
export function parseDirSyncYaml(text: string, label: string): ParsedDirSyncYaml {
  const first = parseDocument(text, { uniqueKeys: true });
  if (first.errors.length === 0) return { value: first.toJS() ?? {}, legacyListStyle: false };
  const repaired = repairLegacyLists(text);
  if (repaired !== text) {
    const second = parseDocument(repaired, { uniqueKeys: true });
    if (second.errors.length === 0) return { value: second.toJS() ?? {}, legacyListStyle: true };
  }
  const e = first.errors[0]!;
  const where = e.linePos?.[0] ? `line ${e.linePos[0].line}, column ${e.linePos[0].col}` : 'unknown position';
  throw new DirSyncParseError(`${label}: not valid YAML at ${where} (${e.code})`);
}

/** `key: - a` (+ following `- b` lines) → `key:` / `  - a` / `  - b`. Only lines of exactly that shape change. */
function repairLegacyLists(text: string): string {
  const lines = text.split(/\r?\n/);
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\s*)([^\s#-][^:#]*?):[ \t]+-[ \t]+(.*)$/.exec(lines[i]!);
    if (!m) {
      out.push(lines[i]!);
      continue;
    }
    const indent = m[1]!;
    out.push(`${indent}${m[2]}:`, `${indent}  - ${m[3]}`);
    while (i + 1 < lines.length) {
      const next = /^(\s+)-[ \t]+(.*)$/.exec(lines[i + 1]!);
      if (!next || next[1]!.length <= indent.length) break;
      out.push(`${indent}  - ${next[2]}`);
      i++;
    }
  }
  return out.join('\n');
}

/** Every leaf key path of a YAML mapping (lists are leaves: their items belong to the key). */
function leafPaths(v: unknown, prefix: string[] = []): string[][] {
  if (!isObj(v)) return prefix.length ? [prefix] : [];
  const paths: string[][] = [];
  for (const [k, child] of Object.entries(v)) paths.push(...(isObj(child) && Object.keys(child).length > 0 ? leafPaths(child, [...prefix, k]) : [[...prefix, k]]));
  return paths;
}

function at(root: unknown, path: readonly string[]): unknown {
  let v = root;
  for (const k of path) {
    if (!isObj(v) || !Object.hasOwn(v, k)) return undefined;
    v = v[k];
  }
  return v;
}

const BINARY_ATTRIBUTES = new Set(['objectguid', 'ms-ds-consistencyguid']);

/** Subtrees pwsync deliberately does not need, with the reason shown to the admin. */
const NOT_NEEDED: ReadonlyArray<[string, string]> = [
  ['log.logger', "pwsync writes its journal to log.file and stderr (docs/events.md); Directory Sync's log destination does not apply"],
  ['ad.ldap.filter.group', 'pwsync sets passwords of users only; groups stay with Directory Sync'],
  ['ad.ldap.cache_disabled', 'pwsync keeps no directory cache: it asks AD at delivery time'],
  ['iid.scim.attribute.user.default', 'a provisioning default: Directory Sync keeps creating and updating users; pwsync only sets passwords'],
  ['iid.scim.attribute.user.ad_bind', 'a provisioning attribute: Directory Sync keeps writing it; pwsync matches users by externalId only'],
  ['iid.scim.attribute.user.convert', 'a convert rule for a provisioning attribute: pwsync matches users by externalId only'],
  ['iid.scim.attribute.group', 'groups stay with Directory Sync; pwsync sets passwords of users only'],
];

class Mapper {
  readonly notes: CarryOverNote[] = [];
  readonly consumed = new Set<string>();

  constructor(private readonly ds: Obj) {}

  note(key: string, severity: NoteSeverity, reason: string): void {
    this.notes.push({ key, severity, reason });
  }

  get(path: string): unknown {
    this.consumed.add(path);
    return at(this.ds, path.split('.'));
  }

  has(path: string): boolean {
    return at(this.ds, path.split('.')) !== undefined;
  }

  string(path: string, required: boolean): string | undefined {
    const v = this.get(path);
    if (v === undefined || v === null || v === '') {
      if (required) this.note(path, 'blocking', 'required by Directory Sync and by pwsync, but missing or empty');
      return undefined;
    }
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    this.note(path, 'blocking', 'must be a single text value');
    return undefined;
  }

  integer(path: string, min: number, max: number): number | undefined {
    const v = this.get(path);
    if (v === undefined || v === null || v === '') return undefined;
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : NaN;
    if (!Number.isInteger(n) || n < min || n > max) {
      this.note(path, 'blocking', `must be a whole number from ${min} to ${max}`);
      return undefined;
    }
    return n;
  }

  boolean(path: string): boolean | undefined {
    const v = this.get(path);
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v === 'boolean') return v;
    if (v === 'true' || v === 'false') return v === 'true';
    this.note(path, 'blocking', 'must be true or false');
    return undefined;
  }

  /** A list, or one value where a list is expected (`addresses: dc1`). */
  list(path: string): unknown[] | undefined {
    const v = this.get(path);
    if (v === undefined || v === null) return undefined;
    return Array.isArray(v) ? v : [v];
  }
}

/**
 * Maps Directory Sync's config.yml (parsed) and, when given, its secret.yml (parsed) to pwsync's config.yml
 * content. `targetName` names the IIJ target in pwsync (secret.yml targets.<name>).
 */
export function mapDirSyncConfig(ds: unknown, dsSecret?: unknown, targetName = 'iij'): DirSyncMapping {
  if (!isObj(ds)) {
    return { config: {}, secrets: {}, notes: [{ key: '(top level)', severity: 'blocking', reason: 'config.yml is empty or not a YAML mapping' }] };
  }
  const m = new Mapper(ds);

  // --- log -------------------------------------------------------------------------------------------------
  const config: Obj = {};
  const loglevel = m.string('log.loglevel', false);
  if (loglevel !== undefined) {
    if (['error', 'warn', 'info', 'debug'].includes(loglevel)) config.log = { loglevel };
    else m.note('log.loglevel', 'warning', `"${loglevel}" is not a level pwsync knows (error, warn, info, debug); pwsync uses info`);
  }

  // --- AD connection ---------------------------------------------------------------------------------------
  const server: Obj = {};
  const addresses = m.list('ad.ldap.server.addresses');
  if (!addresses || addresses.length === 0) m.note('ad.ldap.server.addresses', 'blocking', 'required: list the domain controllers');
  else if (addresses.some((a) => (typeof a !== 'string' && typeof a !== 'number') || String(a).trim() === ''))
    m.note('ad.ldap.server.addresses', 'blocking', 'every entry must be a host name or IP address');
  else server.addresses = addresses.map((a) => String(a).trim());

  const explicitPort = m.integer('ad.ldap.server.port', 1, 65535);
  const port = explicitPort ?? DIRSYNC_DEFAULTS.port;
  const user = m.string('ad.ldap.server.user', true);

  const encRaw = m.string('ad.ldap.server.encryption', false);
  let dsEncryption: 'none' | 'start_tls' = DIRSYNC_DEFAULTS.encryption;
  if (encRaw !== undefined) {
    if (encRaw === 'none' || encRaw === 'start_tls') dsEncryption = encRaw;
    else m.note('ad.ldap.server.encryption', 'blocking', `"${encRaw}" is not a Directory Sync value (none or start_tls)`);
  }
  const encryption = pwsyncEncryption(dsEncryption, port);
  const verify = m.boolean('ad.ldap.server.verify_mode') ?? DIRSYNC_DEFAULTS.verifyMode;

  // pwsync's defaults differ from Directory Sync's (636/ldaps/verify): write every connection value explicitly.
  server.port = port;
  if (user !== undefined) server.user = user;
  server.encryption = encryption;
  if (encryption === 'none') {
    m.note('ad.ldap.server.encryption', 'warning', 'carried over as "none": the AD bind password travels unencrypted; switch Directory Sync and pwsync to LDAPS (port 636) or StartTLS');
  } else {
    if (dsEncryption === 'start_tls' && encryption === 'ldaps')
      m.note('ad.ldap.server.encryption', 'info', `start_tls on port ${port} is TLS from the first byte (LDAPS): written as encryption: ldaps`);
    server.verify_mode = verify;
    if (!verify)
      m.note('ad.ldap.server.verify_mode', 'warning', "carried over as false (Directory Sync's default): the DC certificate is not checked; give pwsync the CA in ad.ldap.server.ca_file and set verify_mode: true");
  }
  if (m.has('ad.ldap.server.timeout')) {
    m.integer('ad.ldap.server.timeout', 1, 36000);
    m.note('ad.ldap.server.timeout', 'info', "Directory Sync's timeout bounds its batch run (1-36000 s); pwsync bounds each lookup and keeps its default of 10s so a dead DC cannot stall deliveries");
  }

  const ldap: Obj = { server };
  const baseDn = m.string('ad.ldap.base_dn', true);
  if (baseDn !== undefined) ldap.base_dn = baseDn;
  const filterUser = m.string('ad.ldap.filter.user', false);
  if (filterUser !== undefined) ldap.filter = { user: filterUser };
  else m.note('ad.ldap.filter.user', 'warning', "not set in Directory Sync (its default is not published): pwsync's default scope is every person, (&(objectCategory=person)(objectClass=user)); set the same scope as Directory Sync");
  config.ad = { ldap };

  // --- the IIJ target: proxy and external-ID rule ------------------------------------------------------------
  const target: Obj = { name: targetName, type: 'iij' };
  const useProxy = m.boolean('iid.scim.http.proxy.use') ?? false;
  const proxyAddress = m.string('iid.scim.http.proxy.address', false);
  const proxyPort = m.integer('iid.scim.http.proxy.port', 1, 65535);
  if (useProxy) {
    if (proxyAddress === undefined || proxyPort === undefined)
      m.note('iid.scim.http.proxy', 'blocking', 'use is true: address and port are required');
    target.http = { proxy: { use: true, address: proxyAddress, port: proxyPort } };
  } else if (proxyAddress !== undefined || proxyPort !== undefined) {
    // Kept (unused) so that switching use to true later is one edit, as in Directory Sync.
    target.http = { proxy: { use: false, ...(proxyAddress !== undefined ? { address: proxyAddress } : {}), ...(proxyPort !== undefined ? { port: proxyPort } : {}) } };
  }

  const userRule: Obj = {};
  const extAttr = externalIdAttribute(m);
  userRule.ad_bind = { externalId: extAttr };
  if (BINARY_ATTRIBUTES.has(extAttr.toLowerCase())) {
    userRule.binary_format = 'guid';
    m.note('iid.scim.attribute.user.ad_bind.externalId', 'warning', `${extAttr} is binary and Directory Sync's text form of it is not published: pwsync writes it as a GUID string (binary_format: guid); prove it with pwsync report mapping`);
  }
  const rules = convertRules(m);
  if (rules.length > 0) userRule.convert = { externalId: rules };
  target.attribute = { user: userRule };
  config.targets = [target];

  // --- everything else: not needed, or unknown ------------------------------------------------------------
  for (const path of leafPaths(ds)) {
    const key = path.join('.');
    if ([...m.consumed].some((c) => key === c || key.startsWith(`${c}.`))) continue;
    const known = NOT_NEEDED.find(([prefix]) => key === prefix || key.startsWith(`${prefix}.`));
    if (known) m.note(key, 'info', known[1]);
    else m.note(key, 'warning', "not a key pwsync knows from Directory Sync's manual: not carried over; check whether it changes which users are in scope or how externalId is computed");
  }

  const secrets = dsSecret === undefined ? {} : mapSecrets(dsSecret, m);
  return { config, secrets, notes: m.notes };
}

function externalIdAttribute(m: Mapper): string {
  const key = 'iid.scim.attribute.user.ad_bind.externalId';
  const v = m.get(key);
  if (v === undefined || v === null || v === '') {
    m.note(key, 'warning', `not set (Directory Sync's default is not published): pwsync assumes ${EXTERNAL_ID_FALLBACK}; prove it with pwsync report mapping before go-live`);
    return EXTERNAL_ID_FALLBACK;
  }
  const list = Array.isArray(v) ? v : [v];
  if (list.length === 1 && typeof list[0] === 'string' && list[0].trim() !== '') return list[0].trim();
  if (list.length > 1 && list.every((x) => typeof x === 'string'))
    m.note(key, 'blocking', `lists ${list.length} attributes (first non-empty wins in Directory Sync); pwsync computes externalId from one attribute, so it cannot reproduce this rule exactly`);
  else m.note(key, 'blocking', 'must name one AD attribute');
  return EXTERNAL_ID_FALLBACK;
}

function convertRules(m: Mapper): Array<{ pattern: string; replacement: string }> {
  const key = 'iid.scim.attribute.user.convert.externalId';
  const v = m.get(key);
  if (v === undefined || v === null) return [];
  const list = Array.isArray(v) ? v : [v];
  const rules: Array<{ pattern: string; replacement: string }> = [];
  list.forEach((r, i) => {
    const where = `${key}[${i}]`;
    if (!isObj(r)) return m.note(where, 'blocking', 'each rule must be a mapping with pattern and replacement');
    const extra = Object.keys(r).filter((k) => k !== 'pattern' && k !== 'replacement');
    if (extra.length > 0) m.note(where, 'blocking', `unknown key(s) ${extra.join(', ')} in a convert rule: pwsync would not apply them, so externalId would differ`);
    const pattern = r.pattern;
    if (typeof pattern !== 'string' || pattern === '') return m.note(`${where}.pattern`, 'blocking', 'missing: a convert rule needs a pattern');
    try {
      new RegExp(pattern);
    } catch {
      return m.note(`${where}.pattern`, 'blocking', 'not a regular expression pwsync (JavaScript RegExp) accepts; rewrite it without engine-specific syntax such as inline flags (?i)');
    }
    let replacement = '';
    if (r.replacement === undefined || r.replacement === null) m.note(`${where}.replacement`, 'warning', 'missing: the match is replaced by nothing');
    else if (typeof r.replacement === 'string' || typeof r.replacement === 'number') replacement = String(r.replacement);
    else return m.note(`${where}.replacement`, 'blocking', 'must be text');
    if (/\\(\d|k<)/.test(replacement))
      m.note(`${where}.replacement`, 'warning', 'refers to a group as \\1 or \\k<name>; pwsync replaces $1 and $<name> (docs/configuration.md) and copies a backslash literally: check the result with pwsync report mapping');
    rules.push({ pattern, replacement });
  });
  return rules;
}

function mapSecrets(dsSecret: unknown, m: Mapper): DirSyncSecrets {
  const secrets: DirSyncSecrets = {};
  if (!isObj(dsSecret)) {
    m.note('secret.yml:(top level)', 'warning', 'secret.yml is empty or not a YAML mapping: you are asked for the secrets instead');
    return secrets;
  }
  const used = new Set<string>();
  const pick = (candidates: ReadonlyArray<readonly string[]>): string | undefined => {
    for (const path of candidates) {
      const v = at(dsSecret, path);
      if (typeof v === 'string' && v !== '') {
        used.add(path.join('.'));
        return v;
      }
      if (v !== undefined) {
        used.add(path.join('.'));
        m.note(`secret.yml:${path.join('.')}`, 'warning', 'is not a non-empty text value: not carried over; you are asked for it instead');
      }
    }
    return undefined;
  };
  const adPassword = pick(DIRSYNC_SECRET_KEYS.adPassword);
  if (adPassword !== undefined) secrets.adPassword = adPassword;
  const token = pick(DIRSYNC_SECRET_KEYS.accessToken);
  if (token !== undefined) {
    // IIJ: the token is one line without line breaks (PassSync-WinAD_en/53264582.html); a wrapped copy never works.
    if (/[\r\n\s]/.test(token.trim()) || token.trim() === '') m.note('secret.yml:iid.scim.access_token', 'warning', 'contains a line break or space: not carried over; paste the token on one line when asked');
    else {
      secrets.accessToken = token.trim();
      m.note('secret.yml:iid.scim.access_token', 'info', "Directory Sync's token has escim_read_users and escim_write_users among its scopes; pwsync needs only those two (a token of its own is easier to revoke)");
    }
  }
  for (const path of leafPaths(dsSecret)) {
    const key = path.join('.');
    if (!used.has(key))
      m.note(`secret.yml:${key}`, 'warning', "not a secret.yml key pwsync knows (IIJ does not publish them): not carried over; you are asked for the secret instead");
  }
  return secrets;
}

/** Notes as lines for a terminal: blocking first, then warnings, then info. */
export function formatNotes(notes: readonly CarryOverNote[]): string {
  const rank: Record<NoteSeverity, number> = { blocking: 0, warning: 1, info: 2 };
  const label: Record<NoteSeverity, string> = { blocking: 'CANNOT', warning: 'CHECK ', info: 'SKIP  ' };
  return [...notes]
    .sort((a, b) => rank[a.severity] - rank[b.severity])
    .map((n) => `  ${label[n.severity]} ${n.key}: ${n.reason}\n`)
    .join('');
}
