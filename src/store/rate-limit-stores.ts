// @fastify/rate-limit's own in-process counter store, used as the counters of the memory driver
// so that a well-tested bounded LRU of fixed windows counts. (The redis driver counts with its own
// script, on the layout of the plugin's RedisStore, because the proof's script counts in the same
// round trip: redis.ts.) The package exports its stores only as files, without types: this is
// the one place that loads one, with the little of its contract the driver uses.
import { createRequire } from 'node:module';
import type { WindowCount } from './store.ts';

type Callback = (error: Error | null, result: WindowCount | null) => void;

/** The store contract: `incr(key, cb, timeWindow, max)`, `read(key, cb, timeWindow, max)`. */
export interface PluginCounterStore {
  incr(key: string, callback: Callback, timeWindow: number, max: number): void;
  read(key: string, callback: Callback, timeWindow: number, max: number): void;
}

const require = createRequire(import.meta.url);

/** (continueExceeding, exponentialBackoff, cache): a bounded LRU of fixed windows. */
export const LocalStore = require('@fastify/rate-limit/store/LocalStore.js') as new (
  continueExceeding: boolean,
  exponentialBackoff: boolean,
  cache: number,
) => PluginCounterStore;

/** Fixed windows only: neither extended while exceeded nor backed off (the plugin's defaults). */
export function countersOn(store: PluginCounterStore) {
  const call = (method: 'incr' | 'read', key: string, windowMs: number) =>
    new Promise<WindowCount>((resolve, reject) => {
      // `max` matters only for continueExceeding / exponentialBackoff, both off.
      // Only the contract's two fields: the local store adds its own, which would cross IPC.
      store[method](key, (error, result) => (error === null ? resolve({ current: result!.current, ttl: result!.ttl }) : reject(error)), windowMs, 0);
    });
  return {
    incr: (key: string, windowMs: number) => call('incr', key, windowMs),
    read: (key: string, windowMs: number) => call('read', key, windowMs),
  };
}
