// @fastify/rate-limit's own counter stores, used as the counters of the memory and redis drivers
// so that one well-tested implementation counts (its LRU for one process, its Lua INCR + PEXPIRE
// for Redis). The package exports them only as files, without types: this is the one place that
// loads them, with the little of their contract the drivers use.
import { createRequire } from 'node:module';
import type { Redis } from 'ioredis';
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

/** (continueExceeding, exponentialBackoff, client, keyPrefix): defines its scripts on the client. */
export const RedisStore = require('@fastify/rate-limit/store/RedisStore.js') as new (
  continueExceeding: boolean,
  exponentialBackoff: boolean,
  client: Redis,
  keyPrefix: string,
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
