// Issuance quotas: registry tokens per minute per tenant and per licence, a hard gate like the
// licence itself, asked by the pipeline once a request is authorized (so what is counted is a
// token about to be minted, not a malformed or refused request). Counted in the shared store's
// counters: in this process with the memory driver, in Redis for every replica at once.
// No Fastify and no configuration module here: the limits arrive already validated.
import { TooManyRequestsError } from '../domain/errors.ts';
import type { Principal } from '../domain/types.ts';
import type { Counters, CounterOptions } from '../store/store.ts';

/** One kind of quota: a default for every key, and overrides by name. */
export interface QuotaLimit {
  /** Tokens per minute for a key without an override; undefined: no quota by default. */
  readonly tokensPerMinute?: number | undefined;
  readonly overrides: Readonly<Record<string, number>>;
}

export interface QuotaOptions {
  readonly perTenant: QuotaLimit;
  readonly perLicense: QuotaLimit;
}

export interface IssuanceQuotas {
  /**
   * Counts one token for the caller's tenant, then its licence; throws TooManyRequestsError
   * `quota_exceeded` naming the first quota used up (a token refused by the licence quota has
   * been counted against the tenant's: counting and checking are one atomic step per quota).
   */
  admit(principal: Pick<Principal, 'tenant' | 'license'>): Promise<void>;
}

export type CounterSource = (name: string, options: CounterOptions) => Counters;

const WINDOW_MS = 60_000;
/** Keys a memory-bound counter keeps; tenants and licences are far fewer than clients. */
const KEYS = 100_000;

export const noQuotas: IssuanceQuotas = { async admit() {} };

/** The limit for `key`, or undefined when it has none. */
export function limitFor(limit: QuotaLimit, key: string): number | undefined {
  return Object.hasOwn(limit.overrides, key) ? limit.overrides[key] : limit.tokensPerMinute;
}

function configured(limit: QuotaLimit): boolean {
  return limit.tokensPerMinute !== undefined || Object.keys(limit.overrides).length > 0;
}

export function createIssuanceQuotas(options: QuotaOptions, counters: CounterSource): IssuanceQuotas {
  const kinds = [
    { kind: 'tenant', noun: 'tenant', limit: options.perTenant, of: (p: Pick<Principal, 'tenant' | 'license'>) => p.tenant },
    { kind: 'license', noun: 'licence', limit: options.perLicense, of: (p: Pick<Principal, 'tenant' | 'license'>) => p.license },
  ]
    .filter((k) => configured(k.limit))
    .map((k) => ({ ...k, counters: counters(`quota-${k.kind}`, { maxKeys: KEYS }) }));
  if (kinds.length === 0) return noQuotas;
  return {
    async admit(principal) {
      for (const { kind, noun, limit, of, counters: counting } of kinds) {
        const key = of(principal);
        if (key === undefined) continue;
        const max = limitFor(limit, key);
        if (max === undefined) continue;
        const { current, ttl } = await counting.incr(key, WINDOW_MS);
        if (current <= max) continue;
        const retry = Math.max(1, Math.ceil(ttl / 1000));
        throw new TooManyRequestsError(
          `the issuance quota of ${noun} "${key}" (${max} tokens per minute) is used up; retry in ${retry} s`,
          { retryAfterSeconds: retry, quota: `${kind} ${key}` },
        );
      }
    },
  };
}
