// Unit tests of the Windows ACL check: SDDL as icacls /save writes it, judged without Windows (Wine's icacls is a
// stub, so the parser is what CI can prove; docs/operations-windows.md says what ran where).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultDataDir } from '../../src/config/schema.js';
import { ConfigError } from '../../src/errors.js';
import { assertOnlyAdminsCanRead, foreignReaders, parseDacl } from '../../src/config/windows-acl.js';

const INSTALLED = 'D:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)'; // what pwsync-service.exe install sets
const PROGRAMDATA_DEFAULT = 'O:SYG:SYD:AI(A;OICIID;FA;;;SY)(A;OICIID;FA;;;BA)(A;OICIIOID;GA;;;CO)(A;OICIID;0x1200a9;;;BU)(A;CIID;DCLCRPCR;;;BU)';

describe('Windows ACL check', () => {
  it('parses the DACL, ignoring owner, group and SACL', () => {
    assert.deepEqual(parseDacl('O:BAG:SYD:P(A;;FA;;;SY)(D;;FR;;;WD)S:(AU;FA;FA;;;WD)'), [
      { type: 'A', flags: '', rights: 'FA', sid: 'SY' },
      { type: 'D', flags: '', rights: 'FR', sid: 'WD' },
    ]);
    assert.equal(parseDacl('D:NO_ACCESS_CONTROL'), null);
    assert.throws(() => parseDacl('O:SY'), /no DACL/);
  });

  it('accepts the ACL the installer sets, and full-form SIDs of SYSTEM and Administrators', () => {
    assert.deepEqual(foreignReaders(INSTALLED), []);
    assert.deepEqual(foreignReaders('D:P(A;OICI;FA;;;S-1-5-18)(A;OICI;0x1f01ff;;;S-1-5-32-544)'), []);
  });

  it("names Users when the folder inherits C:\\ProgramData's ACL (read via a hex mask), not CREATOR OWNER (inherit-only)", () => {
    assert.deepEqual(foreignReaders(PROGRAMDATA_DEFAULT), ['BUILTIN\\Users (BU)']);
  });

  it('names Everyone, other accounts and a missing DACL; ignores deny entries and rights without read', () => {
    assert.deepEqual(foreignReaders('D:(A;;GR;;;WD)'), ['Everyone (WD)']);
    assert.deepEqual(foreignReaders('D:(A;;FA;;;S-1-5-21-1-2-3-1105)'), ['S-1-5-21-1-2-3-1105']);
    assert.deepEqual(foreignReaders('D:NO_ACCESS_CONTROL'), ['Everyone (the object has no DACL)']);
    assert.deepEqual(foreignReaders('D:(D;;FA;;;WD)(A;;FA;;;SY)'), []);
    assert.deepEqual(foreignReaders('D:(A;;0x100000;;;BU)(A;;WD;;;AU)'), [], 'SYNCHRONIZE or write-DAC alone do not read');
  });

  it('assertOnlyAdminsCanRead: the error says which file, who, and the icacls command that fixes it', () => {
    const acl: Record<string, string> = { 'C:\\D': INSTALLED, 'C:\\D\\secret.yml': PROGRAMDATA_DEFAULT };
    assert.throws(
      () => assertOnlyAdminsCanRead([{ label: 'the data directory', path: 'C:\\D' }, { label: 'secret.yml', path: 'C:\\D\\secret.yml' }], 'C:\\D', (p) => acl[p], () => false),
      (e: unknown) =>
        e instanceof ConfigError && /secret\.yml \(C:\\D\\secret\.yml\) is readable by BUILTIN\\Users/.test(e.message) &&
        e.message.includes('icacls "C:\\D" /inheritance:r /grant:r *S-1-5-18:(OI)(CI)F *S-1-5-32-544:(OI)(CI)F /T'),
    );
    assert.deepEqual(assertOnlyAdminsCanRead([{ label: 'the data directory', path: 'C:\\D' }], 'C:\\D', (p) => acl[p], () => false), []);
  });

  it('an unreadable ACL refuses to start on Windows; under Wine it is reported as unchecked', () => {
    const paths = [{ label: 'agent.key', path: 'C:\\D\\agent.key' }];
    assert.throws(() => assertOnlyAdminsCanRead(paths, 'C:\\D', () => undefined, () => false), /cannot read the access rights of agent\.key/);
    assert.deepEqual(assertOnlyAdminsCanRead(paths, 'C:\\D', () => undefined, () => true), ['C:\\D\\agent.key']);
  });
});

describe('Windows defaults', () => {
  it('data_dir is %ProgramData%\\pwsync on win32 (the folder the installer protects), /var/lib/pwsync elsewhere', () => {
    assert.equal(defaultDataDir('win32', { ProgramData: 'D:\\PD' }), 'D:\\PD\\pwsync');
    assert.equal(defaultDataDir('win32', {}), 'C:\\ProgramData\\pwsync');
    assert.equal(defaultDataDir('linux', { ProgramData: 'D:\\PD' }), '/var/lib/pwsync');
  });
});
