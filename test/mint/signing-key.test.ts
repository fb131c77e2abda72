import { execFileSync } from 'node:child_process';
import { createPublicKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { libtrustKeyId } from '../../src/mint/key-id.ts';
import { loadSigningKey, type SigningKeyOptions } from '../../src/mint/signing-key.ts';
import { configError as thrown } from '../support/thrown.ts';

const configError = (options: SigningKeyOptions) => thrown(() => loadSigningKey(options));

const SAMPLE_KEY = fileURLToPath(new URL('../../etc/registry-signing-sample.pem', import.meta.url));
const SAMPLE_CERT = fileURLToPath(new URL('../../etc/registry-signing-sample.crt', import.meta.url));
const SAMPLE_KID = 'A6VL:OJMN:QMXI:2X5Z:JSR2:LUI4:V2FH:5DZK:TQ65:R2CH:NMKK:LOOJ';
const PASSWORD = 's3cret-pass';

let dir: string;
const file = (name: string) => join(dir, name);
const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
/** Base64 DER of a PEM certificate file, as `x5c` carries it. */
const certB64 = (name: string) => new X509Certificate(readFileSync(file(name))).raw.toString('base64');

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'signing-key-'));
  const key = (name: string, ...args: string[]) => openssl('genpkey', ...args, '-out', file(name));
  const cert = (keyName: string, certName: string) =>
    openssl('req', '-x509', '-new', '-key', file(keyName), '-subj', '/CN=registry-token', '-days', '2', '-out', file(certName));
  const pfx = (keyName: string, certName: string, out: string) =>
    openssl('pkcs12', '-export', '-inkey', file(keyName), '-in', file(certName), '-passout', `pass:${PASSWORD}`, '-out', file(out));

  key('rsa.pem', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'); // PKCS#8
  openssl('rsa', '-in', file('rsa.pem'), '-traditional', '-out', file('rsa-pkcs1.pem'));
  openssl('rsa', '-in', file('rsa.pem'), '-traditional', '-aes256', '-passout', `pass:${PASSWORD}`, '-out', file('rsa-pkcs1-enc.pem'));
  openssl('pkcs8', '-topk8', '-in', file('rsa.pem'), '-v2', 'aes-256-cbc', '-passout', `pass:${PASSWORD}`, '-out', file('rsa-enc.pem'));
  cert('rsa.pem', 'rsa.crt');
  pfx('rsa.pem', 'rsa.crt', 'rsa.p12');
  writeFileSync(file('rsa-with-cert.pem'), readFileSync(file('rsa.pem'), 'utf8') + readFileSync(file('rsa.crt'), 'utf8'));

  key('ec256.pem', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256');
  cert('ec256.pem', 'ec256.crt');
  pfx('ec256.pem', 'ec256.crt', 'ec256.p12');
  key('ec384.pem', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384');
  cert('ec384.pem', 'ec384.crt');
  key('ec521.pem', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-521');
  key('secp256k1.pem', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:secp256k1');
  key('ed25519.pem', '-algorithm', 'Ed25519');
  key('rsa1024.pem', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024');

  writeFileSync(file('garbage.pem'), '-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n');
  writeFileSync(file('garbage.bin'), Buffer.from([0, 1, 2, 3, 4, 5]));
  writeFileSync(file('no-cert.pem'), 'nothing here\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));


describe('loadSigningKey: key formats', () => {
  // file, password, algorithm
  const table: [label: string, name: string, password: string | undefined, alg: string][] = [
    ['RSA PKCS#8 PEM', 'rsa.pem', undefined, 'RS256'],
    ['RSA PKCS#1 PEM', 'rsa-pkcs1.pem', undefined, 'RS256'],
    ['encrypted PKCS#8 with its password', 'rsa-enc.pem', PASSWORD, 'RS256'],
    ['encrypted PKCS#1 with its password', 'rsa-pkcs1-enc.pem', PASSWORD, 'RS256'],
    ['EC P-256', 'ec256.pem', undefined, 'ES256'],
    ['EC P-384', 'ec384.pem', undefined, 'ES384'],
    ['EC P-521', 'ec521.pem', undefined, 'ES512'],
  ];
  it.each(table)('%s', (_label, name, password, alg) => {
    const key = loadSigningKey({ keyPath: file(name), keyPassword: password });
    expect(key.algorithm).toBe(alg);
    expect(key.privateKey.type).toBe('private');
    expect(key.publicKey.type).toBe('public');
    expect(key.publicKey.equals(createPublicKey(key.privateKey))).toBe(true);
    expect(key.keyId).toBe(libtrustKeyId(key.publicKey));
    expect(key.x5c).toEqual([]);
  });

  it('PKCS#1 and PKCS#8 of one key load to the same key and id', () => {
    const a = loadSigningKey({ keyPath: file('rsa.pem') });
    const b = loadSigningKey({ keyPath: file('rsa-pkcs1.pem') });
    const c = loadSigningKey({ keyPath: file('rsa-enc.pem'), keyPassword: PASSWORD });
    expect(b.keyId).toBe(a.keyId);
    expect(c.keyId).toBe(a.keyId);
  });

  it('takes a certificate that follows the key in the same PEM file as x5c', () => {
    const key = loadSigningKey({ keyPath: file('rsa-with-cert.pem') });
    expect(key.x5c).toEqual([certB64('rsa.crt')]);
  });

  it('loads the shipped sample key (comment lines before the PEM block) with its certificate', () => {
    expect(readFileSync(SAMPLE_KEY, 'utf8').startsWith('#')).toBe(true);
    const key = loadSigningKey({ keyPath: SAMPLE_KEY, certificatePath: SAMPLE_CERT });
    expect(key.algorithm).toBe('RS256');
    expect(key.keyId).toBe(SAMPLE_KID);
    expect(key.x5c).toEqual([new X509Certificate(readFileSync(SAMPLE_CERT)).raw.toString('base64')]);
  });
});

describe('loadSigningKey: PKCS#12', () => {
  it('opens an RSA PFX made by openssl pkcs12 -export, its certificate becoming x5c', () => {
    const key = loadSigningKey({ keyPath: file('rsa.p12'), keyPassword: PASSWORD });
    const pem = loadSigningKey({ keyPath: file('rsa.pem') });
    expect(key.algorithm).toBe('RS256');
    expect(key.keyId).toBe(pem.keyId);
    expect(key.publicKey.equals(pem.publicKey)).toBe(true);
    expect(key.x5c).toEqual([certB64('rsa.crt')]);
  });

  // KNOWN BUG (reported): node-forge sets `bag.key = null` / `bag.cert = null` (not undefined)
  // for non-RSA keys and certificates, and fromPkcs12 then calls forge's RSA encoders on null:
  // "TypeError: Cannot read properties of null (reading 'n')". Flip to `it` once fixed.
  it('opens an EC P-256 PFX, its certificate becoming x5c', () => {
    const key = loadSigningKey({ keyPath: file('ec256.p12'), keyPassword: PASSWORD });
    expect(key.algorithm).toBe('ES256');
    expect(key.keyId).toBe(loadSigningKey({ keyPath: file('ec256.pem') }).keyId);
    expect(key.x5c).toEqual([certB64('ec256.crt')]);
  });

  it('a certificatePath replaces the PFX’s own certificates', () => {
    const key = loadSigningKey({ keyPath: file('rsa.p12'), keyPassword: PASSWORD, certificatePath: file('rsa.crt') });
    expect(key.x5c).toEqual([certB64('rsa.crt')]);
  });

  it.each([
    ['a wrong password', 'wrong'],
    ['no password', undefined],
  ])('refuses %s, naming the password key', (_label, password) => {
    const error = configError({ keyPath: file('rsa.p12'), keyPassword: password });
    expect(error.message).toMatch(/signing\.keyPassword/);
  });

  it('refuses a file that is neither PEM nor PFX', () => {
    expect(configError({ keyPath: file('garbage.bin') }).problems).toEqual([
      'signing.keyPath: cannot open the PKCS#12 file (wrong signing.keyPassword, or not a PFX)',
    ]);
  });
});

describe('loadSigningKey: refusals', () => {
  it.each([
    ['a wrong password', 'not-it'],
    ['no password', undefined],
  ])('encrypted PEM with %s names signing.keyPassword', (_label, password) => {
    for (const name of ['rsa-enc.pem', 'rsa-pkcs1-enc.pem']) {
      expect(configError({ keyPath: file(name), keyPassword: password }).problems).toEqual([
        'signing.keyPassword: the key is encrypted and this password does not open it',
      ]);
    }
  });

  it('a missing file names signing.keyPath and the path', () => {
    const error = configError({ keyPath: file('nope.pem') });
    expect(error.problems).toEqual([`signing.keyPath: cannot read ${file('nope.pem')} (ENOENT)`]);
  });

  it('a missing certificate file names signing.certificatePath', () => {
    const error = configError({ keyPath: file('rsa.pem'), certificatePath: file('nope.crt') });
    expect(error.problems[0]).toMatch(/^signing\.certificatePath: cannot read .*nope\.crt \(ENOENT\)$/);
  });

  it('a certificate file without a certificate names signing.certificatePath', () => {
    expect(configError({ keyPath: file('rsa.pem'), certificatePath: file('no-cert.pem') }).problems).toEqual([
      'signing.certificatePath: holds no PEM certificate',
    ]);
  });

  it('a certificate of another key names signing.certificatePath', () => {
    const error = configError({ keyPath: file('rsa.pem'), certificatePath: file('ec384.crt') });
    expect(error.problems).toEqual(['signing.certificatePath: the first certificate does not belong to the signing key']);
    expect(configError({ keyPath: file('ec256.pem'), certificatePath: file('ec384.crt') }).problems[0]).toMatch(/^signing\.certificatePath:/);
  });

  it('a refused RSA/EC mismatch does not break the next key load', () => {
    // Node 24's KeyObject.equals across key types leaves an OpenSSL error queued that made
    // the next createPrivateKey fail ("different key types"); the check compares SPKI bytes.
    configError({ keyPath: file('rsa.pem'), certificatePath: file('ec256.crt') });
    expect(loadSigningKey({ keyPath: file('ec256.pem') }).algorithm).toBe('ES256');
  });

  it('a PEM block that is not a key names signing.keyPath', () => {
    expect(configError({ keyPath: file('garbage.pem') }).problems).toEqual([
      'signing.keyPath: not a PEM private key (PKCS#1 or PKCS#8) nor a PKCS#12 file',
    ]);
  });

  it('Ed25519 (registries refuse EdDSA)', () => {
    expect(configError({ keyPath: file('ed25519.pem') }).problems).toEqual([
      'signing.keyPath: ed25519 keys are not accepted by registries; use RSA or EC',
    ]);
  });

  it('RSA under 2048 bits', () => {
    expect(configError({ keyPath: file('rsa1024.pem') }).problems).toEqual(['signing.keyPath: RSA keys must be at least 2048 bits']);
  });

  it('an EC curve registries do not know', () => {
    expect(configError({ keyPath: file('secp256k1.pem') }).problems).toEqual(['signing.keyPath: EC keys must be on P-256, P-384 or P-521']);
  });

  it('an algorithm that does not fit the key', () => {
    expect(configError({ keyPath: file('rsa.pem'), algorithm: 'ES256' }).problems[0]).toMatch(/^signing\.algorithm: ES256 does not fit an RSA key/);
    expect(configError({ keyPath: file('ec256.pem'), algorithm: 'ES384' }).problems[0]).toMatch(/^signing\.algorithm: ES384 does not fit this key's curve \(use ES256\)/);
  });
});

describe('loadSigningKey: options', () => {
  it('keeps an explicit keyId', () => {
    expect(loadSigningKey({ keyPath: file('ec256.pem'), keyId: 'my-key-2026' }).keyId).toBe('my-key-2026');
  });

  it('takes an RSA algorithm that fits the key', () => {
    expect(loadSigningKey({ keyPath: file('rsa.pem'), algorithm: 'RS512' }).algorithm).toBe('RS512');
    expect(loadSigningKey({ keyPath: file('ec384.pem'), algorithm: 'ES384' }).algorithm).toBe('ES384');
  });

  it('a matching certificatePath becomes x5c; the kid stays the libtrust id', () => {
    const key = loadSigningKey({ keyPath: file('ec256.pem'), certificatePath: file('ec256.crt') });
    expect(key.x5c).toEqual([certB64('ec256.crt')]);
    expect(key.keyId).toBe(libtrustKeyId(new X509Certificate(readFileSync(file('ec256.crt'))).publicKey));
  });
});
