// Outbox states (docs/architecture.md#outbox-states). Final states keep metadata only: the sealed password is erased when a row gets one.

export const OPEN_STATES = ['pending', 'waiting', 'inflight'] as const;
export const FINAL_STATES = ['done', 'superseded', 'rejected', 'expired'] as const;
export type OpenState = (typeof OPEN_STATES)[number];
export type FinalState = (typeof FINAL_STATES)[number];
export type ChangeState = OpenState | FinalState;

export function isFinal(s: ChangeState): s is FinalState {
  return (FINAL_STATES as readonly string[]).includes(s);
}
