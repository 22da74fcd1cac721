// Builds the Target for one configured target from config.yml and its secret.yml entry.
// Never logs or echoes the secret it is given; a missing secret is a ConfigError naming the key (config/target-secret.ts).

import type { SecretFile, TargetConfig } from '../config/schema.js';
import { createIijTarget } from './iij-target.js';
import { createScimTarget } from './scim-target.js';
import type { Target } from './target.js';

export type { ProbeResult, Target, TargetUser } from './target.js';

export function createTarget(cfg: TargetConfig, secret: SecretFile['targets'][string] | undefined): Target {
  if (cfg.type === 'iij') return createIijTarget(cfg, secret?.access_token ?? '', { proxyPassword: secret?.proxy_password });
  return createScimTarget(cfg, secret);
}
