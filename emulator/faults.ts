// Fault injection: decides, deterministically from a seed, whether a SCIM request is answered with a fault,
// and enforces the per-token rate limit. Pure decisions only: it never touches sockets or timers.

import { randomInt } from 'node:crypto';
import type { FaultKind, FaultSettings, FaultSettingsInput, ForcedFault, RateLimit } from './types.js';

export type FaultDecision =
  | { readonly kind: 'status'; readonly status: number; readonly retryAfter?: number }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'reset' };

const ALL_KINDS: readonly FaultKind[] = [500, 502, 503, 429, 'timeout', 'reset'];

export function defaultFaultSettings(): FaultSettings {
  return {
    errorRate: 0,
    kinds: [...ALL_KINDS],
    latencyMs: 0,
    // Longer than any sane client timeout; tests set it lower together with their client's timeout.
    timeoutMs: 30_000,
    rateLimit: null,
    seed: randomInt(0, 2 ** 31),
    failNext: [],
  };
}

export class FaultConfigError extends Error {
  override readonly name = 'FaultConfigError';
}

/** mulberry32: tiny, fast, and reproducible across runs, which Math.random is not. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class FaultInjector {
  private settings: FaultSettings;
  private random: () => number;
  private readonly queue: Array<ForcedFault & { remaining: number }> = [];

  constructor(initial: FaultSettingsInput = {}) {
    this.settings = defaultFaultSettings();
    this.random = seededRandom(this.settings.seed);
    this.update(initial);
  }

  /** Each field present replaces that setting; failNext replaces the queue; a new seed restarts the sequence. */
  update(input: FaultSettingsInput): FaultSettings {
    const next = validateFaultInput(input);
    this.settings = { ...this.settings, ...next, failNext: [] };
    if (next.seed !== undefined) this.random = seededRandom(next.seed);
    if (next.failNext !== undefined) {
      this.queue.length = 0;
      for (const f of next.failNext) this.queue.push({ ...f, remaining: f.count ?? 1 });
    }
    return this.snapshot();
  }

  snapshot(): FaultSettings {
    return {
      ...this.settings,
      kinds: [...this.settings.kinds],
      rateLimit: this.settings.rateLimit && { ...this.settings.rateLimit },
      failNext: this.queue.map(({ remaining, ...f }) => ({ ...f, count: remaining })),
    };
  }

  get latencyMs(): number {
    return this.settings.latencyMs;
  }

  get timeoutMs(): number {
    return this.settings.timeoutMs;
  }

  get rateLimit(): RateLimit | null {
    return this.settings.rateLimit;
  }

  /** The fault for this request, if any: the forced queue first, then the random error rate. */
  pick(method: string, path: string): FaultDecision | undefined {
    const forced = this.queue.find(
      (f) => (f.method === undefined || f.method.toUpperCase() === method.toUpperCase()) &&
        (f.pathContains === undefined || path.includes(f.pathContains)),
    );
    if (forced) {
      forced.remaining -= 1;
      if (forced.remaining <= 0) this.queue.splice(this.queue.indexOf(forced), 1);
      return decisionFor(forced.status, forced.retryAfter);
    }
    const { errorRate, kinds } = this.settings;
    if (errorRate <= 0 || kinds.length === 0) return undefined;
    if (this.random() >= errorRate) return undefined;
    const kind = kinds[Math.floor(this.random() * kinds.length)] ?? 500;
    return decisionFor(kind, undefined);
  }
}

function decisionFor(status: FaultKind | number, retryAfter: number | undefined): FaultDecision {
  if (status === 'timeout') return { kind: 'timeout' };
  if (status === 'reset') return { kind: 'reset' };
  if (status === 429) return { kind: 'status', status, retryAfter: retryAfter ?? 1 };
  return retryAfter === undefined ? { kind: 'status', status } : { kind: 'status', status, retryAfter };
}

/** Token bucket per caller key. */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly now: () => number) {}

  clear(): void {
    this.buckets.clear();
  }

  /** undefined = allowed; otherwise the whole seconds to wait (for Retry-After). */
  take(key: string, limit: RateLimit | null): number | undefined {
    if (!limit) return undefined;
    const burst = Math.max(1, limit.burst ?? limit.requestsPerSecond);
    const now = this.now();
    const bucket = this.buckets.get(key) ?? { tokens: burst, at: now };
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * limit.requestsPerSecond);
    bucket.at = now;
    this.buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return undefined;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / limit.requestsPerSecond));
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function validKind(value: unknown): value is FaultKind {
  return ALL_KINDS.includes(value as FaultKind);
}

/** Checks input that may come straight from JSON; throws FaultConfigError naming the field. */
export function validateFaultInput(input: unknown): FaultSettingsInput {
  if (!isObject(input)) throw new FaultConfigError('faults must be an object');
  const out: FaultSettingsInput = {};
  const { errorRate, kinds, latencyMs, timeoutMs, rateLimit, seed, failNext } = input;
  if (errorRate !== undefined) {
    if (typeof errorRate !== 'number' || !(errorRate >= 0 && errorRate <= 1)) throw new FaultConfigError('errorRate must be a number in 0..1');
    out.errorRate = errorRate;
  }
  if (kinds !== undefined) {
    if (!Array.isArray(kinds) || !kinds.every(validKind)) {
      throw new FaultConfigError('kinds must be an array of 500, 502, 503, 429, "timeout", "reset"');
    }
    out.kinds = [...kinds];
  }
  for (const [name, value] of [['latencyMs', latencyMs], ['timeoutMs', timeoutMs]] as const) {
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new FaultConfigError(`${name} must be a non-negative number`);
    out[name] = value;
  }
  if (rateLimit !== undefined) {
    if (rateLimit === null) out.rateLimit = null;
    else {
      if (!isObject(rateLimit) || typeof rateLimit.requestsPerSecond !== 'number' || !(rateLimit.requestsPerSecond > 0)) {
        throw new FaultConfigError('rateLimit must be null or {requestsPerSecond > 0, burst?}');
      }
      if (rateLimit.burst !== undefined && (typeof rateLimit.burst !== 'number' || !(rateLimit.burst >= 1))) {
        throw new FaultConfigError('rateLimit.burst must be a number >= 1');
      }
      out.rateLimit = rateLimit.burst === undefined
        ? { requestsPerSecond: rateLimit.requestsPerSecond }
        : { requestsPerSecond: rateLimit.requestsPerSecond, burst: rateLimit.burst };
    }
  }
  if (seed !== undefined) {
    if (typeof seed !== 'number' || !Number.isInteger(seed)) throw new FaultConfigError('seed must be an integer');
    out.seed = seed;
  }
  if (failNext !== undefined) {
    if (!Array.isArray(failNext)) throw new FaultConfigError('failNext must be an array');
    out.failNext = failNext.map((f, i) => validateForced(f, i));
  }
  return out;
}

function validateForced(value: unknown, index: number): ForcedFault {
  const where = `failNext[${index}]`;
  if (!isObject(value)) throw new FaultConfigError(`${where} must be an object`);
  const { status, retryAfter, count, method, pathContains } = value;
  const okStatus = status === 'timeout' || status === 'reset' ||
    (typeof status === 'number' && Number.isInteger(status) && status >= 400 && status <= 599);
  if (!okStatus) throw new FaultConfigError(`${where}.status must be a 4xx/5xx status, "timeout" or "reset"`);
  const forced: ForcedFault = { status: status as ForcedFault['status'] };
  if (retryAfter !== undefined) {
    if (typeof retryAfter !== 'number' || !Number.isInteger(retryAfter) || retryAfter < 0) throw new FaultConfigError(`${where}.retryAfter must be whole seconds`);
    forced.retryAfter = retryAfter;
  }
  if (count !== undefined) {
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 1) throw new FaultConfigError(`${where}.count must be an integer >= 1`);
    forced.count = count;
  }
  if (method !== undefined) {
    if (typeof method !== 'string') throw new FaultConfigError(`${where}.method must be a string`);
    forced.method = method;
  }
  if (pathContains !== undefined) {
    if (typeof pathContains !== 'string') throw new FaultConfigError(`${where}.pathContains must be a string`);
    forced.pathContains = pathContains;
  }
  return forced;
}
