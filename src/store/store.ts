// The state that replicas (or workers) must share to behave as one service, behind one narrow
// interface: DPoP replay detection, rate-limit counters and runtime revocations. One driver per
// file: memory.ts (one process, today's behaviour), redis.ts (any number of replicas); the
// factory in index.ts picks one by `store.driver`. Nothing here knows Fastify or src/config.
import type { ProofUse, ReplayCache } from '../authenticate/replay-cache.ts';
import type { Revocation, RevocationKind } from '../record/ledger.ts';
import type { PrimaryConnection } from './primary.ts';

export type { PrimaryConnection, ProofUse, ReplayCache, Revocation, RevocationKind };

/**
 * A fixed window's count, in the shape @fastify/rate-limit's store contract reports it
 * (`{ current, ttl }`), so src/limits adapts it without translation.
 */
export interface WindowCount {
  /** Hits counted in the open window (including this one, for `incr`); 0 when none is open. */
  readonly current: number;
  /** Milliseconds until the open window closes; 0 when none is open. */
  readonly ttl: number;
}

/** One limit's counters. Keys of one `counters(name)` never meet those of another name. */
export interface Counters {
  /**
   * Counts one hit on `key`. A key without an open window opens one of `windowMs` that does not
   * slide: later hits neither extend nor restart it.
   */
  incr(key: string, windowMs: number): Promise<WindowCount>;
  /**
   * The key's count without adding to it (or `{ current: 0, ttl: 0 }` when no window is open).
   * `windowMs` is the same limit's window: a driver that keeps only each window's start needs it.
   */
  read(key: string, windowMs: number): Promise<WindowCount>;
}

export interface CounterOptions {
  /** Keys one process may hold for this limit (memory-bound drivers drop the least recently used). */
  readonly maxKeys: number;
}

/** One hit on one key of the limit called `counter` (the same counters as `counters(counter)`). */
export interface CounterHit extends CounterOptions {
  readonly counter: string;
  readonly key: string;
  readonly windowMs: number;
}

/** `rememberAndCount`'s answer: `count` is there when the proof was fresh, and only then. */
export interface ProofAndCount {
  readonly fresh: boolean;
  readonly count: WindowCount | undefined;
}

/** Runtime revocations (admin API), in whatever the store keeps them. */
export interface RevocationStore {
  list(): Promise<Revocation[]>;
  /** Adds or replaces the revocation of (kind, value). */
  put(revocation: Revocation): Promise<void>;
  /** Resolves true when something was removed; `tenant` undefined: the platform-wide one. */
  delete(kind: RevocationKind, value: string, tenant?: string): Promise<boolean>;
  /**
   * Optional push: `onChange` is called when any replica changed the list, so it is re-read
   * before the next poll. Polling (`ledger.revocationPollSeconds`) stays the safety net, and the
   * RevocationSet's freshness rule judges the polls. Returns the unsubscribe.
   */
  watch?(onChange: () => void): () => void;
}

/**
 * A driver that cannot reach what backs it rejects within its command timeout with
 * UnavailableError `store_unavailable` (src/domain/errors.ts), never hangs; the replay cache
 * keeps its own ReplayShareExceededError / ReplayCacheFullError for a full share or cache.
 */
export interface SharedStore {
  /** `memory`, `redis`, ...: for logs and readiness detail. */
  readonly driver: string;
  readonly replay: ReplayCache;
  /** Counters of the limit called `name` (`per-address`, `failed-auth`, `per-client`). */
  counters(name: string, options: CounterOptions): Counters;
  /**
   * A proof's first use and its client's count: remembers the proof as `replay.remember` does
   * and, only when it was fresh, counts `hit` as `counters(hit.counter).incr` does (a replayed
   * proof must not spend its victim's budget). One question: one IPC message to the primary
   * process, one Redis script; in this process, the two in turn. Throws what `remember` throws.
   */
  rememberAndCount(proof: ProofUse, hit: CounterHit): Promise<ProofAndCount>;
  readonly revocations: RevocationStore;
  /** Resolves when the store answers now; throws (its message is the readiness reason) when not. */
  check(): Promise<void>;
  /** Stops timers and subscriptions, closes connections. */
  close(): Promise<void>;
}

/** What every driver is built from, besides its own configuration section. */
export interface StoreDeps {
  /** The replay cache's bounds: authority.dpop.replayCacheSize and replayCachePerClient. */
  readonly replay: { readonly capacity: number; readonly perClient: number };
  /** Runtime revocations where the ledger keeps them, for drivers that keep none of their own. */
  readonly ledgerRevocations: RevocationStore;
  /** Milliseconds since the epoch (the service's clock). */
  readonly now: () => number;
  readonly logger: StoreLogger;
  /** Told each round trip to a remote store: its outcome and duration (metrics). */
  readonly onCommand?: (operation: StoreOperation, outcome: 'ok' | 'error', seconds: number) => void;
  /** Set in a worker of several (src/workers/): the memory driver is then the primary's (primary.ts). */
  readonly primary?: PrimaryConnection | undefined;
}

export type StoreOperation = 'replay' | 'counter' | 'revocations' | 'check';

/** pino's Logger fits. */
export interface StoreLogger {
  info(object: object, message: string): void;
  warn(object: object, message: string): void;
  error(object: object, message: string): void;
}
