import { createHash, randomBytes } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { AuthenticationError, TooManyRequestsError, UnavailableError } from '../../src/domain/errors.ts';
import { createDpopVerifier, normaliseHtu, type DpopOptions, type DpopProofInput } from '../../src/authenticate/dpop.ts';
import { createNonceSource } from '../../src/authenticate/dpop-nonce.ts';
import { MemoryReplayCache, ReplayCacheFullError, ReplayShareExceededError } from '../../src/authenticate/replay-cache.ts';

// A frozen clock well away from the real one: nothing may read Date.now behind our back.
const NOW = 1_800_000_000_000;
const NOW_S = NOW / 1000;
const MAX_AGE = 60;
const TOLERANCE = 5;
const URL_ = 'https://registry-token.test/token';
const CLIENT = 'client-a';
const ACCESS_TOKEN = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJzdmMifQ.c2lnbmF0dXJl';
const ATH = createHash('sha256').update(ACCESS_TOKEN).digest('base64url');

interface KeyPair {
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwk: JWK;
  alg: string;
}

async function keyPair(alg: 'ES256' | 'ES384' | 'ES512'): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, publicKey, jwk: await exportJWK(publicKey), alg };
}

let es256: KeyPair;
let es256b: KeyPair;
let es512: KeyPair;
beforeAll(async () => {
  [es256, es256b, es512] = await Promise.all([keyPair('ES256'), keyPair('ES256'), keyPair('ES512')]);
});

interface ProofOptions {
  key?: KeyPair;
  /** Merged over { typ: 'dpop+jwt', alg, jwk }. */
  header?: Record<string, unknown>;
  /** Merged over { htm, htu, iat, jti, ath }; a value of undefined removes the claim. */
  claims?: Record<string, unknown>;
}

async function makeProof(options: ProofOptions = {}): Promise<string> {
  const key = options.key ?? es256;
  const claims: Record<string, unknown> = {
    htm: 'POST',
    htu: URL_,
    iat: NOW_S,
    jti: randomBytes(16).toString('base64url'),
    ath: ATH,
    ...options.claims,
  };
  for (const [name, value] of Object.entries(claims)) if (value === undefined) delete claims[name];
  const header = { typ: 'dpop+jwt', alg: key.alg, jwk: key.jwk, ...options.header };
  return new SignJWT(claims).setProtectedHeader(header as { alg: string }).sign(key.privateKey);
}

/** A JWS with the given header and payload and a junk signature (for algorithms we cannot sign with). */
function unsigned(header: Record<string, unknown>, payload: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part(header)}.${part(payload)}.${Buffer.from('sig').toString('base64url')}`;
}

function verifier(overrides: Partial<DpopOptions> = {}) {
  return createDpopVerifier({
    algorithms: ['ES256', 'ES384'],
    maxAgeSeconds: MAX_AGE,
    clockToleranceSeconds: TOLERANCE,
    replayCache: new MemoryReplayCache(1000, { now: () => NOW }),
    now: () => NOW,
    ...overrides,
  });
}

function input(proof: string, overrides: Partial<DpopProofInput> = {}): DpopProofInput {
  return { proof, accessToken: ACCESS_TOKEN, method: 'POST', url: URL_, ...overrides };
}

async function rejection(promise: Promise<unknown>): Promise<AuthenticationError> {
  const error = await promise.then(
    () => {
      throw new Error('expected the proof to be refused');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AuthenticationError);
  return error as AuthenticationError;
}

async function expectInvalid(promise: Promise<unknown>, message: string | RegExp): Promise<AuthenticationError> {
  const error = await rejection(promise);
  expect(error.reason).toBe('invalid_dpop_proof');
  expect(error.oauthError).toBe('invalid_dpop_proof');
  expect(error.scheme).toBe('DPoP');
  expect(error.status).toBe(401);
  if (typeof message === 'string') expect(error.message).toBe(message);
  else expect(error.message).toMatch(message);
  return error;
}

describe('createDpopVerifier: a valid proof', () => {
  it('returns the RFC 7638 thumbprint of the proof key', async () => {
    const jkt = await verifier().verify(input(await makeProof()));
    expect(jkt).toBe(await calculateJwkThumbprint(es256.jwk, 'sha256'));
    expect(jkt).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('accepts every allowed algorithm', async () => {
    const es384 = await keyPair('ES384');
    expect(await verifier().verify(input(await makeProof({ key: es384 })))).toBe(await calculateJwkThumbprint(es384.jwk));
  });

  it('names its algorithms for the challenge', () => {
    expect(verifier().algorithms).toEqual(['ES256', 'ES384']);
  });

  it.each([
    ['the oldest iat allowed', NOW_S - MAX_AGE - TOLERANCE],
    ['the latest iat allowed', NOW_S + TOLERANCE],
    ['a fractional iat', NOW_S - 0.5],
  ])('accepts %s', async (_label, iat) => {
    await expect(verifier().verify(input(await makeProof({ claims: { iat } })))).resolves.toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('accepts extra claims and header fields', async () => {
    const proof = await makeProof({ claims: { extra: 1 }, header: { kid: 'ignored' } });
    await expect(verifier().verify(input(proof))).resolves.toBeTypeOf('string');
  });
});

describe('createDpopVerifier: htu', () => {
  // proof htu, request URL, accepted
  const table: [string, string, boolean][] = [
    [URL_, URL_, true],
    [`${URL_}?service=registry&scope=repository:a/b:pull`, URL_, true],
    [`${URL_}#fragment`, URL_, true],
    [URL_, `${URL_}?service=registry.localhost&scope=repository%3Aa%2Fb%3Apull`, true],
    ['https://REGISTRY-TOKEN.test/token', URL_, true],
    ['HTTPS://registry-token.test/token', URL_, true],
    ['https://registry-token.test:443/token', URL_, true],
    ['http://registry-token.test:80/token', 'http://registry-token.test/token', true],
    ['https://registry-token.test/token/', URL_, false],
    ['https://registry-token.test/Token', URL_, false],
    ['http://registry-token.test/token', URL_, false],
    ['https://registry-token.test:8443/token', URL_, false],
    ['https://other.test/token', URL_, false],
    ['https://registry-token.test/jwks', URL_, false],
    ['/token', URL_, false],
    ['not a url', URL_, false],
  ];
  it.each(table)('htu %s for %s -> %s', async (htu, url, accepted) => {
    const result = verifier().verify(input(await makeProof({ claims: { htu } }), { url }));
    if (accepted) await expect(result).resolves.toBeTypeOf('string');
    else await expectInvalid(result, `the DPoP proof htu must be "${normaliseHtu(url)}"`);
  });

  it.each([
    ['a missing htu', undefined],
    ['an htu that is not a string', 42],
  ])('refuses %s', async (_label, htu) => {
    await expectInvalid(verifier().verify(input(await makeProof({ claims: { htu } }))), `the DPoP proof htu must be "${URL_}"`);
  });

  it('normaliseHtu drops query and fragment and normalises case and default port', () => {
    expect(normaliseHtu('HTTPS://Registry-Token.TEST:443/token?x=1#y')).toBe(URL_);
    expect(normaliseHtu('nonsense')).toBeUndefined();
  });
});

describe('createDpopVerifier: refused proofs', () => {
  const table: [label: string, proof: () => Promise<string>, message: string | RegExp][] = [
    ['not a JWT', async () => 'garbage', 'the DPoP proof is not a JWT'],
    ['typ JWT', () => makeProof({ header: { typ: 'JWT' } }), 'the DPoP proof must have typ "dpop+jwt"'],
    ['no typ', () => makeProof({ header: { typ: undefined } }), 'the DPoP proof must have typ "dpop+jwt"'],
    ['an algorithm not allowed (ES512)', () => makeProof({ key: es512 }), 'the DPoP proof algorithm must be one of ES256, ES384'],
    ['alg none', async () => unsigned({ typ: 'dpop+jwt', alg: 'none', jwk: es256.jwk }, { htm: 'POST', htu: URL_, iat: NOW_S, jti: 'abcdefghij', ath: ATH }), 'the DPoP proof algorithm must be one of ES256, ES384'],
    ['alg HS256', async () => unsigned({ typ: 'dpop+jwt', alg: 'HS256', jwk: es256.jwk }, { htm: 'POST', htu: URL_, iat: NOW_S, jti: 'abcdefghij', ath: ATH }), 'the DPoP proof algorithm must be one of ES256, ES384'],
    ['no jwk in the header', () => makeProof({ header: { jwk: undefined } }), 'the DPoP proof header carries no jwk'],
    ['a private key in the jwk', async () => makeProof({ header: { jwk: await exportJWK(es256.privateKey) } }), 'the DPoP proof jwk must be a public key'],
    ['a symmetric key in the jwk', () => makeProof({ header: { jwk: { kty: 'oct', k: 'c2VjcmV0' } } }), 'the DPoP proof jwk must be a public key'],
    ['a signature by another key', () => makeProof({ header: { jwk: es256b.jwk } }), 'the DPoP proof signature is invalid'],
    [
      'a tampered payload',
      async () => {
        const [h, , s] = (await makeProof()).split('.');
        const payload = Buffer.from(JSON.stringify({ htm: 'POST', htu: URL_, iat: NOW_S, jti: 'abcdefghijk', ath: ATH })).toString('base64url');
        return `${h}.${payload}.${s}`;
      },
      'the DPoP proof signature is invalid',
    ],
    ['a wrong htm', () => makeProof({ claims: { htm: 'GET' } }), 'the DPoP proof htm must be "POST"'],
    ['a lower-case htm', () => makeProof({ claims: { htm: 'post' } }), 'the DPoP proof htm must be "POST"'],
    ['no htm', () => makeProof({ claims: { htm: undefined } }), 'the DPoP proof htm must be "POST"'],
    ['no jti', () => makeProof({ claims: { jti: undefined } }), 'the DPoP proof needs a unique jti'],
    ['a short jti', () => makeProof({ claims: { jti: '1234567' } }), 'the DPoP proof needs a unique jti'],
    ['a huge jti', () => makeProof({ claims: { jti: 'x'.repeat(257) } }), 'the DPoP proof needs a unique jti'],
    ['a numeric jti', () => makeProof({ claims: { jti: 123456789 } }), 'the DPoP proof needs a unique jti'],
    ['no iat', () => makeProof({ claims: { iat: undefined } }), 'the DPoP proof needs a numeric iat'],
    ['an iat too old', () => makeProof({ claims: { iat: NOW_S - MAX_AGE - TOLERANCE - 1 } }), 'the DPoP proof is too old (iat); make a fresh proof for every request'],
    ['an iat in the future', () => makeProof({ claims: { iat: NOW_S + TOLERANCE + 1 } }), 'the DPoP proof iat is in the future; check the client clock'],
    ['a wrong ath', () => makeProof({ claims: { ath: createHash('sha256').update('another token').digest('base64url') } }), 'the DPoP proof ath does not match the access token'],
    ['no ath', () => makeProof({ claims: { ath: undefined } }), 'the DPoP proof ath does not match the access token'],
    ['an ath in hex', () => makeProof({ claims: { ath: createHash('sha256').update(ACCESS_TOKEN).digest('hex') } }), 'the DPoP proof ath does not match the access token'],
  ];
  it.each(table)('%s', async (_label, proof, message) => {
    await expectInvalid(verifier().verify(input(await proof())), message);
  });

  it('a string iat is refused (jose checks claim types)', async () => {
    await expectInvalid(verifier().verify(input(await makeProof({ claims: { iat: String(NOW_S) } }))), /^the DPoP proof (cannot be verified|needs a numeric iat)$/);
  });

  it('keeps the library error as the cause, never in the message', async () => {
    const error = await expectInvalid(verifier().verify(input(await makeProof({ header: { jwk: { kty: 'EC', crv: 'P-256', x: 'AAAA', y: 'AAAA' } } }))), 'the DPoP proof jwk is not a valid public key for its alg');
    expect(error.cause).toBeInstanceOf(Error);
    expect(error.message).not.toMatch(/JWK|asn1|ERR_/);
  });

  it.each([
    ['a critical header parameter', async () => unsigned({ typ: 'dpop+jwt', alg: 'ES256', jwk: es256.jwk, crit: ['exp'], exp: 1 }, { htm: 'POST' })],
    ['an unencoded payload (b64)', async () => unsigned({ typ: 'dpop+jwt', alg: 'ES256', jwk: es256.jwk, b64: false, crit: ['b64'] }, { htm: 'POST' })],
  ])('refuses %s', async (_label, proof) => {
    await expectInvalid(verifier().verify(input(await proof())), 'the DPoP proof uses header parameters this service does not support (crit, b64)');
  });

  it.each([
    ['an exp in the past', { exp: NOW_S - TOLERANCE - 1 }, 'the DPoP proof has expired (exp)'],
    ['a string exp', { exp: String(NOW_S + 60) }, 'the DPoP proof has expired (exp)'],
    ['an nbf in the future', { nbf: NOW_S + TOLERANCE + 1 }, 'the DPoP proof is not valid yet (nbf)'],
  ])('refuses %s', async (_label, claims, message) => {
    await expectInvalid(verifier().verify(input(await makeProof({ claims }))), message);
  });

  it('accepts a proof whose exp and nbf hold', async () => {
    await expect(verifier().verify(input(await makeProof({ claims: { exp: NOW_S + 60, nbf: NOW_S - 1 } })))).resolves.toBeTypeOf('string');
  });

  it.each([
    ['a P-384 key for ES256', async () => makeProof({ header: { jwk: (await keyPair('ES384')).jwk } })],
    ['an RSA key for ES256', async () => makeProof({ header: { jwk: await exportJWK((await generateKeyPair('RS256', { extractable: true })).publicKey) } })],
  ])('refuses %s', async (_label, proof) => {
    await expectInvalid(verifier().verify(input(await proof())), 'the DPoP proof jwk is not a valid public key for its alg');
  });

  it.each([
    ['a truncated signature', (s: string) => s.slice(0, -4)],
    ['a signature with a character outside base64url', (s: string) => `${s.slice(0, -1)}+`],
    ['an empty signature', () => ''],
  ])('refuses %s', async (_label, change) => {
    const [h, p, s] = (await makeProof()).split('.');
    await expectInvalid(verifier().verify(input(`${h}.${p}.${change(s!)}`)), /^the DPoP proof (signature is invalid|is not a JWT)$/);
  });

  it('refuses a JWS with more than three parts', async () => {
    await expectInvalid(verifier().verify(input(`${await makeProof()}.x`)), /^the DPoP proof is not a JWT$/);
  });

  it('checks the proof against the access token it came with', async () => {
    const proof = await makeProof();
    await expectInvalid(verifier().verify(input(proof, { accessToken: `${ACCESS_TOKEN}x` })), 'the DPoP proof ath does not match the access token');
  });

  it('checks htm against the request method', async () => {
    const proof = await makeProof({ claims: { htm: 'GET' } });
    await expect(verifier().verify(input(proof, { method: 'GET' }))).resolves.toBeTypeOf('string');
    await expectInvalid(verifier().verify(input(proof, { method: 'POST' })), 'the DPoP proof htm must be "POST"');
  });
});

describe('createDpopVerifier: every algorithm it may be configured with', () => {
  // The signature check is node:crypto's, with a table of algorithms (jws-signature.ts): each
  // one against a proof signed by jose, and against a proof signed by another key.
  const algs = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;
  it.each(algs)('%s', async (alg) => {
    const options = alg === 'EdDSA' || alg === 'Ed25519' ? { extractable: true, crv: 'Ed25519' } : { extractable: true };
    const [mine, other] = await Promise.all([generateKeyPair(alg, options), generateKeyPair(alg, options)]);
    const key: KeyPair = { ...mine, jwk: await exportJWK(mine.publicKey), alg };
    const v = verifier({ algorithms: [alg] });
    await expect(v.verify(input(await makeProof({ key })))).resolves.toBe(await calculateJwkThumbprint(key.jwk));
    const forged = await makeProof({ key: { ...key, privateKey: other.privateKey } });
    await expectInvalid(v.verify(input(forged)), 'the DPoP proof signature is invalid');
  });

  it('refuses an RSA key under 2048 bits', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const jwk = small.publicKey.export({ format: 'jwk' }) as JWK;
    const proof = unsigned({ typ: 'dpop+jwt', alg: 'RS256', jwk }, { htm: 'POST', htu: URL_, iat: NOW_S, jti: 'abcdefghij', ath: ATH });
    await expectInvalid(verifier({ algorithms: ['RS256'] }).verify(input(proof)), 'the DPoP proof jwk is not a valid public key for its alg');
  });
});

describe('createDpopVerifier: consume (replay)', () => {
  it('a proof used twice is refused the second time', async () => {
    const v = verifier();
    const proof = await makeProof();
    const jkt = await v.verify(input(proof));
    await v.consume(proof, jkt, CLIENT);
    // verify alone does not remember it: replay is checked by consume, after every other check
    expect(await v.verify(input(proof))).toBe(jkt);
    await expectInvalid(v.consume(proof, jkt, CLIENT), 'the DPoP proof has been used before; make a fresh proof for every request');
  });

  it('distinct jtis are each accepted once', async () => {
    const v = verifier();
    for (let i = 0; i < 3; i++) {
      const proof = await makeProof();
      await v.consume(proof, await v.verify(input(proof)), CLIENT);
    }
  });

  it('the same jti from another key is not a replay', async () => {
    const v = verifier();
    const jti = 'shared-jti-value';
    const a = await makeProof({ claims: { jti } });
    const b = await makeProof({ key: es256b, claims: { jti } });
    await v.consume(a, await v.verify(input(a)), CLIENT);
    await expect(v.consume(b, await v.verify(input(b)), CLIENT)).resolves.toBeUndefined();
  });

  it('remembers a jti for the whole acceptance window (max age + tolerance)', async () => {
    let now = NOW;
    const cache = new MemoryReplayCache(1000, { now: () => now });
    const v = verifier({ replayCache: cache, now: () => now });
    const proof = await makeProof();
    const jkt = await v.verify(input(proof));
    await v.consume(proof, jkt, CLIENT);
    now = NOW + (MAX_AGE + TOLERANCE) * 1000 - 1;
    await expectInvalid(v.consume(proof, jkt, CLIENT), /used before/);
  });

  it('answers 503 replay_cache_full when the cache refuses to take another proof', async () => {
    const v = verifier({ replayCache: new MemoryReplayCache(100, { now: () => NOW }) });
    for (let i = 0; i < 100; i++) {
      const proof = await makeProof();
      await v.consume(proof, await v.verify(input(proof)), CLIENT);
    }
    const proof = await makeProof();
    const error = await v.consume(proof, await v.verify(input(proof)), CLIENT).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as UnavailableError).reason).toBe('replay_cache_full');
    expect((error as UnavailableError).status).toBe(503);
  });

  it('works with an asynchronous replay cache', async () => {
    const seen = new Set<string>();
    const v = verifier({
      replayCache: {
        remember: async (key) => {
          if (seen.has(key)) return false;
          seen.add(key);
          return true;
        },
      },
    });
    const proof = await makeProof();
    const jkt = await v.verify(input(proof));
    await v.consume(proof, jkt, CLIENT);
    expect([...seen]).toEqual([`${jkt}:${JSON.parse(Buffer.from(proof.split('.')[1]!, 'base64url').toString()).jti}`]);
    await expectInvalid(v.consume(proof, jkt, CLIENT), /used before/);
  });
});

describe('createDpopVerifier: use and judge (the replay cache asked by the caller)', () => {
  it('use names what consume remembers; judge gives consume\'s verdicts for the cache\'s answers', async () => {
    const remembered: { key: string; expiresAt: number; client: string }[] = [];
    const v = verifier({ replayCache: { remember: (key, expiresAt, client) => (remembered.push({ key, expiresAt, client }), true) } });
    const proof = await makeProof();
    const jkt = await v.verify(input(proof));
    await v.consume(proof, jkt, CLIENT);
    expect(v.use(proof, jkt, CLIENT)).toEqual(remembered[0]);
    await expect(v.judge(Promise.resolve(true))).resolves.toBeUndefined();
    await expectInvalid(v.judge(Promise.resolve(false)), /used before/);
    const share = await v.judge(Promise.reject(new ReplayShareExceededError(3, 2500))).then(() => undefined, (e: unknown) => e);
    expect(share).toMatchObject({ status: 429, retryAfterSeconds: 3 });
    const full = await v.judge(Promise.reject(new ReplayCacheFullError(10))).then(() => undefined, (e: unknown) => e);
    expect(full).toMatchObject({ status: 503, reason: 'replay_cache_full' });
  });
});

describe('createDpopVerifier: replay window from iat (RFC 9449 section 11.1)', () => {
  // The defaults: a proof is accepted until iat + 60 + 30 s, and iat may be up to 30 s ahead.
  const defaults = (now: () => number) =>
    verifier({ maxAgeSeconds: 60, clockToleranceSeconds: 30, replayCache: new MemoryReplayCache(1000, { now }), now });

  it('a proof with iat 29 s ahead, used once, is refused when replayed 92 s later', async () => {
    let now = NOW;
    const v = defaults(() => now);
    const proof = await makeProof({ claims: { iat: NOW_S + 29 } });
    await v.consume(proof, await v.verify(input(proof)), CLIENT);
    now = NOW + 92_000;
    // Still acceptable as a proof (age 63 s), so only the replay cache stands in the way.
    const jkt = await v.verify(input(proof));
    await expectInvalid(v.consume(proof, jkt, CLIENT), /used before/);
  });

  it('remembers the jti up to the last instant its proof is accepted', async () => {
    let now = NOW;
    const v = defaults(() => now);
    const proof = await makeProof({ claims: { iat: NOW_S + 29 } });
    await v.consume(proof, await v.verify(input(proof)), CLIENT);
    now = (NOW_S + 29 + 90) * 1000;
    const jkt = await v.verify(input(proof));
    await expectInvalid(v.consume(proof, jkt, CLIENT), /used before/);
    now += 1;
    await expectInvalid(v.verify(input(proof)), /too old/);
  });
});

describe('createDpopVerifier: the replay cache is shared fairly', () => {
  it('a client at its share gets 429 rate_limited with Retry-After, another client is still served', async () => {
    const v = verifier({ replayCache: new MemoryReplayCache(100, { perClient: 10, now: () => NOW }) });
    for (let i = 0; i < 10; i++) {
      const proof = await makeProof();
      await v.consume(proof, await v.verify(input(proof)), 'hog');
    }
    const proof = await makeProof();
    const error = await v.consume(proof, await v.verify(input(proof)), 'hog').then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(TooManyRequestsError);
    expect((error as TooManyRequestsError).status).toBe(429);
    expect((error as TooManyRequestsError).reason).toBe('rate_limited');
    // iat is NOW: the hog's oldest proof is forgotten just after MAX_AGE + TOLERANCE seconds (rounded up)
    expect((error as TooManyRequestsError).retryAfterSeconds).toBe(MAX_AGE + TOLERANCE + 1);
    const other = await makeProof({ key: es256b });
    await expect(v.consume(other, await v.verify(input(other)), 'other')).resolves.toBeUndefined();
  });
});

describe('createDpopVerifier: malformed proof headers', () => {
  it.each([
    ['null', null],
    ['an array', [{ kty: 'EC', crv: 'P-256' }]],
    ['a string', 'jwk'],
    ['a number', 42],
    ['true', true],
  ])('a jwk that is %s is 401 invalid_dpop_proof', async (_label, jwk) => {
    const proof = unsigned({ typ: 'dpop+jwt', alg: 'ES256', jwk }, { htm: 'POST', htu: URL_, iat: NOW_S, jti: 'abcdefghij', ath: ATH });
    await expectInvalid(verifier().verify(input(proof)), /^the DPoP proof (header carries no jwk|jwk is not a valid public key for its alg|is not a JWT)$/);
  });
});

describe('createDpopVerifier: the proof-key cache is bounded in bytes', () => {
  it('many large distinct headers do not grow it past its bound', async () => {
    const maxBytes = 256 * 1024;
    const v = verifier({ keyCacheBytes: maxBytes });
    const padding = 'x'.repeat(8 * 1024);
    for (let i = 0; i < 100; i++) {
      // Each proof is valid and has its own header bytes, as a client varying an ignored field would send.
      const proof = await makeProof({ header: { kid: `${i}-${padding}` } });
      await v.verify(input(proof));
      expect(v.keyCacheBytes()).toBeLessThanOrEqual(maxBytes);
    }
    expect(v.keyCacheBytes()).toBeGreaterThan(maxBytes / 2);
  });

  it('still verifies a proof whose key was evicted', async () => {
    const v = verifier({ keyCacheBytes: 1 });
    const jkt = await calculateJwkThumbprint(es256.jwk);
    expect(await v.verify(input(await makeProof()))).toBe(jkt);
    expect(await v.verify(input(await makeProof()))).toBe(jkt);
  });
});

describe('createDpopVerifier: server nonces', () => {
  const nonces = () => createNonceSource({ secret: 'nonce-secret-for-tests', now: () => NOW });

  it('asks for a nonce when the proof has none, carrying the current one', async () => {
    const source = nonces();
    const error = await rejection(verifier({ nonces: source }).verify(input(await makeProof())));
    expect(error.reason).toBe('use_dpop_nonce');
    expect(error.oauthError).toBe('use_dpop_nonce');
    expect(error.scheme).toBe('DPoP');
    expect(error.status).toBe(401);
    expect(error.nonce).toBe(source.current());
    expect(error.message).toMatch(/DPoP nonce is required/);
  });

  it('asks again for a wrong nonce', async () => {
    const source = nonces();
    const error = await rejection(verifier({ nonces: source }).verify(input(await makeProof({ claims: { nonce: 'stale' } }))));
    expect(error.reason).toBe('use_dpop_nonce');
    expect(error.nonce).toBe(source.current());
  });

  it('accepts the nonce it handed out', async () => {
    const source = nonces();
    const proof = await makeProof({ claims: { nonce: source.current() } });
    expect(await verifier({ nonces: source }).verify(input(proof))).toBe(await calculateJwkThumbprint(es256.jwk));
  });

  it('checks the proof itself before the nonce', async () => {
    await expectInvalid(verifier({ nonces: nonces() }).verify(input(await makeProof({ claims: { htm: 'GET' } }))), 'the DPoP proof htm must be "POST"');
  });

  it('without a nonce source, a nonce claim is ignored', async () => {
    await expect(verifier().verify(input(await makeProof({ claims: { nonce: 'whatever' } })))).resolves.toBeTypeOf('string');
  });
});
