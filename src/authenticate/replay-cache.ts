// DPoP proof `jti` replay detection (RFC 9449 section 11.1) behind a small interface, so that
// several replicas can share one store later (Redis, MongoDB) without touching the stage.
export interface ReplayCache {
  /**
   * Remembers `key` until `expiresAt` (epoch ms). Resolves false when the key was already
   * there, i.e. the proof is a replay.
   */
  remember(key: string, expiresAt: number): boolean | Promise<boolean>;
}

/** The cache holds only unexpired proofs and no room is left: refusing is the only safe answer. */
export class ReplayCacheFullError extends Error {
  constructor(capacity: number) {
    super(`DPoP replay cache is full (${capacity} unexpired proofs); raise authority.dpop.replayCacheSize`);
    this.name = 'ReplayCacheFullError';
  }
}

/**
 * One process's bounded cache. Entries are inserted in (roughly) expiry order, because every
 * entry lives for the same window from "now", so the Map's insertion order doubles as an
 * expiry queue and pruning is amortised O(1). When every entry is still unexpired it fails
 * closed: dropping one would let that proof be replayed. Only proofs that passed every other
 * check (a valid OpTok bound to the proof key) get here, so filling it needs valid credentials.
 */
export class MemoryReplayCache implements ReplayCache {
  readonly #entries = new Map<string, number>();
  readonly #capacity: number;
  readonly #now: () => number;

  constructor(capacity: number, now: () => number = Date.now) {
    this.#capacity = capacity;
    this.#now = now;
  }

  get size(): number {
    return this.#entries.size;
  }

  remember(key: string, expiresAt: number): boolean {
    const now = this.#now();
    const seen = this.#entries.get(key);
    if (seen !== undefined && seen > now) return false;
    this.#entries.delete(key);
    this.#prune(now);
    if (this.#entries.size >= this.#capacity) throw new ReplayCacheFullError(this.#capacity);
    this.#entries.set(key, expiresAt);
    return true;
  }

  #prune(now: number): void {
    for (const [key, expiresAt] of this.#entries) {
      if (expiresAt > now) break;
      this.#entries.delete(key);
    }
  }
}
