// Rate limits (`rateLimits`) on @fastify/rate-limit's counters: per source address on every
// limited request, per failed authentication from an address (fail2ban-like: past the limit the
// address is refused for the rest of the window), both by the plugin's checkers in the request
// hooks, and per authenticated client, which the pipeline asks through ClientLimiter after
// authentication, on the same counters, together with the proof's first use (one question to
// the store instead of two in a row, counted only for a fresh proof). Refusals are TooManyRequestsError,
// so the one renderer (src/http/errors.ts) writes them; the plugin never answers itself.
// The counts live in the shared store's counters (src/store/): in this process, or in Redis
// for all replicas; a store that cannot count refuses with its own 503 store_unavailable.
import rateLimit, { normalizeIP } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { TooManyRequestsError } from '../domain/errors.ts';
import type { Counters, SharedStore, WindowCount } from '../store/store.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { ClientLimiter } from './client-limiter.ts';
import { RefusedAddresses, type AddressLimit } from './refused-addresses.ts';

export interface Limit {
  max: number;
  windowSeconds: number;
}

export interface RateLimitOptions {
  perAddress: Limit;
  perClient: Limit;
  failedAuthPerAddress: Limit;
}

export interface RateLimitHooks {
  /** Whether a routed request is limited at all (health probes and metrics are not). */
  applies(request: FastifyRequest): boolean;
  /** Whether an answered request was a failed authentication (credentials presented, refused). */
  failedAuthentication(request: FastifyRequest): boolean;
}

export interface RateLimits {
  readonly clients: ClientLimiter;
  /** Registers the per-address and failed-authentication counters and their hooks on the app. */
  install(app: FastifyInstance, hooks: RateLimitHooks): Promise<void>;
}

type Checker = ReturnType<FastifyInstance['createRateLimit']>;
type PluginCallback = (error: Error | null, result: { current: number; ttl: number } | null) => void;

/** Keys per counter before the least recently used is dropped: bounded memory under a spread flood. */
const KEYS_PER_LIMIT = 100_000;

/** Addresses remembered as refused (refused-addresses.ts): a spread flood drops the oldest. */
const REFUSED_ADDRESSES = 10_000;

/** The remaining window in milliseconds, when the key is at or over `max`. */
async function overLimit(check: Checker, request: FastifyRequest, increment: boolean): Promise<number | undefined> {
  const result = await check(request, { increment });
  if (result.isAllowed) return undefined;
  const over = increment ? result.isExceeded : result.remaining === 0 && result.ttl > 0;
  return over ? result.ttl : undefined;
}

/**
 * The plugin's custom `store`: it makes one for its defaults and asks each createRateLimit for a
 * child with that limit's options, where `counter` names the limit and so its own counters.
 */
function pluginStore(counters: SharedStore['counters']) {
  return class SharedCounters {
    readonly #counters: Counters | undefined;
    constructor(params: { counter?: string }) {
      this.#counters = params.counter === undefined ? undefined : counters(params.counter, { maxKeys: KEYS_PER_LIMIT });
    }
    child(params: { counter?: string }): SharedCounters {
      return new SharedCounters(params);
    }
    incr(key: string, callback: PluginCallback, timeWindow: number): void {
      this.#use().incr(key, timeWindow).then((count) => callback(null, count), (error: Error) => callback(error, null));
    }
    read(key: string, callback: PluginCallback, timeWindow: number): void {
      this.#use().read(key, timeWindow).then((count) => callback(null, count), (error: Error) => callback(error, null));
    }
    #use(): Counters {
      if (this.#counters === undefined) throw new Error('a rate limit without a counter name');
      return this.#counters;
    }
  };
}

function per(limit: Limit): string {
  return `at most ${limit.max} in ${limit.windowSeconds} s`;
}

export function createRateLimits(
  options: RateLimitOptions,
  deps: { metrics: Metrics; logger: Logger; counters: SharedStore['counters']; rememberAndCount: SharedStore['rememberAndCount'] },
): RateLimits {
  const { metrics, logger } = deps;
  // The plugin's own checker would need an HTTP request, and cannot be asked with the proof:
  // the window's count is judged here as the plugin judges it (over when current > max).
  const perClient = { counter: 'per-client', maxKeys: KEYS_PER_LIMIT, windowMs: options.perClient.windowSeconds * 1000 };
  const perClientCounters = deps.counters(perClient.counter, perClient);

  const clients: ClientLimiter = {
    async admit(principal, proof) {
      const key = principal.subject;
      let count: WindowCount;
      if (proof === undefined) {
        count = await perClientCounters.incr(key, perClient.windowMs);
      } else {
        const answer = deps.rememberAndCount(proof.use, { ...perClient, key });
        await proof.judge(answer.then(({ fresh }) => fresh));
        // judge resolved: the proof was fresh, so it was counted.
        count = (await answer).count!;
      }
      if (count.current <= options.perClient.max) return;
      const retryAfterSeconds = Math.ceil(count.ttl / 1000);
      metrics.rateLimited('per_client');
      throw new TooManyRequestsError(
        `too many token requests by this client (${per(options.perClient)}); retry in ${retryAfterSeconds} s`,
        { retryAfterSeconds },
      );
    },
  };

  async function install(app: FastifyInstance, hooks: RateLimitHooks): Promise<void> {
    // global: false: nothing is limited by the plugin's own route hooks; our hooks decide.
    await app.register(rateLimit, { global: false, store: pluginStore(deps.counters) } as Parameters<typeof rateLimit>[1]);
    const counter = (name: string, limit: Limit, extra: { keyGenerator?: (request: FastifyRequest) => string } = {}) =>
      app.createRateLimit({ counter: name, max: limit.max, timeWindow: limit.windowSeconds * 1000, ...extra } as Parameters<FastifyInstance['createRateLimit']>[0]);
    // request.ip (trustedProxies decide it), IPv6 by its /64, which one host can fill at will.
    // It is undefined only for a socket already gone; those share one key.
    const address = { keyGenerator: (request: FastifyRequest) => normalizeIP(request.ip ?? 'gone', 64) };
    const perAddress = counter('per-address', options.perAddress, address);
    const failedAuth = counter('failed-auth', options.failedAuthPerAddress, address);

    const refused = new RefusedAddresses(REFUSED_ADDRESSES);
    const refusal = (limit: AddressLimit, remainingMs: number) => {
      const retryAfterSeconds = Math.ceil(remainingMs / 1000);
      metrics.rateLimited(limit);
      const why = limit === 'failed_auth'
        ? `too many failed authentications from this address (${per(options.failedAuthPerAddress)})`
        : `too many requests from this address (${per(options.perAddress)})`;
      return new TooManyRequestsError(`${why}; retry in ${retryAfterSeconds} s`, { retryAfterSeconds });
    };

    app.addHook('onRequest', async (request) => {
      if (!hooks.applies(request)) return;
      const key = address.keyGenerator(request);
      const known = refused.get(key);
      if (known !== undefined) throw refusal(known.limit, known.remainingMs);
      // Both asked at once: with workers (or Redis) each question is a round trip, and a request
      // waited for two of them in a row before anything else. An address refused for its failed
      // authentications is counted per address too; it is refused either way.
      const [blockedMs, overMs] = await Promise.all([overLimit(failedAuth, request, false), overLimit(perAddress, request, true)]);
      if (blockedMs !== undefined) {
        refused.add(key, 'failed_auth', blockedMs);
        throw refusal('failed_auth', blockedMs);
      }
      if (overMs !== undefined) {
        refused.add(key, 'per_address', overMs);
        throw refusal('per_address', overMs);
      }
    });

    app.addHook('onResponse', async (request) => {
      if (!hooks.applies(request) || !hooks.failedAuthentication(request)) return;
      // The answer is sent: a store that cannot count this failure leaves only the store metric.
      const result = await failedAuth(request).catch(() => undefined);
      if (result === undefined) return;
      if (!result.isAllowed && result.remaining === 0 && !result.isExceeded) {
        // Said once per window: by the failure that reached the limit (current === max).
        logger.warn({ address: request.ip, failures: result.max, retryAfterSeconds: result.ttlInSeconds }, 'address refused after too many failed authentications');
      }
    });
  }

  return { clients, install };
}
