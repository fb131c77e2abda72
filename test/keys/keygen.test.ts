import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importPKCS8, SignJWT } from 'jose';
import { load } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keygen, type KeygenAlgorithm, type KeygenResult } from '../../src/keys/keygen.ts';
import { libtrustKeyId } from '../../src/mint/key-id.ts';

const REGISTRY = '/usr/bin/docker-registry';
const dirs: string[] = [];
const tempDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'keygen-'));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const spki = (pem: string): string =>
  (createPublicKey(pem).export({ format: 'der', type: 'spki' }) as Buffer).toString('base64');

describe.each<KeygenAlgorithm>(['ES256', 'RS256'])('keygen %s', (alg) => {
  let result: KeygenResult;
  beforeAll(async () => {
    result = await keygen({ outDir: join(tempDir(), 'keys'), alg, service: 'registry.test', issuer: 'token-issuer', realm: 'https://auth.test/token' });
  });

  it('writes every file, the key private to its owner', () => {
    for (const path of Object.values(result.paths)) expect(existsSync(path)).toBe(true);
    expect(statSync(result.paths.key).mode & 0o777).toBe(0o600);
    expect(readFileSync(result.paths.key, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----\n/); // PKCS#8
    expect(readFileSync(result.paths.rootCertBundle, 'utf8')).toBe(readFileSync(result.paths.certificate, 'utf8'));
  });

  it('makes a certificate openssl parses, CN registry-token, about ten years', () => {
    const parsed = spawnSync('openssl', ['x509', '-in', result.paths.certificate, '-noout', '-subject'], { encoding: 'utf8' });
    expect(parsed.status).toBe(0);
    expect(parsed.stdout).toMatch(/CN\s*=\s*registry-token/);
    const cert = new X509Certificate(readFileSync(result.paths.certificate));
    const years = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / (365.25 * 86_400_000);
    expect(years).toBeGreaterThan(9.9);
    // Self-signed: its own key verifies it (checkIssued would insist on keyCertSign, which a
    // signing key that is not a CA rightly lacks).
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.ca).toBe(false);
  });

  it('certifies the public half of the private key', () => {
    const keyPem = readFileSync(result.paths.key, 'utf8');
    const certPem = readFileSync(result.paths.certificate, 'utf8');
    const cert = new X509Certificate(certPem);
    expect(cert.checkPrivateKey(createPrivateKey(keyPem))).toBe(true);
    expect(spki(certPem)).toBe(spki(keyPem));
  });

  it('publishes the libtrust kid in jwks.json and the snippet', () => {
    const jwks = JSON.parse(readFileSync(result.paths.jwks, 'utf8')) as { keys: Record<string, string>[] };
    const expected = libtrustKeyId(createPrivateKey(readFileSync(result.paths.key)));
    expect(result.kid).toBe(expected);
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kid: expected, use: 'sig', alg, kty: alg === 'ES256' ? 'EC' : 'RSA' });
    expect(jwks.keys[0]).not.toHaveProperty('d'); // public only
    const snippet = load(readFileSync(result.paths.registrySnippet, 'utf8'));
    expect(snippet).toEqual({
      auth: {
        token: {
          realm: 'https://auth.test/token',
          service: 'registry.test',
          issuer: 'token-issuer',
          rootcertbundle: result.paths.rootCertBundle,
          jwks: result.paths.jwks,
        },
      },
    });
  });
});

describe('keygen files', () => {
  it('refuses to overwrite unless forced, and then keeps the key private', async () => {
    const outDir = tempDir();
    const first = await keygen({ outDir, alg: 'ES256' });
    await expect(keygen({ outDir, alg: 'ES256' })).rejects.toThrow(/refusing to overwrite/);
    expect(readFileSync(first.paths.jwks, 'utf8')).toContain(first.kid);
    const second = await keygen({ outDir, alg: 'ES256', force: true });
    expect(second.kid).not.toBe(first.kid);
    expect(statSync(second.paths.key).mode & 0o777).toBe(0o600);
  });

  it('refuses when only one of the files exists, writing nothing', async () => {
    const outDir = tempDir();
    writeFileSync(join(outDir, 'jwks.json'), '{}');
    await expect(keygen({ outDir, alg: 'ES256' })).rejects.toThrow(/jwks\.json/);
    expect(existsSync(join(outDir, 'signing-key.pem'))).toBe(false);
  });

  it('honours validityDays and registryConfigDir', async () => {
    const result = await keygen({ outDir: tempDir(), alg: 'ES256', validityDays: 30, registryConfigDir: '/etc/docker/registry' });
    const cert = new X509Certificate(readFileSync(result.paths.certificate));
    expect(Math.round((Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86_400_000)).toBe(30);
    expect(readFileSync(result.paths.registrySnippet, 'utf8')).toContain('rootcertbundle: "/etc/docker/registry/rootcertbundle.pem"');
  });
});

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

// The real check: distribution 2.8 loads the snippet and accepts tokens found by kid or x5c.
describe.skipIf(!existsSync(REGISTRY))(`keygen output in a real distribution registry (needs ${REGISTRY})`, () => {
  let registry: ChildProcess | undefined;
  let base = '';
  let result: KeygenResult;

  beforeAll(async () => {
    const dir = tempDir();
    result = await keygen({ outDir: join(dir, 'keys'), alg: 'ES256', service: 'registry.test', issuer: 'token-issuer' });
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const config = [
      'version: 0.1',
      'log: { level: error }',
      `storage: { filesystem: { rootdirectory: ${JSON.stringify(join(dir, 'data'))} } }`,
      `http: { addr: "127.0.0.1:${port}" }`,
      readFileSync(result.paths.registrySnippet, 'utf8'),
    ].join('\n');
    writeFileSync(join(dir, 'config.yml'), config);
    registry = spawn(REGISTRY, ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
    for (let i = 0; i < 100; i += 1) {
      const status = await fetch(`${base}/v2/`).then((r) => r.status, () => 0);
      if (status === 401) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('registry did not start');
  });
  afterAll(() => {
    registry?.kill();
  });

  async function statusWith(header: Record<string, unknown>): Promise<number> {
    const key = await importPKCS8(readFileSync(result.paths.key, 'utf8'), 'ES256');
    const now = Math.floor(Date.now() / 1000);
    const jwt = await new SignJWT({ access: [] })
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT', ...header })
      .setIssuer('token-issuer').setAudience('registry.test').setSubject('keygen-test')
      .setIssuedAt(now).setNotBefore(now).setExpirationTime(now + 300)
      .sign(key);
    return (await fetch(`${base}/v2/`, { headers: { authorization: `Bearer ${jwt}` } })).status;
  }

  it('accepts a token whose kid is the generated kid', async () => {
    expect(await statusWith({ kid: result.kid })).toBe(200);
  });

  it('accepts a token carrying the certificate as x5c', async () => {
    const der = new X509Certificate(readFileSync(result.paths.certificate)).raw.toString('base64');
    expect(await statusWith({ x5c: [der] })).toBe(200);
  });

  it('refuses a token with another kid', async () => {
    expect(await statusWith({ kid: 'AAAA:BBBB:CCCC:DDDD:EEEE:FFFF:GGGG:HHHH:IIII:JJJJ:KKKK:LLLL' })).toBe(401);
  });
});
