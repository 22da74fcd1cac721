// The LDAP Directory against a real Samba AD DC (scripts/samba-dc.sh): TLS verification, scope, identity, version.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { Attribute, Change } from 'ldapts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LdapConfig } from '../../src/config/schema.js';
import { userAttributeSchema } from '../../src/config/schema.js';
import { DirectoryLookupError, DirectoryUnavailableError } from '../../src/errors.js';
import type { Directory } from '../../src/directory/directory.js';
import { computeExternalId } from '../../src/directory/external-id.js';
import { guidToString } from '../../src/directory/guid.js';
import { createLdapDirectory } from '../../src/directory/ldap-directory.js';
import { inScopeUsersOf } from '../../src/coverage/ad-users.js';
import {
  adminClient,
  createUser,
  deleteUser,
  disableUser,
  moveUser,
  requireSambaDc,
  sambaTool,
  setAttribute,
  setPassword,
  uniqueName,
  type SambaDcInfo,
} from '../support/samba.js';

function config(dc: SambaDcInfo, over: { server?: Partial<LdapConfig['server']>; filter?: string } = {}): LdapConfig {
  return {
    server: {
      addresses: [dc.host],
      user: dc.readerDn,
      timeout: 10_000,
      encryption: 'ldaps',
      verify_mode: true,
      ca_file: dc.caFile,
      tls_servername: dc.tlsServername,
      ...over.server,
    },
    base_dn: dc.baseDn,
    filter: { user: over.filter ?? '(&(objectCategory=person)(objectClass=user))' },
  };
}

const quiet = { warn: () => undefined };

async function withDirectory<T>(dir: Directory, fn: (d: Directory) => Promise<T>): Promise<T> {
  try {
    return await fn(dir);
  } finally {
    await dir.close();
  }
}

test('resolves alice over LDAPS with CA + servername verification', async (t) => {
  const dc = requireSambaDc(t);
  if (!dc) return;
  await withDirectory(createLdapDirectory(config(dc), dc.readerPassword), async (d) => {
    const u = await d.resolve({ account: 'alice' }, ['userPrincipalName', 'employeeID']);
    assert.ok(u);
    assert.equal(u.dn, 'CN=Alice Smith,OU=Staff,DC=example,DC=test');
    assert.equal(u.sAMAccountName, 'alice');
    assert.equal(u.attributes.userPrincipalName, 'alice@example.test');
    assert.equal(u.attributes.employeeID, 'E1001');
    assert.equal(u.enabled, true);
    assert.equal(u.inScope, true);
    assert.equal(typeof u.version.kvno, 'number');
    assert.match(u.version.pwdLastSet ?? '', /^\d{18}$/);
    // Case of the account name does not matter to AD.
    assert.equal((await d.resolve({ account: 'ALICE' }, []))?.dn, u.dn);
  });
});

test('resolves over StartTLS on 389', async (t) => {
  const dc = requireSambaDc(t);
  if (!dc) return;
  await withDirectory(createLdapDirectory(config(dc, { server: { encryption: 'start_tls' } }), dc.readerPassword), async (d) => {
    const u = await d.resolve({ account: 'bob' }, ['employeeID']);
    assert.equal(u?.attributes.employeeID, 'E1002');
  });
});

test('verification is really on: a wrong CA, or no servername, is DirectoryUnavailableError', async (t) => {
  const dc = requireSambaDc(t);
  if (!dc) return;
  // A valid CA certificate that did not sign the DC's certificate: Node's own test-style self-signed CA.
  const dir = mkdtempSync(join(tmpdir(), 'pwsync-wrongca-'));
  const wrongCa = join(dir, 'ca.pem');
  const { rootCertificates } = await import('node:tls');
  writeFileSync(wrongCa, rootCertificates[0]!);
  for (const server of [
    { ca_file: wrongCa },
    { tls_servername: undefined }, // CN=DC1.example.test does not match 127.0.0.1
    { ca_file: undefined }, // self-signed CA not trusted
  ]) {
    for (const encryption of ['ldaps', 'start_tls'] as const) {
      const d = createLdapDirectory(config(dc, { server: { ...server, encryption } }), dc.readerPassword);
      await withDirectory(d, async () => {
        await assert.rejects(d.resolve({ account: 'alice' }, []), (err: unknown) => {
          assert.ok(err instanceof DirectoryUnavailableError, String(err));
          assert.equal(err.code, 'E_DIRECTORY_UNAVAILABLE');
          assert.match(err.message, /127\.0\.0\.1/);
          return true;
        });
      });
    }
  }
});

test('verify_mode false connects without CA (and warns)', async (t) => {
  const dc = requireSambaDc(t);
  if (!dc) return;
  const warnings: string[] = [];
  const d = createLdapDirectory(config(dc, { server: { verify_mode: false, ca_file: undefined, tls_servername: undefined } }), dc.readerPassword, {
    warn: (code) => warnings.push(code),
  });
  await withDirectory(d, async () => {
    assert.equal((await d.resolve({ account: 'carol' }, []))?.sAMAccountName, 'carol');
  });
  assert.deepEqual(warnings, ['PWSYNC_LDAP_NO_VERIFY']);
});

test('unknown account → undefined; injection strings find nobody and do not throw', async (t) => {
  const dc = requireSambaDc(t);
  if (!dc) return;
  await withDirectory(createLdapDirectory(config(dc), dc.readerPassword, quiet), async (d) => {
    assert.equal(await d.resolve({ account: 'nobody-here' }, []), undefined);
    for (const attack of ['*', '*)(uid=*', 'admin)(|(a=*', 'alice)(objectClass=*', 'a*', '*)(sAMAccountName=alice', 'alice\\', '\0alice', 'al(ice']) {
      assert.equal(await d.resolve({ account: attack }, []), undefined, attack);
    }
  });
});

test('scope: mallory (OU=Outside) is found but out of scope for an OU filter and a nested-group filter', async (t) => {
  const dc = requireSambaDc(t);
  if (!dc) return;
  const filters = [
    // Matching-rule-in-chain (LDAP_MATCHING_RULE_IN_CHAIN), the form IIJ's Directory Sync sample uses.
    `(&(objectCategory=person)(memberOf:1.2.840.113556.1.4.1941:=CN=PwsyncUsers,OU=Staff,${dc.baseDn}))`,
    `memberOf=CN=PwsyncUsers,OU=Staff,${dc.baseDn}`, // IIJ DS style: no outer parentheses
  ];
  for (const filter of filters) {
    await withDirectory(createLdapDirectory(config(dc, { filter }), dc.readerPassword), async (d) => {
      const m = await d.resolve({ account: 'mallory' }, []);
      assert.ok(m, 'mallory exists under base_dn');
      assert.equal(m.inScope, false, filter);
      assert.equal((await d.resolve({ account: 'alice' }, []))?.inScope, true, filter);
      assert.ok((await d.probe()).sampleDn?.includes('OU=Staff'), 'probe finds an in-scope user');
    });
  }
  // base_dn itself limits what resolve can see.
  const staffOnly = { ...config(dc), base_dn: `OU=Staff,${dc.baseDn}` };
  await withDirectory(createLdapDirectory(staffOnly, dc.readerPassword), async (d) => {
    assert.equal(await d.resolve({ account: 'mallory' }, []), undefined);
  });
});

test('nested group membership counts with matching-rule-in-chain, and DNs with specials work', async (t) => {
  const dc = requireSambaDc(t);
  if (!dc) return;
  const name = uniqueName('nest');
  const dn = await createUser(dc, name, { cn: `Doe, ${name} (Sales*)` });
  const groupDn = `CN=${name}g,OU=Staff,${dc.baseDn}`;
  const admin = await adminClient(dc);
  try {
    await admin.add(groupDn, { objectClass: ['top', 'group'], sAMAccountName: `${name}g`, member: [dn] });
    await admin.modify(
      `CN=PwsyncUsers,OU=Staff,${dc.baseDn}`,
      new Change({ operation: 'add', modification: new Attribute({ type: 'member', values: [groupDn] }) }),
    );
    const chain = `(memberOf:1.2.840.113556.1.4.1941:=CN=PwsyncUsers,OU=Staff,${dc.baseDn})`;
    const direct = `(memberOf=CN=PwsyncUsers,OU=Staff,${dc.baseDn})`;
    await withDirectory(createLdapDirectory(config(dc, { filter: chain }), dc.readerPassword), async (d) => {
      const u = await d.resolve({ account: name }, []);
      assert.equal(u?.dn, dn);
      assert.equal(u?.inScope, true, 'member through a nested group');
    });
    await withDirectory(createLdapDirectory(config(dc, { filter: direct }), dc.readerPassword), async (d) => {
      assert.equal((await d.resolve({ account: name }, []))?.inScope, false, 'not a direct member');
    });
  } finally {
    await admin
      .modify(
        `CN=PwsyncUsers,OU=Staff,${dc.baseDn}`,
        new Change({ operation: 'delete', modification: new Attribute({ type: 'member', values: [groupDn] }) }),
      )
      .catch(() => undefined);
    await admin.del(groupDn).catch(() => undefined);
    await admin.unbind();
    await deleteUser(dc, dn);
  }
});

test('kvno increases after a password set; disabled and moved accounts are reported', async (t) => {
  const dc = requireSambaDc(t);
  if (!dc) return;
  const name = uniqueName('kv');
  const dn = await createUser(dc, name, { employeeID: 'E9001' });
  let current = dn;
  try {
    await withDirectory(createLdapDirectory(config(dc, { filter: `(memberOf=CN=PwsyncUsers,OU=Staff,${dc.baseDn})` }), dc.readerPassword), async (d) => {
      const before = await d.resolve({ account: name }, []);
      assert.ok(before?.version.kvno !== undefined);
      await setPassword(dc, name, 'Kvno!Passw0rd-1');
      const after = await d.resolve({ account: name }, []);
      assert.ok(after?.version.kvno !== undefined && after.version.kvno > before.version.kvno, `${before.version.kvno} → ${after?.version.kvno}`);
      assert.ok(BigInt(after.version.pwdLastSet ?? '0') >= BigInt(before.version.pwdLastSet ?? '0'));

      await disableUser(dc, dn);
      const disabled = await d.resolve({ account: name }, []);
      assert.equal(disabled?.enabled, false);
      assert.equal((disabled?.userAccountControl ?? 0) & 2, 2);

      const moved = (current = await moveUser(dc, dn, `OU=Outside,${dc.baseDn}`));
      const m = await d.resolve({ account: name }, []);
      assert.equal(m?.dn, moved);
      // Same object, same GUID, after the move.
      assert.equal(m?.guid, before.guid);
    });
  } finally {
    await deleteUser(dc, current);
  }
});

test('GUID equals samba-tool user show; lookup by GUID and by RID find the same account, even after a rename', async (t) => {
  const dc = requireSambaDc(t);
  if (!dc) return;
  const shown = await sambaTool(dc, ['user', 'show', 'alice', '--attributes=objectGUID,objectSid']);
  const guid = /^objectGUID: (\S+)$/m.exec(shown)?.[1];
  const sid = /^objectSid: (\S+)$/m.exec(shown)?.[1];
  assert.ok(guid && sid, shown);
  const rid = Number(sid.split('-').at(-1));
  await withDirectory(createLdapDirectory(config(dc), dc.readerPassword), async (d) => {
    const byName = await d.resolve({ account: 'alice' }, ['objectGUID']);
    assert.equal(byName?.guid, guid);
    assert.ok(Buffer.isBuffer(byName?.attributes.objectGUID));
    assert.equal(guidToString(byName.attributes.objectGUID as Buffer), guid);
    assert.equal((await d.resolve({ account: 'whatever', guid }, []))?.sAMAccountName, 'alice', 'GUID wins over the name');
    assert.equal((await d.resolve({ account: 'whatever', rid }, []))?.sAMAccountName, 'alice', 'RID wins over the name');
    assert.equal(await d.resolve({ account: 'alice', guid: '00000000-0000-0000-0000-000000000001' }, []), undefined, 'no fallback to the name');
    assert.equal(await d.resolve({ account: 'alice', rid: 999_999 }, []), undefined, 'no fallback to the name');
    await assert.rejects(d.resolve({ account: 'alice', guid, rid: rid + 1 }, []), DirectoryLookupError);
  });

  // A renamed account is still found by its RID; by the old name it is gone.
  const name = uniqueName('ren');
  const dn = await createUser(dc, name);
  try {
    await withDirectory(createLdapDirectory(config(dc), dc.readerPassword), async (d) => {
      const u = await d.resolve({ account: name }, ['objectSid']);
      assert.ok(u);
      const sidBytes = u.attributes.objectSid as Buffer;
      const r = sidBytes.readUInt32LE(sidBytes.length - 4);
      await setAttribute(dc, dn, 'sAMAccountName', `${name}x`);
      assert.equal(await d.resolve({ account: name }, []), undefined);
      assert.equal((await d.resolve({ account: name, rid: r }, []))?.sAMAccountName, `${name}x`);
    });
  } finally {
    await deleteUser(dc, dn);
  }
});

test('external ID from UPN, from employeeID with a convert rule, and from objectGUID', async (t) => {
  const dc = requireSambaDc(t);
  if (!dc) return;
  await withDirectory(createLdapDirectory(config(dc), dc.readerPassword), async (d) => {
    const upnRule = userAttributeSchema.parse({});
    const empRule = userAttributeSchema.parse({
      ad_bind: { externalId: 'employeeid' },
      convert: { externalId: [{ pattern: '^E(\\d+)$', replacement: 'emp-$1' }] },
    });
    const guidRule = userAttributeSchema.parse({ ad_bind: { externalId: 'objectGUID' } });
    const consistencyRule = userAttributeSchema.parse({ ad_bind: { externalId: 'mS-DS-ConsistencyGuid' }, binary_format: 'base64' });
    const wanted = [...new Set([upnRule, empRule, guidRule, consistencyRule].map((r) => r.ad_bind.externalId))];
    const u = await d.resolve({ account: 'alice' }, wanted);
    assert.ok(u);
    assert.equal(computeExternalId(u, upnRule), 'alice@example.test');
    assert.equal(computeExternalId(u, empRule), 'emp-1001');
    assert.equal(computeExternalId(u, guidRule), u.guid);
    assert.equal(computeExternalId(u, consistencyRule), undefined, 'alice has no mS-DS-ConsistencyGuid');
  });
});

test('a wrong bind password is DirectoryUnavailableError without the password in the message', async (t) => {
  const dc = requireSambaDc(t);
  if (!dc) return;
  const wrong = 'Wr0ng!Secret-Zebra-7741';
  for (const encryption of ['ldaps', 'start_tls'] as const) {
    const d = createLdapDirectory(config(dc, { server: { encryption } }), wrong);
    await withDirectory(d, async () => {
      await assert.rejects(d.resolve({ account: 'alice' }, []), (err: unknown) => {
        assert.ok(err instanceof DirectoryUnavailableError);
        assert.ok(!err.message.includes(wrong), err.message);
        assert.ok(!JSON.stringify(err).includes(wrong));
        assert.match(err.message, /ldaps?:\/\/127\.0\.0\.1:(636|389)/);
        assert.match(err.message, /InvalidCredentials|49/);
        return true;
      });
      await assert.rejects(d.probe(), DirectoryUnavailableError);
    });
  }
});

test('the second address is used when the first does not answer; all down names every address', async (t) => {
  const dc = requireSambaDc(t);
  if (!dc) return;
  // 127.0.0.2 is loopback too, but the DC binds 127.0.0.1 only: connection refused at once.
  const d = createLdapDirectory(config(dc, { server: { addresses: ['127.0.0.2', dc.host] } }), dc.readerPassword);
  await withDirectory(d, async () => {
    assert.equal((await d.resolve({ account: 'alice' }, []))?.sAMAccountName, 'alice');
  });
  const down = createLdapDirectory(config(dc, { server: { addresses: ['127.0.0.2', '127.0.0.3'], timeout: 2000 } }), dc.readerPassword);
  await withDirectory(down, async () => {
    await assert.rejects(down.resolve({ account: 'alice' }, []), /127\.0\.0\.2.*127\.0\.0\.3/s);
  });
});

/** A TCP relay to the DC's LDAPS port that counts connections and can cut them all. */
async function relay(dc: SambaDcInfo): Promise<{ port: number; connections: () => number; cut: () => void; close: () => Promise<void> }> {
  const open = new Set<Socket>();
  let count = 0;
  const server = createServer((down) => {
    count++;
    const up = connect(dc.ldapsPort, dc.host);
    open.add(down).add(up);
    down.pipe(up).pipe(down);
    const end = () => {
      down.destroy();
      up.destroy();
      open.delete(down);
      open.delete(up);
    };
    down.on('error', end).on('close', end);
    up.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    connections: () => count,
    cut: () => {
      for (const s of open) s.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}

test('one connection is reused across calls and rebuilt (bound again) after it breaks', async (t) => {
  const dc = requireSambaDc(t);
  if (!dc) return;
  const r = await relay(dc);
  const d = createLdapDirectory(config(dc, { server: { port: r.port } }), dc.readerPassword);
  try {
    const results = await Promise.all(['alice', 'bob', 'carol', 'alice'].map((a) => d.resolve({ account: a }, [])));
    assert.deepEqual(results.map((x) => x?.sAMAccountName), ['alice', 'bob', 'carol', 'alice']);
    assert.equal((await d.probe()).sampleDn !== undefined, true);
    assert.equal(r.connections(), 1, 'concurrent and later calls share one bound connection');
    r.cut();
    // The next call finds the socket gone (or fails on it), reconnects, binds and answers.
    const again = await d.resolve({ account: 'bob' }, ['employeeID']);
    assert.equal(again?.attributes.employeeID, 'E1002', 'answered on a fresh, bound connection');
    assert.equal(r.connections(), 2);
  } finally {
    await d.close();
    await r.close();
  }
  await assert.rejects(d.resolve({ account: 'alice' }, []), DirectoryUnavailableError, 'a closed directory refuses');
});

test('the coverage report reads through the directory\'s own connection: delivery lookups and reports share one bind', async (t) => {
  const dc = requireSambaDc(t);
  if (!dc) return;
  const r = await relay(dc);
  const d = createLdapDirectory(config(dc, { server: { port: r.port } }), dc.readerPassword);
  try {
    const users = inScopeUsersOf(() => d);
    assert.equal((await d.resolve({ account: 'alice' }, []))?.sAMAccountName, 'alice');
    const first = await users.listInScopeUsers();
    const second = await users.listInScopeUsers();
    assert.ok(first.some((u) => u.sAMAccountName === 'alice'), 'an in-scope user is listed');
    assert.ok(second.some((u) => u.sAMAccountName === 'alice'), 'listed again (other tests add users to the shared DC meanwhile)');
    assert.equal(r.connections(), 1, 'no connection per report');
  } finally {
    await d.close();
    await r.close();
  }
});

test('encryption none: warned loudly, and the DC (strong auth required) refuses the clear-text bind', async (t) => {
  const dc = requireSambaDc(t);
  if (!dc) return;
  const warnings: string[] = [];
  const d = createLdapDirectory(config(dc, { server: { encryption: 'none', ca_file: undefined } }), dc.readerPassword, {
    warn: (code) => warnings.push(code),
  });
  assert.deepEqual(warnings, ['PWSYNC_LDAP_CLEARTEXT']);
  await withDirectory(d, async () => {
    await assert.rejects(d.resolve({ account: 'alice' }, []), (err: unknown) => {
      assert.ok(err instanceof DirectoryUnavailableError);
      assert.match(err.message, /ldap:\/\/127\.0\.0\.1:389.*StrongAuthRequired/);
      return true;
    });
  });
});

test('an invalid filter.user or unreadable ca_file is a ConfigError at construction', async (t) => {
  const dc = requireSambaDc(t);
  if (!dc) return;
  const { ConfigError } = await import('../../src/errors.js');
  assert.throws(() => createLdapDirectory(config(dc, { filter: '(&(objectClass=user)' }), 'x'), (e: unknown) => e instanceof ConfigError && /filter\.user/.test(e.message));
  assert.throws(() => createLdapDirectory(config(dc, { server: { ca_file: '/nonexistent/ca.pem' } }), 'x'), (e: unknown) => e instanceof ConfigError && /ca_file/.test(e.message));
});
