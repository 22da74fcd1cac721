// Builds the Target for one configured target from config.yml and its secret.yml entry.
// Never logs or echoes the secret it is given; a missing secret is a ConfigError naming the key.

import type { SecretFile, TargetConfig } from '../config/schema.js';
import { ConfigError } from '../errors.js';
import { createIijTarget } from './iij-target.js';
import { createScimTarget } from './scim-target.js';
import type { Target } from './target.js';

export type { ProbeResult, Target, TargetUser } from './target.js';

export function createTarget(cfg: TargetConfig, secret: SecretFile['targets'][string] | undefined): Target {
  if (cfg.type === 'iij') {
    const token = secret?.access_token;
    if (token === undefined) {
      throw new ConfigError(
        `target ${cfg.name}: put the IIJ access token (scopes escim_read_users, escim_write_users) in secret.yml targets.${cfg.name}.access_token`,
      );
    }
    return createIijTarget(cfg, token, { proxyPassword: secret?.proxy_password });
  }
  return createScimTarget(cfg, secret);
}
