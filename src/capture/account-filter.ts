// Pure: accounts whose passwords must never leave the DC (invariant 4), decided before anything is stored.

import type { RefusalReason } from '../errors.js';

// userAccountControl bits (MS-ADTS 2.2.16)
const UAC_WORKSTATION_TRUST = 0x1000;
const UAC_SERVER_TRUST = 0x2000;
const UAC_INTERDOMAIN_TRUST = 0x0800;

export function refusalFor(account: string, uac?: number): RefusalReason | undefined {
  const name = account.toLowerCase();
  // krbtgt and every krbtgt_* account: their keys sign Kerberos tickets. Not only the RODC krbtgt_NNNNN form:
  // Microsoft Entra Kerberos creates krbtgt_AzureAD. Like PassFiltEx, match the whole krbtgt_ prefix.
  if (name === 'krbtgt' || name.startsWith('krbtgt_')) return 'krbtgt';
  // Computer accounts, gMSA/sMSA and trust accounts all end in "$".
  if (name.endsWith('$')) return 'computer';
  if (uac !== undefined && (uac & (UAC_WORKSTATION_TRUST | UAC_SERVER_TRUST | UAC_INTERDOMAIN_TRUST)) !== 0) return 'computer';
  return undefined;
}
