// `pwsync samba setup`: checks a Samba AD DC for everything the syncpasswords capture needs and, with --init,
// initialises the syncpasswords cache with pwsync's native hook as its --script. Prints one PASS/WARN/FAIL line per item, each
// FAIL with its fix. Never reads, prints or passes a password.

import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fail, parseWithPositionals } from './args.js';
import { checkSocketTrust } from '../capture/socket-trust.js';
import {
  cacheDifferences, cacheInitArgs, shellQuote, storePlaintextIsOn, syncLoopArgs, syncpasswordsAttributes,
  type CacheSettings,
} from '../cli/samba-setup-plan.js';

const USAGE = `usage: pwsync samba setup --config FILE [--secret FILE] [--smb-conf PATH] [--cache-ldb PATH]
                          [--hook PATH] [--gnupghome DIR] [--init]`;
/** Where the package (and `npm run build:hook` in a source tree) puts the native hook: <install>/libexec. */
const DEFAULT_HOOK = fileURLToPath(new URL('../../libexec/pwsync-samba-hook', import.meta.url));
/** The socket the hook uses without PWSYNC_SOCKET (DEFAULT_SOCKET in native/samba-hook/pwsync-samba-hook.c). */
export const HOOK_DEFAULT_SOCKET = '/run/pwsync/intake.sock';
const CACHE_NAME = 'pwsync-syncpasswords.ldb';

type Verdict = 'PASS' | 'WARN' | 'FAIL';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: readonly string[], env?: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env: env ?? process.env, timeout: timeoutMs, maxBuffer: 8 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as NodeJS.ErrnoException).code === 'number' ? Number((err as NodeJS.ErrnoException).code) : 127) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

export async function sambaCommand(argv: string[]): Promise<number> {
  const { values: a, positionals } = parseWithPositionals(argv, {
    config: { type: 'string' }, secret: { type: 'string' }, 'smb-conf': { type: 'string' }, 'cache-ldb': { type: 'string' },
    hook: { type: 'string' }, gnupghome: { type: 'string' }, init: { type: 'boolean' },
  });
  if (positionals.length !== 1 || positionals[0] !== 'setup') return fail(`samba: unknown sub-command\n${USAGE}`);
  if (!a.config) return fail(`samba setup: --config FILE is required\n${USAGE}`);
  return setup({
    config: a.config, secret: a.secret, smbConf: a['smb-conf'] ?? process.env.SMB_CONF_PATH ?? '/etc/samba/smb.conf',
    cacheLdb: a['cache-ldb'], hook: path.resolve(a.hook ?? DEFAULT_HOOK), gnupghome: a.gnupghome ?? process.env.GNUPGHOME, init: a.init === true,
  });
}

interface SetupOptions {
  config: string;
  secret: string | undefined;
  smbConf: string;
  cacheLdb: string | undefined;
  hook: string;
  gnupghome: string | undefined;
  init: boolean;
}

async function setup(o: SetupOptions): Promise<number> {
  let failures = 0;
  const say = (v: Verdict, item: string, detail: string, fix?: string) => {
    if (v === 'FAIL') failures++;
    process.stdout.write(`${v} ${item}: ${detail}${fix ? ` — fix: ${fix}` : ''}\n`);
  };
  const env: NodeJS.ProcessEnv = { ...process.env, ...(o.gnupghome ? { GNUPGHOME: o.gnupghome } : {}) };

  // 1. root: syncpasswords talks to the privileged ldapi socket and writes its cache next to sam.ldb.
  const uid = process.getuid?.();
  if (uid === 0) say('PASS', 'root', 'running as root');
  else say('FAIL', 'root', `running as uid ${uid ?? '?'}`, 'run `pwsync samba setup` (and pwsync-syncpasswords.service) as root on the DC');

  // 2. config: the agent's socket and the targets' external-ID attributes.
  let socket: string | undefined;
  let attributes: string[] | undefined;
  try {
    const { loadConfig } = await import('../config/load.js');
    const loaded = loadConfig(o.config, o.secret);
    socket = loaded.config.agent.intake.socket;
    attributes = syncpasswordsAttributes(loaded.config.targets.map((t) => t.attribute.user.ad_bind.externalId));
    say('PASS', 'config', `${loaded.configPath} (intake socket ${socket})`);
  } catch (err) {
    say('FAIL', 'config', (err as Error).message.split('\n').join(' '), 'correct config.yml / secret.yml (see `pwsync check`)');
  }

  // 3. samba-tool
  const version = await run('samba-tool', ['--version'], env);
  if (version.code === 0) say('PASS', 'samba-tool', `version ${version.stdout.trim()}`);
  else {
    say('FAIL', 'samba-tool', 'not found or not working', 'install the Samba AD DC packages (Debian: samba, samba-ad-dc) and put samba-tool on PATH');
    return summary(failures);
  }

  // 4. smb.conf and the server role
  if (!existsSync(o.smbConf)) {
    say('FAIL', 'smb.conf', `${o.smbConf} does not exist`, 'give the DC\'s smb.conf with --smb-conf PATH');
    return summary(failures);
  }
  const param = async (name: string) => {
    const r = await run('testparm', ['-s', o.smbConf, `--parameter-name=${name}`], env);
    if (r.code === 0) return r.stdout.trim();
    const s = await run('samba-tool', ['testparm', '-s', o.smbConf, `--parameter-name=${name}`], env);
    return s.code === 0 ? s.stdout.trim().split('\n').pop()!.trim() : undefined;
  };
  const role = await param('server role');
  if (role === 'active directory domain controller') say('PASS', 'smb.conf', `${o.smbConf} (server role: ${role})`);
  else say('FAIL', 'smb.conf', `${o.smbConf} has server role "${role ?? 'unknown'}"`, 'run this on a Samba AD DC (server role = active directory domain controller)');

  // 5. where the cleartext comes from: GPG key ids (preferred) or reversible encryption (store-plaintext + 0x80)
  const gpgIds = (await param('password hash gpg key ids'))?.split(/[\s,]+/).filter(Boolean) ?? [];
  const settings = await run('samba-tool', ['domain', 'passwordsettings', 'show', '-s', o.smbConf], env);
  const plaintext = settings.code === 0 && storePlaintextIsOn(settings.stdout);
  const decryptSambaGpg = gpgIds.length > 0;
  if (decryptSambaGpg) say('PASS', 'cleartext', `password hash gpg key ids = ${gpgIds.join(' ')} (every user's new passwords are kept GPG-encrypted)`);
  else if (plaintext)
    say('WARN', 'cleartext', 'reversible encryption only (store-plaintext on): only users whose userAccountControl has 0x80 (ENCRYPTED_TEXT_PWD_ALLOWED) are captured, and their cleartext sits in sam.ldb unencrypted',
      'prefer `password hash gpg key ids = <fingerprint>` in [global] of smb.conf on every DC (docs/operations-samba.md)');
  else
    say('FAIL', 'cleartext', 'Samba keeps no cleartext: neither `password hash gpg key ids` in smb.conf nor store-plaintext',
      'add `password hash gpg key ids = <fingerprint>` to [global] of smb.conf on EVERY DC and restart samba with GNUPGHOME set (recommended); ' +
      'or `samba-tool domain passwordsettings set --store-plaintext=on` plus userAccountControl |= 0x80 on each user. Either way each user must change the password once');

  // 6. GPG: the secret key must be where syncpasswords decrypts, and python3-gpg must be installed.
  if (decryptSambaGpg) {
    const home = env.GNUPGHOME ?? path.join(process.env.HOME ?? '/root', '.gnupg');
    for (const id of gpgIds) {
      const r = await run('gpg', ['--homedir', home, '--batch', '--with-colons', '--list-secret-keys', id], env);
      if (r.code === 0) say('PASS', 'gpg secret key', `${id} in ${home}`);
      else
        say('FAIL', 'gpg secret key', `no secret key for ${id} in ${home}`,
          `import it (gpg --homedir ${home} --import key.asc), or pass --gnupghome DIR; set Environment=GNUPGHOME=${home} in pwsync-syncpasswords.service`);
    }
    const help = await run('samba-tool', ['user', 'syncpasswords', '--help'], env);
    if (/Decrypt the SambaGPG password as cleartext source/.test(help.stdout)) say('PASS', 'python3-gpg', 'samba-tool can decrypt Primary:SambaGPG');
    else say('FAIL', 'python3-gpg', 'samba-tool cannot decrypt Primary:SambaGPG', 'install python3-gpg (Debian) / python3-gpgme');
    await checkSambaDaemonGpg(o.smbConf, param, say);
  }

  // 7. the agent: the hook fails (and syncpasswords stops) while nothing listens on the socket.
  if (socket) {
    if (await canConnect(socket)) say('PASS', 'agent', `listening on ${socket}`);
    else say('WARN', 'agent', `nothing listens on ${socket}`, 'start pwsync-agent.service before pwsync-syncpasswords.service');
  }

  // 8. the hook: pwsync's native program itself is the --script (syncpasswords runs it without arguments; it finds
  // the agent at its built-in socket path or $PWSYNC_SOCKET, docs/operations-samba.md#the-hook).
  const privateDir = await param('private dir');
  const cacheLdb = path.resolve(privateDir ?? '/var/lib/samba/private', o.cacheLdb ?? CACHE_NAME);
  const hookProblem = hookFileProblem(o.hook);
  if (hookProblem) say('FAIL', 'hook', hookProblem, "install pwsync's libexec/pwsync-samba-hook from the package (from a source tree: `npm run build:hook`), or give its path with --hook");
  else say('PASS', 'hook', `${o.hook} (pwsync's native hook)`);
  if (socket !== undefined) {
    if (socket === HOOK_DEFAULT_SOCKET) say('PASS', 'hook socket', `the hook's built-in socket ${HOOK_DEFAULT_SOCKET} is agent.intake.socket`);
    else if (process.env.PWSYNC_SOCKET === socket)
      say('PASS', 'hook socket', `PWSYNC_SOCKET=${socket} in this environment (pwsync-syncpasswords.service must set it too)`);
    else
      say('WARN', 'hook socket', `agent.intake.socket is ${socket}, not the hook's built-in ${HOOK_DEFAULT_SOCKET}`,
        `set Environment=PWSYNC_SOCKET=${socket} in pwsync-syncpasswords.service (systemctl edit pwsync-syncpasswords)`);
    try {
      checkSocketTrust(socket);
    } catch (err) {
      say('FAIL', 'hook socket', (err as Error).message, 'let only the agent\'s user own the socket and its directory (systemd RuntimeDirectory=pwsync)');
    }
  }

  // 9. the syncpasswords cache: --attributes, --script and --decrypt-samba-gpg are fixed when it is initialised.
  if (attributes) {
    const want: CacheSettings = { attributes, script: o.hook, decryptSambaGpg };
    if (existsSync(cacheLdb)) {
      const r = await run('ldbsearch', ['-H', cacheLdb, '-b', 'KEY=USERSYNCPASSWORDS', '-s', 'base'], env);
      let diffs: string[];
      try {
        diffs = r.code === 0 ? cacheDifferences(r.stdout, want) : [`ldbsearch failed: ${r.stderr.trim()}`];
      } catch (err) {
        diffs = [`cannot read it: ${(err as Error).message}`];
      }
      if (diffs.length === 0) say('PASS', 'syncpasswords cache', `${cacheLdb} is initialised with the attributes and hook pwsync needs`);
      else
        say('FAIL', 'syncpasswords cache', `${cacheLdb}: ${diffs.join('; ')}`,
          'these are fixed at initialisation: stop pwsync-syncpasswords.service, move the cache away, run `pwsync samba setup --init` ' +
          '(its first run then hands over every user again; the agent supersedes versions it already has)');
    } else if (o.init && failures === 0) {
      const args = cacheInitArgs(o.smbConf, cacheLdb, want);
      const r = await run('samba-tool', args, env);
      if (r.code === 0 && existsSync(cacheLdb)) say('PASS', 'syncpasswords cache', `initialised ${cacheLdb} (attributes ${attributes.join(',')})`);
      else say('FAIL', 'syncpasswords cache', `samba-tool ${args.join(' ')} failed: ${(r.stderr || r.stdout).trim().split('\n').pop()}`, 'see the message; is samba running?');
    } else if (o.init) say('FAIL', 'syncpasswords cache', `${cacheLdb} not initialised: fix the items above first`);
    else say('FAIL', 'syncpasswords cache', `${cacheLdb} is not initialised`, `run \`pwsync samba setup --config ${o.config} --init\``);
  }

  if (failures === 0)
    process.stdout.write(
      `\nReady. The sync loop (pwsync-syncpasswords.service) runs:\n  samba-tool ${syncLoopArgs(o.smbConf, cacheLdb).map(shellQuote).join(' ')}\n`,
    );
  return summary(failures);
}

/** Why `file` cannot be the hook syncpasswords runs as root, or undefined. */
function hookFileProblem(file: string): string | undefined {
  let st;
  try {
    st = statSync(file);
  } catch {
    return `${file} does not exist`;
  }
  if (!st.isFile() || (st.mode & 0o111) === 0) return `${file} is not an executable file`;
  if ((st.mode & 0o022) !== 0) return `${file} is writable by other users, and syncpasswords runs it as root`;
  const uid = process.getuid?.() ?? 0;
  if (st.uid !== 0 && st.uid !== uid) return `${file} belongs to uid ${st.uid}, and syncpasswords runs it as root`;
  return undefined;
}

function summary(failures: number): number {
  if (failures > 0) process.stdout.write(`\n${failures} item(s) FAIL: fix them and run \`pwsync samba setup\` again.\n`);
  return failures > 0 ? 1 : 0;
}

function canConnect(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(socket);
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(2000, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/**
 * The samba daemon encrypts with the PUBLIC key from ITS GNUPGHOME (LDAP, kpasswd and SAMR changes); a daemon
 * started without GNUPGHOME silently stores no Primary:SambaGPG. That cannot be verified from outside: samba
 * rewrites its process title over /proc/<pid>/environ, so what is read there may be stale or another string. The
 * line therefore never says PASS; only a real password change proves it (docs/operations-samba.md, "Verify capture").
 */
async function checkSambaDaemonGpg(
  smbConf: string,
  param: (name: string) => Promise<string | undefined>,
  say: (v: Verdict, item: string, detail: string, fix?: string) => void,
): Promise<void> {
  const pidDir = await param('pid directory');
  let pid: number | undefined;
  try {
    pid = Number(readFileSync(path.join(pidDir ?? '/run/samba', 'samba.pid'), 'utf8').trim());
  } catch {
    /* no pid file */
  }
  const verify = 'change the password of a test account over LDAP or kpasswd and check that `pwsync queue list --state done` '
    + 'or the journal (event 3000/2000) shows it (docs/operations-samba.md, "Verify capture")';
  say('WARN', 'samba daemon GNUPGHOME',
    `not verified: the keyring the running samba daemon${pid ? ` (pid ${pid})` : ''} encrypts with cannot be read from outside (${smbConf})`,
    `make sure samba is started with GNUPGHOME set to a keyring holding the public key, then ${verify}`);
}
