// DPoP proof `jti` replay detection (RFC 9449 section 11.1) behind a small interface, so that
// several replicas can share one store later (Redis, MongoDB) without touching the stage.
import { ExpiryQueue } from './expiry-queue.ts';

/** One proof's first use, as the replay cache remembers it. */
export interface ProofUse {
  /** Names the proof (its key's thumbprint and its jti): whoever presents it again replays it. */
  readonly key: string;
  /** Epoch ms: the last instant the proof could still be accepted. */
  readonly expiresAt: number;
  /** Whose share of the cache it takes. */
  readonly client: string;
}

export interface ReplayCache {
  /**
   * Remembers `key` for `client` until `expiresAt` (epoch ms). Resolves false when the key was
   * already there, i.e. the proof is a replay. Throws ReplayShareExceededError when `client`
   * holds its whole share, ReplayCacheFullError when no room is left at all.
   */
  remember(key: string, expiresAt: number, client: string): boolean | Promise<boolean>;
  /**
   * Unexpired proofs held and the most it may hold, for the pressure gauge; only where counting
   * is cheap (this process's cache: a shared store would have to scan every key).
   */
  occupancy?(): { entries: number; capacity: number };
}

/** The cache holds only unexpired proofs and no room is left: refusing is the only safe answer. */
export class ReplayCacheFullError extends Error {
  constructor(capacity: number) {
    super(`DPoP replay cache is full (${capacity} unexpired proofs); raise authority.dpop.replayCacheSize`);
    this.name = 'ReplayCacheFullError';
  }
}

/** One client holds as many unexpired proofs as it may; room comes back in `retryAfterMs`. */
export class ReplayShareExceededError extends Error {
  readonly retryAfterMs: number;
  constructor(share: number, retryAfterMs: number) {
    super(`this client already holds ${share} unexpired DPoP proofs (authority.dpop.replayCachePerClient)`);
    this.name = 'ReplayShareExceededError';
    this.retryAfterMs = retryAfterMs;
  }
}

interface Entry {
  readonly expiresAt: number;
  readonly client: string;
}

/**
 * One process's bounded cache. Each entry lives until its own expiry (the proof's iat plus the
 * acceptance window), so a heap, not insertion order, says which expires next. When every entry
 * is still unexpired it fails closed: dropping one would let that proof be replayed. Each client
 * may hold at most `perClient` entries, so one client filling the cache refuses only itself.
 * Only proofs that passed every other check (a valid OpTok bound to the proof key) get here.
 */
export class MemoryReplayCache implements ReplayCache {
  readonly #entries = new Map<string, Entry>();
  readonly #queue = new ExpiryQueue<string>();
  /** Expiries of each client's entries: their count is the client's share in use. */
  readonly #clients = new Map<string, ExpiryQueue<undefined>>();
  readonly #capacity: number;
  readonly #perClient: number;
  readonly #now: () => number;

  constructor(capacity: number, options: { perClient?: number | undefined; now?: (() => number) | undefined } = {}) {
    this.#capacity = capacity;
    this.#perClient = options.perClient ?? capacity;
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#entries.size;
  }

  occupancy(): { entries: number; capacity: number } {
    this.#prune(this.#now());
    return { entries: this.#entries.size, capacity: this.#capacity };
  }

  remember(key: string, expiresAt: number, client: string): boolean {
    const now = this.#now();
    const seen = this.#entries.get(key);
    if (seen !== undefined && seen.expiresAt > now) return false;
    this.#prune(now);
    if (this.#entries.size >= this.#capacity) throw new ReplayCacheFullError(this.#capacity);
    const held = this.#held(client, now);
    if (held !== undefined && held.size >= this.#perClient) {
      throw new ReplayShareExceededError(this.#perClient, held.peekAt()! - now);
    }
    this.#entries.set(key, { expiresAt, client });
    this.#queue.push(expiresAt, key);
    const queue = held ?? new ExpiryQueue<undefined>();
    queue.push(expiresAt, undefined);
    this.#clients.set(client, queue);
    return true;
  }

  /** The client's unexpired expiries, or undefined when it holds none. */
  #held(client: string, now: number): ExpiryQueue<undefined> | undefined {
    const queue = this.#clients.get(client);
    if (queue === undefined) return undefined;
    while ((queue.peekAt() ?? Infinity) <= now) queue.pop();
    if (queue.size > 0) return queue;
    this.#clients.delete(client);
    return undefined;
  }

  #prune(now: number): void {
    while ((this.#queue.peekAt() ?? Infinity) <= now) {
      const { at, value: key } = this.#queue.pop()!;
      const entry = this.#entries.get(key);
      // A key remembered again after it expired has a newer queue item; this one is stale.
      if (entry === undefined || entry.expiresAt !== at) continue;
      this.#entries.delete(key);
      this.#held(entry.client, now);
    }
  }
}
