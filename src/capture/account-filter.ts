// Pure: accounts whose passwords must never leave the DC (invariant 4), decided before anything is stored.

import type { RefusalReason } from '../errors.js';

// userAccountControl bits (MS-ADTS 2.2.16)
const UAC_WORKSTATION_TRUST = 0x1000;
const UAC_SERVER_TRUST = 0x2000;
const UAC_INTERDOMAIN_TRUST = 0x0800;

export function refusalFor(account: string, uac?: number): RefusalReason | undefined {
  const name = account.toLowerCase();
  // krbtgt and the RODC krbtgt_NNNNN accounts: their keys sign every Kerberos ticket of the domain.
  if (name === 'krbtgt' || /^krbtgt_\d+$/.test(name)) return 'krbtgt';
  // Computer accounts, gMSA/sMSA and trust accounts all end in "$".
  if (name.endsWith('$')) return 'computer';
  if (uac !== undefined && (uac & (UAC_WORKSTATION_TRUST | UAC_SERVER_TRUST | UAC_INTERDOMAIN_TRUST)) !== 0) return 'computer';
  return undefined;
}
