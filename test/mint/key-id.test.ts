import { execFileSync } from 'node:child_process';
import { createHash, createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { libtrustKeyId } from '../../src/mint/key-id.ts';

// Derived once, outside this code base, from the shipped sample key:
//   openssl pkey -in etc/registry-signing-sample.pem -pubout -outform DER | openssl dgst -sha256 -binary \
//     | python3 -c "import sys,base64; d=sys.stdin.buffer.read()[:30]; s=base64.b32encode(d).decode().rstrip('='); \
//                   print(':'.join(s[i:i+4] for i in range(0,len(s),4)))"
const SAMPLE_KID = 'A6VL:OJMN:QMXI:2X5Z:JSR2:LUI4:V2FH:5DZK:TQ65:R2CH:NMKK:LOOJ';
const SAMPLE_KEY = fileURLToPath(new URL('../../etc/registry-signing-sample.pem', import.meta.url));
const SAMPLE_CERT = fileURLToPath(new URL('../../etc/registry-signing-sample.crt', import.meta.url));

const FORMAT = /^[A-Z2-7]{4}(?::[A-Z2-7]{4}){11}$/;

/**
 * RFC 4648 base32 written differently from the one under test (one big integer, then
 * 5-bit digits from the top), so a shared mistake is unlikely.
 */
function base32(bytes: Uint8Array): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  const bits = bytes.length * 8;
  const padded = Math.ceil(bits / 5) * 5;
  value <<= BigInt(padded - bits);
  let out = '';
  for (let shift = padded - 5; shift >= 0; shift -= 5) out += alphabet[Number((value >> BigInt(shift)) & 31n)];
  return out;
}

function openssl(args: string[], input?: Buffer): Buffer {
  return execFileSync('openssl', args, { input, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** The libtrust id as computed by the openssl CLI plus this file's base32. */
function kidByOpenssl(keyPath: string): string {
  const spki = openssl(['pkey', '-in', keyPath, '-pubout', '-outform', 'DER']);
  const digest = openssl(['dgst', '-sha256', '-binary'], spki).subarray(0, 30);
  return base32(digest).match(/.{4}/g)!.join(':');
}

describe('base32 of this test (sanity check against RFC 4648 test vectors)', () => {
  it.each([
    ['', ''],
    ['f', 'MY'],
    ['fo', 'MZXQ'],
    ['foo', 'MZXW6'],
    ['foob', 'MZXW6YQ'],
    ['fooba', 'MZXW6YTB'],
    ['foobar', 'MZXW6YTBOI'],
  ])('%j -> %s', (text, expected) => {
    expect(base32(Buffer.from(text))).toBe(expected);
  });
});

describe('libtrustKeyId', () => {
  let dir: string;
  const keys: Record<string, string> = {};
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'key-id-'));
    const make = (name: string, args: string[]) => {
      keys[name] = join(dir, `${name}.pem`);
      openssl(['genpkey', ...args, '-out', keys[name]]);
    };
    make('ec256', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']);
    make('ec384', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384']);
    make('rsa', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('matches the vector derived with openssl and python for the sample key', () => {
    expect(libtrustKeyId(createPrivateKey(readFileSync(SAMPLE_KEY)))).toBe(SAMPLE_KID);
  });

  it('gives the sample certificate’s public key the same id as the key', () => {
    expect(libtrustKeyId(new X509Certificate(readFileSync(SAMPLE_CERT)).publicKey)).toBe(SAMPLE_KID);
  });

  it.each(['ec256', 'ec384', 'rsa'])('matches openssl for a generated %s key', (name) => {
    const path = keys[name]!;
    const id = libtrustKeyId(createPrivateKey(readFileSync(path)));
    expect(id).toMatch(FORMAT);
    expect(id).toBe(kidByOpenssl(path));
  });

  it('has the libtrust shape: 48 base32 characters in 12 groups of 4', () => {
    const id = libtrustKeyId(createPrivateKey(readFileSync(keys.ec256!)));
    expect(id).toHaveLength(48 + 11);
    const groups = id.split(':');
    expect(groups).toHaveLength(12);
    for (const group of groups) expect(group).toMatch(/^[A-Z2-7]{4}$/);
    expect(id).not.toContain('=');
  });

  it('is the same for the private key and its public half', () => {
    for (const path of Object.values(keys)) {
      const privateKey = createPrivateKey(readFileSync(path));
      expect(libtrustKeyId(createPublicKey(privateKey))).toBe(libtrustKeyId(privateKey));
    }
  });

  it('differs between keys', () => {
    const ids = new Set(Object.values(keys).map((path) => libtrustKeyId(createPrivateKey(readFileSync(path)))));
    expect(ids.size).toBe(Object.keys(keys).length);
  });

  it('hashes the public key, not the certificate (the classic mistake)', () => {
    const der = new X509Certificate(readFileSync(SAMPLE_CERT)).raw;
    const certBased = base32(createHash('sha256').update(der).digest().subarray(0, 30)).match(/.{4}/g)!.join(':');
    expect(certBased).not.toBe(SAMPLE_KID);
  });
});
