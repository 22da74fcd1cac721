// Pure: what a delivery failure means for the change (next state, delay, journal event). No I/O, no clock.

import {
  DirectoryLookupError,
  DirectoryUnavailableError,
  NotProvisionedError,
  PwsyncError,
  RejectedChangeError,
  RetryableError,
  TargetFaultError,
  TargetUnusableError,
  UnsealError,
} from '../errors.js';
import type { EventDef } from '../journal/catalogue.js';
import { EV } from '../journal/catalogue.js';
import { nextDelayMs, type RetryPolicy } from '../outbox/retry.js';

export type Transition =
  | { kind: 'retry'; state: 'waiting'; delayMs: number; event: EventDef; countAttempt: boolean }
  | { kind: 'final'; state: 'rejected' | 'expired'; event: EventDef }
  | { kind: 'pause-target'; event: EventDef };

export interface OutcomeContext {
  attempts: number; // attempts made before this one
  now: number;
  receivedAt: number;
  waitingSince: number | null;
  maxAgeMs: number;
  notProvisionedHorizonMs: number;
  retry: RetryPolicy;
  random?: () => number;
}

/** What delivery does next with a change whose attempt failed with `err` (targets/classify.ts turned the HTTP answer into `err`). */
export function transitionFor(err: unknown, ctx: OutcomeContext): Transition {
  const attempts = ctx.attempts + 1;
  if (err instanceof TargetUnusableError) return { kind: 'pause-target', event: EV.targetUnusable };
  if (err instanceof RejectedChangeError) return { kind: 'final', state: 'rejected', event: EV.rejected };
  // The key cannot open this row (lost or replaced key file, altered row): no retry ever changes that.
  if (err instanceof UnsealError) return { kind: 'final', state: 'rejected', event: EV.unsealable };
  // AD answered, but the account cannot be identified (several entries match, the RID contradicts the GUID): asking
  // again does not change that, and retrying until max_age would hide it behind 72 h of "retry scheduled".
  if (err instanceof DirectoryLookupError) return { kind: 'final', state: 'rejected', event: EV.unknownAccount };
  if (err instanceof NotProvisionedError) {
    const since = ctx.waitingSince ?? ctx.now;
    // Directory Sync creates users every 2 h or more: the capped backoff (default 15 min) polls gently until the horizon.
    const delayMs = nextDelayMs(ctx.retry, attempts, undefined, ctx.random);
    if (ctx.now - since >= ctx.notProvisionedHorizonMs || exceedsMaxAge(ctx, delayMs)) return { kind: 'final', state: 'expired', event: EV.expired };
    return { kind: 'retry', state: 'waiting', delayMs: Math.min(delayMs, since + ctx.notProvisionedHorizonMs - ctx.now), event: EV.notProvisioned, countAttempt: true };
  }
  const retryAfter = err instanceof RetryableError ? err.retryAfterMs : undefined;
  const delayMs = nextDelayMs(ctx.retry, attempts, retryAfter, ctx.random);
  if (exceedsMaxAge(ctx, 0)) return { kind: 'final', state: 'expired', event: EV.expired };
  const event = err instanceof DirectoryUnavailableError ? EV.directoryUnavailable : err instanceof TargetFaultError ? EV.targetFault : EV.retryScheduled;
  // Unknown errors (bugs, corrupt rows) retry too: losing a password to a bug is worse than trying again.
  return { kind: 'retry', state: 'waiting', delayMs, event, countAttempt: true };
}

function exceedsMaxAge(ctx: OutcomeContext, extraMs: number): boolean {
  return ctx.now + extraMs - ctx.receivedAt >= ctx.maxAgeMs;
}

/** A message safe for the journal: our own errors are written to be safe; anything else is reduced to its class. */
export function safeMessage(err: unknown): string {
  if (err instanceof PwsyncError) return err.message;
  if (err instanceof Error) return `${err.name} (unexpected)`;
  return 'unexpected error';
}
