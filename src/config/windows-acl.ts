// Windows: refuses to run when secret.yml, agent.key or the data directory can be read by anyone but SYSTEM and
// Administrators. Reads each ACL as SDDL with icacls (/save) and judges it with a pure parser. Never changes an ACL.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from '../errors.js';

/** SIDs allowed to read: LocalSystem and BUILTIN\Administrators (SDDL aliases and full form). */
const ALLOWED = new Set(['SY', 'BA', 'S-1-5-18', 'S-1-5-32-544']);
/** Placeholders that only matter for inheritance, never for access to the object itself. */
const PLACEHOLDERS = new Set(['CO', 'CG', 'S-1-3-0', 'S-1-3-1']);
const NAMES: Record<string, string> = {
  WD: 'Everyone', BU: 'BUILTIN\\Users', AU: 'Authenticated Users', IU: 'INTERACTIVE', NS: 'NETWORK SERVICE',
  LS: 'LOCAL SERVICE', BG: 'BUILTIN\\Guests', DU: 'Domain Users', OW: 'OWNER RIGHTS', AN: 'ANONYMOUS LOGON',
};
const READ_LETTERS = ['FA', 'FR', 'GA', 'GR', 'CC']; // CC is bit 0x1 (FILE_READ_DATA / list directory)
const READ_BITS = 0x1 | 0x10000000 | 0x80000000; // FILE_READ_DATA, GENERIC_ALL, GENERIC_READ

export interface Ace {
  type: string;
  flags: string;
  rights: string;
  sid: string;
}

/** The DACL of an SDDL string: null when there is no DACL at all (NO_ACCESS_CONTROL: everyone may do anything). */
export function parseDacl(sddl: string): Ace[] | null {
  const m = /D:([A-Z_]*)((?:\([^)]*\))*)/.exec(sddl);
  if (!m) throw new Error('no DACL (D:) in the security descriptor');
  if (m[1]!.includes('NO_ACCESS_CONTROL')) return null;
  return [...m[2]!.matchAll(/\(([^)]*)\)/g)].map((a) => {
    const [type = '', flags = '', rights = '', , , sid = ''] = a[1]!.split(';');
    return { type, flags, rights, sid };
  });
}

function grantsRead(rights: string): boolean {
  if (/^0x[0-9a-f]+$/i.test(rights)) return (Number.parseInt(rights, 16) & READ_BITS) !== 0;
  for (let i = 0; i < rights.length; i += 2) if (READ_LETTERS.includes(rights.slice(i, i + 2))) return true;
  return false;
}

/** Who besides SYSTEM and Administrators may read, by name where well known (empty: the ACL is tight). */
export function foreignReaders(sddl: string): string[] {
  const aces = parseDacl(sddl);
  if (aces === null) return ['Everyone (the object has no DACL)'];
  const out = new Set<string>();
  for (const a of aces) {
    if (a.type !== 'A' && a.type !== 'OA') continue; // deny and audit entries never widen access
    if (a.flags.includes('IO') || PLACEHOLDERS.has(a.sid) || ALLOWED.has(a.sid)) continue;
    if (grantsRead(a.rights)) out.add(NAMES[a.sid] ? `${NAMES[a.sid]} (${a.sid})` : a.sid);
  }
  return [...out];
}

/** `icacls <target> /save <file>`: UTF-16LE, the object's name on one line and its SDDL on the next. */
function icaclsSddl(target: string): string | undefined {
  const icacls = path.join(process.env.SystemRoot ?? 'C:\\Windows', 'System32', 'icacls.exe');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pwsync-acl-'));
  const out = path.join(dir, 'acl');
  try {
    execFileSync(icacls, [target, '/save', out, '/Q'], { stdio: 'ignore', windowsHide: true, timeout: 15_000 });
    if (!existsSync(out)) return undefined;
    return readFileSync(out).toString('utf16le').replace(/^\uFEFF/, '').split(/\r?\n/).find((l) => l.includes('D:'));
  } catch {
    return undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Wine's icacls.exe is a stub that answers nothing; a Windows DC always has a working one. */
function isWine(): boolean {
  return existsSync(path.join(process.env.SystemRoot ?? 'C:\\Windows', 'System32', 'winecfg.exe'));
}

export interface PrivatePath {
  label: string;
  path: string;
}

const FIX = (dataDir: string) =>
  `run, as administrator: icacls "${dataDir}" /inheritance:r /grant:r *S-1-5-18:(OI)(CI)F *S-1-5-32-544:(OI)(CI)F /T ` +
  `(or run pwsync-service.exe install again, which sets exactly this), and remove any other entry icacls "${dataDir}" lists`;

/**
 * Throws ConfigError naming the first path others may read and how to fix it. `readSddl` is icacls in production.
 * Returns the paths whose ACL could not be read at all (only under Wine; on Windows that is an error too).
 */
export function assertOnlyAdminsCanRead(
  paths: readonly PrivatePath[],
  dataDir: string,
  readSddl: (p: string) => string | undefined = icaclsSddl,
  wine: () => boolean = isWine,
): string[] {
  const unread: string[] = [];
  for (const p of paths) {
    const sddl = readSddl(p.path);
    if (sddl === undefined) {
      if (wine()) {
        unread.push(p.path);
        continue;
      }
      throw new ConfigError(`cannot read the access rights of ${p.label} (${p.path}) with icacls: pwsync refuses to start without knowing who can read it`);
    }
    const others = foreignReaders(sddl);
    if (others.length > 0)
      throw new ConfigError(`${p.label} (${p.path}) is readable by ${others.join(', ')}: only SYSTEM and Administrators may read it; ${FIX(dataDir)}`);
  }
  return unread;
}
