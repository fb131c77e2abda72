// The shared-state entry point: picks the driver named by `store.driver` and, with
// `onStoreUnavailable: local`, lets it fall back to this process's memory. Callers see only
// SharedStore (store.ts).
import type { Ledger } from '../record/ledger.ts';
import { withLocalFallback } from './fallback.ts';
import { openMemoryStore } from './memory.ts';
import { openPrimaryStore } from './primary.ts';
import type { RedisConnection } from './redis.ts';
import type { RevocationStore, SharedStore, StoreDeps } from './store.ts';

export interface StoreConfig {
  readonly driver: 'memory' | 'redis';
  readonly redis?: RedisConnection | undefined;
  readonly onStoreUnavailable: 'fail-closed' | 'local';
}

export async function openStore(config: StoreConfig, deps: StoreDeps): Promise<SharedStore> {
  // A worker of several keeps the memory store in its primary process, shared by all workers.
  if (config.driver === 'memory') return deps.primary === undefined ? openMemoryStore(deps) : openPrimaryStore(deps.primary, deps);
  // The schema requires this section for the redis driver; checked again for a hand-built config.
  if (config.redis === undefined) throw new TypeError('store.redis is required when store.driver is redis');
  // Loaded only when used: a single replica never needs the client.
  const { openRedisStore } = await import('./redis.ts');
  const shared = await openRedisStore(config.redis, deps);
  return config.onStoreUnavailable === 'local' ? withLocalFallback(shared, openMemoryStore(deps), deps.logger) : shared;
}

/** Runtime revocations where the ledger keeps them (revocations.json, MongoDB): the memory driver's. */
export function ledgerRevocations(ledger: Pick<Ledger, 'listRevocations' | 'putRevocation' | 'deleteRevocation'>): RevocationStore {
  return {
    list: () => ledger.listRevocations(),
    put: (revocation) => ledger.putRevocation(revocation),
    delete: (kind, value, tenant) => ledger.deleteRevocation(kind, value, tenant),
  };
}

export type { Counters, CounterOptions, RevocationStore, SharedStore, StoreDeps, StoreOperation, WindowCount } from './store.ts';
export type { RedisConnection } from './redis.ts';
export type { Link, PrimaryConnection } from './primary.ts';
export { watchRevocations } from './revocation-watch.ts';
export type { RevocationWatch } from './revocation-watch.ts';
