// OpToks whose signature, typ, iss, aud, alg and times already passed, keyed by the SHA-256 of the
// token's bytes. A CI job presents the same OpTok for every pull and push of its life (minutes),
// and verifying it again each time (an ECDSA or RSA verify, jose's parsing) cost more than
// anything else the service does but the registry token's own signature.
//
// What a hit skips is only what the token's bytes alone decide, given the Authority keys of the
// time: everything about the caller (claim types, DPoP proof, binding, revocations, plans) runs on
// every use. An entry is good while
// - the token has not expired: it is dropped at its `exp` (the clock tolerance past exp is
//   left to a full verification);
// - the Authority key set it was verified under is still the one in use (`keysVersion`): a
//   rotation that changes the set, and keys past their stale-if-error time, send every token
//   through a full verification again.
// Bounded by (approximate) bytes, least recently used dropped first; refusals are never cached,
// so a forged token costs a full verification every time.
import { createHash } from 'node:crypto';
import type { JWTPayload } from 'jose';

interface Entry {
  readonly payload: JWTPayload;
  readonly expiresAtMs: number;
  readonly keysVersion: number;
  readonly size: number;
}

/** Beyond the token's own length: the hash key, the decoded payload's overhead, the Map slot. */
const ENTRY_OVERHEAD_BYTES = 512;

export class VerifiedTokenCache {
  readonly #entries = new Map<string, Entry>();
  readonly #maxBytes: number;
  readonly #now: () => number;
  #bytes = 0;

  constructor(maxBytes: number, now: () => number = Date.now) {
    this.#maxBytes = maxBytes;
    this.#now = now;
  }

  /** Approximate bytes held. */
  get bytes(): number {
    return this.#bytes;
  }

  get size(): number {
    return this.#entries.size;
  }

  static keyOf(token: string): string {
    return createHash('sha256').update(token).digest('base64url');
  }

  /** The payload verified earlier, when the entry is still good under `keysVersion`. */
  get(key: string, keysVersion: number | undefined): JWTPayload | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (keysVersion === undefined || entry.keysVersion !== keysVersion || entry.expiresAtMs <= this.#now()) {
      this.#delete(key, entry);
      return undefined;
    }
    // Most recently used last, so eviction takes the least recently used first.
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return entry.payload;
  }

  set(key: string, token: string, payload: JWTPayload, keysVersion: number): void {
    if (typeof payload.exp !== 'number' || payload.exp * 1000 <= this.#now()) return;
    const size = token.length + ENTRY_OVERHEAD_BYTES;
    if (size > this.#maxBytes) return;
    const old = this.#entries.get(key);
    if (old !== undefined) this.#delete(key, old);
    while (this.#bytes + size > this.#maxBytes) {
      const [oldestKey, oldest] = this.#entries.entries().next().value!;
      this.#delete(oldestKey, oldest);
    }
    // One object serves every later use: nothing may change it.
    this.#entries.set(key, { payload: deepFreeze(payload), expiresAtMs: payload.exp * 1000, keysVersion, size });
    this.#bytes += size;
  }

  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }

  #delete(key: string, entry: Entry): void {
    if (this.#entries.get(key) === entry) {
      this.#entries.delete(key);
      this.#bytes -= entry.size;
    }
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const member of Object.values(value)) deepFreeze(member);
  }
  return value;
}
