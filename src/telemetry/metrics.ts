// Metrics: the pipeline depends on the `Metrics` interface only; `createTelemetry` backs it with
// the OpenTelemetry SDK and renders Prometheus text on demand for the app's own GET /metrics.
// Nothing listens, no timer runs and nothing is registered globally: a pull reader collects at
// each scrape and the Prometheus exporter's serializer renders it.
import type { PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import type { ReasonCode } from '../domain/errors.ts';

export interface Metrics {
  /** `tenant`: a value from tenantLabel (a configured tenant, `other`, or `none`, the default). */
  issued(labels: { service: string; plan: string; tenant?: string }): void;
  rejected(labels: { service: string; plan: string; reason: ReasonCode; tenant?: string }): void;
  /** One decision that refused a scope as another tenant's namespace (granting the rest, or nothing). */
  crossTenant(labels: { tenant: string }): void;
  /** One exchange refused by an issuance quota, by which kind of quota. */
  quotaExceeded(labels: { quota: 'tenant' | 'license'; tenant: string }): void;
  /** Duration of one /token exchange, in seconds. */
  tokenDuration(seconds: number, labels: { outcome: 'issued' | 'rejected' }): void;
  /** One POST /credentials decision. */
  credential(labels: { outcome: 'issued' | 'rejected'; plan: string; reason: ReasonCode | 'none' }): void;
  jwksRefresh(outcome: 'success' | 'failure'): void;
  /** Latency of one durable ledger append as seen by a request, in seconds. */
  ledgerWrite(seconds: number): void;
  /** One request refused with 429 by a rate limit (`rateLimits`). */
  rateLimited(limit: RateLimitName): void;
  /** Seconds since runtime revocations were last read, asked at each scrape (the last reader given wins). */
  observeRevocationsAge(read: () => number | undefined): void;
  /** Records waiting in the ledger spool, asked at each scrape. */
  observeSpoolDepth(read: () => number | undefined): void;
  /** One round trip to the shared store (`store.driver: redis`): what for, its outcome, how long. */
  storeCommand(operation: StoreOperationName, outcome: 'ok' | 'error', seconds: number): void;
  /** Unexpired DPoP proofs in the replay cache and its capacity, asked at each scrape (memory driver). */
  observeReplayCache(read: () => { entries: number; capacity: number } | undefined): void;
  /** The shared store's driver and whether its last round trip answered, asked at each scrape. */
  observeStore(read: () => { driver: string; up: boolean }): void;
}

export type StoreOperationName = 'replay' | 'counter' | 'revocations' | 'check';
const STORE_OPERATIONS: readonly StoreOperationName[] = ['replay', 'counter', 'revocations', 'check'];

export type RateLimitName = 'per_address' | 'per_client' | 'failed_auth';

export const noMetrics: Metrics = {
  issued() {},
  rejected() {},
  crossTenant() {},
  quotaExceeded() {},
  tokenDuration() {},
  credential() {},
  jwksRefresh() {},
  ledgerWrite() {},
  rateLimited() {},
  observeRevocationsAge() {},
  observeSpoolDepth() {},
  storeCommand() {},
  observeReplayCache() {},
  observeStore() {},
};

/** Prometheus text exposition format 0.0.4, what every Prometheus version scrapes. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Bucket bounds in seconds: an exchange is a few ms of signing plus a ledger append. */
export const REQUEST_DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** A loopback or same-zone Redis answers in well under a millisecond; the command timeout caps the top. */
export const STORE_COMMAND_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
export const LEDGER_WRITE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

/** Value that replaces label values beyond the cardinality cap. */
export const OVERFLOW_LABEL = 'other';

/**
 * The `tenant` label value: only tenants named in `telemetry.tenants` get their own, every other
 * tenant is `other` and a caller without one `none`, so the series count is bounded by the
 * configuration, never by what callers claim.
 */
export function tenantLabel(configured: readonly string[]): (tenant: string | undefined) => string {
  const named = new Set(configured);
  return (tenant) => (tenant === undefined ? 'none' : named.has(tenant) ? tenant : OVERFLOW_LABEL);
}

export interface TelemetryOptions {
  /**
   * Distinct values kept per label (`service`, `plan`) before new ones are counted as
   * "other". `service` may echo what a caller asked for when any service is allowed, so a
   * caller must not be able to grow the series count without bound.
   */
  maxLabelValues?: number;
}

export interface Telemetry {
  metrics: Metrics;
  /** The current exposition, for the app's GET /metrics route. */
  scrape(): Promise<{ contentType: string; body: string }>;
  shutdown(): Promise<void>;
}

/** Caps the distinct values of one label; '' would drop the label in Prometheus, so it is named. */
function boundedLabel(max: number): (value: string) => string {
  const seen = new Set<string>();
  return (value) => {
    const v = value === '' ? 'none' : value;
    if (seen.has(v)) return v;
    if (seen.size >= max) return OVERFLOW_LABEL;
    seen.add(v);
    return v;
  };
}

/**
 * What PrometheusExporter is with its server never started (cumulative, default aggregation:
 * MetricReader's defaults), without loading the exporter's package at start-up: it and the
 * OpenTelemetry resources it brings are ~75 ms of every worker's start (docs/performance.md).
 * The exporter's serializer is loaded at the first scrape.
 */
class PullReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

export function createTelemetry(options: TelemetryOptions = {}): Telemetry {
  const maxLabelValues = options.maxLabelValues ?? 100;
  // Scope labels (otel_scope_name) and target_info add nothing for a single-process service;
  // Prometheus attaches job/instance itself.
  const reader = new PullReader();
  const provider = new MeterProvider({ readers: [reader] });
  let serializer: Promise<PrometheusSerializer> | undefined;
  const meter = provider.getMeter('registry-token');

  // Counters are named without `_total`: the exporter appends it to monotonic sums, and so
  // does every other OpenTelemetry-to-Prometheus path. No `unit` is set: the serializer would
  // emit a `# UNIT` line, and the names already carry `_seconds`.
  const issued = meter.createCounter('registry_token_issued', {
    description: 'Registry tokens issued, by registry service and plan.',
  });
  const rejected = meter.createCounter('registry_token_rejected', {
    description: 'Token exchanges refused, by registry service, plan and reason code.',
  });
  const crossTenant = meter.createCounter('registry_token_cross_tenant', {
    description: "Decisions that refused a scope in another tenant's namespace, by the caller's tenant.",
  });
  const quotaExceeded = meter.createCounter('registry_token_quota_exceeded', {
    description: 'Token exchanges refused by an issuance quota, by quota kind (tenant, license) and tenant.',
  });
  const requestDuration = meter.createHistogram('registry_token_request_duration_seconds', {
    description: 'Duration of one token exchange in seconds, by outcome.',
    advice: { explicitBucketBoundaries: REQUEST_DURATION_BUCKETS },
  });
  const credentials = meter.createCounter('registry_token_credentials', {
    description: 'Registry credential decisions (POST /credentials), by outcome, plan and reason code.',
  });
  const jwksRefresh = meter.createCounter('registry_token_jwks_refresh', {
    description: 'Authority JWKS fetches, by outcome.',
  });
  const ledgerWrite = meter.createHistogram('registry_token_ledger_write_duration_seconds', {
    description: 'Latency of one durable issuance-ledger append in seconds.',
    advice: { explicitBucketBoundaries: LEDGER_WRITE_BUCKETS },
  });

  const rateLimited = meter.createCounter('registry_token_rate_limited', {
    description: 'Requests refused with 429 by a rate limit, by limit (per_address, per_client, failed_auth).',
  });
  const storeDuration = meter.createHistogram('registry_token_store_command_duration_seconds', {
    description: 'Round trips to the shared store (store.driver redis) in seconds, by operation and outcome.',
    advice: { explicitBucketBoundaries: STORE_COMMAND_BUCKETS },
  });
  const storeErrors = meter.createCounter('registry_token_store_errors', {
    description: 'Shared-store round trips that failed (unreachable, timed out, refused), by operation.',
  });
  // Gauges read at scrape time from whatever the service registered; no reader, no sample.
  let revocationsAge: () => number | undefined = () => undefined;
  let spoolDepth: () => number | undefined = () => undefined;
  const observed = (read: () => number | undefined) => (result: { observe(value: number): void }) => {
    const value = read();
    if (value !== undefined) result.observe(value);
  };
  meter
    .createObservableGauge('registry_token_revocations_age_seconds', {
      description: 'Seconds since runtime revocations were last read from the ledger store (since start-up before the first read).',
    })
    .addCallback(observed(() => revocationsAge()));
  meter
    .createObservableGauge('registry_token_spool_depth', {
      description: 'Ledger records waiting in the local spool for the store (ledger.onUnavailable: spool).',
    })
    .addCallback(observed(() => spoolDepth()));

  let replayCache: () => { entries: number; capacity: number } | undefined = () => undefined;
  let store: (() => { driver: string; up: boolean }) | undefined;
  const replayGauge = (pick: 'entries' | 'capacity') => (result: { observe(value: number): void }) => {
    const value = replayCache()?.[pick];
    if (value !== undefined) result.observe(value);
  };
  meter
    .createObservableGauge('registry_token_replay_cache_entries', {
      description: 'Unexpired DPoP proofs held by the replay cache (store.driver memory); at capacity, exchanges are refused with replay_cache_full.',
    })
    .addCallback(replayGauge('entries'));
  meter
    .createObservableGauge('registry_token_replay_cache_capacity', {
      description: 'Most proofs the replay cache holds (authority.dpop.replayCacheSize).',
    })
    .addCallback(replayGauge('capacity'));
  meter
    .createObservableGauge('registry_token_store_up', {
      description: 'Whether the shared store answered its last round trip (1) or not (0), by driver; the memory driver is always 1.',
    })
    .addCallback((result) => {
      const state = store?.();
      // The driver is one configured word (memory, redis): one series per process.
      if (state !== undefined) result.observe(state.up ? 1 : 0, { driver: state.driver });
    });

  // Both outcomes exist from the first scrape, so rate() and absent-series alerts work at once.
  jwksRefresh.add(0, { outcome: 'success' });
  jwksRefresh.add(0, { outcome: 'failure' });
  for (const limit of ['per_address', 'per_client', 'failed_auth'] as const) rateLimited.add(0, { limit });
  for (const operation of STORE_OPERATIONS) storeErrors.add(0, { operation });

  const service = boundedLabel(maxLabelValues);
  const plan = boundedLabel(maxLabelValues);
  // Already bounded by tenantLabel; capped again in case a caller passes raw values.
  const tenant = boundedLabel(maxLabelValues);

  // Attributes are built field by field so nothing else a caller passes becomes a label.
  const metrics: Metrics = {
    issued(labels) {
      issued.add(1, { service: service(labels.service), plan: plan(labels.plan), tenant: tenant(labels.tenant ?? 'none') });
    },
    rejected(labels) {
      rejected.add(1, { service: service(labels.service), plan: plan(labels.plan), reason: labels.reason, tenant: tenant(labels.tenant ?? 'none') });
    },
    crossTenant(labels) {
      crossTenant.add(1, { tenant: tenant(labels.tenant) });
    },
    quotaExceeded(labels) {
      quotaExceeded.add(1, { quota: labels.quota, tenant: tenant(labels.tenant) });
    },
    tokenDuration(seconds, labels) {
      requestDuration.record(seconds, { outcome: labels.outcome });
    },
    credential(labels) {
      credentials.add(1, { outcome: labels.outcome, plan: plan(labels.plan), reason: labels.reason });
    },
    jwksRefresh(outcome) {
      jwksRefresh.add(1, { outcome });
    },
    ledgerWrite(seconds) {
      ledgerWrite.record(seconds);
    },
    rateLimited(limit) {
      rateLimited.add(1, { limit });
    },
    observeRevocationsAge(read) {
      revocationsAge = read;
    },
    observeSpoolDepth(read) {
      spoolDepth = read;
    },
    observeReplayCache(read) {
      replayCache = read;
    },
    observeStore(read) {
      store = read;
    },
    storeCommand(operation, outcome, seconds) {
      storeDuration.record(seconds, { operation, outcome });
      if (outcome === 'error') storeErrors.add(1, { operation });
    },
  };

  return {
    metrics,
    async scrape() {
      serializer ??= import('@opentelemetry/exporter-prometheus').then(({ PrometheusSerializer: Serializer }) => new Serializer(undefined, false, undefined, true, true));
      const { resourceMetrics } = await reader.collect();
      const text = (await serializer).serialize(resourceMetrics);
      // With no samples yet the serializer returns "# no registered metrics" without a final
      // newline, which Prometheus's parser rejects ("unexpected end of input stream").
      return { contentType: PROMETHEUS_CONTENT_TYPE, body: text.endsWith('\n') ? text : `${text}\n` };
    },
    async shutdown() {
      await provider.shutdown();
    },
  };
}
