// Unit tests of the never-forward filter (invariant 4, docs/architecture.md#invariants): krbtgt accounts, computer/trust accounts, normal users.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { refusalFor } from '../../src/intake/account-filter.js';

describe('refusalFor', () => {
  it('refuses krbtgt in any letter case', () => {
    for (const a of ['krbtgt', 'KRBTGT', 'KrbTgt']) assert.equal(refusalFor(a), 'krbtgt', a);
  });

  it('refuses the RODC form krbtgt_NNNNN', () => {
    for (const a of ['krbtgt_12345', 'KRBTGT_1', 'krbtgt_4294967295']) assert.equal(refusalFor(a), 'krbtgt', a);
  });

  it('refuses non-numeric krbtgt_* too (Entra Kerberos creates krbtgt_AzureAD; PassFiltEx matches the prefix)', () => {
    for (const a of ['krbtgt_abc', 'krbtgt_AzureAD', 'krbtgt_']) assert.equal(refusalFor(a), 'krbtgt', a);
  });

  it('normalises before deciding: white space, no-break space, zero-width characters, full-width letters', () => {
    for (const a of ['krbtgt ', ' krbtgt', 'krbtgt\u00a0', 'krbtgt\u200b', '\ufeffkrbtgt', 'kr\u200dbtgt', 'ＫＲＢＴＧＴ', 'ｋｒｂｔｇｔ_１', 'krbtgt\u3000'])
      assert.equal(refusalFor(a), 'krbtgt', JSON.stringify(a));
    for (const a of ['PC01$ ', 'PC01$\u00a0', 'PC01＄', 'PC01$\u200b', ' PC01$']) assert.equal(refusalFor(a), 'computer', JSON.stringify(a));
  });

  it('allows names that only contain krbtgt elsewhere', () => {
    for (const a of ['krbtgtx', 'xkrbtgt', 'krbtgt-1', 'my_krbtgt_1']) assert.equal(refusalFor(a), undefined, a);
  });

  it('refuses computer, gMSA and trust accounts by the trailing $', () => {
    for (const a of ['WS01$', 'dc1$', 'gmsa-web$', 'EXAMPLE$']) assert.equal(refusalFor(a), 'computer', a);
    assert.equal(refusalFor('WS01$', 0x200), 'computer');
  });

  it('refuses by userAccountControl trust bits 0x1000, 0x2000, 0x800 even without a $', () => {
    for (const uac of [0x1000, 0x2000, 0x800, 0x1000 | 0x200, 0x2000 | 0x80000 | 0x2]) assert.equal(refusalFor('host', uac), 'computer', uac.toString(16));
  });

  it('allows normal users, whatever their other UAC bits (0x200 normal, 0x2 disabled, 0x10000 no expiry)', () => {
    for (const a of ['alice', 'Bob.Smith', 'user$name', 'taro@example', '山田']) assert.equal(refusalFor(a), undefined, a);
    for (const uac of [0, 0x200, 0x202, 0x10200, 0x400, 0x4000]) assert.equal(refusalFor('alice', uac), undefined, uac.toString(16));
    assert.equal(refusalFor('alice', undefined), undefined);
  });
});
