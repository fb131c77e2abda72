// Builds everything expensive once from a validated configuration: keys, JWKS client,
// compiled plans, ledger, telemetry; then the pipeline and the HTTP app over them.
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import proxyaddr from 'proxy-addr';
import type { Logger } from 'pino';
import type { Config } from './config/schema.ts';
import { ConfigError } from './domain/errors.ts';
import { systemClock, type Clock } from './domain/types.ts';
import { createAccessTokenVerifier } from './authenticate/access-token.ts';
import { createAuthenticator } from './authenticate/authenticate.ts';
import { createDpopVerifier } from './authenticate/dpop.ts';
import { createNonceSource } from './authenticate/dpop-nonce.ts';
import { createAuthorizer, type Authorizer } from './authorize/decide.ts';
import { compilePlans } from './authorize/plans.ts';
import { RevocationSet } from './authorize/revocations.ts';
import { compileTenantRules } from './authorize/tenancy.ts';
import { CREDENTIAL_TYPE } from './credentials/format.ts';
import { createCredentialIssuer } from './credentials/issue.ts';
import { createCredentialVerifier } from './credentials/verify.ts';
import { loadKeySet } from './mint/key-set.ts';
import { KeySetHolder, type KeySetChange } from './mint/key-set-holder.ts';
import { createMinter } from './mint/mint.ts';
import { createSigner } from './mint/signer.ts';
import { SIGNING_ALGORITHMS } from './mint/signing-key.ts';
import { createRateLimits } from './limits/rate-limits.ts';
import { createIssuanceQuotas } from './quotas/quotas.ts';
import { createPipeline, type DecisionEvent, type Pipeline } from './pipeline.ts';
import { createLedger } from './record/index.ts';
import type { Ledger } from './record/ledger.ts';
import { ledgerRevocations, openStore, watchRevocations } from './store/index.ts';
import type { PrimaryConnection, SharedStore } from './store/store.ts';
import { buildApp } from './http/app.ts';
import { adminRoutes } from './http/routes/admin.ts';
import { operatorRoutes } from './http/routes/operator.ts';
import { createTelemetry, tenantLabel, type Telemetry } from './telemetry/metrics.ts';
import { decisionLogger } from './telemetry/logger.ts';

export interface ServiceDeps {
  logger: Logger;
  clock?: Clock;
  /** Tests may hand in a ledger; otherwise `ledger` configuration decides. */
  ledger?: Ledger;
  /** Tests may hand in a shared store; otherwise `store` configuration decides. */
  store?: SharedStore;
  telemetry?: Telemetry;
  /**
   * One of several worker processes (src/workers/): its own chain of the file ledger, and the
   * primary process's memory store when `store.driver` is memory.
   */
  worker?: { readonly ledgerWriter: string; readonly primary?: PrimaryConnection | undefined };
}

export interface Service {
  readonly app: FastifyInstance;
  readonly ledger: Ledger;
  readonly telemetry: Telemetry;
  readonly pipeline: Pipeline;
  readonly authorizer: Authorizer;
  /** The signing keys in force (active and published); swapped by reload. */
  readonly keys: KeySetHolder;
  /**
   * Swaps plans, default plan, configured revocations and the signing key set (all validated
   * and loaded first, so a refused reload changes nothing); everything else needs a restart.
   */
  reload(config: Config): { keys: KeySetChange };
  readonly store: SharedStore;
  /** Re-reads runtime revocations from where they live (the shared store) now. */
  refreshRevocations(): Promise<void>;
  close(): Promise<void>;
}

/** Requested scopes named in a decision line; the rest are counted (`scopesOmitted`). */
const LOGGED_SCOPES = 16;

export function localUrl(config: Config, port: number): string {
  const wildcard = ['0.0.0.0', '::', '[::]'].includes(config.server.host);
  const host = wildcard ? '127.0.0.1' : config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host;
  return `${config.server.tls === undefined ? 'http' : 'https'}://${host}:${port}`;
}

function httpsOptions(tls: NonNullable<Config['server']['tls']>) {
  const read = (path: string, key: string) => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new ConfigError([`server.tls.${key}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`]);
    }
  };
  return {
    cert: read(tls.certPath, 'certPath'),
    key: read(tls.keyPath, 'keyPath'),
    ...(tls.clientCaPath === undefined ? {} : { ca: read(tls.clientCaPath, 'clientCaPath') }),
    // Ask every client for a certificate but let DPoP clients without one through:
    // the binding check, not the handshake, decides.
    requestCert: true,
    rejectUnauthorized: false,
    minVersion: 'TLSv1.2' as const,
  };
}

function logKeyChange(logger: Logger, change: KeySetChange): void {
  if (change.activeBefore !== change.activeAfter) logger.info({ from: change.activeBefore, to: change.activeAfter }, 'signing key switched');
  if (change.added.length > 0) logger.info({ kids: change.added }, 'signing keys published');
  if (change.removed.length > 0) logger.info({ kids: change.removed }, 'signing keys retired: no longer published');
  for (const early of change.removedEarly) {
    logger.warn(early, 'a retired signing key still has unexpired tokens: where the JWKS is the trust (distribution 3.x without rootcertbundle, credentials) they stop verifying now; wait signing.lifetimeSeconds after a switch before retiring');
  }
}

/**
 * `store` in /readyz. Failing closed, an unreachable store makes the replica not ready (it would
 * refuse every token). With `local` the replica still serves, so it stays ready and says it is
 * running on its own memory.
 */
function storeReadiness(store: SharedStore, onUnavailable: Config['store']['onStoreUnavailable']) {
  let fallingBack = false;
  return {
    name: 'store',
    check: async () => {
      try {
        await store.check();
        fallingBack = false;
      } catch (error) {
        if (onUnavailable === 'fail-closed') throw error;
        fallingBack = true;
      }
      return undefined;
    },
    detail: () => ({ driver: store.driver, ...(fallingBack ? { fallback: 'local', reason: 'the shared store does not answer' } : {}) }),
  };
}

export async function createService(config: Config, deps: ServiceDeps): Promise<Service> {
  const { logger } = deps;
  const clock = deps.clock ?? systemClock;
  const telemetry = deps.telemetry ?? createTelemetry();
  const { metrics } = telemetry;

  const keySet = loadKeySet(config.signing);
  for (const warning of keySet.warnings) logger.warn(warning);
  // A retired key's signatures stop verifying: tokens live signing.lifetimeSeconds, credentials
  // up to credentials.maxLifetimeSeconds; the holder warns when a key goes sooner.
  const signedLifetime = Math.max(
    config.signing.lifetimeSeconds,
    config.credentials.enabled ? Math.max(config.credentials.maxLifetimeSeconds, config.credentials.bundleMaxLifetimeSeconds) : 0,
  );
  const keys = new KeySetHolder(keySet, { lifetimeSeconds: signedLifetime, now: () => clock().getTime() });
  const minter = createMinter({ signingKey: () => keys.current().active, issuer: config.signing.issuer, lifetimeSeconds: config.signing.lifetimeSeconds, clock });

  const authority = config.authority;
  const accessTokens = createAccessTokenVerifier({
    ...authority,
    onFetch: (outcome, reason) => {
      metrics.jwksRefresh(outcome);
      // The reason names the step and status, never a URL with credentials or a key.
      if (outcome === 'failure') logger.warn({ reason }, 'the Authority signing keys could not be fetched');
    },
    now: () => clock().getTime(),
  });
  if (!authority.requireAccessTokenType) {
    logger.warn('authority.requireAccessTokenType is false: OpToks are accepted without typ "at+jwt" (RFC 9068), so an ID token or other JWT signed by the Authority passes as an access token');
  }
  const ledger = deps.ledger ?? (await createLedger(config.ledger, { logger, clock, writer: deps.worker?.ledgerWriter }));
  // What replicas share: the replay cache, the rate-limit counters, runtime revocations.
  let store: SharedStore;
  let storeAnswered = true;
  try {
    store = deps.store ?? (await openStore(config.store, {
      replay: { capacity: authority.dpop.replayCacheSize, perClient: authority.dpop.replayCachePerClient },
      ledgerRevocations: ledgerRevocations(ledger),
      now: () => clock().getTime(),
      logger,
      onCommand: (operation, outcome, seconds) => {
        storeAnswered = outcome === 'ok';
        metrics.storeCommand(operation, outcome, seconds);
      },
      primary: deps.worker?.primary,
    }));
  } catch (error) {
    if (deps.ledger === undefined) await ledger.close();
    throw error;
  }
  const nonces = authority.dpop.requireNonce ? createNonceSource({ secret: authority.dpop.nonceSecret }) : undefined;
  const dpop = createDpopVerifier({
    algorithms: authority.dpop.algorithms,
    maxAgeSeconds: authority.dpop.maxAgeSeconds,
    clockToleranceSeconds: authority.clockToleranceSeconds,
    replayCache: store.replay,
    nonces,
    now: () => clock().getTime(),
  });
  // Credentials are signed with the registry tokens' key and checked against the same published
  // keys, so a replica verifies any other's and a key rotation carries them along.
  const credentialsConfig = config.credentials;
  const credentialVerifier = credentialsConfig.enabled
    ? createCredentialVerifier({
        issuer: config.signing.issuer,
        publishedKeys: () => keys.current().jwks,
        algorithms: SIGNING_ALGORITHMS,
        clockToleranceSeconds: authority.clockToleranceSeconds,
        clock,
      })
    : undefined;
  const signCredential = createSigner(() => keys.current().active, { typ: CREDENTIAL_TYPE, x5c: false });
  const credentialIssuer = credentialsConfig.enabled
    ? createCredentialIssuer({ sign: signCredential, issuer: config.signing.issuer, lifetimes: credentialsConfig, clock })
    : undefined;
  // Offline Kit credential bundles: an operator's order, for a site that cannot come back soon.
  const orderedIssuer = credentialsConfig.enabled
    ? createCredentialIssuer({
        sign: signCredential,
        issuer: config.signing.issuer,
        lifetimes: {
          defaultLifetimeSeconds: credentialsConfig.bundleMaxLifetimeSeconds,
          minLifetimeSeconds: credentialsConfig.minLifetimeSeconds,
          maxLifetimeSeconds: credentialsConfig.bundleMaxLifetimeSeconds,
          boundKeys: 'credentials.minLifetimeSeconds, credentials.bundleMaxLifetimeSeconds',
        },
        clock,
      })
    : undefined;
  const authenticator = createAuthenticator({
    accessTokens,
    dpop,
    claims: { ...authority.claims, tenant: config.tenancy.claim ?? authority.claims.tenant },
    senderConstraint: authority.senderConstraint,
    authorityIssuer: authority.issuer,
    credentials: credentialVerifier,
  });

  // One revocation model: the set the authorizer consults also knows how fresh its runtime part is.
  const revocations = new RevocationSet(config.revokedLicenses, {
    maxStalenessSeconds: config.ledger.revocationMaxStalenessSeconds,
    now: () => clock().getTime(),
  });
  const authorizer = createAuthorizer(compilePlans(config.plans, config.defaultPlan), revocations, compileTenantRules(config.tenancy));

  // Other replicas revoke through the shared store: polling it (and its push, where it has one)
  // brings their changes here within seconds.
  const revocationWatch = await watchRevocations(store.revocations, {
    pollSeconds: config.ledger.revocationPollSeconds,
    logger,
    onChange: (list) => revocations.setRuntime(list),
  });
  const refreshRevocations = () => revocationWatch.refresh();
  metrics.observeRevocationsAge(() => revocations.ageSeconds());
  metrics.observeSpoolDepth(() => ledger.spooled?.());
  metrics.observeReplayCache(() => store.replay.occupancy?.());
  metrics.observeStore(() => ({ driver: store.driver, up: storeAnswered }));

  // Only configured plan names become label values; a reload may add some.
  let planNames = new Set(Object.keys(config.plans));
  const tenantOf = tenantLabel(config.telemetry.tenants);
  const decisions = decisionLogger(logger);
  const onDecision = (event: DecisionEvent) => {
    const { record } = event;
    // Label values a caller can choose are kept only when they are known to be legitimate:
    // an allowed service, or (when any is allowed) one asked for by an authenticated caller.
    const allowed = config.registry.allowedServices;
    const knownService =
      record.service !== undefined && (allowed.length > 0 ? allowed.includes(record.service) : record.subject !== undefined);
    const labels = {
      service: record.service === undefined ? 'none' : knownService ? record.service : 'other',
      plan: record.plan !== undefined && planNames.has(record.plan) ? record.plan : 'none',
      tenant: tenantOf(record.tenant),
    };
    if (record.crossTenant !== undefined || event.reason === 'cross_tenant') metrics.crossTenant({ tenant: labels.tenant });
    if (event.reason === 'quota_exceeded' && record.quota !== undefined) {
      metrics.quotaExceeded({ quota: record.quota.startsWith('license ') ? 'license' : 'tenant', tenant: labels.tenant });
    }
    if (event.operation === 'credential') metrics.credential({ outcome: event.outcome, plan: labels.plan, reason: event.reason ?? 'none' });
    else if (event.outcome === 'issued') metrics.issued(labels);
    else metrics.rejected({ ...labels, reason: event.reason ?? 'server_error' });
    if (event.operation === 'token') metrics.tokenDuration(event.durationSeconds, { outcome: event.outcome });
    if (event.ledgerSeconds !== undefined) metrics.ledgerWrite(event.ledgerSeconds);
    // The first few requested scopes: a refusal of 64 long ones made a 12 KB line (a second
    // disk to fill, and most of that refusal's CPU); the ledger record keeps what it keeps.
    const scopesOmitted = record.requestedScopes.length - LOGGED_SCOPES;
    // The one decision line: ids and outcome, never a token, proof or header.
    const line = {
      requestId: record.requestId,
      traceId: record.traceId,
      subject: record.subject,
      clientId: record.clientId,
      tenant: record.tenant,
      plan: record.plan,
      ...(record.crossTenant === undefined ? {} : { crossTenant: record.crossTenant }),
      ...(record.quota === undefined ? {} : { quota: record.quota }),
      service: record.service,
      scopes: scopesOmitted > 0 ? record.requestedScopes.slice(0, LOGGED_SCOPES) : record.requestedScopes,
      ...(scopesOmitted > 0 ? { scopesOmitted } : {}),
      granted: record.granted,
      outcome: event.outcome,
      reason: event.reason,
      jti: record.jti,
      ...(record.binding?.method === 'credential' ? { credential: record.binding.id } : {}),
      ...(record.operation === undefined ? {} : { operation: record.operation }),
      durationMs: Math.round(event.durationSeconds * 1000 * 100) / 100,
    };
    const what = event.operation === 'credential' ? 'credential' : 'token';
    if (event.reason === 'server_error') logger.error({ ...line, err: event.error }, what === 'token' ? 'token exchange failed' : 'credential issuance failed');
    else decisions.info(line, `${what} ${event.outcome === 'issued' ? 'issued' : 'refused'}`);
  };

  const rateLimits = config.rateLimits.enabled
    ? createRateLimits(config.rateLimits, {
        metrics,
        logger,
        counters: (name, options) => store.counters(name, options),
        rememberAndCount: (proof, hit) => store.rememberAndCount(proof, hit),
      })
    : undefined;
  const pipeline = createPipeline({
    authenticator,
    authorizer,
    minter,
    ledger,
    requiredScopes: authority.requiredScopes,
    adminScope: config.admin.requiredScope,
    allowedServices: config.registry.allowedServices,
    credentials: credentialIssuer === undefined ? undefined : { issuer: credentialIssuer, requiredScope: credentialsConfig.requiredScope, ...(orderedIssuer === undefined ? {} : { orderedIssuer }) },
    clock,
    ...(rateLimits === undefined ? {} : { clientLimiter: rateLimits.clients }),
    quotas: createIssuanceQuotas(config.quotas, (name, options) => store.counters(name, options)),
    adminPolicy: { platformScope: config.admin.platformScope, tenancyRequired: config.tenancy.required },
    onDecision,
  });

  const trust = proxyaddr.compile(config.server.trustedProxies);
  let boundUrl = localUrl(config, config.server.port);
  const credentials = {
    publicUrl: config.server.publicUrl,
    localUrl: () => boundUrl,
    isTrustedProxy: (address: string | undefined) => address !== undefined && config.server.trustedProxies.length > 0 && trust(address, 0),
    requireClientCa: config.server.tls?.clientCaPath !== undefined,
    clientCertificateHeader: config.server.clientCertificateHeader,
  };

  const app = await buildApp({
    pipeline,
    logger,
    credentials,
    challenge: {
      dpopAlgorithms: authority.dpop.algorithms,
      realm: config.registry.realm,
      mtlsOffered: config.server.tls !== undefined || config.server.clientCertificateHeader !== undefined,
    },
    rateLimits,
    credentialsEnabled: credentialsConfig.enabled,
    trustedProxies: config.server.trustedProxies,
    nonces,
    requestTimeoutSeconds: config.server.requestTimeoutSeconds,
    ...(config.server.tls === undefined ? {} : { https: httpsOptions(config.server.tls) }),
    readiness: [
      { name: 'authority', check: async () => ((await accessTokens.ready()) ? undefined : 'the Authority signing keys are not loaded') },
      { name: 'signing', check: async () => undefined },
      {
        name: 'ledger',
        check: async () => { await ledger.check(); return undefined; },
        detail: () => {
          const spooled = ledger.spooled?.();
          return spooled === undefined ? undefined : { spoolDepth: spooled };
        },
      },
      { name: 'revocations', check: async () => { revocations.assertCurrent(); return undefined; } },
      storeReadiness(store, config.store.onStoreUnavailable),
    ],
    plugins: [
      (instance) => operatorRoutes(instance, { jwks: () => keys.current().jwks, telemetry: config.telemetry.metricsPort === undefined ? telemetry : undefined }),
      (instance) => adminRoutes(instance, {
        pipeline,
        ledger,
        revocations: store.revocations,
        credentials,
        onRevocationChange: refreshRevocations,
        bundles: credentialsConfig.enabled ? { signingKey: () => keys.current().active, issuer: config.signing.issuer, clock } : undefined,
      }),
    ],
  });
  app.addHook('onListen', async () => {
    const address = app.server.address();
    if (address !== null && typeof address === 'object') boundUrl = localUrl(config, address.port);
  });

  return {
    app,
    ledger,
    store,
    telemetry,
    pipeline,
    authorizer,
    keys,
    reload(next) {
      // Everything that can fail first: a refused reload leaves the old plans and keys in force.
      const nextKeys = loadKeySet(next.signing);
      const catalogue = compilePlans(next.plans, next.defaultPlan);
      authorizer.replaceCatalogue(catalogue);
      planNames = new Set(Object.keys(next.plans));
      revocations.setConfigured(next.revokedLicenses);
      const change = keys.replace(nextKeys);
      for (const warning of nextKeys.warnings) logger.warn(warning);
      logKeyChange(logger, change);
      return { keys: change };
    },
    refreshRevocations,
    async close() {
      revocationWatch.close();
      await app.close();
      await store.close();
      await ledger.close();
      await telemetry.shutdown();
    },
  };
}
