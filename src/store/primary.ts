// The primary driver: a worker of `server.workers > 1` with `store.driver: memory` keeps no
// state of its own. The memory store lives in the primary process (src/workers/store-host.ts)
// and every worker reaches it over the cluster IPC channel, so a proof replayed to another
// worker is refused there, limits count once for the host, and a revocation reaches all of
// them (the primary tells each worker of a change at once; the poll stays the safety net).
// Several hosts need the redis driver.
import { ReplayCacheFullError, ReplayShareExceededError, type ReplayCache } from '../authenticate/replay-cache.ts';
import { UnavailableError } from '../domain/errors.ts';
import type { Counters, ProofAndCount, Revocation, RevocationKind, RevocationStore, SharedStore, StoreDeps, WindowCount } from './store.ts';

/** An error as it crosses the channel. */
export interface LinkError {
  readonly name: string;
  readonly message: string;
  readonly retryAfterMs?: number;
}

/** The worker's end of its channel to the primary (src/workers/link.ts). */
export interface Link {
  call(op: string, ...args: unknown[]): Promise<unknown>;
  /** Called with each notice the primary sends (`revocations` after a change). */
  onNotice(listener: (kind: string) => void): () => void;
}

export interface PrimaryConnection {
  readonly link: Link;
  /**
   * Where runtime revocations live: `primary` (its revocations file at the top of ledger.path),
   * or `ledger` (the worker's own ledger store, MongoDB, shared by every process already).
   */
  readonly revocations: 'primary' | 'ledger';
}

export function openPrimaryStore(connection: PrimaryConnection, deps: Pick<StoreDeps, 'ledgerRevocations' | 'replay'>): SharedStore {
  const { link } = connection;
  const ask = async <T>(op: string, ...args: unknown[]): Promise<T> => {
    try {
      return (await link.call(op, ...args)) as T;
    } catch (error) {
      throw fromLink(error, deps.replay.perClient);
    }
  };
  const replay: ReplayCache = {
    remember: (key, expiresAt, client) => ask<boolean>('replay.remember', key, expiresAt, client),
  };
  const revocations: RevocationStore = connection.revocations === 'ledger'
    ? deps.ledgerRevocations
    : {
        list: () => ask<Revocation[]>('revocations.list'),
        put: (revocation) => ask<void>('revocations.put', revocation),
        delete: (kind: RevocationKind, value: string, tenant?: string) => ask<boolean>('revocations.delete', kind, value, tenant),
        watch(onChange) {
          return link.onNotice((kind) => {
            if (kind === 'revocations') onChange();
          });
        },
      };
  return {
    driver: 'memory (primary process)',
    replay,
    counters(name, options): Counters {
      return {
        incr: (key, windowMs) => ask<WindowCount>('counter.incr', name, options.maxKeys, key, windowMs),
        read: (key, windowMs) => ask<WindowCount>('counter.read', name, options.maxKeys, key, windowMs),
      };
    },
    // One question instead of two in a row: each waits for a turn of the worker's event loop
    // (other requests' signatures) before it is sent and again before its answer is read.
    rememberAndCount: (proof, hit) => ask<ProofAndCount>('replay.rememberAndCount', proof, hit),
    revocations,
    async check() {
      try {
        await link.call('check');
      } catch (error) {
        throw new Error(`the primary process does not answer: ${(error as Error).message}`);
      }
    },
    async close() {},
  };
}

/** The replay cache's own refusals keep their type; anything else means the primary is away. */
function fromLink(error: unknown, perClient: number): Error {
  const e = error as Partial<LinkError> & Error;
  if (e.name === 'ReplayShareExceededError') return new ReplayShareExceededError(perClient, e.retryAfterMs ?? 1000);
  if (e.name === 'ReplayCacheFullError') return Object.assign(new ReplayCacheFullError(0), { message: e.message });
  if (e.name === 'LinkClosedError') {
    return new UnavailableError('store_unavailable', 'the shared state store does not answer; no token is issued without it, retry shortly', {
      detail: `primary process: ${e.message}`,
      cause: error,
    });
  }
  // Anything else is the primary's own failure (a revocations file it cannot write, ...).
  return new UnavailableError('store_unavailable', 'the shared state store does not answer; no token is issued without it, retry shortly', {
    detail: `primary process: ${e.message ?? String(error)}`,
  });
}
