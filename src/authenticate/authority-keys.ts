// Fetches the Authority's public keys: discovery once (its jwks_uri), then the JWKS. Every way
// this can fail becomes a KeyFetchError whose reason says which step failed and how, so the
// caller gets a 503 it can understand and the operator a log line that points at the cause.
import { createLocalJWKSet, type JSONWebKeySet } from 'jose';

export class KeyFetchError extends Error {
  constructor(reason: string, options?: ErrorOptions) {
    super(reason, options);
    this.name = 'KeyFetchError';
  }
}

export interface AuthorityKeySource {
  issuer: string;
  /** Discovery document; default `<issuer>/.well-known/openid-configuration`. */
  metadataUrl?: string | undefined;
  timeoutMs: number;
  /** Told about every HTTP request: success when it gave a usable document; a failure says why. */
  onFetch?: ((outcome: 'success' | 'failure', reason?: string) => void) | undefined;
}

/** One GET of a JSON document; `what` names it in the reason ("discovery", "JWKS"). */
async function fetchJson(url: string, what: string, source: AuthorityKeySource, redirect: 'follow' | 'manual'): Promise<unknown> {
  let response: Response;
  let text: string;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(source.timeoutMs), headers: { accept: 'application/json' }, redirect });
    text = await response.text();
  } catch (error) {
    const name = (error as { name?: string }).name;
    const reason = name === 'TimeoutError' || name === 'AbortError' ? `no ${what} answer within ${source.timeoutMs} ms` : `the ${what} request failed`;
    throw new KeyFetchError(reason, { cause: error });
  }
  if (response.status !== 200) throw new KeyFetchError(`the ${what} request answered HTTP ${response.status}`);
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new KeyFetchError(`the ${what} answer is not JSON`, { cause: error });
  }
}

/** A loader of the current key set; discovery is repeated only until it succeeded once. */
export function authorityKeyLoader(source: AuthorityKeySource): () => Promise<JSONWebKeySet> {
  const metadataUrl = source.metadataUrl ?? `${source.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  let jwksUri: string | undefined;

  const counted = async <T>(step: () => Promise<T>): Promise<T> => {
    try {
      const result = await step();
      source.onFetch?.('success');
      return result;
    } catch (error) {
      source.onFetch?.('failure', (error as Error).message);
      throw error;
    }
  };

  const discover = () =>
    counted(async () => {
      const metadata = await fetchJson(metadataUrl, 'discovery', source, 'follow');
      const { issuer, jwks_uri: uri } = (metadata ?? {}) as { issuer?: unknown; jwks_uri?: unknown };
      if (issuer !== source.issuer) throw new KeyFetchError('the discovery document names another issuer than authority.issuer');
      if (typeof uri !== 'string' || URL.parse(uri) === null) throw new KeyFetchError('the discovery document has no valid jwks_uri');
      return uri;
    });

  return async () => {
    jwksUri ??= await discover();
    const uri = jwksUri;
    return counted(async () => {
      const jwks = await fetchJson(uri, 'JWKS', source, 'manual'); // as jose's remote set: no redirects for keys
      try {
        createLocalJWKSet(jwks as JSONWebKeySet); // validates the shape: { keys: [ ... ] }
      } catch (error) {
        throw new KeyFetchError('the JWKS answer is not a key set', { cause: error });
      }
      return jwks as JSONWebKeySet;
    });
  };
}
