// The OpTok verifier against a real local HTTP Authority (node:http on 127.0.0.1) that the
// tests switch between good keys, HTTP 500, non-JSON, slow, held and down, counting the fetches
// it receives. The key cache runs on an injected clock; nothing here asserts a duration.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createAccessTokenVerifier, type AccessTokenOptions } from '../../src/authenticate/access-token.ts';
import { AuthenticationError, UnavailableError } from '../../src/domain/errors.ts';

type Mode = 'good' | 'status500' | 'notJson' | 'slow' | 'hold';

interface Signer {
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

async function signer(kid: string): Promise<Signer> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } };
}

let k1: Signer;
let k2: Signer;
beforeAll(async () => {
  [k1, k2] = await Promise.all([signer('k1'), signer('k2')]);
});

/** A fake Authority: discovery and JWKS, each with its own mode, and a count of requests. */
class FakeAuthority {
  discoveryMode: Mode = 'good';
  jwksMode: Mode = 'good';
  keys: JWK[] = [];
  discoveryFetches = 0;
  jwksFetches = 0;
  #held: (() => void)[] = [];
  #server: Server | undefined;
  #port = 0;

  get issuer(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  async up(): Promise<void> {
    const server = createServer((req, res) => this.#handle(req, res));
    await new Promise<void>((resolve) => server.listen(this.#port, '127.0.0.1', resolve));
    this.#port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  /** Stops listening and cuts every connection: requests now fail to connect. */
  async down(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    this.release();
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Answers every held request (with good keys). */
  release(): void {
    for (const answer of this.#held.splice(0)) answer();
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const discovery = req.url === '/.well-known/openid-configuration';
    if (discovery) this.discoveryFetches++;
    else if (req.url === '/jwks') this.jwksFetches++;
    else return void res.writeHead(404).end();
    const body = discovery ? { issuer: this.issuer, jwks_uri: `${this.issuer}/jwks` } : { keys: this.keys };
    const good = () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    switch (discovery ? this.discoveryMode : this.jwksMode) {
      case 'good':
        return void good();
      case 'status500':
        return void res.writeHead(500, { 'content-type': 'text/plain' }).end('internal error');
      case 'notJson':
        return void res.writeHead(200, { 'content-type': 'text/html' }).end('<html>maintenance</html>');
      case 'slow': {
        const timer = setTimeout(good, 2_000);
        res.on('close', () => clearTimeout(timer));
        return;
      }
      case 'hold':
        this.#held.push(good);
    }
  }
}

let authority: FakeAuthority;
afterEach(async () => {
  await authority?.down();
});

async function startAuthority(keys: Signer[] = [k1]): Promise<FakeAuthority> {
  authority = new FakeAuthority();
  authority.keys = keys.map((k) => k.jwk);
  await authority.up();
  return authority;
}

const AUDIENCE = 'registry-token';
const CACHE_S = 600;
const COOLDOWN_S = 30;
const STALE_S = 900;

function manualClock(start = 1_000_000_000) {
  let now = start;
  return { now: () => now, advance: (seconds: number) => void (now += seconds * 1000) };
}

function verifierFor(target: FakeAuthority, clock = manualClock(), overrides: Partial<AccessTokenOptions> = {}) {
  const fetches = { success: 0, failure: 0 };
  const reasons: string[] = [];
  const verifier = createAccessTokenVerifier({
    issuer: target.issuer,
    audiences: [AUDIENCE],
    algorithms: ['ES256'],
    clockToleranceSeconds: 5,
    jwksCacheSeconds: CACHE_S,
    jwksCooldownSeconds: COOLDOWN_S,
    jwksStaleIfErrorSeconds: STALE_S,
    requireAccessTokenType: true,
    fetchTimeoutMs: 300,
    onFetch: (outcome, reason) => {
      fetches[outcome]++;
      if (reason !== undefined) reasons.push(reason);
    },
    now: clock.now,
    ...overrides,
  });
  return { verifier, clock, fetches, reasons };
}

async function opTok(target: FakeAuthority, key: Signer = k1, header: Record<string, unknown> = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const protectedHeader = { alg: 'ES256', kid: key.kid, typ: 'at+jwt', ...header };
  for (const [name, value] of Object.entries(protectedHeader)) if (value === undefined) delete protectedHeader[name as keyof typeof protectedHeader];
  return new SignJWT({ iss: target.issuer, aud: AUDIENCE, sub: 'svc', iat: now, exp: now + 3600 })
    .setProtectedHeader(protectedHeader as { alg: string })
    .sign(key.privateKey);
}

/** A token signed by a key nobody publishes, with a random kid: what a forger sends. */
async function forged(target: FakeAuthority): Promise<string> {
  return opTok(target, { ...k2, kid: randomBytes(8).toString('hex') });
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(Error);
  return error as Error;
}

async function expectUnavailable(promise: Promise<unknown>, reason: RegExp): Promise<void> {
  const error = await failure(promise);
  expect(error, String(error)).toBeInstanceOf(UnavailableError);
  expect((error as UnavailableError).reason).toBe('authority_unavailable');
  expect((error as UnavailableError).status).toBe(503);
  expect(error.message).toMatch(reason);
  expect(error.message).toMatch(/retry shortly$/);
}

async function expectInvalidToken(promise: Promise<unknown>, message: RegExp): Promise<void> {
  const error = await failure(promise);
  expect(error, String(error)).toBeInstanceOf(AuthenticationError);
  expect((error as AuthenticationError).reason).toBe('invalid_token');
  expect(error.message).toMatch(message);
}

describe('access token verifier: every Authority failure is a 503 with a reason', () => {
  it('a JWKS endpoint answering 500 is 503 authority_unavailable, not 401', async () => {
    const target = await startAuthority();
    target.jwksMode = 'status500';
    const { verifier, fetches, reasons } = verifierFor(target);
    await expectUnavailable(verifier.verify(await opTok(target), 'DPoP'), /the JWKS request answered HTTP 500/);
    expect(fetches).toEqual({ success: 1, failure: 1 }); // discovery, then the JWKS
    expect(reasons).toEqual(['the JWKS request answered HTTP 500']);
  });

  it('a discovery document that is not JSON is 503, not 500', async () => {
    const target = await startAuthority();
    target.discoveryMode = 'notJson';
    const { verifier } = verifierFor(target);
    await expectUnavailable(verifier.verify(await opTok(target), 'DPoP'), /the discovery answer is not JSON/);
  });

  it('a discovery endpoint answering 500 is 503', async () => {
    const target = await startAuthority();
    target.discoveryMode = 'status500';
    const { verifier } = verifierFor(target);
    await expectUnavailable(verifier.verify(await opTok(target), 'DPoP'), /the discovery request answered HTTP 500/);
  });

  it('a JWKS that is not JSON, or not a key set, is 503', async () => {
    const target = await startAuthority();
    target.jwksMode = 'notJson';
    const clock = manualClock();
    const { verifier } = verifierFor(target, clock);
    await expectUnavailable(verifier.verify(await opTok(target), 'DPoP'), /the JWKS answer is not JSON/);
    target.jwksMode = 'good';
    target.keys = 'none' as unknown as JWK[];
    clock.advance(COOLDOWN_S);
    await expectUnavailable(verifier.verify(await opTok(target), 'DPoP'), /the JWKS answer is not a key set/);
  });

  it('an Authority slower than fetchTimeoutMs is 503', async () => {
    const target = await startAuthority();
    target.jwksMode = 'slow';
    const { verifier } = verifierFor(target);
    await expectUnavailable(verifier.verify(await opTok(target), 'DPoP'), /no JWKS answer within 300 ms/);
  });

  it('an Authority that is down is 503', async () => {
    const target = await startAuthority();
    const token = await opTok(target);
    await target.down();
    const { verifier } = verifierFor(target);
    await expectUnavailable(verifier.verify(token, 'DPoP'), /the discovery request failed/);
    expect(await verifier.ready()).toBe(false);
  });

  it('a discovery document naming another issuer is 503', async () => {
    const target = await startAuthority();
    const { verifier } = verifierFor(target, manualClock(), { issuer: `${target.issuer}/other`, metadataUrl: `${target.issuer}/.well-known/openid-configuration` });
    await expectUnavailable(verifier.verify(await opTok(target), 'DPoP'), /names another issuer/);
  });
});

describe('access token verifier: fetching', () => {
  it('verifies a good token, fetching discovery and keys once', async () => {
    const target = await startAuthority();
    const { verifier, fetches } = verifierFor(target);
    for (let i = 0; i < 5; i++) expect((await verifier.verify(await opTok(target), 'DPoP')).sub).toBe('svc');
    expect([target.discoveryFetches, target.jwksFetches]).toEqual([1, 1]);
    expect(fetches).toEqual({ success: 2, failure: 0 });
    expect(await verifier.ready()).toBe(true);
  });

  it('one fetch in flight at a time: concurrent first requests share it', async () => {
    const target = await startAuthority();
    target.jwksMode = 'hold';
    const { verifier } = verifierFor(target, manualClock(), { fetchTimeoutMs: 10_000 });
    const token = await opTok(target);
    const all = Promise.all(Array.from({ length: 20 }, () => verifier.verify(token, 'DPoP')));
    while (target.jwksFetches === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    target.release();
    expect(await all).toHaveLength(20);
    expect([target.discoveryFetches, target.jwksFetches]).toEqual([1, 1]);
  });

  it('forged tokens with random kids during an outage cost at most one fetch per cool-down, counted from the attempt', async () => {
    const target = await startAuthority();
    const { verifier, clock } = verifierFor(target);
    await verifier.verify(await opTok(target), 'DPoP');
    expect(target.jwksFetches).toBe(1);
    target.jwksMode = 'status500';
    clock.advance(COOLDOWN_S); // the last attempt (a success) is one cool-down ago
    for (let i = 0; i < 20; i++) await expectUnavailable(verifier.verify(await forged(target), 'DPoP'), /HTTP 500/);
    expect(target.jwksFetches).toBe(2);
    clock.advance(COOLDOWN_S - 1);
    for (let i = 0; i < 20; i++) await expectUnavailable(verifier.verify(await forged(target), 'DPoP'), /HTTP 500/);
    expect(target.jwksFetches).toBe(2);
    clock.advance(1);
    await expectUnavailable(verifier.verify(await forged(target), 'DPoP'), /HTTP 500/);
    expect(target.jwksFetches).toBe(3);
    // and valid tokens are still served from the cache throughout
    expect((await verifier.verify(await opTok(target), 'DPoP')).sub).toBe('svc');
  });

  it('an unknown kid refetches once the cool-down passed: a key rotation is picked up', async () => {
    const target = await startAuthority([k1]);
    const { verifier, clock } = verifierFor(target);
    await verifier.verify(await opTok(target), 'DPoP');
    target.keys = [k1.jwk, k2.jwk];
    // within the cool-down, an unknown kid is just unknown
    await expectInvalidToken(verifier.verify(await opTok(target, k2), 'DPoP'), /key the Authority does not publish/);
    expect(target.jwksFetches).toBe(1);
    clock.advance(COOLDOWN_S);
    expect((await verifier.verify(await opTok(target, k2), 'DPoP')).sub).toBe('svc');
    expect(target.jwksFetches).toBe(2);
    // a forged kid after a successful refetch is 401, not 503
    clock.advance(COOLDOWN_S);
    await expectInvalidToken(verifier.verify(await forged(target), 'DPoP'), /key the Authority does not publish/);
    expect(target.jwksFetches).toBe(3);
  });

  it('refreshes ahead of expiry in the background: the request that triggers it does not wait', async () => {
    const target = await startAuthority([k1]);
    const { verifier, clock } = verifierFor(target, manualClock(), { fetchTimeoutMs: 10_000 });
    await verifier.verify(await opTok(target), 'DPoP');
    target.jwksMode = 'hold';
    target.keys = [k1.jwk, k2.jwk];
    clock.advance(CACHE_S * 0.85);
    // Served from the cache: the refresh it starts is held by the Authority (it would hang otherwise).
    expect((await verifier.verify(await opTok(target), 'DPoP')).sub).toBe('svc');
    while (target.jwksFetches < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    // more requests while the refresh is held are served too, and start no other fetch
    for (let i = 0; i < 5; i++) expect((await verifier.verify(await opTok(target), 'DPoP')).sub).toBe('svc');
    expect(target.jwksFetches).toBe(2);
    target.release();
    while (!(await verifier.verify(await opTok(target, k2), 'DPoP').then(() => true, () => false))) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(target.jwksFetches).toBe(2);
  });

  it('keeps serving cached keys for jwksStaleIfErrorSeconds while the Authority is down, then 503', async () => {
    const target = await startAuthority([k1]);
    const { verifier, clock, fetches } = verifierFor(target);
    const token = await opTok(target);
    await verifier.verify(token, 'DPoP');
    await target.down();
    clock.advance(CACHE_S + 1);
    expect((await verifier.verify(token, 'DPoP')).sub).toBe('svc'); // tried once, served stale
    expect(fetches.failure).toBe(1);
    for (let i = 0; i < 10; i++) expect((await verifier.verify(token, 'DPoP')).sub).toBe('svc');
    expect(fetches.failure).toBe(1);
    expect(await verifier.ready()).toBe(true);
    clock.advance(STALE_S - 2);
    expect((await verifier.verify(token, 'DPoP')).sub).toBe('svc');
    expect(fetches.failure).toBe(2);
    clock.advance(1);
    await expectUnavailable(verifier.verify(token, 'DPoP'), /the JWKS request failed/);
    expect(await verifier.ready()).toBe(false);
    // the Authority comes back: the next attempt after the cool-down recovers
    await target.up();
    clock.advance(COOLDOWN_S);
    expect((await verifier.verify(token, 'DPoP')).sub).toBe('svc');
    expect(await verifier.ready()).toBe(true);
  });

  it('with no keys at all, a failed fetch is retried only after the cool-down', async () => {
    const target = await startAuthority();
    target.jwksMode = 'status500';
    const { verifier, clock } = verifierFor(target);
    const token = await opTok(target);
    for (let i = 0; i < 10; i++) await expectUnavailable(verifier.verify(token, 'DPoP'), /HTTP 500/);
    expect(target.jwksFetches).toBe(1);
    target.jwksMode = 'good';
    clock.advance(COOLDOWN_S);
    expect((await verifier.verify(token, 'DPoP')).sub).toBe('svc');
    expect(target.jwksFetches).toBe(2);
    expect(target.discoveryFetches).toBe(1);
  });
});

describe('access token verifier: typ (RFC 9068 section 4)', () => {
  it.each([['at+jwt'], ['application/at+jwt'], ['AT+JWT'], ['Application/AT+JWT']])('accepts typ %s', async (typ) => {
    const target = await startAuthority();
    const { verifier } = verifierFor(target);
    expect((await verifier.verify(await opTok(target, k1, { typ }), 'DPoP')).sub).toBe('svc');
  });

  it.each([
    ['no typ', undefined],
    ['typ JWT', 'JWT'],
    ['an ID-token-like typ', 'id_token+jwt'],
  ])('refuses %s with 401 invalid_token, before fetching keys', async (_label, typ) => {
    const target = await startAuthority();
    const { verifier } = verifierFor(target);
    await expectInvalidToken(verifier.verify(await opTok(target, k1, { typ }), 'DPoP'), /must have typ "at\+jwt"/);
    expect(target.jwksFetches).toBe(0);
  });

  it('refuses typ dpop+jwt even when the check is turned off', async () => {
    const target = await startAuthority();
    const { verifier } = verifierFor(target, manualClock(), { requireAccessTokenType: false });
    await expectInvalidToken(verifier.verify(await opTok(target, k1, { typ: 'dpop+jwt' }), 'DPoP'), /DPoP proof, not an access token/);
    await expectInvalidToken(verifier.verify(await opTok(target, k1, { typ: 'application/DPoP+JWT' }), 'DPoP'), /DPoP proof/);
  });

  it('refuses an OpTok issued in the future beyond the clock tolerance (iat), accepts one inside it', async () => {
    const target = await startAuthority();
    const { verifier } = verifierFor(target);
    const at = (skewSeconds: number) => {
      const iat = Math.floor(Date.now() / 1000) + skewSeconds;
      return new SignJWT({ iss: target.issuer, aud: AUDIENCE, sub: 'svc', iat, exp: iat + 3600 })
        .setProtectedHeader({ alg: 'ES256', kid: k1.kid, typ: 'at+jwt' })
        .sign(k1.privateKey);
    };
    await expectInvalidToken(verifier.verify(await at(60), 'DPoP'), /issued in the future \(iat\)/);
    expect((await verifier.verify(await at(3), 'DPoP')).sub).toBe('svc');
  });

  it('turned off, accepts a token without typ', async () => {
    const target = await startAuthority();
    const { verifier } = verifierFor(target, manualClock(), { requireAccessTokenType: false });
    expect((await verifier.verify(await opTok(target, k1, { typ: undefined }), 'DPoP')).sub).toBe('svc');
  });
});

describe('access token verifier: the verified-OpTok cache (authority.accessTokenCacheBytes)', () => {
  const cached = { accessTokenCacheBytes: 1 << 20 };

  it('keeps a verified token, and never a refused one', async () => {
    const target = await startAuthority([k1]);
    const { verifier } = verifierFor(target, manualClock(), cached);
    await expectInvalidToken(verifier.verify(await forged(target), 'DPoP'), /signed by a key the Authority does not publish/);
    await expectInvalidToken(verifier.verify(await opTok(target, k1, { typ: 'JWT' }), 'DPoP'), /typ "at\+jwt"/);
    expect(verifier.cacheBytes()).toBe(0);
    const token = await opTok(target);
    expect((await verifier.verify(token, 'DPoP')).sub).toBe('svc');
    expect(verifier.cacheBytes()).toBeGreaterThan(token.length);
    expect((await verifier.verify(token, 'DPoP')).sub).toBe('svc');
  });

  it('a key rotation that drops the signing key sends a cached token through full verification, which refuses it', async () => {
    const target = await startAuthority([k1]);
    const { verifier, clock } = verifierFor(target, manualClock(), cached);
    const token = await opTok(target);
    await verifier.verify(token, 'DPoP');
    target.keys = [k2.jwk];
    clock.advance(CACHE_S * 0.85);
    // The refresh ahead starts in the background; once it has landed, the token is checked again.
    await verifier.verify(await opTok(target, k1), 'DPoP').catch(() => undefined);
    while (target.jwksFetches < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    await new Promise((resolve) => setTimeout(resolve, 20));
    await expectInvalidToken(verifier.verify(token, 'DPoP'), /signed by a key the Authority does not publish/);
  });

  it('a refresh that brings the same keys keeps the cached tokens', async () => {
    const target = await startAuthority([k1]);
    const { verifier, clock } = verifierFor(target, manualClock(), cached);
    const token = await opTok(target);
    await verifier.verify(token, 'DPoP');
    const bytes = verifier.cacheBytes();
    clock.advance(CACHE_S * 0.85);
    await verifier.verify(token, 'DPoP');
    while (target.jwksFetches < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect((await verifier.verify(token, 'DPoP')).sub).toBe('svc');
    expect(verifier.cacheBytes()).toBe(bytes);
  });

  it('once the keys are past their stale-if-error time, a cached token gets the 503 like any other', async () => {
    const target = await startAuthority([k1]);
    const { verifier, clock } = verifierFor(target, manualClock(), cached);
    const token = await opTok(target);
    await verifier.verify(token, 'DPoP');
    await target.down();
    clock.advance(CACHE_S + STALE_S + 1);
    await expectUnavailable(verifier.verify(token, 'DPoP'), /the JWKS request failed/);
  });

  it('while stale keys serve, tokens are verified in full and not cached', async () => {
    const target = await startAuthority([k1]);
    const { verifier, clock } = verifierFor(target, manualClock(), cached);
    await target.down();
    await verifier.verify(await opTok(target), 'DPoP').catch(() => undefined);
    await target.up();
    clock.advance(COOLDOWN_S);
    await verifier.verify(await opTok(target), 'DPoP');
    const bytes = verifier.cacheBytes();
    await target.down();
    clock.advance(CACHE_S + 1);
    expect((await verifier.verify(await opTok(target), 'DPoP')).sub).toBe('svc');
    expect(verifier.cacheBytes()).toBe(bytes);
  });

  it('0 turns it off', async () => {
    const target = await startAuthority([k1]);
    const { verifier } = verifierFor(target, manualClock(), { accessTokenCacheBytes: 0 });
    await verifier.verify(await opTok(target), 'DPoP');
    expect(verifier.cacheBytes()).toBe(0);
  });
});
