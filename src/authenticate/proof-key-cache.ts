// Imported DPoP proof keys, keyed by the proof's encoded protected header (typ, alg, jwk), which
// a client repeats byte for byte: importing the JWK and hashing its thumbprint cost more than the
// signature check itself, so they are done once per client key, not once per request.
//
// Bounded by bytes, not entries: a header can be a few KB (any field, a large RSA key), and
// 10,000 entries of the largest header the HTTP layer lets through pinned ~150 MB. The size of
// an entry is its header's length plus a fixed allowance for the imported key and thumbprint.
import type { JsonWebKey } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { importSignatureKey, type SignatureKey } from './jws-signature.ts';

export interface ProofKey {
  readonly key: SignatureKey;
  readonly thumbprint: string;
}

/** Cost of an imported key object, its thumbprint and the Map slot beyond the header (measured: about 1 KB for an ES256 key). */
const ENTRY_OVERHEAD_BYTES = 1024;

export class ProofKeyCache {
  readonly #entries = new Map<string, Promise<ProofKey>>();
  readonly #maxBytes: number;
  #bytes = 0;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** Approximate bytes held. */
  get bytes(): number {
    return this.#bytes;
  }

  get(encodedHeader: string, jwk: JWK, alg: string): Promise<ProofKey> {
    const cached = this.#entries.get(encodedHeader);
    if (cached !== undefined) {
      // Most recently used last, so eviction takes the least recently used first.
      this.#entries.delete(encodedHeader);
      this.#entries.set(encodedHeader, cached);
      return cached;
    }
    const loading = Promise.resolve()
      .then(() => importSignatureKey(jwk as JsonWebKey, alg))
      .then(async (key) => ({ key, thumbprint: await calculateJwkThumbprint(jwk, 'sha256') }));
    const size = encodedHeader.length + ENTRY_OVERHEAD_BYTES;
    if (size > this.#maxBytes) return loading;
    loading.catch(() => {
      if (this.#entries.get(encodedHeader) === loading) this.#delete(encodedHeader);
    });
    while (this.#bytes + size > this.#maxBytes) this.#delete(this.#entries.keys().next().value!);
    this.#entries.set(encodedHeader, loading);
    this.#bytes += size;
    return loading;
  }

  #delete(encodedHeader: string): void {
    if (this.#entries.delete(encodedHeader)) this.#bytes -= encodedHeader.length + ENTRY_OVERHEAD_BYTES;
  }
}
