// Retry schedule (pure): exponential backoff with full jitter, capped; honours a target's Retry-After.

export interface RetryPolicy {
  initialMs: number;
  maxMs: number;
}

/** Delay before attempt number `attempts + 1` (attempts already made ≥ 1). `random` is injectable for tests. */
export function nextDelayMs(policy: RetryPolicy, attempts: number, retryAfterMs?: number, random: () => number = Math.random): number {
  const exp = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.max(0, attempts - 1));
  // Full jitter spreads a mass reset's retries so they do not hit a recovering target all at once; keep a floor of
  // half the step so a retry never comes back almost at once.
  const jittered = exp / 2 + random() * (exp / 2);
  return Math.max(jittered, retryAfterMs ?? 0);
}
