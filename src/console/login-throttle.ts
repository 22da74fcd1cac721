// Throttles failed console logins per client address (a sliding minute): one client's wrong tokens never lock out
// another client's right one. Bounded memory: at most MAX_CLIENTS addresses are tracked, oldest forgotten first.

const MAX_CLIENTS = 10_000;

export class LoginThrottle {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  /** True when `client` had `limit` failures within the window ending at `now`. */
  blocked(client: string, now: number): boolean {
    return this.recent(client, now).length >= this.limit;
  }

  failed(client: string, now: number): void {
    const list = this.recent(client, now);
    list.push(now);
    this.failures.delete(client);
    this.failures.set(client, list); // re-inserted: Map order is least recently failed first
    if (this.failures.size > MAX_CLIENTS) this.failures.delete(this.failures.keys().next().value!);
  }

  private recent(client: string, now: number): number[] {
    const list = (this.failures.get(client) ?? []).filter((t) => t > now - this.windowMs);
    if (list.length === 0) this.failures.delete(client);
    else this.failures.set(client, list);
    return list;
  }
}
