// DPoP proof checks of RFC 9449 section 4.3, as a resource server (section 7.1).
// jose parses the header and payload; the signature is checked with the embedded public key on
// the calling thread (jws-signature.ts); the claim checks are ours.
import { createHash } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, type JWK, type JWTPayload } from 'jose';
import { AuthenticationError, TooManyRequestsError, UnavailableError } from '../domain/errors.ts';
import { ProofKeyCache, type ProofKey } from './proof-key-cache.ts';
import { ReplayShareExceededError, type ProofUse, type ReplayCache } from './replay-cache.ts';
import type { NonceSource } from './dpop-nonce.ts';

export interface DpopOptions {
  algorithms: readonly string[];
  maxAgeSeconds: number;
  clockToleranceSeconds: number;
  replayCache: ReplayCache;
  /** Present when `dpop.requireNonce` is on. */
  nonces?: NonceSource | undefined;
  now?: () => number;
  /** Bound of the proof-key cache, in (approximate) bytes; default 16 MiB. */
  keyCacheBytes?: number | undefined;
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
  /**
   * Remembers the proof's `jti` until the proof could no longer be accepted; call last, once
   * every other check passed. `client` is whose share of the replay cache it takes.
   * The same as `judge(replayCache.remember(use(...)))`.
   */
  consume(proof: string, jkt: string, client: string): Promise<void>;
  /** What remembering a verified proof takes, for a caller that asks the replay cache itself. */
  use(proof: string, jkt: string, client: string): ProofUse;
  /**
   * The replay cache's answer for a `use` (what `remember` resolved or rejected with) as this
   * stage's verdict: resolves for a fresh proof; throws the refusal for a replayed one, for a
   * client over its share, or for a cache that could not remember it.
   */
  judge(remembered: Promise<boolean>): Promise<void>;
  /** Approximate bytes held by the proof-key cache. */
  keyCacheBytes(): number;
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

/** Default bound of the proof-key cache: tens of thousands of ordinary client keys. */
const KEY_CACHE_BYTES = 16 * 1024 * 1024;

export function createDpopVerifier(options: DpopOptions): DpopVerifier {
  const keys = new ProofKeyCache(options.keyCacheBytes ?? KEY_CACHE_BYTES);

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
    const jwk: unknown = header.jwk;
    if (jwk === null || typeof jwk !== 'object' || Array.isArray(jwk)) throw bad('the DPoP proof header carries no jwk');
    if ('d' in jwk || 'k' in jwk) throw bad('the DPoP proof jwk must be a public key');

    // No extension is understood, so none may be critical (RFC 7515 section 4.1.11); b64 only exists with crit.
    if ('crit' in header || 'b64' in header) throw bad('the DPoP proof uses header parameters this service does not support (crit, b64)');
    const [encodedHeader, encodedPayload, signature, extra] = proof.split('.');
    if (extra !== undefined || encodedPayload === undefined || signature === undefined) throw bad('the DPoP proof is not a JWT');

    let key: ProofKey;
    try {
      key = await keys.get(encodedHeader!, jwk as JWK, header.alg);
    } catch (error) {
      throw bad('the DPoP proof jwk is not a valid public key for its alg', error);
    }
    let payload: JWTPayload;
    try {
      payload = decodeJwt(proof);
    } catch (error) {
      throw bad('the DPoP proof cannot be verified', error);
    }
    let valid: boolean;
    try {
      valid = key.key.verify(`${encodedHeader}.${encodedPayload}`, signature);
    } catch (error) {
      throw bad('the DPoP proof signature is invalid', error);
    }
    if (!valid) throw bad('the DPoP proof signature is invalid');
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
    // Not required of a proof, but a proof that says it has expired or is not valid yet is refused (as jose did).
    if (payload.exp !== undefined && (typeof payload.exp !== 'number' || payload.exp * 1000 <= now() - options.clockToleranceSeconds * 1000)) throw bad('the DPoP proof has expired (exp)');
    if (payload.nbf !== undefined && (typeof payload.nbf !== 'number' || payload.nbf * 1000 > now() + options.clockToleranceSeconds * 1000)) throw bad('the DPoP proof is not valid yet (nbf)');
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
    consume(proof, jkt, client) {
      const { key, expiresAt } = use(proof, jkt, client);
      return judge(Promise.resolve().then(() => options.replayCache.remember(key, expiresAt, client)));
    },
    use,
    judge,
    keyCacheBytes: () => keys.bytes,
  };

  function use(proof: string, jkt: string, client: string): ProofUse {
    // Payload already verified by `verify`; only jti and iat are read again here.
    const { jti, iat } = decodeJwt(proof) as { jti: string; iat: number };
    // The proof is accepted while now <= iat + window, and iat may lie ahead of our clock: its
    // jti is remembered up to that last instant, not for a window from its first use.
    return { key: `${jkt}:${jti}`, expiresAt: Math.floor(iat * 1000) + windowMs + 1, client };
  }

  async function judge(remembered: Promise<boolean>): Promise<void> {
    let fresh: boolean;
    try {
      fresh = await remembered;
    } catch (error) {
      if (error instanceof ReplayShareExceededError) {
        throw new TooManyRequestsError('this client has too many unexpired DPoP proofs; slow down and retry after the Retry-After delay', {
          retryAfterSeconds: error.retryAfterMs / 1000,
          cause: error,
        });
      }
      // A shared cache that cannot be reached says so itself (store_unavailable).
      if (error instanceof UnavailableError) throw error;
      throw new UnavailableError('replay_cache_full', 'too many DPoP proofs in flight; retry shortly', { cause: error });
    }
    if (!fresh) throw bad('the DPoP proof has been used before; make a fresh proof for every request');
  }
}
