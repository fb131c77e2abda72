// Verifies the OpTok: signature against the Authority's JWKS (discovery, cached, refetched on
// an unknown `kid` with a cool-down; or a static file), iss, aud, exp/nbf, algorithm allow-list.
import { readFileSync } from 'node:fs';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  errors as joseErrors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { AuthenticationError, ConfigError, UnavailableError, type Scheme } from '../domain/errors.ts';

export interface AccessTokenOptions {
  issuer: string;
  metadataUrl?: string | undefined;
  jwksPath?: string | undefined;
  audiences: readonly string[];
  algorithms: readonly string[];
  clockToleranceSeconds: number;
  jwksCacheSeconds: number;
  jwksCooldownSeconds: number;
  /** Told about every JWKS / discovery fetch, for metrics. */
  onFetch?: (outcome: 'success' | 'failure') => void;
  /** Timeout of one discovery or JWKS request. */
  fetchTimeoutMs?: number;
}

export interface AccessTokenVerifier {
  verify(token: string, scheme: Scheme): Promise<JWTPayload>;
  /** True once signing keys of the Authority are loaded (readiness). */
  ready(): Promise<boolean>;
}

function invalid(message: string, scheme: Scheme, cause?: unknown): AuthenticationError {
  return new AuthenticationError('invalid_token', message, { scheme, cause });
}

/** Translates jose's errors into ours, with messages a client can act on. */
function translate(error: unknown, scheme: Scheme): Error {
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
  if (error instanceof joseErrors.JWKSTimeout || error instanceof joseErrors.JWKSInvalid || error instanceof DiscoveryError) {
    return new UnavailableError('authority_unavailable', 'the Authority keys cannot be fetched right now; retry shortly', { cause: error });
  }
  if (error instanceof joseErrors.JOSEError) return invalid('the access token is malformed or not a signed JWT', scheme, error);
  if (error instanceof TypeError || (error as { name?: string }).name === 'TimeoutError' || (error as { name?: string }).name === 'AbortError') {
    return new UnavailableError('authority_unavailable', 'the Authority keys cannot be fetched right now; retry shortly', { cause: error });
  }
  return error instanceof Error ? error : new Error(String(error));
}

class DiscoveryError extends Error {}

function staticKeys(path: string): JWTVerifyGetKey {
  try {
    return createLocalJWKSet(JSON.parse(readFileSync(path, 'utf8')));
  } catch (error) {
    throw new ConfigError([`authority.jwksPath: cannot load a JWKS from ${path} (${(error as Error).message.split('\n')[0]})`]);
  }
}

export function createAccessTokenVerifier(options: AccessTokenOptions): AccessTokenVerifier {
  const timeoutDuration = options.fetchTimeoutMs ?? 5000;
  const counted: typeof fetch = async (input, init) => {
    try {
      const response = await fetch(input, init);
      options.onFetch?.(response.ok ? 'success' : 'failure');
      return response;
    } catch (error) {
      options.onFetch?.('failure');
      throw error;
    }
  };

  let keys: JWTVerifyGetKey & { jwks?: () => unknown } | undefined =
    options.jwksPath === undefined ? undefined : staticKeys(options.jwksPath);
  let pending: Promise<JWTVerifyGetKey> | undefined;

  // Discovery happens once, lazily, and again only after it failed.
  async function discover(): Promise<JWTVerifyGetKey> {
    const metadataUrl = options.metadataUrl ?? `${options.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
    let response: Response;
    try {
      response = await counted(metadataUrl, { signal: AbortSignal.timeout(timeoutDuration), headers: { accept: 'application/json' } });
    } catch (error) {
      throw new DiscoveryError(`discovery request failed: ${(error as Error).message}`, { cause: error });
    }
    if (!response.ok) throw new DiscoveryError(`discovery answered ${response.status}`);
    const metadata = (await response.json()) as { issuer?: unknown; jwks_uri?: unknown };
    if (metadata.issuer !== options.issuer) throw new DiscoveryError('discovery issuer does not match authority.issuer');
    if (typeof metadata.jwks_uri !== 'string') throw new DiscoveryError('discovery document has no jwks_uri');
    return createRemoteJWKSet(new URL(metadata.jwks_uri), {
      timeoutDuration,
      cooldownDuration: options.jwksCooldownSeconds * 1000,
      cacheMaxAge: options.jwksCacheSeconds * 1000,
      [customFetch]: counted,
    });
  }

  async function getKeys(): Promise<JWTVerifyGetKey> {
    if (keys !== undefined) return keys;
    pending ??= discover().then(
      (resolved) => {
        keys = resolved;
        return resolved;
      },
      (error: unknown) => {
        pending = undefined;
        throw error;
      },
    );
    return pending;
  }

  const verifyOptions = {
    issuer: options.issuer,
    audience: [...options.audiences],
    algorithms: [...options.algorithms],
    clockTolerance: options.clockToleranceSeconds,
    requiredClaims: ['exp'],
  };

  return {
    async verify(token, scheme) {
      try {
        // Keys are resolved inside jwtVerify, after the token parsed and its alg was allowed,
        // so a malformed or alg:none token is refused as such even while the Authority is away.
        const resolveKey: JWTVerifyGetKey = async (header, jws) => (await getKeys())(header, jws);
        const { payload } = await jwtVerify(token, resolveKey, verifyOptions);
        return payload;
      } catch (error) {
        throw translate(error, scheme);
      }
    },
    async ready() {
      try {
        const getKey = (await getKeys()) as JWTVerifyGetKey & { jwks?: () => unknown; reload?: () => Promise<void> };
        if (typeof getKey.jwks !== 'function') return true; // static file
        if (getKey.jwks() === undefined) await getKey.reload?.();
        return getKey.jwks() !== undefined;
      } catch {
        return false;
      }
    },
  };
}
