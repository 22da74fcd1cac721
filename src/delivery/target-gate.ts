// Pure: when may the next change go to a target? A token bucket (targets[].rate_limit requests per second) and a
// hold for the whole target after a Retry-After — a 429 is about the client, not about one user.

export class TargetGate {
  private tokens: number;
  private last: number;
  private heldUntil = 0;

  /** `ratePerSecond` requests per second, at most `burst` at once. */
  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.last = now;
  }

  private refill(now: number): void {
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.ratePerSecond);
      this.last = now;
    }
  }

  /** How many changes of `cost` requests may start now (0 while held). */
  available(now: number, cost: number): number {
    if (now < this.heldUntil) return 0;
    this.refill(now);
    return Math.floor(this.tokens / cost);
  }

  take(now: number, cost: number): void {
    this.refill(now);
    this.tokens -= cost;
  }

  /**
   * A change that reserved `reserved` requests has ended and its target really sent `spent`: give back the difference
   * (a cached id costs one) or charge the excess (a refused cached id searched again), never beyond the burst.
   */
  settle(now: number, reserved: number, spent: number): void {
    this.refill(now);
    this.tokens = Math.min(this.burst, this.tokens + reserved - spent);
  }

  /** Whether a Retry-After holds the whole target now. */
  isHeld(now: number): boolean {
    return now < this.heldUntil;
  }

  /** Honour a Retry-After for the whole target. */
  hold(until: number): void {
    this.heldUntil = Math.max(this.heldUntil, until);
  }

  /** When the next change of `cost` may start (for the worker's timer). */
  nextAt(now: number, cost: number): number {
    if (now < this.heldUntil) return this.heldUntil;
    this.refill(now);
    if (this.tokens >= cost) return now;
    return now + Math.ceil(((cost - this.tokens) / this.ratePerSecond) * 1000);
  }
}
