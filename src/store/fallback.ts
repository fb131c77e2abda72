// `store.onStoreUnavailable: local`: while the shared store does not answer, the replay cache and
// the rate-limit counters fall back to this replica's memory, so tokens keep being issued. What
// that risks is the memory driver's: a proof replayed to another replica is accepted there, and
// each replica counts its own share of every limit. Revocations never fall back: the last list
// read is kept and judged by the RevocationSet's freshness rule, as with every store.
import { UnavailableError } from '../domain/errors.ts';
import type { Counters, SharedStore, StoreLogger } from './store.ts';

const unavailable = (error: unknown) => error instanceof UnavailableError && error.reason === 'store_unavailable';

export function withLocalFallback(shared: SharedStore, local: SharedStore, logger: StoreLogger): SharedStore {
  let degraded = false;
  const attempt = async <T>(remote: () => Promise<T> | T, fallback: () => Promise<T> | T): Promise<T> => {
    try {
      const result = await remote();
      if (degraded) logger.info({ store: shared.driver }, 'store: shared store answers again; replay cache and rate limits are shared again');
      degraded = false;
      return result;
    } catch (error) {
      if (!unavailable(error)) throw error;
      if (!degraded) {
        logger.warn({ store: shared.driver, err: { message: (error as UnavailableError).detail } }, 'store: shared store unavailable; onStoreUnavailable is local: replay cache and rate limits are this replica\'s own until it is back');
      }
      degraded = true;
      return fallback();
    }
  };
  return {
    driver: shared.driver,
    replay: {
      remember: (key, expiresAt, client) =>
        attempt(() => shared.replay.remember(key, expiresAt, client), () => local.replay.remember(key, expiresAt, client)),
    },
    counters(name, options): Counters {
      const remote = shared.counters(name, options);
      const own = local.counters(name, options);
      return {
        incr: (key, windowMs) => attempt(() => remote.incr(key, windowMs), () => own.incr(key, windowMs)),
        read: (key, windowMs) => attempt(() => remote.read(key, windowMs), () => own.read(key, windowMs)),
      };
    },
    rememberAndCount: (proof, hit) => attempt(() => shared.rememberAndCount(proof, hit), () => local.rememberAndCount(proof, hit)),
    revocations: shared.revocations,
    check: () => shared.check(),
    async close() {
      await Promise.all([shared.close(), local.close()]);
    },
  };
}
