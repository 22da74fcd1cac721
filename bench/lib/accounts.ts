// Names of the bench's synthetic accounts, shared by the agent child (its StaticDirectory) and the sections.

/** sAMAccountName of static account j. */
export function staticAccount(j: number): string {
  return `b${j}`;
}

/** externalId (= UPN, as IIJ Directory Sync sets it) of IIJ user i; static account j maps to user j % users. */
export function iijExternalId(i: number): string {
  return `u${i}@example.test`;
}
