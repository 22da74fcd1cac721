// The coverage report (pure) and its CSV.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dateToFiletime } from '../../src/directory/filetime.js';
import { coverageCsv, coverageReport, csvCell, notSynced, type AdUser } from '../../src/coverage/report.js';

const T0 = Date.parse('2025-03-01T10:00:00Z');
const ft = (ms: number) => dateToFiletime(new Date(ms));

const users: AdUser[] = [
  { sAMAccountName: 'Alice', dn: 'CN=Alice,OU=Staff,DC=x', pwdLastSet: ft(T0) },
  { sAMAccountName: 'bob', dn: 'CN=bob,OU=Staff,DC=x', pwdLastSet: ft(T0 + 60_000) },
  { sAMAccountName: 'carol', dn: 'CN=carol,OU=Staff,DC=x', pwdLastSet: ft(T0) },
  { sAMAccountName: 'dave', dn: 'CN=dave,OU=Staff,DC=x', pwdLastSet: '0' },
  { sAMAccountName: 'erin', dn: 'CN=erin,OU=Staff,DC=x', pwdLastSet: ft(T0 + 60_000), kvno: 3 },
];

test('never, stale, synced and must-change, per target; account names match case-insensitively', () => {
  const rows = coverageReport(
    users,
    [
      { account: 'alice', target: 'iij', at: T0 + 5_000, kvno: null },
      { account: 'bob', target: 'iij', at: T0 + 5_000, kvno: null },
      // erin: kvno decides, whatever the clocks say (delivered version 3 = AD version 3)
      { account: 'erin', target: 'iij', at: T0, kvno: 3 },
      { account: 'alice', target: 'scim', at: T0 - 1, kvno: null },
    ],
    ['iij', 'scim'],
  );
  const status = (t: string, a: string) => rows.find((r) => r.target === t && r.account === a)?.status;
  assert.equal(status('iij', 'Alice'), 'synced');
  assert.equal(status('iij', 'bob'), 'stale');
  assert.equal(status('iij', 'carol'), 'never');
  assert.equal(status('iij', 'dave'), 'must-change');
  assert.equal(status('iij', 'erin'), 'synced');
  assert.equal(status('scim', 'Alice'), 'stale');
  assert.equal(status('scim', 'erin'), 'never');
  assert.equal(rows.length, 10);
  assert.deepEqual(notSynced(rows).filter((r) => r.target === 'iij').map((r) => r.account), ['carol', 'bob']);
});

test('an older kvno at the target is stale even when the delivery is newer than pwdLastSet', () => {
  const rows = coverageReport([{ sAMAccountName: 'x', dn: 'CN=x', pwdLastSet: ft(T0), kvno: 5 }], [{ account: 'x', target: 't', at: T0 + 1000, kvno: 4 }], ['t']);
  assert.equal(rows[0]!.status, 'stale');
});

test('CSV: header, quoting and no formula injection', () => {
  assert.equal(csvCell('=cmd|x'), `'=cmd|x`);
  assert.equal(csvCell('a,"b"'), '"a,""b"""');
  const csv = coverageCsv(coverageReport([{ sAMAccountName: 'carol', dn: 'CN=Doe\\, Carol,OU=Staff', pwdLastSet: ft(T0) }], [], ['iij']));
  const [head, line] = csv.split('\r\n');
  assert.equal(head, 'target,account,status,pwd_last_set,last_delivery,enabled,dn');
  assert.equal(line, `iij,carol,never,2025-03-01T10:00:00.000Z,,,"CN=Doe\\, Carol,OU=Staff"`);
});

test('reportCoverageCommand reads the outbox and prints the unsynced users (text and CSV)', async () => {
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const { Outbox } = await import('../../src/outbox/store.js');
  const { reportCoverageCommand } = await import('../../src/cli/report-coverage.js');
  const { settleFinal } = await import('../support/outbox-settle.js');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pwsync-cov-'));
  writeFileSync(path.join(dir, 'config.yml'), `agent:\n  data_dir: ${dir}\nad:\n  ldap:\n    server:\n      addresses: [dc1]\n      user: reader\n    base_dn: DC=x\ntargets:\n  - name: iij\n    type: iij\n`);
  writeFileSync(path.join(dir, 'secret.yml'), `ad:\n  ldap:\n    server:\n      password: bind-pw\ntargets:\n  iij:\n    access_token: tok-tok\n`, { mode: 0o600 });
  const outbox = new Outbox(path.join(dir, 'outbox.sqlite'), Buffer.alloc(32, 3));
  const r = outbox.insertChange({ account: 'alice', targets: ['iij'], source: 'cli', capturedAt: new Date().toISOString(), password: 'Secret-1!x' });
  settleFinal(outbox, r.ids[0]!, 'done', { delivered: { fingerprint: 'f', kvno: null } });
  outbox.close();
  const past = ft(Date.now() - 3_600_000);
  const users = { listInScopeUsers: async () => [{ sAMAccountName: 'alice', dn: 'CN=alice', pwdLastSet: past }, { sAMAccountName: 'bob', dn: 'CN=bob', pwdLastSet: past }] };
  let out = '';
  assert.equal(await reportCoverageCommand(['--config', path.join(dir, 'config.yml')], { users, stdout: (s) => (out += s) }), 0);
  assert.match(out, /^2 in-scope users; 1 \(user, target\) pairs/);
  assert.match(out, /^iij\tbob\tnever\t/m);
  assert.ok(!/alice/.test(out));
  out = '';
  assert.equal(await reportCoverageCommand(['--config', path.join(dir, 'config.yml'), '--csv', '--all'], { users, stdout: (s) => (out += s) }), 0);
  assert.match(out, /^iij,alice,synced,/m);
  assert.equal(await reportCoverageCommand([], { users, stderr: () => {} }), 2);
});
