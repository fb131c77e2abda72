// `SharedStore.rememberAndCount` as two questions in turn, for the drivers where that costs no
// more than one: in this process (memory), or where the counters are @fastify/rate-limit's own
// Redis script and folding them into the proof's script would make a second counting mechanism.
import type { ReplayCache } from '../authenticate/replay-cache.ts';
import type { SharedStore } from './store.ts';

export function rememberThenCount(replay: ReplayCache, counters: SharedStore['counters']): SharedStore['rememberAndCount'] {
  return async (proof, hit) => {
    const fresh = await replay.remember(proof.key, proof.expiresAt, proof.client);
    if (!fresh) return { fresh, count: undefined };
    return { fresh, count: await counters(hit.counter, hit).incr(hit.key, hit.windowMs) };
  };
}
