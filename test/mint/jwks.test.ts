import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/domain/errors.ts';
import { publicJwks } from '../../src/mint/jwks.ts';
import { libtrustKeyId } from '../../src/mint/key-id.ts';
import { createMinter } from '../../src/mint/mint.ts';
import { loadSigningKey } from '../../src/mint/signing-key.ts';

const SAMPLE_KEY = fileURLToPath(new URL('../../etc/registry-signing-sample.pem', import.meta.url));
const SAMPLE_CERT = fileURLToPath(new URL('../../etc/registry-signing-sample.crt', import.meta.url));
const SAMPLE_KID = 'A6VL:OJMN:QMXI:2X5Z:JSR2:LUI4:V2FH:5DZK:TQ65:R2CH:NMKK:LOOJ';

const current = loadSigningKey({ keyPath: SAMPLE_KEY, certificatePath: SAMPLE_CERT });
const previousKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'jwks-'));
  writeFileSync(join(dir, 'previous.pub.pem'), previousKey.publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(join(dir, 'garbage.pem'), 'not a key\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('publicJwks', () => {
  it('serves the current key with its kid, alg, use and x5c, and nothing private', async () => {
    const { keys } = await publicJwks(current, []);
    expect(keys).toHaveLength(1);
    const [jwk] = keys;
    expect(jwk).toMatchObject({ kty: 'RSA', kid: SAMPLE_KID, alg: 'RS256', use: 'sig', x5c: [...current.x5c] });
    expect(jwk!.x5c).toEqual([new X509Certificate(readFileSync(SAMPLE_CERT)).raw.toString('base64')]);
    for (const field of ['d', 'p', 'q', 'dp', 'dq', 'qi']) expect(jwk).not.toHaveProperty(field);
  });

  it('leaves x5c out for a key without certificate', async () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const key = { privateKey: ec.privateKey, publicKey: ec.publicKey, algorithm: 'ES384' as const, keyId: 'custom-kid', x5c: [] };
    const { keys } = await publicJwks(key, []);
    expect(keys[0]).toMatchObject({ kty: 'EC', crv: 'P-384', kid: 'custom-kid', alg: 'ES384', use: 'sig' });
    expect(keys[0]).not.toHaveProperty('x5c');
    expect(keys[0]).not.toHaveProperty('d');
  });

  it('adds a previous key from a certificate with its libtrust kid and x5c', async () => {
    const { keys } = await publicJwks(loadSigningKey({ keyPath: SAMPLE_KEY }), [SAMPLE_CERT]);
    expect(keys).toHaveLength(2);
    expect(keys[1]).toMatchObject({ kty: 'RSA', kid: SAMPLE_KID, use: 'sig' });
    expect(keys[1]!.x5c).toEqual([new X509Certificate(readFileSync(SAMPLE_CERT)).raw.toString('base64')]);
    expect(keys[1]).not.toHaveProperty('alg');
  });

  it('adds a previous key from a PEM public key with its libtrust kid', async () => {
    const { keys } = await publicJwks(current, [join(dir, 'previous.pub.pem')]);
    expect(keys.map((k) => k.kid)).toEqual([SAMPLE_KID, libtrustKeyId(previousKey.publicKey)]);
    expect(keys[1]).toMatchObject({ kty: 'EC', crv: 'P-256', use: 'sig' });
    expect(keys[1]).not.toHaveProperty('x5c');
  });

  it('verifies a minted token through the JWKS, as a distribution 3.x registry would', async () => {
    const now = new Date('2030-01-01T00:00:00Z');
    const minter = createMinter({ key: current, issuer: 'registry-token', lifetimeSeconds: 300, clock: () => now });
    const { token } = await minter.mint({ subject: 's', service: 'registry.localhost', access: [] });
    const jwks = createLocalJWKSet(await publicJwks(current, [join(dir, 'previous.pub.pem')]));
    const { protectedHeader } = await jwtVerify(token, jwks, { issuer: 'registry-token', audience: 'registry.localhost', currentDate: now });
    expect(protectedHeader.kid).toBe(SAMPLE_KID);
  });

  it('names signing.previousKeyPaths for a file it cannot read', async () => {
    const missing = join(dir, 'missing.pem');
    const error = await publicJwks(current, [missing]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([`signing.previousKeyPaths: cannot read ${missing} (ENOENT)`]);
  });

  it('names signing.previousKeyPaths for a file that holds no key', async () => {
    const garbage = join(dir, 'garbage.pem');
    const error = await publicJwks(current, [garbage]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([`signing.previousKeyPaths: ${garbage} is neither a PEM certificate nor a PEM public key`]);
  });
});
