// The memory driver: one process's state, as the service always kept it. The replay cache and the
// rate-limit counters live in this process; runtime revocations stay where the ledger keeps them
// (revocations.json or MongoDB), re-read by every replica. Right for one replica; behind a load
// balancer use the redis driver, or a proof replayed to another replica is accepted there.
import { MemoryReplayCache } from '../authenticate/replay-cache.ts';
import { countersOn, LocalStore } from './rate-limit-stores.ts';
import type { Counters, SharedStore, StoreDeps } from './store.ts';

export function openMemoryStore(deps: Pick<StoreDeps, 'replay' | 'ledgerRevocations' | 'now'>): SharedStore {
  const replay = new MemoryReplayCache(deps.replay.capacity, { perClient: deps.replay.perClient, now: deps.now });
  // One set of counters per limit name, however often (and by whom) it is asked for: the
  // rate-limit plugin's checkers and rememberAndCount count the same hits.
  const byName = new Map<string, Counters>();
  const counters: SharedStore['counters'] = (name, options) => {
    let found = byName.get(name);
    if (found === undefined) {
      found = countersOn(new LocalStore(false, false, options.maxKeys));
      byName.set(name, found);
    }
    return found;
  };
  return {
    driver: 'memory',
    replay,
    counters,
    // In this process the two questions cost no more than one.
    async rememberAndCount(proof, hit) {
      const fresh = replay.remember(proof.key, proof.expiresAt, proof.client);
      if (!fresh) return { fresh, count: undefined };
      return { fresh, count: await counters(hit.counter, hit).incr(hit.key, hit.windowMs) };
    },
    revocations: deps.ledgerRevocations,
    async check() {},
    async close() {},
  };
}
