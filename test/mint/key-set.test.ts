import { execFileSync } from 'node:child_process';
import { createPublicKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { libtrustKeyId } from '../../src/mint/key-id.ts';
import { loadKeySet, PREVIOUS_KEY_PATHS_DEPRECATION, type KeySetOptions } from '../../src/mint/key-set.ts';
import { KeySetHolder } from '../../src/mint/key-set-holder.ts';
import { createMinter } from '../../src/mint/mint.ts';
import { configError } from '../support/thrown.ts';

const SAMPLE_KEY = fileURLToPath(new URL('../../etc/registry-signing-sample.pem', import.meta.url));
const SAMPLE_CERT = fileURLToPath(new URL('../../etc/registry-signing-sample.crt', import.meta.url));
const SAMPLE_KID = 'A6VL:OJMN:QMXI:2X5Z:JSR2:LUI4:V2FH:5DZK:TQ65:R2CH:NMKK:LOOJ';
const PASSWORD = 'next-key-pass';
const NOW = new Date('2030-01-01T00:00:00Z');

let dir: string;
const file = (name: string) => join(dir, name);
const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
const certB64 = (path: string) => new X509Certificate(readFileSync(path)).raw.toString('base64');
const load = (options: KeySetOptions, env: NodeJS.ProcessEnv = {}) => loadKeySet(options, env);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'key-set-'));
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', file('next.pem'), '-out', file('next.crt'), '-subj', '/CN=next', '-days', '2');
  openssl('pkcs8', '-topk8', '-in', file('next.pem'), '-v2', 'aes-256-cbc', '-passout', `pass:${PASSWORD}`, '-out', file('next-enc.pem'));
  openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384', '-out', file('bare.pem'));
  openssl('pkey', '-in', file('bare.pem'), '-pubout', '-out', file('bare.pub.pem'));
  writeFileSync(file('garbage.pem'), 'not a key\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const twoKeys = (activeKeyId: string): KeySetOptions => ({
  keys: [
    { path: SAMPLE_KEY, certificatePath: SAMPLE_CERT },
    { path: file('next.pem'), certificatePath: file('next.crt') },
  ],
  activeKeyId,
});
const nextKid = () => libtrustKeyId(new X509Certificate(readFileSync(file('next.crt'))).publicKey);

describe('loadKeySet: the single-key form', () => {
  it('publishes the one key with its libtrust kid, alg, use and x5c, and nothing private', () => {
    const set = load({ keyPath: SAMPLE_KEY, certificatePath: SAMPLE_CERT });
    expect(set.active.keyId).toBe(SAMPLE_KID);
    expect(set.jwks.keys).toHaveLength(1);
    const [jwk] = set.jwks.keys;
    expect(jwk).toMatchObject({ kty: 'RSA', kid: SAMPLE_KID, alg: 'RS256', use: 'sig', x5c: [certB64(SAMPLE_CERT)] });
    expect(Object.keys(jwk!).sort()).toEqual(['alg', 'e', 'kid', 'kty', 'n', 'use', 'x5c']);
    expect(set.warnings).toEqual([]);
  });

  it('leaves x5c out for a key without certificate and keeps a given keyId', () => {
    const set = load({ keyPath: file('bare.pem'), keyId: 'custom-kid' });
    expect(set.jwks.keys[0]).toEqual({ ...set.jwks.keys[0], kty: 'EC', crv: 'P-384', kid: 'custom-kid', alg: 'ES384', use: 'sig' });
    expect(Object.keys(set.jwks.keys[0]!).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
  });

  it('still reads previousKeyPaths (certificate or public key), with the deprecation warning', () => {
    const set = load({ keyPath: file('next.pem'), previousKeyPaths: [SAMPLE_CERT, file('bare.pub.pem')] });
    expect(set.published.map((k) => k.kid)).toEqual([nextKid(), SAMPLE_KID, libtrustKeyId(createPublicKey(readFileSync(file('bare.pub.pem'))))]);
    expect(set.jwks.keys[1]).toMatchObject({ kty: 'RSA', kid: SAMPLE_KID, use: 'sig', x5c: [certB64(SAMPLE_CERT)] });
    expect(set.jwks.keys[1]).not.toHaveProperty('alg');
    expect(set.jwks.keys[2]).toMatchObject({ kty: 'EC', crv: 'P-384', use: 'sig' });
    expect(set.warnings).toEqual([PREVIOUS_KEY_PATHS_DEPRECATION]);
  });

  it('names signing.previousKeyPaths for a file it cannot read or that holds no key', () => {
    expect(configError(() => load({ keyPath: SAMPLE_KEY, previousKeyPaths: [file('missing.pem')] })).problems).toEqual([
      `signing.previousKeyPaths: cannot read ${file('missing.pem')} (ENOENT)`,
    ]);
    expect(configError(() => load({ keyPath: SAMPLE_KEY, previousKeyPaths: [file('garbage.pem')] })).problems).toEqual([
      `signing.previousKeyPaths: ${file('garbage.pem')} is neither a PEM certificate nor a PEM public key`,
    ]);
  });
});

describe('loadKeySet: signing.keys', () => {
  it('signs with activeKeyId and publishes both, active first, kid = libtrust id of each certificate', () => {
    const before = load(twoKeys(SAMPLE_KID));
    const after = load(twoKeys(nextKid()));
    expect(before.active.keyId).toBe(SAMPLE_KID);
    expect(after.active.keyId).toBe(nextKid());
    expect(before.published.map((k) => k.kid)).toEqual([SAMPLE_KID, nextKid()]);
    expect(after.published.map((k) => k.kid)).toEqual([nextKid(), SAMPLE_KID]);
    for (const set of [before, after]) {
      for (const key of set.published) {
        // The kid a 2.x registry derives from the bundle certificate is the one published.
        expect(key.kid).toBe(libtrustKeyId(new X509Certificate(Buffer.from(key.x5c[0]!, 'base64')).publicKey));
      }
    }
    expect(after.jwks.keys.map((k) => k.kid)).toEqual([nextKid(), SAMPLE_KID]);
    expect(after.jwks.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', x5c: [certB64(file('next.crt'))] });
  });

  it('tokens of the old and the new active key both verify through the JWKS; the header matches its JWKS entry', async () => {
    const before = load(twoKeys(SAMPLE_KID));
    const after = load(twoKeys(nextKid()));
    const mint = (set: typeof before) =>
      createMinter({ signingKey: () => set.active, issuer: 'registry-token', lifetimeSeconds: 300, clock: () => NOW }).mint({ subject: 's', service: 'registry.localhost', access: [] });
    const jwks = createLocalJWKSet({ keys: [...after.jwks.keys] });
    for (const set of [before, after]) {
      const { token } = await mint(set);
      const header = decodeProtectedHeader(token);
      const entry = after.jwks.keys.find((k) => k.kid === header.kid)!;
      expect(header.x5c).toEqual(entry.x5c);
      expect(header.alg).toBe(entry.alg);
      await expect(jwtVerify(token, jwks, { issuer: 'registry-token', audience: 'registry.localhost', currentDate: NOW })).resolves.toBeDefined();
    }
  });

  it('takes the kid as given in id, and activeKeyId names it', () => {
    const set = load({ keys: [{ id: '2026-a', path: SAMPLE_KEY, certificatePath: SAMPLE_CERT }, { id: '2026-b', path: file('next.pem') }], activeKeyId: '2026-b' });
    expect(set.active.keyId).toBe('2026-b');
    expect(set.jwks.keys.map((k) => k.kid)).toEqual(['2026-b', '2026-a']);
  });

  it('opens an encrypted key with the passphrase from the variable named in passwordEnv', () => {
    const options = { keys: [{ path: file('next-enc.pem'), passwordEnv: 'NEXT_KEY_PASSWORD' }] };
    expect(load(options, { NEXT_KEY_PASSWORD: PASSWORD }).active.keyId).toBe(nextKid());
    expect(configError(() => load(options, {})).problems).toEqual(['signing.keys[0].passwordEnv: the environment variable NEXT_KEY_PASSWORD is not set']);
    expect(configError(() => load(options, { NEXT_KEY_PASSWORD: 'wrong' })).problems).toEqual([
      'signing.keys[0].passwordEnv: the key is encrypted and this password does not open it',
    ]);
  });

  it('publishes a certificate-only entry, which cannot be the active key', () => {
    const set = load({ keys: [{ path: file('next.pem') }, { path: SAMPLE_CERT }], activeKeyId: nextKid() });
    expect(set.published[1]).toMatchObject({ kid: SAMPLE_KID, canSign: false, algorithm: 'RS256', x5c: [certB64(SAMPLE_CERT)] });
    expect(configError(() => load({ keys: [{ path: file('next.pem') }, { path: SAMPLE_CERT }], activeKeyId: SAMPLE_KID })).problems).toEqual([
      'signing.activeKeyId: signing.keys[1] holds no private key (a certificate or public key is only published)',
    ]);
  });

  it('names the entry and the key to fix', () => {
    expect(configError(() => load({ keys: [{ path: file('next.pem') }, { path: file('missing.pem') }], activeKeyId: 'x' })).problems).toEqual([
      `signing.keys[1].path: cannot read ${file('missing.pem')} (ENOENT)`,
    ]);
    expect(configError(() => load({ keys: [{ path: file('next.pem'), certificatePath: SAMPLE_CERT }] })).problems).toEqual([
      'signing.keys[0].certificatePath: the first certificate does not belong to the signing key',
    ]);
    expect(configError(() => load({ keys: [{ path: file('next.pem'), algorithm: 'ES384' }] })).problems).toEqual([
      "signing.keys[0].algorithm: ES384 does not fit this key's curve (use ES256)",
    ]);
    expect(configError(() => load(twoKeys('nope'))).problems).toEqual([`signing.activeKeyId: "nope" names no key of signing.keys (their kids: ${SAMPLE_KID}, ${nextKid()})`]);
    expect(configError(() => load({ keys: [{ path: SAMPLE_KEY }, { path: SAMPLE_CERT }], activeKeyId: SAMPLE_KID })).problems).toEqual([
      `signing.keys[1]: kid "${SAMPLE_KID}" is already the kid of signing.keys[0]; every key needs its own`,
    ]);
    expect(configError(() => load({ keys: [{ id: 'a', path: SAMPLE_KEY }, { id: 'b', path: SAMPLE_CERT }], activeKeyId: 'a' })).problems).toEqual([
      'signing.keys[1]: the same key as signing.keys[0]; list each key once',
    ]);
    expect(configError(() => load({ keys: [{ path: file('next.pem') }, { path: SAMPLE_KEY }] })).problems[0]).toMatch(/^signing\.activeKeyId: is required/);
  });
});

describe('KeySetHolder', () => {
  const lifetimeSeconds = 300;

  it('swaps the active key and the JWKS together and reports what changed', () => {
    let now = NOW.getTime();
    const holder = new KeySetHolder(load(twoKeys(SAMPLE_KID)), { lifetimeSeconds, now: () => now });
    now += 1000;
    const switched = holder.replace(load(twoKeys(nextKid())));
    expect(switched).toEqual({ activeBefore: SAMPLE_KID, activeAfter: nextKid(), added: [], removed: [], removedEarly: [] });
    expect(holder.current().active.keyId).toBe(nextKid());
    expect(holder.current().jwks.keys[0]!.kid).toBe(nextKid());
  });

  it('warns about retiring a key whose tokens are still valid, and not once they have expired', () => {
    let now = NOW.getTime();
    const holder = new KeySetHolder(load(twoKeys(SAMPLE_KID)), { lifetimeSeconds, now: () => now });
    const onlyNext = () => load({ keys: [{ path: file('next.pem'), certificatePath: file('next.crt') }] });
    now += 10_000;
    holder.replace(load(twoKeys(nextKid())));
    now += 60_000;
    const early = holder.replace(onlyNext());
    expect(early.removed).toEqual([SAMPLE_KID]);
    expect(early.removedEarly).toEqual([{ kid: SAMPLE_KID, tokensValidUntil: new Date(NOW.getTime() + 10_000 + lifetimeSeconds * 1000).toISOString() }]);

    const late = new KeySetHolder(load(twoKeys(nextKid())), { lifetimeSeconds, now: () => now });
    now += lifetimeSeconds * 1000;
    expect(late.replace(onlyNext()).removedEarly).toEqual([]);
  });

  it('assumes a key published at start-up may have signed until then', () => {
    let now = NOW.getTime();
    const holder = new KeySetHolder(load(twoKeys(nextKid())), { lifetimeSeconds, now: () => now });
    now += 1000;
    const change = holder.replace(load({ keys: [{ path: file('next.pem'), certificatePath: file('next.crt') }] }));
    expect(change.removedEarly.map((e) => e.kid)).toEqual([SAMPLE_KID]);
  });
});
