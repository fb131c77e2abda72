// The Authority's key set, cached. jose's createRemoteJWKSet was not enough: once cacheMaxAge
// passes it serves no key without a successful refetch (so during an outage every request fails
// and every request refetches), it counts its cool-down from the last *successful* fetch (so
// while the Authority fails, each forged kid costs one fetch), and it refreshes only inside the
// request that needs it. Here:
// - one fetch in flight at a time, every waiter shares it;
// - at most one fetch per cool-down, counted from the last attempt, whatever triggered it;
// - refresh ahead: once keys are 80% of their lifetime old, a request starts a refresh in the
//   background and is served from the cache without waiting;
// - stale-if-error: while the Authority cannot be reached, the last keys keep serving for
//   `staleIfErrorMs` past their lifetime; after that, 503 with the reason of the last failure.
// Key selection (kid, alg, kty) is jose's createLocalJWKSet.
import { createLocalJWKSet, errors as joseErrors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { UnavailableError } from '../domain/errors.ts';
import { KeyFetchError } from './authority-keys.ts';

export interface KeySetCacheOptions {
  load: () => Promise<JSONWebKeySet>;
  cacheMs: number;
  cooldownMs: number;
  staleIfErrorMs: number;
  now?: (() => number) | undefined;
}

export interface KeySetCache {
  getKey: JWTVerifyGetKey;
  /**
   * Which key set is in use, as a number that changes whenever the set's content does; undefined
   * when the cached keys are past their fresh life (a caller must go through getKey, which
   * refreshes or serves stale-if-error) or there are none. Starts a refresh ahead, like getKey.
   */
  version(): number | undefined;
  /** True when keys can be served; fetches (within the cool-down rules) when there are none. */
  ready(): Promise<boolean>;
}

const REFRESH_AHEAD = 0.8;

/**
 * A kid the set does not hold matches no key (jose matches a token's kid only to a key with that
 * kid), so it is refused without asking jose, whose error costs a stack trace per forged token
 * (two per token: before and after the look for a rotation), ~50 µs under a flood of them. One
 * shared instance: it carries nothing about the token.
 */
const NO_MATCHING_KEY = new joseErrors.JWKSNoMatchingKey();

/** The kids a key set holds. */
function kidsOf(jwks: JSONWebKeySet): ReadonlySet<string> {
  return new Set(jwks.keys.flatMap((key) => (typeof key.kid === 'string' ? [key.kid] : [])));
}

export function createKeySetCache(options: KeySetCacheOptions): KeySetCache {
  const now = options.now ?? Date.now;
  let current: { getKey: JWTVerifyGetKey; kids: ReadonlySet<string>; fetchedAt: number; text: string; version: number } | undefined;
  let lastAttemptAt: number | undefined;
  let lastError: KeyFetchError | undefined;
  let inFlight: Promise<void> | undefined;

  const age = () => (current === undefined ? Infinity : now() - current.fetchedAt);
  const usable = () => age() < options.cacheMs + options.staleIfErrorMs;
  const mayAttempt = () => inFlight === undefined && (lastAttemptAt === undefined || now() - lastAttemptAt >= options.cooldownMs);

  function refresh(): Promise<void> {
    if (inFlight !== undefined) return inFlight;
    lastAttemptAt = now();
    const attempt: Promise<void> = Promise.resolve()
      .then(options.load)
      .then(
        (jwks) => {
          const text = JSON.stringify(jwks);
          const version = current === undefined ? 1 : current.text === text ? current.version : current.version + 1;
          current = { getKey: createLocalJWKSet(jwks), kids: kidsOf(jwks), fetchedAt: now(), text, version };
          lastError = undefined;
        },
        (error: unknown) => {
          lastError = error instanceof KeyFetchError ? error : new KeyFetchError('the keys could not be loaded', { cause: error });
        },
      )
      .finally(() => {
        if (inFlight === attempt) inFlight = undefined;
      });
    inFlight = attempt;
    return attempt;
  }

  /** Waits for the fetch in flight, or starts one when the cool-down allows; never throws. */
  async function fetchNowIfAllowed(): Promise<void> {
    if (inFlight !== undefined) await inFlight;
    else if (mayAttempt()) await refresh();
  }

  const unavailable = () =>
    new UnavailableError(
      'authority_unavailable',
      `the Authority signing keys cannot be fetched right now (${lastError?.message ?? 'not loaded yet'}); retry shortly`,
      { cause: lastError },
    );

  async function keys(): Promise<NonNullable<typeof current>> {
    if (age() >= options.cacheMs) await fetchNowIfAllowed(); // expired: refresh, or serve stale
    else if (age() >= options.cacheMs * REFRESH_AHEAD && mayAttempt()) void refresh();
    if (!usable()) throw unavailable();
    return current!;
  }

  const unknownKid = (set: NonNullable<typeof current>, kid: unknown) => typeof kid === 'string' && !set.kids.has(kid);

  return {
    async getKey(header, token) {
      const set = await keys();
      try {
        if (unknownKid(set, header.kid)) throw NO_MATCHING_KEY;
        return await set.getKey(header, token);
      } catch (error) {
        if (!(error instanceof joseErrors.JWKSNoMatchingKey)) throw error;
        // An unknown kid: the Authority may have rotated its keys. Look once per cool-down.
        await fetchNowIfAllowed();
        if (lastError !== undefined) throw unavailable(); // we cannot tell a new key from a forged one
        if (!usable()) throw unavailable();
        if (unknownKid(current!, header.kid)) throw NO_MATCHING_KEY;
        return current!.getKey(header, token);
      }
    },
    version() {
      if (age() >= options.cacheMs) return undefined;
      if (age() >= options.cacheMs * REFRESH_AHEAD && mayAttempt()) void refresh();
      return current!.version;
    },
    async ready() {
      if (!usable()) await fetchNowIfAllowed();
      return usable();
    },
  };
}
