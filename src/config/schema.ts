// The configuration schema is the configuration type: one zod schema, validated once at
// start-up. Defaults live here and nowhere else; docs/configuration.md mirrors this file.
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { compilePattern } from '../authorize/pattern.ts';
import { compileNamespace } from '../authorize/tenancy.ts';
import { CREDENTIAL_AUDIENCE } from '../credentials/format.ts';

const nonEmpty = z.string().min(1, 'must not be empty');
const port = z.number().int().min(0).max(65535);
const url = z.url({ error: (issue) => (issue.input === undefined ? undefined : 'must be an absolute URL') });

export const ASYMMETRIC_ALGORITHMS = [
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519',
] as const;
const algorithm = z.enum(ASYMMETRIC_ALGORITHMS, {
  message: `must be one of ${ASYMMETRIC_ALGORITHMS.join(', ')} (symmetric and "none" are never accepted)`,
});

export const ACTIONS = ['pull', 'push', 'delete', '*'] as const;

/** Headers a forwarded client certificate may not be read from: they mean something else here. */
const RESERVED_HEADERS = new Set(['authorization', 'dpop', 'host', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-request-id']);

const serverSchema = z.strictObject({
  host: nonEmpty.default('127.0.0.1'),
  port: port.default(8085),
  /**
   * Processes sharing the one listening port (node:cluster): 1 is a single process; more puts
   * every core to work, with the replay cache, limits and revocations shared (src/workers/).
   */
  workers: z.number().int().min(1).max(256).default(() => availableParallelism()),
  /** The URL clients call; the DPoP `htu` is checked against it. */
  publicUrl: url.optional(),
  /** Peers whose X-Forwarded-* and client-certificate headers are believed (IPs or CIDRs). */
  trustedProxies: z.array(nonEmpty).default([]),
  tls: z
    .strictObject({
      certPath: nonEmpty,
      keyPath: nonEmpty,
      clientCaPath: nonEmpty.optional(),
    })
    .optional(),
  /**
   * The one header a TLS-terminating proxy (one of trustedProxies) forwards the client
   * certificate in; absent: no certificate is ever read from a header.
   */
  clientCertificateHeader: z
    .strictObject({
      name: z
        .string()
        .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'must be an HTTP header name')
        .refine((name) => !RESERVED_HEADERS.has(name.toLowerCase()), {
          message: `must not be one of ${[...RESERVED_HEADERS].join(', ')} (the service reads those for other purposes)`,
        }),
      format: z.enum(['rfc9440', 'pem-urlencoded', 'xfcc']),
    })
    .optional(),
  /** Grace period for in-flight exchanges on SIGTERM/SIGINT. */
  shutdownTimeoutSeconds: z.number().positive().max(300).default(10),
  requestTimeoutSeconds: z.number().positive().max(300).default(15),
});

const dpopSchema = z.strictObject({
  algorithms: z.array(algorithm).min(1).default(['ES256', 'ES384', 'ES512', 'RS256', 'PS256', 'EdDSA', 'Ed25519']),
  /** How old a proof's `iat` may be (and how far in the future, with the clock tolerance). */
  maxAgeSeconds: z.number().int().min(1).max(600).default(60),
  requireNonce: z.boolean().default(false),
  /** Shared by replicas so each accepts the others' nonces; random per process when unset. */
  nonceSecret: z.string().min(16, 'must be at least 16 characters').optional(),
  /**
   * Upper bound on remembered proof `jti`s, so memory stays bounded (about 230 bytes each).
   * Size it above peak exchanges/s x (maxAgeSeconds + clockToleranceSeconds); when full, new
   * proofs are refused (503) rather than an unexpired one forgotten.
   */
  replayCacheSize: z.number().int().min(100).default(250_000),
  /**
   * Most unexpired proofs one client (OpTok subject) may hold, so one client filling the cache
   * refuses only itself (429). Default: a tenth of replayCacheSize.
   */
  replayCachePerClient: z.number().int().min(1).optional(),
}).transform((dpop) => ({ ...dpop, replayCachePerClient: dpop.replayCachePerClient ?? Math.max(1, Math.floor(dpop.replayCacheSize / 10)) }));

const authoritySchema = z.strictObject({
  issuer: url,
  metadataUrl: url.optional(),
  /** A static JWKS file: air-gapped sites make no network call at all. */
  jwksPath: nonEmpty.optional(),
  audiences: z.array(nonEmpty).min(1, 'must name at least one audience'),
  requiredScopes: z.array(nonEmpty).default(['registry.token.issue']),
  algorithms: z.array(algorithm).min(1).default(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519']),
  clockToleranceSeconds: z.number().int().min(0).max(300).default(30),
  /** Keys are refreshed in the background once 80% of this old; unknown `kid`s refetch sooner. */
  jwksCacheSeconds: z.number().int().min(10).default(600),
  /** Minimum gap between two key fetches (of any trigger), counted from the last attempt. */
  jwksCooldownSeconds: z.number().int().min(1).default(30),
  /** Cached keys keep serving this long past jwksCacheSeconds while the Authority cannot be reached. */
  jwksStaleIfErrorSeconds: z.number().int().min(0).default(900),
  /** Verified OpToks kept (by SHA-256) until their exp, so a reused OpTok is not verified again; 0 turns it off. */
  accessTokenCacheBytes: z.number().int().min(0).default(16 * 1024 * 1024),
  /** RFC 9068: OpToks must carry typ at+jwt. false only for an Authority that does not set it. */
  requireAccessTokenType: z.boolean().default(true),
  senderConstraint: z.enum(['required', 'optional']).default('required'),
  dpop: dpopSchema.default(() => dpopSchema.parse({})),
  claims: z
    .strictObject({
      plan: nonEmpty.default('stellaops:plan'),
      license: nonEmpty.default('stellaops:license'),
      tenant: nonEmpty.default('tid'),
    })
    .default({ plan: 'stellaops:plan', license: 'stellaops:license', tenant: 'tid' }),
});

const signingAlgorithm = z.enum(['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512']);

/** Variables named REGISTRY_TOKEN_* are configuration overrides; a passphrase there would be read as one. */
const passwordEnv = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name')
  .refine((name) => !name.toUpperCase().startsWith('REGISTRY_TOKEN_'), {
    message: 'must not start with REGISTRY_TOKEN_ (those variables override configuration keys)',
  });

const signingKeySchema = z.strictObject({
  /** The `kid`; default: the libtrust key id of the public key. */
  id: nonEmpty.optional(),
  /** Private key (PEM or PKCS#12): may sign. Certificate or public key (PEM): published only. */
  path: nonEmpty,
  passwordEnv: passwordEnv.optional(),
  certificatePath: nonEmpty.optional(),
  algorithm: signingAlgorithm.optional(),
});

const SINGLE_KEY_ONLY = ['keyPassword', 'certificatePath', 'keyId', 'algorithm'] as const;

const signingSchema = z
  .strictObject({
    issuer: nonEmpty,
    /** One key: the short form. Several keys (rotation): `keys` + `activeKeyId`. */
    keyPath: nonEmpty.optional(),
    keyPassword: z.string().optional(),
    certificatePath: nonEmpty.optional(),
    keyId: nonEmpty.optional(),
    /** Defaults by key type: RS256 for RSA, ES256/384/512 for P-256/384/521. */
    algorithm: signingAlgorithm.optional(),
    keys: z.array(signingKeySchema).min(1, 'must list at least one key').optional(),
    /** The `kid` of the key in `keys` that signs; the others are published only. */
    activeKeyId: nonEmpty.optional(),
    lifetimeSeconds: z
      .number()
      .int('must be a whole number of seconds from 60 to 3600')
      .min(60, 'must be at least 60 (clients refuse shorter tokens)')
      .max(3600, 'must be at most 3600 (registry tokens are short-lived)')
      .default(300),
    /** Deprecated (signing.keys): public keys still served in the JWKS during a rotation. */
    previousKeyPaths: z.array(nonEmpty).default([]),
  })
  .superRefine((signing, ctx) => {
    if (signing.keys === undefined) {
      if (signing.keyPath === undefined) ctx.addIssue({ code: 'custom', path: ['keys'], message: 'is required (or signing.keyPath for a single key)' });
      if (signing.activeKeyId !== undefined) ctx.addIssue({ code: 'custom', path: ['activeKeyId'], message: 'names a key of signing.keys, which is not set' });
      return;
    }
    if (signing.keyPath !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['keyPath'], message: 'set either keyPath (one key) or keys (a key set), not both' });
    }
    for (const key of SINGLE_KEY_ONLY) {
      if (signing[key] !== undefined) {
        ctx.addIssue({ code: 'custom', path: [key], message: `belongs to signing.keyPath; with signing.keys set it on each key` });
      }
    }
    const seen = new Map<string, number>();
    signing.keys.forEach((key, index) => {
      if (key.id === undefined) return;
      const first = seen.get(key.id);
      if (first !== undefined) ctx.addIssue({ code: 'custom', path: ['keys', index, 'id'], message: `"${key.id}" is already the id of signing.keys[${first}]` });
      else seen.set(key.id, index);
    });
    if (signing.keys.length > 1 && signing.activeKeyId === undefined) {
      ctx.addIssue({ code: 'custom', path: ['activeKeyId'], message: 'is required when signing.keys lists more than one key' });
    }
  });

const registrySchema = z.strictObject({
  realm: url,
  /** Registry `service` names this service mints for; empty means any. */
  allowedServices: z.array(nonEmpty).default([]),
});

/** `{repository: PATTERN, actions}`, or `{registry: catalog, actions: ['*']}` for /v2/_catalog. */
const ruleSchema = z
  .strictObject({
    repository: nonEmpty.optional(),
    registry: z.literal('catalog', { message: 'the only registry resource is "catalog"' }).optional(),
    actions: z.array(z.enum(ACTIONS, { message: `must be one of ${ACTIONS.join(', ')}` })).min(1).default(['pull']),
  })
  .refine((rule) => (rule.repository === undefined) !== (rule.registry === undefined), {
    message: 'a rule names exactly one of repository (a pattern) or registry (catalog)',
  });

/** The keys that decide what a caller is granted: all `explain` needs, and all a reload swaps. */
const planShape = {
  plans: z.record(nonEmpty, z.array(ruleSchema)).default({}),
  defaultPlan: nonEmpty.optional(),
  revokedLicenses: z.array(nonEmpty).default([]),
};

function checkPlans(config: { plans: Record<string, z.infer<typeof ruleSchema>[]>; defaultPlan?: string | undefined }, ctx: z.RefinementCtx): void {
  if (config.defaultPlan !== undefined && !(config.defaultPlan in config.plans)) {
    ctx.addIssue({ code: 'custom', path: ['defaultPlan'], message: `names plan "${config.defaultPlan}", which is not defined under plans` });
  }
  // Patterns are compiled here too, so a bad one is reported with the rest at load time.
  for (const [plan, rules] of Object.entries(config.plans)) {
    rules.forEach((rule, index) => {
      if (rule.repository === undefined) return;
      try {
        compilePattern(rule.repository);
      } catch (error) {
        ctx.addIssue({ code: 'custom', path: ['plans', plan, index, 'repository'], message: (error as Error).message });
      }
    });
  }
}

/** Tenants: whether callers must carry one, where it is read, which repositories are whose. */
const tenancySchema = z.strictObject({
  required: z.boolean().default(false),
  /** The OpTok claim with the tenant; unset: authority.claims.tenant (`tid`, the StellaOps Authority's). */
  claim: nonEmpty.optional(),
  /** Repository patterns with `{tenant}`: a name matching one for another tenant is refused `cross_tenant`. */
  namespaces: z.array(nonEmpty).default([]),
});

function checkTenancy(config: { tenancy: z.infer<typeof tenancySchema> }, ctx: z.RefinementCtx): void {
  config.tenancy.namespaces.forEach((source, index) => {
    try {
      compileNamespace(source);
    } catch (error) {
      ctx.addIssue({ code: 'custom', path: ['tenancy', 'namespaces', index], message: (error as Error).message });
    }
  });
}

/** The plan keys alone; every other section may be missing or incomplete (`explain`). */
export const planConfigSchema = z
  .object({ ...planShape, tenancy: tenancySchema.default(() => tenancySchema.parse({})) })
  .superRefine((config, ctx) => {
    checkPlans(config, ctx);
    checkTenancy(config, ctx);
  });
export type PlanConfig = z.infer<typeof planConfigSchema>;

const ledgerSchema = z.strictObject({
  driver: z.enum(['file', 'mongodb']).default('file'),
  /** Directory of the file ledger (JSON Lines segments). */
  path: nonEmpty.default('var/ledger'),
  maxFileBytes: z.number().int().min(4096).default(64 * 1024 * 1024),
  mongodb: z
    .strictObject({
      uri: nonEmpty,
      database: nonEmpty.default('registry_token'),
      collection: nonEmpty.default('issuances'),
    })
    .optional(),
  retentionDays: z.number().int().min(1).optional(),
  onUnavailable: z.enum(['reject', 'spool']).default('reject'),
  spoolPath: nonEmpty.default('var/spool'),
  /** How often runtime revocations are re-read from the store (other replicas' changes). */
  revocationPollSeconds: z.number().min(0.2).max(300).default(2),
  /**
   * /token (and the admin API) answer 503 revocations_unavailable until runtime revocations
   * were read once, and again once the last successful read is older than this.
   */
  revocationMaxStalenessSeconds: z.number().positive().max(3600).default(60),
  /** What refusals may cost the ledger (docs/operations.md gives the disk figures). */
  refusals: z
    .strictObject({
      /** One stored refusal at most (scopes dropped from the end, long strings cut, `truncated: true`). */
      maxRecordBytes: z.number().int().min(1024).max(65_536).default(4096),
      /** `summary`: refusals without an authenticated subject are counted, one summary record per interval. */
      anonymous: z.enum(['summary', 'full']).default('summary'),
      summaryIntervalSeconds: z.number().int().min(1).max(3600).default(60),
    })
    .default({ maxRecordBytes: 4096, anonymous: 'summary', summaryIntervalSeconds: 60 }),
});

const redisSchema = z.strictObject({
  /** redis://[user:password@]host:port[/db], or rediss:// for TLS. */
  url: z.string().regex(/^rediss?:\/\/[^/?#]+/, 'must be a redis:// or rediss:// URL with a host'),
  /** Every key (and the revocations channel) starts with it: several services can share one Redis. */
  keyPrefix: z.string().max(64).default('registry-token:'),
  /** AUTH (Redis 6 ACL user); may also be given in the URL. */
  username: nonEmpty.optional(),
  password: nonEmpty.optional(),
  /** With a rediss:// URL: the CA to trust (else the system's), a client certificate, the name to verify. */
  tls: z
    .strictObject({
      caPath: nonEmpty.optional(),
      certPath: nonEmpty.optional(),
      keyPath: nonEmpty.optional(),
      servername: nonEmpty.optional(),
    })
    .optional(),
  /**
   * Redis Sentinel: the Sentinels (host:port) that say which server is the primary. The URL's
   * host is then the name of the master group they watch (the redis-rb and GitLab convention).
   */
  sentinels: z
    .array(z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[^\s:[\]/]+):\d{1,5}$/, 'must be host:port (an IPv6 address in brackets)'))
    .min(1, 'needs at least one Sentinel, or leave sentinels out')
    .optional(),
  /** AUTH for the Sentinels themselves (their requirepass / ACL user), when they ask for it. */
  sentinelUsername: nonEmpty.optional(),
  sentinelPassword: nonEmpty.optional(),
  connectTimeoutMs: z.number().int().min(50).max(60_000).default(2000),
  /** A command without an answer this long fails: the request gets 503 store_unavailable, never hangs. */
  commandTimeoutMs: z.number().int().min(10).max(10_000).default(500),
});

const storeSchema = z.strictObject({
  /** memory: this process only (one replica). redis: shared by every replica. */
  driver: z.enum(['memory', 'redis']).default('memory'),
  redis: redisSchema.optional(),
  /** fail-closed: 503 store_unavailable. local: this replica's memory meanwhile (docs say what it risks). */
  onStoreUnavailable: z.enum(['fail-closed', 'local']).default('fail-closed'),
});

const lifetime = z.number().int('must be a whole number of seconds').min(1, 'must be at least 1');

/** Registry credentials: what Docker clients use as a password, issued to an OpTok (POST /credentials). */
const credentialsSchema = z.strictObject({
  enabled: z.boolean().default(true),
  /** The OpTok scope POST /credentials needs (besides authority.requiredScopes). */
  requiredScope: nonEmpty.default('registry.token.issue'),
  defaultLifetimeSeconds: lifetime.default(86_400),
  maxLifetimeSeconds: lifetime.default(2_592_000),
  minLifetimeSeconds: lifetime.default(60),
  /** Longest lifetime of a credential in an Offline Kit bundle (an operator's order, not a robot's). */
  bundleMaxLifetimeSeconds: lifetime.default(7_776_000),
});

/** `max` requests per fixed window of `windowSeconds`, counted from a key's first request. */
const limitSchema = (max: number, windowSeconds: number) => {
  const schema = z.strictObject({
    max: z.number().int().min(1).default(max),
    windowSeconds: z.number().int().min(1).max(86_400).default(windowSeconds),
  });
  return schema.default(() => schema.parse({}));
};

// Sized for a large CI registry where thousands of jobs share one NAT address and one robot
// client (docs/configuration.md, rateLimits, says why each number).
const rateLimitsSchema = z.strictObject({
  enabled: z.boolean().default(true),
  perAddress: limitSchema(6000, 60),
  perClient: limitSchema(3000, 60),
  failedAuthPerAddress: limitSchema(600, 60),
});

const telemetrySchema = z.strictObject({
  /** Serve /metrics on its own port instead of the main one. */
  metricsPort: port.optional(),
  /** Tenants that get their own `tenant` label value; every other tenant is counted as `other`. */
  tenants: z.array(nonEmpty).max(200, 'at most 200 tenants (each multiplies the series of every tenant-labelled metric)').default([]),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

const tokensPerMinute = z.number().int('must be a whole number of tokens per minute').min(1, 'must be at least 1 (leave the key out for no quota)');
const quotaLimitSchema = z.strictObject({
  /** Every tenant's (licence's) quota, unless overridden; unset: none. */
  tokensPerMinute: tokensPerMinute.optional(),
  overrides: z.record(nonEmpty, tokensPerMinute).default({}),
});

/** Issuance quotas, tokens per minute: a hard gate after authorization. */
const quotasSchema = z.strictObject({
  perTenant: quotaLimitSchema.default(() => quotaLimitSchema.parse({})),
  perLicense: quotaLimitSchema.default(() => quotaLimitSchema.parse({})),
});

export const configSchema = z
  .strictObject({
    server: serverSchema.default(() => serverSchema.parse({})),
    authority: authoritySchema,
    signing: signingSchema,
    registry: registrySchema,
    ...planShape,
    ledger: ledgerSchema.default(() => ledgerSchema.parse({})),
    admin: z
      .strictObject({
        requiredScope: nonEmpty.default('registry.token.admin'),
        /** With the admin scope, sees and does everything; without it an admin with a tenant is that tenant's. */
        platformScope: nonEmpty.default('registry.admin.platform'),
      })
      .default({ requiredScope: 'registry.token.admin', platformScope: 'registry.admin.platform' }),
    tenancy: tenancySchema.default(() => tenancySchema.parse({})),
    quotas: quotasSchema.default(() => quotasSchema.parse({})),
    telemetry: telemetrySchema.default(() => telemetrySchema.parse({})),
    rateLimits: rateLimitsSchema.default(() => rateLimitsSchema.parse({})),
    store: storeSchema.default(() => storeSchema.parse({})),
    credentials: credentialsSchema.default(() => credentialsSchema.parse({})),
  })
  .superRefine((config, ctx) => {
    checkPlans(config, ctx);
    if (config.server.clientCertificateHeader !== undefined && config.server.trustedProxies.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['server', 'clientCertificateHeader'], message: 'needs server.trustedProxies: the header is only read from those peers' });
    }
    if (config.ledger.revocationMaxStalenessSeconds <= config.ledger.revocationPollSeconds) {
      ctx.addIssue({
        code: 'custom',
        path: ['ledger', 'revocationMaxStalenessSeconds'],
        message: `must be greater than ledger.revocationPollSeconds (${config.ledger.revocationPollSeconds}), or every poll would arrive too late`,
      });
    }
    if (config.store.driver === 'redis' && config.store.redis === undefined) {
      ctx.addIssue({ code: 'custom', path: ['store', 'redis'], message: 'is required when store.driver is redis' });
    }
    const redis = config.store.redis;
    if (redis?.tls !== undefined && !redis.url.startsWith('rediss://')) {
      ctx.addIssue({ code: 'custom', path: ['store', 'redis', 'tls'], message: 'needs a rediss:// url (redis:// is plain TCP)' });
    }
    const port = redis === undefined ? undefined : URL.parse(redis.url)?.port;
    if (redis?.sentinels !== undefined && port !== undefined && port !== '') {
      ctx.addIssue({ code: 'custom', path: ['store', 'redis', 'url'], message: 'with sentinels, the host is the master group\'s name, without a port (redis://mymaster); the Sentinels say where the primary is' });
    }
    if (redis?.sentinels === undefined && (redis?.sentinelUsername !== undefined || redis?.sentinelPassword !== undefined)) {
      ctx.addIssue({ code: 'custom', path: ['store', 'redis', 'sentinels'], message: 'is required with sentinelUsername or sentinelPassword' });
    }
    if ((redis?.tls?.certPath === undefined) !== (redis?.tls?.keyPath === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['store', 'redis', 'tls'], message: 'certPath and keyPath go together (a client certificate and its key)' });
    }
    const lifetimes = config.credentials;
    if (lifetimes.minLifetimeSeconds > lifetimes.maxLifetimeSeconds) {
      ctx.addIssue({ code: 'custom', path: ['credentials', 'minLifetimeSeconds'], message: `must not exceed credentials.maxLifetimeSeconds (${lifetimes.maxLifetimeSeconds})` });
    } else if (lifetimes.defaultLifetimeSeconds < lifetimes.minLifetimeSeconds || lifetimes.defaultLifetimeSeconds > lifetimes.maxLifetimeSeconds) {
      ctx.addIssue({
        code: 'custom',
        path: ['credentials', 'defaultLifetimeSeconds'],
        message: `must be from credentials.minLifetimeSeconds (${lifetimes.minLifetimeSeconds}) to credentials.maxLifetimeSeconds (${lifetimes.maxLifetimeSeconds})`,
      });
    }
    if (lifetimes.bundleMaxLifetimeSeconds < lifetimes.minLifetimeSeconds) {
      ctx.addIssue({ code: 'custom', path: ['credentials', 'bundleMaxLifetimeSeconds'], message: `must not be below credentials.minLifetimeSeconds (${lifetimes.minLifetimeSeconds})` });
    }
    config.registry.allowedServices.forEach((service, index) => {
      // A registry with this service name would accept credentials as registry tokens.
      if (service === CREDENTIAL_AUDIENCE) {
        ctx.addIssue({ code: 'custom', path: ['registry', 'allowedServices', index], message: `"${CREDENTIAL_AUDIENCE}" is the audience of registry credentials and cannot be a registry service` });
      }
    });
    checkTenancy(config, ctx);
    // One claim name: tenancy.claim supersedes authority.claims.tenant, and two different ones are a mistake.
    if (config.tenancy.claim !== undefined && config.authority.claims.tenant !== 'tid' && config.authority.claims.tenant !== config.tenancy.claim) {
      ctx.addIssue({ code: 'custom', path: ['tenancy', 'claim'], message: `names "${config.tenancy.claim}" but authority.claims.tenant names "${config.authority.claims.tenant}"; set one of them` });
    }
    if (config.admin.platformScope === config.admin.requiredScope) {
      ctx.addIssue({ code: 'custom', path: ['admin', 'platformScope'], message: 'must differ from admin.requiredScope, or every admin would be a platform admin' });
    }
    if (config.ledger.driver === 'mongodb' && config.ledger.mongodb === undefined) {
      ctx.addIssue({ code: 'custom', path: ['ledger', 'mongodb'], message: 'is required when ledger.driver is mongodb' });
    }
  });

export type Config = z.infer<typeof configSchema>;
export type PlanRule = z.infer<typeof ruleSchema>;
