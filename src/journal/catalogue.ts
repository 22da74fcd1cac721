// The event catalogue: every journal event has a stable numeric ID, a level and a fixed message (docs/events.md).
// Operators grep for IDs and support desks ask for them: never renumber, never reuse an ID.

export type Level = 'error' | 'warn' | 'info' | 'debug';

export interface EventDef {
  readonly id: number;
  readonly level: Level;
  readonly message: string;
}

const def = (id: number, level: Level, message: string): EventDef => ({ id, level, message });

export const EV = {
  // 1xxx agent lifecycle
  agentStarted: def(1000, 'info', 'Agent started'),
  agentStopped: def(1001, 'info', 'Agent stopped'),
  configReloaded: def(1002, 'info', 'Configuration reloaded'),
  configReloadFailed: def(1003, 'error', 'Configuration reload failed; the previous configuration stays in force'),
  keyCreated: def(1004, 'info', 'Sealing key created'),
  recoveredInflight: def(1005, 'warn', 'Changes that were in flight when the agent stopped are queued again'),
  outboxUpgraded: def(1006, 'info', 'Outbox upgraded to the schema version of this pwsync'),
  keyMismatch: def(1020, 'error', 'Agent not started: the key file cannot open the queued changes'),
  outboxMismatch: def(1021, 'error', 'Agent not started: the outbox is missing, empty or not the one this agent wrote'),
  permissionsTightened: def(1022, 'warn', 'Permissions of an agent directory or file were too open and have been tightened'),
  insecureHttpAllowed: def(1023, 'warn', 'A target is reached over plain http (allow_insecure_http: true): tokens and passwords cross the network unencrypted'),
  outboxTooNew: def(1024, 'error', 'Agent not started: the outbox was written by a newer pwsync'),
  // 2xxx capture and intake
  captured: def(2000, 'info', 'Password change captured and committed'),
  refused: def(2001, 'warn', 'Password change refused: it is never forwarded'),
  intakeFrameRejected: def(2002, 'warn', 'Intake frame rejected'),
  intakeStorageFailed: def(2003, 'error', 'Intake could not commit a change; the capture side keeps its copy'),
  intakeListening: def(2004, 'info', 'Intake listening'),
  outOfScope: def(2005, 'info', 'Account is outside the configured scope; change not forwarded'),
  unknownAccount: def(2006, 'warn', 'Account not found in Active Directory; change not forwarded'),
  hookSkipped: def(2007, 'info', 'Capture hook skipped an object (Samba hook or Windows filter)'),
  // 3xxx delivery
  synced: def(3000, 'info', 'Password delivered to target'),
  retryScheduled: def(3001, 'warn', 'Delivery failed; retry scheduled'),
  notProvisioned: def(3002, 'warn', 'User not found at target (not provisioned yet or pending deletion); waiting'),
  rejected: def(3003, 'error', 'Target rejected the password change; the user must change the password again'),
  superseded: def(3004, 'info', 'Change superseded by a newer password change; not sent'),
  expired: def(3005, 'error', 'Change expired before it could be delivered; the user must change the password again'),
  duplicateSuppressed: def(3006, 'info', 'Same password already delivered; finished without a request'),
  noExternalId: def(3007, 'error', 'Account has no value for the external-ID attribute; change cannot be matched'),
  searchCompleted: def(3010, 'debug', 'Target user search completed'),
  idCacheHit: def(3011, 'debug', 'Target user id taken from the id cache; no search sent'),
  idCacheMiss: def(3012, 'debug', 'Target user id not in the id cache; searching'),
  idCacheInvalidated: def(3013, 'info', 'Target refused a write to a cached user id; id forgotten, searching again'),
  idCacheWarmed: def(3014, 'info', 'Id cache filled from a paged listing of the target users'),
  idCacheWarmUpFailed: def(3015, 'warn', 'Id cache warm-up by paged listing failed; lookups search user by user'),
  unsealable: def(3020, 'error', 'Queued password cannot be unsealed with this agent key; change rejected, the user must change the password again'),
  // 4xxx targets and directory health
  targetUnusable: def(4000, 'error', 'Target paused: credentials rejected (token expired, revoked or missing scope)'),
  targetResumed: def(4001, 'info', 'Target resumed'),
  targetProbeFailed: def(4002, 'error', 'Paused target still refuses the new credentials; it stays paused'),
  targetFault: def(4020, 'warn', 'Target answered with something that is not a SCIM answer (maintenance page, redirect); retry scheduled'),
  directoryUnavailable: def(4100, 'error', 'Active Directory cannot be reached; changes wait'),
  outboxWriteFailed: def(4200, 'error', 'The outbox cannot be written (disk full or I/O error); delivery waits and retries'),
  // 5xxx operations console, metrics, credential expiry (docs/console.md)
  operatorRetry: def(5000, 'info', 'Operator asked for an immediate retry of a change'),
  operatorDrop: def(5001, 'warn', 'Operator dropped a change; the user must change the password again to sync it'),
  consoleLoginFailed: def(5002, 'warn', 'Console login failed'),
  tokenExpiring: def(5003, 'warn', 'Target access token expires soon: issue a new token and put it in secret.yml'),
  tokenExpired: def(5004, 'error', 'Target access token has expired according to targets[].token_expires'),
  consoleListening: def(5005, 'info', 'Console listening'),
  consoleLogin: def(5006, 'info', 'Console login'),
  consoleNotStarted: def(5007, 'warn', 'Console not started: secret.yml has no console.admin_token (/metrics and /healthz are served alone)'),
  metricsListening: def(5008, 'info', 'Metrics and health listening without the console'),
  metricsListenFailed: def(5009, 'error', 'Metrics and health cannot listen (console.listen/port); the agent runs without them'),
  consoleInsecureListen: def(5020, 'warn', 'Console listens on a non-loopback address over plain http (console.allow_insecure_http: true)'),
} as const satisfies Record<string, EventDef>;

export type EventName = keyof typeof EV;
