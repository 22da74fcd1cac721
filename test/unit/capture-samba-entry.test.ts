// syncpasswords entry → intake change frame, or a typed skip reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseChangeFrame, encodeFrame } from '../../src/intake/frame.js';
import { parseLdifEntry } from '../../src/capture/ldif.js';
import { sambaEntryToChange } from '../../src/capture/samba-entry.js';

const NOW = new Date('2026-11-27T13:16:57.000Z');
const opts = { dc: 'dc1', now: NOW };
const convert = (ldif: string) => sambaEntryToChange(parseLdifEntry(ldif), opts);

// An entry as a real Samba syncpasswords --script run writes it, with a complete objectSid.
const DOC_SAMPLE = `dn: CN=Alice Smith,CN=Users,DC=example,DC=test
objectGUID: 5a83c5d3-e4bc-426d-9024-a9698ef54afb
objectSid: S-1-5-21-1111111111-2222222222-3333333333-1102
sAMAccountName: alice
userPrincipalName: alice@example.test
employeeID: E1001
userAccountControl: 640
pwdLastSet: 134402565731285800
msDS-KeyVersionNumber: 11
virtualClearTextUTF8:: U3luYyFQYXNzMDAy
`;

// Captured from the test DC (see capture-ldif.test.ts).
const REAL = `dn: CN=Ldif Sample,OU=Staff,DC=example,DC=test
objectGUID: 28cc67d4-d6df-4bed-ab3d-df361a82f514
userAccountControl: 512
employeeID: E4242
pwdLastSet: 134402590150227480
objectSid: S-1-5-21-252044963-3806901787-3426836701-1162
sAMAccountName: ldifsample
userPrincipalName: ldifsample@example.test
msDS-KeyVersionNumber: 1
virtualClearTextUTF8:: U3luYyFQw6Rzc3fDtnJkLTAwMg==

`;

// Captured from the test DC: a deleted user (note isDeleted AND isRecycled, and the \0ADEL: DN).
const DELETED = `dn: CN=Doe\\, nest33zev9l (Sales*)\\0ADEL:6d6ba61d-7f28-404e-87d3-41eafa4c9b10,CN=Deleted Objects,DC=example,DC=test
objectGUID: 6d6ba61d-7f28-404e-87d3-41eafa4c9b10
userAccountControl: 512
objectSid: S-1-5-21-252044963-3806901787-3426836701-1124
sAMAccountName: nest33zev9l
isDeleted: TRUE
isRecycled: TRUE
msDS-KeyVersionNumber: 2
`;

test('the Samba sample becomes the documented change frame (docs/architecture.md#intake-frame)', () => {
  const r = convert(DOC_SAMPLE);
  assert.equal(r.kind, 'change');
  assert.deepEqual(r.frame, {
    v: 1,
    type: 'change',
    source: 'samba',
    dc: 'dc1',
    account: 'alice',
    rid: 1102,
    guid: '5a83c5d3-e4bc-426d-9024-a9698ef54afb',
    version: { kvno: 11, pwdLastSet: '134402565731285800' },
    attrs: { userPrincipalName: 'alice@example.test', employeeID: 'E1001' },
    uac: 640,
    capturedAt: '2026-11-27T13:16:57.000Z',
    password: 'Sync!Pass002',
  });
  assert.deepEqual(r.dropped, []);
});

test('the real captured entry: UTF-8 password intact, and the frame passes the intake codec', () => {
  const r = convert(REAL);
  assert.equal(r.kind, 'change');
  assert.equal(r.frame.password, 'Sync!Pässwörd-002');
  assert.equal(r.frame.rid, 1162);
  assert.equal(r.frame.version?.kvno, 1);
  const back = parseChangeFrame(encodeFrame(r.frame).subarray(4));
  assert.deepEqual(back, r.frame);
});

test('skip reasons: deleted, krbtgt, computer, no cleartext, invalid UTF-8, no account', () => {
  const cases: Array<[string, string, string | undefined]> = [
    [DELETED, 'deleted', 'nest33zev9l'],
    [DOC_SAMPLE.replace('sAMAccountName: alice', 'sAMAccountName: krbtgt'), 'krbtgt', 'krbtgt'],
    [DOC_SAMPLE.replace('sAMAccountName: alice', 'sAMAccountName: KRBTGT_24680'), 'krbtgt', 'KRBTGT_24680'],
    [DOC_SAMPLE.replace('sAMAccountName: alice', 'sAMAccountName: DC1$'), 'computer', 'DC1$'],
    [DOC_SAMPLE.replace('userAccountControl: 640', 'userAccountControl: 4096'), 'computer', 'alice'], // WORKSTATION_TRUST
    [DOC_SAMPLE.replace('userAccountControl: 640', 'userAccountControl: 532480'), 'computer', 'alice'], // SERVER_TRUST|TRUSTED_FOR_DELEGATION
    [DOC_SAMPLE.replace(/^virtualClearTextUTF8.*$/m, ''), 'no-cleartext', 'alice'],
    [DOC_SAMPLE.replace('U3luYyFQYXNzMDAy', Buffer.from([0x61, 0xc3, 0x28]).toString('base64')), 'invalid-utf8', 'alice'],
    [DOC_SAMPLE.replace('U3luYyFQYXNzMDAy', Buffer.from([0xed, 0xa0, 0x80]).toString('base64')), 'invalid-utf8', 'alice'], // CESU surrogate
    [DOC_SAMPLE.replace(/virtualClearTextUTF8:: .*/, 'virtualClearTextUTF8:'), 'invalid-utf8', 'alice'], // empty
    [DOC_SAMPLE.replace(/^sAMAccountName.*\n/m, ''), 'no-account', undefined],
  ];
  for (const [ldif, reason, account] of cases) {
    const r = convert(ldif);
    assert.equal(r.kind, 'skip', reason);
    assert.equal(r.reason, reason);
    assert.equal(r.account, account);
  }
});

test('a deleted entry is skipped even when it still carries a cleartext', () => {
  const r = convert(DOC_SAMPLE + 'isDeleted: TRUE\n');
  assert.equal(r.kind, 'skip');
  assert.equal(r.reason, 'deleted');
});

test('secrets never reach attrs; binary and oversize attributes are dropped by name', () => {
  const extra = [
    'virtualClearTextUTF16:: ' + Buffer.from('"x"', 'utf16le').toString('base64'),
    'virtualSambaGPG:: AAECAw==',
    'unicodePwd:: AAECAw==',
    'supplementalCredentials:: AAECAw==',
    'jpegPhoto:: /9j/4A==',
    'description: ' + 'd'.repeat(5000),
    'member: a',
    'member: b',
  ].join('\n');
  const r = convert(DOC_SAMPLE + extra + '\n');
  assert.equal(r.kind, 'change');
  assert.deepEqual(Object.keys(r.frame.attrs ?? {}).sort(), ['employeeID', 'member', 'userPrincipalName']);
  assert.deepEqual(r.frame.attrs?.member, ['a', 'b']);
  assert.deepEqual(r.dropped.sort(), ['description', 'jpegPhoto']);
  assert.ok(!JSON.stringify({ ...r.frame, password: undefined }).includes('Sync!Pass002'));
});

test('binary objectGUID / objectSid (base64) are converted too', () => {
  const guid = Buffer.from('d3c5835abce46d429024a9698ef54afb', 'hex').toString('base64');
  const sid = Buffer.from('010500000000000515000000c7f7fed77c7755c8945ace01f5030000', 'hex').toString('base64');
  const r = convert(
    DOC_SAMPLE.replace(/^objectGUID: .*$/m, `objectGUID:: ${guid}`).replace(/^objectSid: .*$/m, `objectSid:: ${sid}`),
  );
  assert.equal(r.kind, 'change');
  assert.equal(r.frame.guid, '5a83c5d3-e4bc-426d-9024-a9698ef54afb');
  assert.equal(r.frame.rid, 1013);
});

test('unparseable optional facts are left out, not guessed', () => {
  const r = convert(
    DOC_SAMPLE.replace('msDS-KeyVersionNumber: 11', 'msDS-KeyVersionNumber: eleven')
      .replace('pwdLastSet: 134402565731285800', 'pwdLastSet: soon')
      .replace(/^objectGUID: .*$/m, 'objectGUID: not-a-guid')
      .replace(/^objectSid: .*$/m, 'objectSid: S-1-x'),
  );
  assert.equal(r.kind, 'change');
  assert.equal(r.frame.version, undefined);
  assert.equal(r.frame.guid, undefined);
  assert.equal(r.frame.rid, undefined);
});
