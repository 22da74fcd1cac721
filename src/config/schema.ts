// The shape of config.yml and secret.yml, with every default in one place. Key names follow IIJ Directory Sync
// where the concept is the same (ad.ldap.server.*, base_dn, filter.user, ad_bind.externalId, convert, proxy).
// Never put a secret in config.yml: secrets live in secret.yml and are merged in by load.ts.

import { z } from 'zod';
import { parseDuration } from './duration.js';

const duration = (fallback: string) =>
  z
    .union([z.string(), z.number()])
    .default(fallback)
    .transform((v, ctx) => {
      const ms = parseDuration(v);
      if (ms === undefined) {
        ctx.addIssue({ code: 'custom', message: `not a duration: use e.g. "90s", "15m", "72h" or "7d"` });
        return z.NEVER;
      }
      return ms;
    });

/** Where the outbox, key and journal live unless config.yml says otherwise. */
export function defaultDataDir(platform: NodeJS.Platform = process.platform, env: NodeJS.ProcessEnv = process.env): string {
  return platform === 'win32' ? `${env.ProgramData ?? 'C:\\ProgramData'}\\pwsync` : '/var/lib/pwsync';
}

const regexString = z.string().refine(
  (s) => {
    try {
      new RegExp(s);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'not a valid regular expression' },
);

/** One IIJ-style `convert` rule: a regex applied to the attribute value, replaced with `replacement` ($1 etc.). */
export const convertRuleSchema = z
  .object({ pattern: regexString, replacement: z.string().default('') })
  .strict();

/** How the AD value that identifies the user at a target is computed (IIJ: iid.scim.attribute.user.*). */
export const userAttributeSchema = z
  .object({
    ad_bind: z
      .object({ externalId: z.string().min(1).default('userPrincipalName') })
      .strict()
      .default({ externalId: 'userPrincipalName' }),
    convert: z
      .object({ externalId: z.array(convertRuleSchema).default([]) })
      .strict()
      .default({ externalId: [] }),
    /** Binary attributes (objectGUID, mS-DS-ConsistencyGuid) must be given an explicit text form. */
    binary_format: z.enum(['guid', 'base64', 'hex']).default('guid'),
  })
  .strict();

const proxySchema = z
  .object({
    use: z.boolean().default(false),
    address: z.string().optional(),
    port: z.number().int().min(1).max(65535).optional(),
    user: z.string().optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.use && (!p.address || !p.port))
      ctx.addIssue({ code: 'custom', message: 'proxy.use is true: set proxy.address and proxy.port too' });
  });

/** The longest id_cache.ttl accepted: IIJ Directory Sync's hourly run is the shortest interval a deployment can rely on. */
export const ID_CACHE_MAX_TTL_MS = 3_600_000;
/** The shortest id_cache.ttl accepted: below a second a cache saves nothing and a typo ("10" meaning minutes) is likely. */
export const ID_CACHE_MIN_TTL_MS = 1_000;
const ID_CACHE_OFF = { enabled: false, ttl: 600_000, max_entries: 100_000, warm_up: false };

const idCacheSchema = z
  .object({
    enabled: z.boolean().default(false),
    /** How long an id learnt from a search or a listing is used without searching again; at most one Directory Sync interval. */
    ttl: duration('10m').superRefine((ms, ctx) => {
      if (ms < ID_CACHE_MIN_TTL_MS || ms > ID_CACHE_MAX_TTL_MS)
        ctx.addIssue({
          code: 'custom',
          message: 'must be between 1s and 1h: at most one IIJ Directory Sync interval (the window in which a remembered id may be out of date); set it to your sync interval or less',
        });
    }),
    /** At most this many ids are remembered (oldest dropped first); about 200 bytes each. */
    max_entries: z.number().int().min(1).max(1_000_000).default(100_000),
    /** Fill the cache with a paged, read-only listing of the target's users (one request per 1 000 users) when a lookup misses and no listing is younger than the TTL. */
    warm_up: z.boolean().default(false),
  })
  .strict();

const targetBase = {
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, 'use 1-32 characters a-z, 0-9, "-" or "_", starting with a letter or digit'),
  url: z.url({ protocol: /^https?$/ }),
  timeout: duration('30s'),
  /** Extra CA certificates (PEM file) trusted for this target, e.g. a TLS-inspecting proxy's CA. */
  ca_file: z.string().optional(),
  /** Requests per second allowed to this target (token bucket). */
  rate_limit: z.number().positive().default(20),
  http: z.object({ proxy: proxySchema.default({ use: false }) }).strict().default({ proxy: { use: false } }),
  attribute: z
    .object({ user: userAttributeSchema.default(userAttributeSchema.parse({})) })
    .strict()
    .default({ user: userAttributeSchema.parse({}) }),
  /**
   * Remember each user's SCIM id so a later change costs one request (the write) instead of two (docs/configuration.md#id_cache).
   * Off unless configured: a remembered id is only as good as its age, so the TTL is bounded by one Directory Sync interval.
   */
  id_cache: idCacheSchema.default(ID_CACHE_OFF),
  /** PATCH replace of `password` (default) or PUT of the fetched user with the new password. */
  password_update: z.enum(['patch', 'put']).default('patch'),
  /** Known token expiry date, for warnings 14/7/1 days ahead. */
  token_expires: z.iso.date().optional(),
  /**
   * Plain http:// to a non-loopback address sends the token and every password unencrypted: refused unless this is
   * true (then event 1023 at every start, and `pwsync check` fails the target). Loopback (the emulator) is allowed.
   */
  allow_insecure_http: z.boolean().default(false),
};

/** 127.0.0.0/8, ::1 and localhost: plain http never leaves the machine. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** True for an http:// URL whose host is not loopback. */
export function isInsecureRemoteUrl(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' && !isLoopbackHost(u.hostname);
  } catch {
    return false;
  }
}

export const iijTargetSchema = z
  .object({ ...targetBase, type: z.literal('iij'), url: targetBase.url.default('https://scim.auth.iij.jp/scim/v2/') })
  .strict();

export const scimTargetSchema = z
  .object({
    ...targetBase,
    type: z.literal('scim'),
    /** Which SCIM attribute holds the value computed by `attribute.user`: externalId or userName. */
    match: z.enum(['externalId', 'userName']).default('externalId'),
    /** Bearer token (default) or HTTP Basic with `user` and the password from secret.yml. */
    auth: z
      .object({ type: z.enum(['bearer', 'basic']).default('bearer'), user: z.string().optional() })
      .strict()
      .default({ type: 'bearer' }),
  })
  .strict();

export const targetSchema = z.discriminatedUnion('type', [iijTargetSchema, scimTargetSchema]);

export const configSchema = z
  .object({
    agent: z
      .object({
        /** Windows: %ProgramData%\\pwsync (the installer protects exactly this folder). */
        data_dir: z.string().default(defaultDataDir()),
        intake: z
          .object({
            /** Unix socket path (created 0600) or, on Windows, the pipe name \\.\pipe\pwsync. */
            socket: z.string().default(process.platform === 'win32' ? '\\\\.\\pipe\\pwsync' : '/run/pwsync/intake.sock'),
          })
          .strict()
          .default({ socket: process.platform === 'win32' ? '\\\\.\\pipe\\pwsync' : '/run/pwsync/intake.sock' }),
        concurrency: z.number().int().min(1).max(256).default(8),
        /** Name of this DC in events; defaults to the host name. */
        dc: z.string().optional(),
        /**
         * How far AD's pwdLastSet may lie after a change's capture time before the change counts as stale (a newer
         * password was set after it). Covers clock steps on the capturing DC; see docs/operations.md "Stale replays".
         */
        clock_skew: duration('2s').refine((ms) => ms <= 300_000, { message: 'at most 5m (the Kerberos clock-skew limit)' }),
      })
      .strict()
      .prefault({}),
    log: z
      .object({
        loglevel: z.enum(['error', 'warn', 'info', 'debug']).default('info'),
        /** JSON-lines journal; relative paths are under agent.data_dir. */
        file: z.string().default('journal.jsonl'),
        stderr: z.boolean().default(true),
      })
      .strict()
      .prefault({}),
    ad: z
      .object({
        ldap: z
          .object({
            server: z
              .object({
                addresses: z.array(z.string().min(1)).min(1),
                port: z.number().int().min(1).max(65535).optional(),
                /** Bind DN or UPN of a read-only AD user; its password is in secret.yml. */
                user: z.string().min(1),
                timeout: duration('10s'),
                encryption: z.enum(['ldaps', 'start_tls', 'none']).default('ldaps'),
                /** Verify the DC's certificate. Turning this off is insecure: use ca_file instead. */
                verify_mode: z.boolean().default(true),
                ca_file: z.string().optional(),
                /** Name expected in the DC certificate when it differs from the address (e.g. DC1.example.test). */
                tls_servername: z.string().optional(),
              })
              .strict(),
            base_dn: z.string().min(1),
            filter: z
              .object({ user: z.string().default('(&(objectCategory=person)(objectClass=user))') })
              .strict()
              .default({ user: '(&(objectCategory=person)(objectClass=user))' }),
          })
          .strict(),
      })
      .strict(),
    targets: z.array(targetSchema).min(1),
    queue: z
      .object({
        /** A change not delivered within this age expires (the user must change the password again). */
        max_age: duration('72h'),
        /** How long a change waits for its user to be provisioned at the target. */
        not_provisioned_horizon: duration('24h'),
        /** How often a paused target (token refused) is probed again; it resumes by itself when the probe passes. */
        paused_probe_interval: duration('5m'),
        retry: z
          .object({ initial: duration('5s'), max: duration('15m') })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    console: z
      .object({
        enabled: z.boolean().default(true),
        listen: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(8750),
        /** A non-loopback listen address serves the admin token over plain http: refused unless this is true. */
        allow_insecure_http: z.boolean().default(false),
        /** Extra names the console answers to (Host header), besides listen; loopback names are always allowed on loopback. */
        allowed_hosts: z.array(z.string().min(1)).default([]),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.targets.forEach((t, i) => {
      if (isInsecureRemoteUrl(t.url) && !t.allow_insecure_http)
        ctx.addIssue({
          code: 'custom',
          path: ['targets', i, 'url'],
          message: 'plain http:// to a non-loopback host would send the token and passwords unencrypted: use https://, or set allow_insecure_http: true if you really must',
        });
      if (seen.has(t.name)) ctx.addIssue({ code: 'custom', path: ['targets', i, 'name'], message: `duplicate target name "${t.name}"` });
      seen.add(t.name);
    });
  });

export const secretSchema = z
  .object({
    ad: z
      .object({ ldap: z.object({ server: z.object({ password: z.string().min(1) }).strict() }).strict() })
      .strict(),
    /** Per target name: the bearer token (IIJ: scopes escim_read_users + escim_write_users), proxy password, basic password. */
    targets: z
      .record(
        z.string(),
        z
          .object({
            access_token: z.string().min(1).optional(),
            basic_password: z.string().min(1).optional(),
            proxy_password: z.string().optional(),
          })
          .strict(),
      )
      .default({}),
    console: z.object({ admin_token: z.string().min(16).optional() }).strict().default({}),
  })
  .strict();

export type ConfigFile = z.infer<typeof configSchema>;
export type SecretFile = z.infer<typeof secretSchema>;
export type TargetConfig = z.infer<typeof targetSchema>;
export type IijTargetConfig = z.infer<typeof iijTargetSchema>;
export type ScimTargetConfig = z.infer<typeof scimTargetSchema>;
export type UserAttributeConfig = z.infer<typeof userAttributeSchema>;
export type LdapConfig = ConfigFile['ad']['ldap'];
