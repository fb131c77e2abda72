// The primary's side of the primary store driver (src/store/primary.ts): one memory store for
// every worker of this host, answering their requests over IPC. The replay cache and the rate
// limit counters are @fastify/rate-limit's and the service's own memory implementations, held
// here once; runtime revocations are the file at the top of ledger.path (a single process keeps
// them there too, so going from one worker to several keeps them).
import { openMemoryStore } from '../store/memory.ts';
import type { CounterHit, ProofUse, Revocation, RevocationKind, RevocationStore, SharedStore } from '../store/store.ts';
import type { Handlers } from './link.ts';

export interface StoreHost {
  readonly handlers: Handlers;
  close(): Promise<void>;
}

export interface StoreHostOptions {
  readonly replay: { readonly capacity: number; readonly perClient: number };
  /** Where revocations live when the primary keeps them; undefined when workers read their own ledger's. */
  readonly revocations: RevocationStore | undefined;
  /** Told after every change, so that each worker re-reads at once. */
  readonly onRevocationChange: () => void;
  /** Milliseconds since the epoch (tests move it). */
  readonly now?: () => number;
}

export function openStoreHost(options: StoreHostOptions): StoreHost {
  const none = async (): Promise<never> => {
    throw new Error('runtime revocations are kept in the ledger store, not in the primary process');
  };
  const revocations = options.revocations ?? { list: none, put: none, delete: none };
  const store: SharedStore = openMemoryStore({ replay: options.replay, ledgerRevocations: revocations, now: options.now ?? Date.now });
  // The memory store keeps one set of counters per limit name, however many workers ask for it.
  const countersOf = (name: string, maxKeys: number) => store.counters(name, { maxKeys });
  const changed = <T>(result: T): T => {
    options.onRevocationChange();
    return result;
  };
  const handlers = {
    'replay.remember': (key: string, expiresAt: number, client: string) => store.replay.remember(key, expiresAt, client),
    'replay.rememberAndCount': (proof: ProofUse, hit: CounterHit) => store.rememberAndCount(proof, hit),
    'counter.incr': (name: string, maxKeys: number, key: string, windowMs: number) => countersOf(name, maxKeys).incr(key, windowMs),
    'counter.read': (name: string, maxKeys: number, key: string, windowMs: number) => countersOf(name, maxKeys).read(key, windowMs),
    'revocations.list': () => revocations.list(),
    'revocations.put': async (revocation: Revocation) => changed(await revocations.put(revocation)),
    'revocations.delete': async (kind: RevocationKind, value: string, tenant?: string) => changed(await revocations.delete(kind, value, tenant ?? undefined)),
    check: () => undefined,
  } satisfies Handlers;
  return { handlers, close: () => store.close() };
}
