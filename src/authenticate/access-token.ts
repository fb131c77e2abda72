// Verifies the OpTok: its typ (RFC 9068), signature against the Authority's keys (discovery and
// a cached JWKS, see jwks-cache.ts; or a static file), iss, aud, exp/nbf, algorithm allow-list.
import { readFileSync } from 'node:fs';
import {
  createLocalJWKSet,
  errors as joseErrors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { AuthenticationError, ConfigError, ServiceError, type Scheme } from '../domain/errors.ts';
import { authorityKeyLoader } from './authority-keys.ts';
import { createKeySetCache, type KeySetCache } from './jwks-cache.ts';
import { VerifiedTokenCache } from './verified-tokens.ts';

export interface AccessTokenOptions {
  issuer: string;
  metadataUrl?: string | undefined;
  jwksPath?: string | undefined;
  audiences: readonly string[];
  algorithms: readonly string[];
  clockToleranceSeconds: number;
  jwksCacheSeconds: number;
  jwksCooldownSeconds: number;
  /** How long cached keys keep serving past jwksCacheSeconds while the Authority cannot be reached. */
  jwksStaleIfErrorSeconds: number;
  /** true: the header typ must be at+jwt (RFC 9068 section 4). A dpop+jwt typ is always refused. */
  requireAccessTokenType: boolean;
  /** Told about every JWKS / discovery fetch, for metrics and logs; a failure says why. */
  onFetch?: (outcome: 'success' | 'failure', reason?: string) => void;
  /** Timeout of one discovery or JWKS request. */
  fetchTimeoutMs?: number;
  /** Bound of the verified-OpTok cache in (approximate) bytes; 0 verifies every use in full. */
  accessTokenCacheBytes?: number | undefined;
  /** The clock of the key cache and the verified-OpTok cache (epoch ms). */
  now?: () => number;
}

export interface AccessTokenVerifier {
  verify(token: string, scheme: Scheme): Promise<JWTPayload>;
  /** True once signing keys of the Authority are loaded (readiness). */
  ready(): Promise<boolean>;
  /** Approximate bytes held by the verified-OpTok cache. */
  cacheBytes(): number;
}

function invalid(message: string, scheme: Scheme, cause?: unknown): AuthenticationError {
  return new AuthenticationError('invalid_token', message, { scheme, cause });
}

/** Translates jose's errors into ours, with messages a client can act on. */
function translate(error: unknown, scheme: Scheme): Error {
  if (error instanceof ServiceError) return error;
  if (error instanceof joseErrors.JWTExpired) return invalid('the access token has expired', scheme, error);
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    const claim = error.claim;
    const what =
      claim === 'iss' ? "was not issued by the trusted Authority (iss)" :
      claim === 'aud' ? 'is not meant for this service (aud)' :
      claim === 'nbf' ? 'is not valid yet (nbf)' :
      `fails the "${claim}" check`;
    return invalid(`the access token ${what}`, scheme, error);
  }
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return invalid('the access token is signed with an algorithm this service does not accept', scheme, error);
  if (error instanceof joseErrors.JWKSNoMatchingKey) return invalid('the access token is signed by a key the Authority does not publish', scheme, error);
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return invalid('the access token signature is invalid', scheme, error);
  if (error instanceof joseErrors.JOSEError) return invalid('the access token is malformed or not a signed JWT', scheme, error);
  return error instanceof Error ? error : new Error(String(error));
}

function staticKeys(path: string): KeySetCache {
  try {
    const getKey = createLocalJWKSet(JSON.parse(readFileSync(path, 'utf8')));
    return { getKey, version: () => 0, ready: async () => true };
  } catch (error) {
    throw new ConfigError([`authority.jwksPath: cannot load a JWKS from ${path} (${(error as Error).message.split('\n')[0]})`]);
  }
}

/** RFC 9068 section 4 compares typ case-insensitively, with or without "application/". */
function mediaType(typ: unknown): string | undefined {
  return typeof typ === 'string' ? typ.toLowerCase().replace(/^application\//, '') : undefined;
}

export function createAccessTokenVerifier(options: AccessTokenOptions): AccessTokenVerifier {
  const keys: KeySetCache =
    options.jwksPath !== undefined
      ? staticKeys(options.jwksPath)
      : createKeySetCache({
          load: authorityKeyLoader({
            issuer: options.issuer,
            metadataUrl: options.metadataUrl,
            timeoutMs: options.fetchTimeoutMs ?? 5000,
            onFetch: options.onFetch,
          }),
          cacheMs: options.jwksCacheSeconds * 1000,
          cooldownMs: options.jwksCooldownSeconds * 1000,
          staleIfErrorMs: options.jwksStaleIfErrorSeconds * 1000,
          now: options.now,
        });

  const now = options.now ?? Date.now;
  const verified = (options.accessTokenCacheBytes ?? 0) > 0 ? new VerifiedTokenCache(options.accessTokenCacheBytes!, now) : undefined;

  const verifyOptions = {
    issuer: options.issuer,
    audience: [...options.audiences],
    algorithms: [...options.algorithms],
    clockTolerance: options.clockToleranceSeconds,
    requiredClaims: ['exp'],
  };

  function checkType(typ: unknown, scheme: Scheme): void {
    const type = mediaType(typ);
    if (type === 'dpop+jwt') throw invalid('the access token has typ "dpop+jwt": that is a DPoP proof, not an access token', scheme);
    if (options.requireAccessTokenType && type !== 'at+jwt') {
      throw invalid('the access token must have typ "at+jwt" (RFC 9068): an ID token or other JWT is not an access token', scheme);
    }
  }

  return {
    async verify(token, scheme) {
      const cacheKey = verified === undefined ? undefined : VerifiedTokenCache.keyOf(token);
      const keysVersion = verified === undefined ? undefined : keys.version();
      if (cacheKey !== undefined) {
        const payload = verified!.get(cacheKey, keysVersion);
        if (payload !== undefined) return payload;
      }
      try {
        // The typ and the keys are checked inside jwtVerify, after the token parsed and its alg
        // was allowed, so a malformed or alg:none token is refused as such even while the
        // Authority is away, and a token of the wrong type costs no key fetch.
        let usedVersion: number | undefined;
        const resolveKey: JWTVerifyGetKey = async (header, jws) => {
          checkType(header.typ, scheme);
          const key = await keys.getKey(header, jws);
          // The set this token is checked against; undefined while stale keys serve (then it is not cached).
          usedVersion = keys.version();
          return key;
        };
        const { payload } = await jwtVerify(token, resolveKey, verifyOptions);
        // jose checks iat's type but not its date unless a maximum age is set; a token "issued"
        // beyond the tolerance in the future comes from a wrong clock or a forger's pre-minting.
        if (typeof payload.iat === 'number' && payload.iat * 1000 > Date.now() + options.clockToleranceSeconds * 1000) {
          throw invalid('the access token was issued in the future (iat); check the Authority clock', scheme);
        }
        if (cacheKey !== undefined && usedVersion !== undefined) verified!.set(cacheKey, token, payload, usedVersion);
        return payload;
      } catch (error) {
        throw translate(error, scheme);
      }
    },
    ready: () => keys.ready(),
    cacheBytes: () => verified?.bytes ?? 0,
  };
}
