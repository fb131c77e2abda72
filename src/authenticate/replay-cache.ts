// DPoP proof `jti` replay detection (RFC 9449 section 11.1) behind a small interface, so that
// several replicas can share one store later (Redis, MongoDB) without touching the stage.
export interface ReplayCache {
  /**
   * Remembers `key` until `expiresAt` (epoch ms). Resolves false when the key was already
   * there, i.e. the proof is a replay.
   */
  remember(key: string, expiresAt: number): boolean | Promise<boolean>;
}

/**
 * One process's bounded cache. Entries are inserted in (roughly) expiry order, because every
 * entry lives for the same window from "now", so the Map's insertion order doubles as an
 * expiry queue and pruning is amortised O(1).
 */
export class MemoryReplayCache implements ReplayCache {
  readonly #entries = new Map<string, number>();
  readonly #capacity: number;
  readonly #now: () => number;
  /** Unexpired entries dropped to stay within capacity: a sign the cache is undersized. */
  evicted = 0;

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
    this.#prune(now);
    this.#entries.delete(key);
    this.#entries.set(key, expiresAt);
    return true;
  }

  #prune(now: number): void {
    for (const [key, expiresAt] of this.#entries) {
      if (expiresAt > now && this.#entries.size < this.#capacity) break;
      if (expiresAt > now) this.evicted++;
      this.#entries.delete(key);
    }
  }
}
