// DPoP proof checks of RFC 9449 section 4.3, as a resource server (section 7.1).
// jose verifies the JWS with the embedded public key; the claim checks are ours.
import { createHash } from 'node:crypto';
import { calculateJwkThumbprint, decodeProtectedHeader, errors as joseErrors, importJWK, jwtVerify, type JWK } from 'jose';
import { AuthenticationError, UnavailableError } from '../domain/errors.ts';
import type { ReplayCache } from './replay-cache.ts';
import type { NonceSource } from './dpop-nonce.ts';

export interface DpopOptions {
  algorithms: readonly string[];
  maxAgeSeconds: number;
  clockToleranceSeconds: number;
  replayCache: ReplayCache;
  /** Present when `dpop.requireNonce` is on. */
  nonces?: NonceSource | undefined;
  now?: () => number;
}

export interface DpopProofInput {
  proof: string;
  accessToken: string;
  method: string;
  url: string;
}

export interface DpopVerifier {
  /** Verifies the proof and returns the RFC 7638 thumbprint of its key (to compare with `cnf.jkt`). */
  verify(input: DpopProofInput): Promise<string>;
  /** Remembers the proof's `jti`; call last, once every other check passed. */
  consume(proof: string, jkt: string): Promise<void>;
  /** The algorithms named in a `WWW-Authenticate: DPoP algs="..."` challenge. */
  readonly algorithms: readonly string[];
}

function bad(message: string, cause?: unknown): AuthenticationError {
  return new AuthenticationError('invalid_dpop_proof', message, { scheme: 'DPoP', cause });
}

/** `htu` comparison ignores query and fragment and normalises scheme, host and default port. */
export function normaliseHtu(value: string): string | undefined {
  try {
    const url = new URL(value);
    return `${url.protocol}//${url.host}${url.pathname}`;
  } catch {
    return undefined;
  }
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('base64url');
}

/** Proof keys seen recently: a client signs every proof with the same key. */
const KEY_CACHE_SIZE = 10_000;

interface ProofKey {
  readonly key: Awaited<ReturnType<typeof importJWK>>;
  readonly thumbprint: string;
}

export function createDpopVerifier(options: DpopOptions): DpopVerifier {
  // Keyed by the proof's encoded protected header (typ, alg, jwk), which a client repeats
  // byte for byte: importing the JWK and hashing its thumbprint cost more than the signature
  // check itself, so they are done once per client key, not once per request.
  const keys = new Map<string, Promise<ProofKey>>();
  const proofKey = (encodedHeader: string, jwk: JWK, alg: string): Promise<ProofKey> => {
    let cached = keys.get(encodedHeader);
    if (cached === undefined) {
      cached = Promise.all([importJWK(jwk, alg), calculateJwkThumbprint(jwk, 'sha256')]).then(([key, thumbprint]) => ({ key, thumbprint }));
      cached.catch(() => keys.delete(encodedHeader));
      if (keys.size >= KEY_CACHE_SIZE) keys.delete(keys.keys().next().value!);
      keys.set(encodedHeader, cached);
    }
    return cached;
  };

  const now = options.now ?? Date.now;
  const algorithms = [...options.algorithms];
  const windowMs = (options.maxAgeSeconds + options.clockToleranceSeconds) * 1000;

  async function verify({ proof, accessToken, method, url }: DpopProofInput): Promise<string> {
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(proof);
    } catch (error) {
      throw bad('the DPoP proof is not a JWT', error);
    }
    if (header.typ !== 'dpop+jwt') throw bad('the DPoP proof must have typ "dpop+jwt"');
    if (typeof header.alg !== 'string' || !algorithms.includes(header.alg)) {
      throw bad(`the DPoP proof algorithm must be one of ${algorithms.join(', ')}`);
    }
    const jwk = header.jwk as JWK | undefined;
    if (jwk === undefined || typeof jwk !== 'object') throw bad('the DPoP proof header carries no jwk');
    if ('d' in jwk || 'k' in jwk) throw bad('the DPoP proof jwk must be a public key');

    let key: ProofKey;
    try {
      key = await proofKey(proof.slice(0, proof.indexOf('.')), jwk, header.alg);
    } catch (error) {
      throw bad('the DPoP proof jwk is not a valid public key for its alg', error);
    }
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(proof, key.key, { typ: 'dpop+jwt', algorithms }));
    } catch (error) {
      if (error instanceof joseErrors.JWSSignatureVerificationFailed) throw bad('the DPoP proof signature is invalid', error);
      throw bad('the DPoP proof cannot be verified', error);
    }
    if (payload.htm !== method) throw bad(`the DPoP proof htm must be "${method}"`);
    const htu = typeof payload.htu === 'string' ? normaliseHtu(payload.htu) : undefined;
    if (htu === undefined || htu !== normaliseHtu(url)) throw bad(`the DPoP proof htu must be "${normaliseHtu(url)}"`);
    if (typeof payload.jti !== 'string' || payload.jti.length < 8 || payload.jti.length > 256) {
      throw bad('the DPoP proof needs a unique jti');
    }
    if (typeof payload.iat !== 'number' || !Number.isFinite(payload.iat)) throw bad('the DPoP proof needs a numeric iat');
    const age = now() - payload.iat * 1000;
    if (age > options.maxAgeSeconds * 1000 + options.clockToleranceSeconds * 1000) throw bad('the DPoP proof is too old (iat); make a fresh proof for every request');
    if (age < -options.clockToleranceSeconds * 1000) throw bad('the DPoP proof iat is in the future; check the client clock');
    if (payload.ath !== sha256(accessToken)) throw bad('the DPoP proof ath does not match the access token');
    if (options.nonces !== undefined && !options.nonces.isValid(payload.nonce)) {
      throw new AuthenticationError('use_dpop_nonce', 'a DPoP nonce is required: retry with the nonce from the DPoP-Nonce header', {
        scheme: 'DPoP',
        nonce: options.nonces.current(),
      });
    }
    return key.thumbprint;
  }

  return {
    algorithms,
    verify,
    async consume(proof, jkt) {
      // Payload already verified by `verify`; only the jti is read again here.
      const body = JSON.parse(Buffer.from(proof.split('.')[1] ?? '', 'base64url').toString('utf8')) as { jti: string };
      let fresh: boolean;
      try {
        fresh = await options.replayCache.remember(`${jkt}:${body.jti}`, now() + windowMs);
      } catch (error) {
        throw new UnavailableError('replay_cache_full', 'too many DPoP proofs in flight; retry shortly', { cause: error });
      }
      if (!fresh) throw bad('the DPoP proof has been used before; make a fresh proof for every request');
    },
  };
}
