// Builds the Target for one configured target from config.yml and its secret.yml entry.
// Never logs or echoes the secret it is given; a missing secret is a ConfigError naming the key (config/target-secret.ts).

import type { SecretFile, TargetConfig } from '../config/schema.js';
import type { Journal } from '../journal/journal.js';
import { ScimIdCache } from './id-cache.js';
import { withIdCache } from './id-cached-target.js';
import { createIijTarget } from './iij-target.js';
import { createScimTarget } from './scim-target.js';
import type { Target } from './target.js';

export type { ProbeResult, Target, TargetUser } from './target.js';

export interface TargetDeps {
  /** Where an id cache writes its events (3011-3015); none are written without it. */
  journal?: Pick<Journal, 'write'>;
  now?: () => number;
}

export function createTarget(cfg: TargetConfig, secret: SecretFile['targets'][string] | undefined, deps: TargetDeps = {}): Target {
  const target = createUncachedTarget(cfg, secret);
  const c = cfg.id_cache;
  if (!c.enabled) return target;
  // A new cache per target object: a reload that changes the target (URL, token, matching) starts from nothing.
  const cache = new ScimIdCache({ ttlMs: c.ttl, maxEntries: c.max_entries, ...(deps.now ? { now: deps.now } : {}) });
  return withIdCache(target, { cache, ttlMs: c.ttl, warmUp: c.warm_up, pageIntervalMs: 1000 / cfg.rate_limit, ...deps });
}

function createUncachedTarget(cfg: TargetConfig, secret: SecretFile['targets'][string] | undefined): Target {
  if (cfg.type === 'iij') return createIijTarget(cfg, secret?.access_token ?? '', { proxyPassword: secret?.proxy_password });
  return createScimTarget(cfg, secret);
}
