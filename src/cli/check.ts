// `pwsync check`: validates config.yml + secret.yml, then tests each connection for real and prints one
// PASS/FAIL line per item with what to do. Never prints a secret.

import { loadConfig } from '../config/load.js';
import { createLdapDirectory } from '../directory/ldap-directory.js';
import { PwsyncError, TargetUnusableError } from '../errors.js';
import { createTarget } from '../targets/index.js';
import { redactUrl } from '../targets/base-url.js';
import { isInsecureRemoteUrl } from '../config/schema.js';
import { fail, parse } from './args.js';

interface CheckLine {
  ok: boolean;
  item: string;
  detail: string;
}

export async function checkCommand(argv: string[]): Promise<number> {
  const a = parse(argv, { config: { type: 'string' }, secret: { type: 'string' } });
  if (!a.config) return fail('check: --config FILE is required');
  const lines: CheckLine[] = [];
  const print = (l: CheckLine) => {
    lines.push(l);
    process.stdout.write(`${l.ok ? 'PASS' : 'FAIL'}  ${l.item}: ${l.detail}\n`);
  };
  let loaded;
  try {
    loaded = loadConfig(a.config, a.secret);
    print({ ok: true, item: 'configuration', detail: `${loaded.configPath} and ${loaded.secretPath} are valid` });
  } catch (err) {
    print({ ok: false, item: 'configuration', detail: err instanceof PwsyncError ? err.message : String(err) });
    return 2;
  }
  const { config, secret } = loaded;

  const ldap = config.ad.ldap;
  const directory = createLdapDirectory(ldap, secret.ad.ldap.server.password);
  try {
    const { sampleDn } = await directory.probe();
    print(
      sampleDn
        ? { ok: true, item: 'active directory', detail: `bound as ${ldap.server.user} (${ldap.server.encryption}); found in-scope user ${sampleDn}` }
        : { ok: false, item: 'active directory', detail: `bound as ${ldap.server.user}, but no user matches ad.ldap.filter.user under ${ldap.base_dn}: check base_dn and filter.user` },
    );
  } catch (err) {
    print({ ok: false, item: 'active directory', detail: `${err instanceof PwsyncError ? err.message : String(err)} — check ad.ldap.server.addresses/port/encryption, the CA (ca_file, tls_servername) and the bind user and password` });
  } finally {
    await directory.close();
  }

  for (const t of config.targets) {
    if (isInsecureRemoteUrl(t.url))
      print({ ok: false, item: `target ${t.name} transport`, detail: `${redactUrl(t.url)} is plain http to a non-loopback host (allow_insecure_http: true): the token and every password cross the network unencrypted — use https://` });
    const target = createTarget(t, secret.targets[t.name]);
    try {
      const r = await target.probe();
      const write = r && !r.writeVerified ? ' (write permission is proven only by the first password change)' : '';
      print({ ok: true, item: `target ${t.name}`, detail: `${redactUrl(t.url)} answered an authenticated search${write}` });
    } catch (err) {
      const hint =
        err instanceof TargetUnusableError
          ? t.type === 'iij'
            ? 'issue a new access token with scopes escim_read_users and escim_write_users and put it in secret.yml'
            : 'check the token / credentials in secret.yml'
          : 'check the URL, proxy settings (http.proxy), ca_file and the network path';
      print({ ok: false, item: `target ${t.name}`, detail: `${err instanceof PwsyncError ? err.message : String(err)} — ${hint}` });
    } finally {
      await target.close();
    }
  }
  return lines.every((l) => l.ok) ? 0 : 1;
}
