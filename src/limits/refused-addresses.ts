// Addresses this process has seen refused, until their window closes. The limits count in fixed
// windows that neither slide nor restart (rate-limit-stores.ts), so an address over its limit
// stays over until its window ends: the store's answer cannot change before then, and asking it
// again only costs a round trip (an IPC message to the primary, or two Redis commands) per
// request of the flood. Refusing from here keeps a flood from one address off the shared store.
// Bounded: a dropped entry only means the store is asked again.

export type AddressLimit = 'per_address' | 'failed_auth';

interface Refusal {
  readonly limit: AddressLimit;
  /** Epoch ms at which the window that refused the address closes. */
  readonly until: number;
}

export class RefusedAddresses {
  readonly #refused = new Map<string, Refusal>();
  readonly #maxEntries: number;
  readonly #now: () => number;

  constructor(maxEntries: number, now: () => number = Date.now) {
    this.#maxEntries = maxEntries;
    this.#now = now;
  }

  get size(): number {
    return this.#refused.size;
  }

  /** The refusal in force for `address`, with the milliseconds it has left; undefined when none. */
  get(address: string): { limit: AddressLimit; remainingMs: number } | undefined {
    const refusal = this.#refused.get(address);
    if (refusal === undefined) return undefined;
    const remainingMs = refusal.until - this.#now();
    if (remainingMs > 0) return { limit: refusal.limit, remainingMs };
    this.#refused.delete(address);
    return undefined;
  }

  /** Remembers that the store refused `address` under `limit` for the `remainingMs` of its window. */
  add(address: string, limit: AddressLimit, remainingMs: number): void {
    if (remainingMs <= 0) return;
    const now = this.#now();
    this.#refused.delete(address);
    if (this.#refused.size >= this.#maxEntries) this.#makeRoom(now);
    this.#refused.set(address, { limit, until: now + remainingMs });
  }

  /** Drops the closed windows, and when none has closed the oldest entry (insertion order). */
  #makeRoom(now: number): void {
    for (const [address, refusal] of this.#refused) if (refusal.until <= now) this.#refused.delete(address);
    if (this.#refused.size >= this.#maxEntries) this.#refused.delete(this.#refused.keys().next().value!);
  }
}
