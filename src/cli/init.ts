// `pwsync init [--from-dirsync DIR [--with-secrets]] [--out DIR] [--data-dir DIR] [--target-url URL] [--user NAME]
// [--force]`: writes config.yml and secret.yml from IIJ Directory Sync's files or from a few questions, then runs
// `pwsync check`.
// Secrets come from Directory Sync's secret.yml or a no-echo prompt, never from argv; they are never printed.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { EncodingError, PwsyncError } from '../errors.js';
import { DirSyncParseError, formatNotes, mapDirSyncConfig, parseDirSyncYaml, type DirSyncMapping } from '../onboarding/dirsync-mapping.js';
import { secretDocument, validateDocuments, writeInitFiles } from '../onboarding/init-files.js';
import { askAnswers, askSecrets, configFromAnswers } from '../onboarding/questions.js';
import { resolveServiceUser } from '../onboarding/service-user.js';
import { parse } from './args.js';
import { terminalPrompter, type Prompter } from './prompt.js';

export interface InitIo {
  stdout?: (s: string) => void;
  stderr?: (s: string) => void;
  prompter?: Prompter;
  /** Replaces `pwsync check` (tests of init alone). */
  check?: (configPath: string) => Promise<number>;
}

const DEFAULT_OUT = process.platform === 'win32' ? 'C:\\ProgramData\\pwsync' : '/etc/pwsync';
const TARGET = 'iij';

export async function initCommand(argv: string[], io: InitIo = {}): Promise<number> {
  const out = io.stdout ?? ((s: string) => process.stdout.write(s));
  const err = io.stderr ?? ((s: string) => process.stderr.write(s));
  const fail = (message: string): number => {
    err(`pwsync: ${message}\n`);
    return 2;
  };
  const a = parse(argv, {
    'from-dirsync': { type: 'string' },
    'with-secrets': { type: 'boolean' },
    force: { type: 'boolean' },
    out: { type: 'string' },
    'data-dir': { type: 'string' },
    'target-url': { type: 'string' },
    user: { type: 'string' },
  });
  if (a['with-secrets'] && !a['from-dirsync']) return fail('init: --with-secrets reads Directory Sync\'s secret.yml: give --from-dirsync DIR too');
  const outDir = path.resolve(a.out ?? DEFAULT_OUT);

  let config: Record<string, unknown>;
  let known: { adPassword?: string; accessToken?: string } = {};
  if (a['from-dirsync']) {
    let mapping: DirSyncMapping;
    try {
      mapping = readDirSync(path.resolve(a['from-dirsync']), a['with-secrets'] === true);
    } catch (e) {
      if (e instanceof DirSyncParseError || (e as NodeJS.ErrnoException).code !== undefined) return fail(`init: ${(e as Error).message}`);
      throw e;
    }
    if (mapping.notes.length > 0) err(`Directory Sync keys not carried over as they are (${mapping.notes.length}):\n${formatNotes(mapping.notes)}`);
    if (mapping.notes.some((n) => n.severity === 'blocking')) {
      err('pwsync: init: nothing written: fix the CANNOT lines above in a copy of Directory Sync\'s config.yml, or run pwsync init without --from-dirsync\n');
      return 1;
    }
    config = mapping.config;
    known = mapping.secrets;
  }

  const prompter = io.prompter ?? terminalPrompter();
  let secrets;
  try {
    if (!a['from-dirsync']) config = configFromAnswers(await askAnswers(prompter), TARGET);
    secrets = await askSecrets(prompter, known);
  } catch (e) {
    return fail(`init: ${(e as Error).message}`);
  } finally {
    prompter.close();
  }
  if (a['data-dir']) config!.agent = { data_dir: path.resolve(a['data-dir']) };
  // Directory Sync has no key for the SCIM URL (IIJ's is fixed); another endpoint (a staging tenant, the emulator) is explicit.
  if (a['target-url']) (config!.targets as Array<Record<string, unknown>>)[0]!.url = a['target-url'];

  const secret = secretDocument(TARGET, secrets);
  let files;
  let owner;
  try {
    owner = resolveServiceUser(a.user);
    validateDocuments(config!, secret);
    files = writeInitFiles(outDir, config!, secret, a.force === true, owner);
  } catch (e) {
    if (e instanceof PwsyncError) return fail(`init: ${e.message}`);
    throw e;
  }
  out(
    owner
      ? `wrote ${files.configPath} (root:${owner.name} 0640) and ${files.secretPath} (${owner.name} 0600) for the agent's user ${owner.name}; secret.yml has a new console.admin_token for the console login\n`
      : `wrote ${files.configPath} and ${files.secretPath} (mode 0600; secret.yml has a new console.admin_token for the console login)\n`,
  );
  out(`running pwsync check --config ${files.configPath}\n`);
  const check = io.check ?? (async (cfg: string) => (await import('./check.js')).checkCommand(['--config', cfg]));
  const code = await check(files.configPath);
  out(
    code === 0
      ? 'next: pwsync report mapping --config ' + files.configPath + ' (proves every in-scope AD user is found at IIJ), then pwsync run\n'
      : 'the files are written but the check failed: fix the FAIL lines, then run pwsync check --config ' + files.configPath + '\n',
  );
  return code;
}

function readDirSync(dir: string, withSecrets: boolean): DirSyncMapping {
  const cfgFile = path.join(dir, 'config.yml');
  const parsed = parseDirSyncYaml(readFile(cfgFile), cfgFile);
  let secret: unknown;
  let secretLegacy = false;
  if (withSecrets) {
    const secFile = path.join(dir, 'secret.yml');
    const p = parseDirSyncYaml(readFile(secFile), secFile);
    secret = p.value;
    secretLegacy = p.legacyListStyle;
  }
  const mapping = mapDirSyncConfig(parsed.value, secret, TARGET);
  if (parsed.legacyListStyle || secretLegacy)
    mapping.notes.push({
      key: '(file)',
      severity: 'info',
      reason: 'written in the pre-3.0 style (a list item on its key\'s line); read as a list. Directory Sync 3.0 rejects this form (DirSync-WinAD/35221751.html)',
    });
  return mapping;
}

function readFile(file: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw Object.assign(new Error(`cannot read ${file} (${code})`), { code });
  }
  try {
    // Strict: a Shift_JIS file read as UTF-8 would carry mangled Japanese group names into filter.user silently.
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new EncodingError(`${file} is not UTF-8 text: save a copy as UTF-8 and pass its folder`);
  } finally {
    bytes.fill(0);
  }
}
