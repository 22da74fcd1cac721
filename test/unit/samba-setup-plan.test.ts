// What `pwsync samba setup` hands to samba-tool: attributes, init arguments, cache comparison.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  cacheDifferences, cacheInitArgs, shellQuote, storePlaintextIsOn, syncpasswordsAttributes,
} from '../../src/cli/samba-setup-plan.js';

const BASE = 'objectGUID,objectSid,sAMAccountName,userPrincipalName,userAccountControl,pwdLastSet,msDS-KeyVersionNumber';

test('attributes: the base set, each target external-ID attribute once, the cleartext last', () => {
  assert.equal(syncpasswordsAttributes([]).join(','), `${BASE},virtualClearTextUTF8`);
  assert.equal(syncpasswordsAttributes(['userPrincipalName', 'employeeID', 'EmployeeId', 'mail']).join(','), `${BASE},employeeID,mail,virtualClearTextUTF8`);
  assert.equal(syncpasswordsAttributes(['objectguid']).join(','), `${BASE},virtualClearTextUTF8`);
  assert.throws(() => syncpasswordsAttributes(['mail,virtualSSHA']), /not a plain LDAP attribute name/);
  assert.throws(() => syncpasswordsAttributes(['virtualCryptSHA512']), /password-derived/);
});

test('init arguments: --decrypt-samba-gpg only with a GPG key; the script is one path (syncpasswords runs it without arguments)', () => {
  const attrs = syncpasswordsAttributes(['employeeID']);
  assert.deepEqual(cacheInitArgs('/etc/samba/smb.conf', '/c.ldb', { attributes: attrs, script: '/opt/pwsync/libexec/pwsync-samba-hook', decryptSambaGpg: true }), [
    'user', 'syncpasswords', '-s', '/etc/samba/smb.conf', '--cache-ldb-initialize', '--cache-ldb=/c.ldb', '--decrypt-samba-gpg',
    `--attributes=${BASE},employeeID,virtualClearTextUTF8`, '--script=/opt/pwsync/libexec/pwsync-samba-hook',
  ]);
  assert.ok(!cacheInitArgs('/s', '/c', { attributes: attrs, script: '/h', decryptSambaGpg: false }).includes('--decrypt-samba-gpg'));
});

test('shell quoting (the Ready line prints the sync loop command)', () => {
  assert.equal(shellQuote("a'b"), `'a'\\''b'`);
});

const CACHE = `# record 1
dn: KEY=USERSYNCPASSWORDS
decryptSambaGPG: TRUE
dirsyncAttribute: unicodePwd
dirsyncFilter: (&(objectClass=user)(userAccountControl:1.2.840.113556.1.4.803:
 =512)(!(sAMAccountName=krbtgt*)))
objectClass: userSyncPasswords
passwordAttribute: objectGUID
passwordAttribute: objectSid
passwordAttribute: sAMAccountName
passwordAttribute: userPrincipalName
passwordAttribute: userAccountControl
passwordAttribute: pwdLastSet
passwordAttribute: msDS-KeyVersionNumber
passwordAttribute: virtualClearTextUTF8
passwordAttribute: isDeleted
passwordAttribute: isRecycled
samdbUrl: ldapi:///var/lib/samba/private/ldap_priv/ldapi
syncCommand: /opt/pwsync/libexec/pwsync-samba-hook
currentTime: 20261127132327.0Z
dirsyncControl: dirsync:1:0:0:TVNEUwMAAACA8W58cn7dAQAAAAAAAAAAKAAAABoQAAAAAAAA

# returned 1 records
# 1 entries
# 0 referrals
`;

test('an existing cache is compared with what pwsync needs (as ldbsearch prints it)', () => {
  const want = { attributes: syncpasswordsAttributes([]), script: '/opt/pwsync/libexec/pwsync-samba-hook', decryptSambaGpg: true };
  assert.deepEqual(cacheDifferences(CACHE, want), []);
  assert.deepEqual(cacheDifferences(CACHE, { ...want, attributes: syncpasswordsAttributes(['employeeID']), script: '/other', decryptSambaGpg: false }), [
    'attributes missing: employeeID',
    'script is /opt/pwsync/libexec/pwsync-samba-hook, expected /other',
    '--decrypt-samba-gpg is on, expected off',
  ]);
  assert.deepEqual(cacheDifferences(CACHE.replace('passwordAttribute: objectSid\n', 'passwordAttribute: virtualSSHA\n'), want), [
    'attributes missing: objectSid',
    'attributes not needed: virtualssha',
  ]);
});

test('store-plaintext is read from `samba-tool domain passwordsettings show`', () => {
  assert.equal(storePlaintextIsOn('Password complexity: on\nStore plaintext passwords: on\n'), true);
  assert.equal(storePlaintextIsOn('Password complexity: on\nStore plaintext passwords: off\n'), false);
});
