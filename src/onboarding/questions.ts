// The few questions `pwsync init` asks a new user (no Directory Sync files to read) and the config they give.
// The secrets are asked through Prompter.askSecret only: never taken from argv, never echoed.

import { existsSync } from 'node:fs';
import os from 'node:os';
import type { InitSecrets } from './init-files.js';

/** How the questions reach a person: the terminal in `pwsync init` (src/cli/prompt.ts), a script in tests. */
export interface Prompter {
  /** Asks a question; an empty answer takes `fallback` (shown in brackets). */
  ask(question: string, fallback?: string): Promise<string>;
  /** Asks for a secret: never echoed on a terminal. */
  askSecret(question: string): Promise<string>;
  close(): void;
}

const SAMBA_CA = '/var/lib/samba/private/tls/ca.pem';

export interface InitAnswers {
  address: string;
  bindUser: string;
  baseDn: string;
  externalIdAttribute: string;
  /** PEM file of the CA that signed the DC's LDAPS certificate; undefined = the system's trusted CAs. */
  caFile?: string | undefined;
}

/** DC=… components from a bind DN (CN=x,CN=Users,DC=example,DC=local) or a UPN (x@example.local). */
export function baseDnFrom(bindUser: string): string | undefined {
  const at = bindUser.lastIndexOf('@');
  if (at > 0 && !bindUser.includes('=')) {
    const labels = bindUser.slice(at + 1).split('.').filter(Boolean);
    return labels.length ? labels.map((l) => `DC=${l}`).join(',') : undefined;
  }
  const dcs = bindUser.split(/,(?=\s*DC=)/i).slice(1);
  return dcs.length ? dcs.map((d) => d.trim()).join(',') : undefined;
}

/** pwsync's config for the answers: LDAPS with certificate checks (secure defaults), one IIJ target. */
export function configFromAnswers(a: InitAnswers, targetName = 'iij'): Record<string, unknown> {
  return {
    ad: {
      ldap: {
        server: { addresses: [a.address], user: a.bindUser, encryption: 'ldaps', verify_mode: true, ...(a.caFile ? { ca_file: a.caFile } : {}) },
        base_dn: a.baseDn,
      },
    },
    targets: [{ name: targetName, type: 'iij', attribute: { user: { ad_bind: { externalId: a.externalIdAttribute } } } }],
  };
}

const required = async (p: Prompter, question: string, fallback?: string): Promise<string> => {
  for (let i = 0; i < 3; i++) {
    const v = await p.ask(question, fallback);
    if (v.trim() !== '') return v.trim();
  }
  throw new Error(`no answer to "${question}"`);
};

export async function askAnswers(p: Prompter): Promise<InitAnswers> {
  // The agent runs on (or next to) a DC, whose certificate names its FQDN: the host name is the likely answer.
  const address = await required(p, 'Active Directory domain controller (host name as in its LDAPS certificate)', os.hostname());
  // Samba keeps its self-signed CA here; a Windows DC's certificate usually chains to the enterprise CA the host trusts.
  const caFile = (await p.ask('CA certificate (PEM) of the DC\'s LDAPS certificate, empty for the system\'s trusted CAs', existsSync(SAMBA_CA) ? SAMBA_CA : '')).trim();
  const bindUser = await required(p, 'AD bind user, read-only (DN or user@domain)');
  const baseDn = await required(p, 'Base DN of the users to sync', baseDnFrom(bindUser));
  const externalIdAttribute = await required(p, 'AD attribute Directory Sync maps to externalId (iid.scim.attribute.user.ad_bind.externalId)', 'userPrincipalName');
  return { address, bindUser, baseDn, externalIdAttribute, caFile: caFile === '' ? undefined : caFile };
}

/** Asks for whichever secret is still missing. */
export async function askSecrets(p: Prompter, known: Partial<InitSecrets>): Promise<InitSecrets> {
  const adPassword = known.adPassword ?? (await requiredSecret(p, 'Password of the AD bind user'));
  const accessToken = known.accessToken ?? (await requiredSecret(p, 'IIJ ID access token (scopes escim_read_users, escim_write_users)'));
  return { adPassword, accessToken: accessToken.trim() };
}

async function requiredSecret(p: Prompter, question: string): Promise<string> {
  for (let i = 0; i < 3; i++) {
    const v = await p.askSecret(question);
    if (v !== '') return v;
  }
  throw new Error(`no answer to "${question}"`);
}
