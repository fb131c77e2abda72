import { generateKeyPairSync } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { decodeJwt, decodeProtectedHeader, jwtVerify, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import type { AccessEntry } from '../../src/domain/types.ts';
import { libtrustKeyId } from '../../src/mint/key-id.ts';
import { createMinter } from '../../src/mint/mint.ts';
import { loadSigningKey, type SigningKey } from '../../src/mint/signing-key.ts';

const SAMPLE_KEY = fileURLToPath(new URL('../../etc/registry-signing-sample.pem', import.meta.url));
const SAMPLE_CERT = fileURLToPath(new URL('../../etc/registry-signing-sample.crt', import.meta.url));

// A frozen clock with a fractional second: the token must carry whole seconds.
const NOW = new Date('2030-01-02T03:04:05.678Z');
const NOW_S = Math.floor(NOW.getTime() / 1000);
const clock = () => NOW;

const rsaWithCert = loadSigningKey({ keyPath: SAMPLE_KEY, certificatePath: SAMPLE_CERT });

function ecKey(curve: 'P-256' | 'P-384' | 'P-521' = 'P-256'): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve });
  const algorithm = ({ 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' } as const)[curve];
  return { privateKey, publicKey, algorithm, keyId: libtrustKeyId(publicKey), x5c: [] };
}

/** The token jose's SignJWT makes for the same claims: what the minter wrote before it signed by itself. */
function joseToken(key: SigningKey, token: string): Promise<string> {
  const claims = decodeJwt(token);
  return new SignJWT({ access: claims.access })
    .setProtectedHeader(decodeProtectedHeader(token) as { alg: string })
    .setIssuer(claims.iss!)
    .setSubject(claims.sub!)
    .setAudience(claims.aud as string)
    .setIssuedAt(claims.iat!)
    .setNotBefore(claims.nbf!)
    .setExpirationTime(claims.exp!)
    .setJti(claims.jti!)
    .sign(key.privateKey);
}

const ACCESS: AccessEntry[] = [
  { type: 'repository', name: 'team/app', actions: ['pull', 'push'] },
  { type: 'registry', name: 'catalog', actions: ['*'] },
];

/** The payload exactly as JSON text carries it. */
function rawPayload(token: string): string {
  return Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8');
}

describe('createMinter', () => {
  const minter = createMinter({ key: rsaWithCert, issuer: 'registry-token', lifetimeSeconds: 300, clock });

  it('writes the header distribution needs: alg, typ, libtrust kid and x5c', async () => {
    const { token } = await minter.mint({ subject: 'svc-ci', service: 'registry.localhost', access: ACCESS });
    expect(decodeProtectedHeader(token)).toEqual({
      alg: 'RS256',
      typ: 'JWT',
      kid: 'A6VL:OJMN:QMXI:2X5Z:JSR2:LUI4:V2FH:5DZK:TQ65:R2CH:NMKK:LOOJ',
      x5c: [...rsaWithCert.x5c],
    });
  });

  it('leaves x5c out when no certificate is configured', async () => {
    const key = ecKey();
    const { token } = await createMinter({ key, issuer: 'i', lifetimeSeconds: 60, clock }).mint({ subject: 's', service: 'svc', access: [] });
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'ES256', typ: 'JWT', kid: key.keyId });
  });

  it('writes the claims: iss, sub, aud as one string, integer times, jti, access', async () => {
    const minted = await minter.mint({ subject: 'svc-ci', service: 'registry.localhost', access: ACCESS });
    const claims = decodeJwt(minted.token);
    expect(claims).toEqual({
      access: ACCESS,
      iss: 'registry-token',
      sub: 'svc-ci',
      aud: 'registry.localhost',
      iat: NOW_S,
      nbf: NOW_S,
      exp: NOW_S + 300,
      jti: minted.jti,
    });
    expect(typeof claims.aud).toBe('string');
    for (const claim of ['iat', 'nbf', 'exp'] as const) expect(Number.isInteger(claims[claim])).toBe(true);
    expect(claims.exp! - claims.iat!).toBe(300);
    // as JSON text: a string audience and times without a fraction
    const raw = rawPayload(minted.token);
    expect(raw).toContain('"aud":"registry.localhost"');
    expect(raw).toMatch(new RegExp(`"iat":${NOW_S}[,}]`));
    expect(raw).toMatch(new RegExp(`"exp":${NOW_S + 300}[,}]`));
  });

  it('reports the times it wrote', async () => {
    const minted = await minter.mint({ subject: 'svc-ci', service: 'registry.localhost', access: ACCESS });
    // The exact moment (for the ledger and issued_at); the token's iat is its whole second.
    expect(minted.issuedAt).toEqual(clock());
    expect(Math.floor(minted.issuedAt.getTime() / 1000)).toBe(NOW_S);
    expect(minted.expiresAt).toEqual(new Date((NOW_S + 300) * 1000));
    expect(minted.expiresIn).toBe(300);
  });

  it('writes an empty access array for a login', async () => {
    const { token } = await minter.mint({ subject: 'svc-ci', service: 'registry.localhost', access: [] });
    expect(decodeJwt(token).access).toEqual([]);
    expect(rawPayload(token)).toContain('"access":[]');
  });

  it('gives every token its own jti', async () => {
    const minted = await Promise.all(Array.from({ length: 20 }, () => minter.mint({ subject: 's', service: 'svc', access: [] })));
    const ids = new Set(minted.map((m) => m.jti));
    expect(ids.size).toBe(20);
    for (const m of minted) {
      expect(m.jti).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(decodeJwt(m.token).jti).toBe(m.jti);
    }
  });

  it('follows the lifetime it is given', async () => {
    const short = createMinter({ key: rsaWithCert, issuer: 'registry-token', lifetimeSeconds: 60, clock });
    const claims = decodeJwt((await short.mint({ subject: 's', service: 'svc', access: [] })).token);
    expect(claims.exp! - claims.iat!).toBe(60);
  });

  it('reads the clock for every token', async () => {
    let now = NOW;
    const ticking = createMinter({ key: rsaWithCert, issuer: 'registry-token', lifetimeSeconds: 300, clock: () => now });
    const first = await ticking.mint({ subject: 's', service: 'svc', access: [] });
    now = new Date(NOW.getTime() + 10_000);
    const second = await ticking.mint({ subject: 's', service: 'svc', access: [] });
    expect(decodeJwt(second.token).iat! - decodeJwt(first.token).iat!).toBe(10);
  });

  it.each([
    ['RSA with certificate', rsaWithCert],
    ['EC P-256', ecKey()],
  ])('signs so that jose verifies with the public key (%s)', async (_label, key) => {
    const m = createMinter({ key, issuer: 'registry-token', lifetimeSeconds: 300, clock });
    const { token } = await m.mint({ subject: 'svc-ci', service: 'registry.localhost', access: ACCESS });
    const { payload, protectedHeader } = await jwtVerify(token, key.publicKey, {
      issuer: 'registry-token',
      audience: 'registry.localhost',
      algorithms: [key.algorithm],
      currentDate: NOW,
      requiredClaims: ['exp', 'nbf', 'iat', 'jti', 'sub'],
    });
    expect(payload.access).toEqual(ACCESS);
    expect(protectedHeader.kid).toBe(key.keyId);
  });

  it('writes byte for byte the token jose SignJWT writes (RS256 signatures are deterministic)', async () => {
    for (const key of [rsaWithCert, { ...rsaWithCert, algorithm: 'RS384' as const }, { ...rsaWithCert, algorithm: 'RS512' as const }]) {
      const { token } = await createMinter({ key, issuer: 'registry-token', lifetimeSeconds: 300, clock }).mint({ subject: 'svc-ci', service: 'registry.localhost', access: ACCESS });
      expect(token).toBe(await joseToken(key, token));
    }
  });

  it.each(['P-256', 'P-384', 'P-521'] as const)('writes the header and claims jose writes, and a JWS (r || s) signature jose verifies (%s)', async (curve) => {
    const key = ecKey(curve);
    const { token } = await createMinter({ key, issuer: 'registry-token', lifetimeSeconds: 300, clock }).mint({ subject: 's', service: 'svc', access: ACCESS });
    const reference = await joseToken(key, token);
    expect(token.split('.').slice(0, 2)).toEqual(reference.split('.').slice(0, 2));
    expect(Buffer.from(token.split('.')[2]!, 'base64url').length).toBe(Buffer.from(reference.split('.')[2]!, 'base64url').length);
    await expect(jwtVerify(token, key.publicKey, { algorithms: [key.algorithm], currentDate: NOW })).resolves.toBeDefined();
  });

  it('a token from another key does not verify', async () => {
    const { token } = await minter.mint({ subject: 's', service: 'svc', access: [] });
    await expect(jwtVerify(token, ecKey().publicKey, { currentDate: NOW })).rejects.toThrow();
  });
});
