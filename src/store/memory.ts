// The memory driver: one process's state, as the service always kept it. The replay cache and the
// rate-limit counters live in this process; runtime revocations stay where the ledger keeps them
// (revocations.json or MongoDB), re-read by every replica. Right for one replica; behind a load
// balancer use the redis driver, or a proof replayed to another replica is accepted there.
import { MemoryReplayCache } from '../authenticate/replay-cache.ts';
import { countersOn, LocalStore } from './rate-limit-stores.ts';
import type { Counters, SharedStore, StoreDeps } from './store.ts';

export function openMemoryStore(deps: Pick<StoreDeps, 'replay' | 'ledgerRevocations' | 'now'>): SharedStore {
  const replay = new MemoryReplayCache(deps.replay.capacity, { perClient: deps.replay.perClient, now: deps.now });
  return {
    driver: 'memory',
    replay,
    counters: (_name, options): Counters => countersOn(new LocalStore(false, false, options.maxKeys)),
    revocations: deps.ledgerRevocations,
    async check() {},
    async close() {},
  };
}
