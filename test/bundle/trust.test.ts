// The trust bundle: byte-identical when rebuilt with the same --created, signed so that a
// standard JWS library verifies it, and any one changed byte makes verify fail naming the file.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compactVerify, createLocalJWKSet } from 'jose';
import { load as parseYaml } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyBundle, writeBundle, MANIFEST, MANIFEST_JWS } from '../../src/bundle/manifest.ts';
import { trustBundle } from '../../src/bundle/trust.ts';
import { libtrustKeyId } from '../../src/mint/key-id.ts';
import { loadKeySet, type KeySet } from '../../src/mint/key-set.ts';

const SAMPLE_KEY = fileURLToPath(new URL('../../etc/registry-signing-sample.pem', import.meta.url));
const SAMPLE_CERT = fileURLToPath(new URL('../../etc/registry-signing-sample.crt', import.meta.url));
const CREATED = '2026-11-01T00:00:00Z';

let dir: string;
const file = (name: string) => join(dir, name);
let nextKid: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bundle-trust-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', file('next.pem'), '-out', file('next.crt'), '-subj', '/CN=next', '-days', '2'], { stdio: 'ignore' });
  execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384', '-out', file('other.pem')], { stdio: 'ignore' });
  nextKid = libtrustKeyId(new X509Certificate(readFileSync(file('next.crt'))).publicKey);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const keySet = (active: 'sample' | 'next'): KeySet =>
  loadKeySet({
    keys: [
      { path: SAMPLE_KEY, certificatePath: SAMPLE_CERT },
      { path: file('next.pem'), certificatePath: file('next.crt') },
    ],
    activeKeyId: active === 'sample' ? libtrustKeyId(new X509Certificate(readFileSync(SAMPLE_CERT)).publicKey) : nextKid,
  }, {});

let built = 0;
async function build(keys: KeySet, created = CREATED): Promise<string> {
  const out = file(`kit-${++built}`);
  await writeBundle(out, trustBundle({ keys, issuer: 'registry-token', realm: 'https://auth.example/token', service: 'registry.example', created }), keys.active);
  return out;
}

/** Every file: name, mode, mtime and bytes. */
function snapshot(root: string): [string, number, number, string][] {
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name))
    .sort()
    .map((path) => {
      const stat = statSync(path);
      return [path.slice(root.length), stat.mode, stat.mtimeMs, readFileSync(path).toString('base64')];
    });
}

describe('bundle trust: determinism', () => {
  it.each(['sample', 'next'] as const)('is byte-identical (names, modes, mtimes, bytes) when built twice, active key %s', async (active) => {
    // `next` is an EC key: ECDSA signatures are deterministic only with RFC 6979 nonces.
    const a = await build(keySet(active));
    const b = await build(keySet(active));
    expect(snapshot(a)).toEqual(snapshot(b));
    expect(snapshot(a).map(([name]) => name)).toEqual(['/distribution-2.x.yml', '/distribution-3.x.yml', '/jwks.json', '/manifest.json', '/manifest.jws', '/rootcertbundle.pem']);
    expect(statSync(join(a, 'jwks.json')).mtime.toISOString()).toBe('2026-11-01T00:00:00.000Z');
  });

  it('another --created changes only the manifest and its signature', async () => {
    const a = snapshot(await build(keySet('next')));
    const b = snapshot(await build(keySet('next'), '2026-11-02T00:00:00Z'));
    const differing = a.filter(([name, , , bytes], i) => bytes !== b[i]![3]).map(([name]) => name);
    expect(differing).toEqual(['/manifest.json', '/manifest.jws']);
  });

  it('does not depend on which key is active: the switch changes only the manifest signer', async () => {
    const before = snapshot(await build(keySet('sample')));
    const after = snapshot(await build(keySet('next')));
    const differing = before.filter(([, , , bytes], i) => bytes !== after[i]![3]).map(([name]) => name);
    expect(differing).toEqual(['/manifest.json', '/manifest.jws']);
  });

  it('uses the encodings of docs/offline.md: LF only, final newline, sorted JSON members, 64-column PEM', async () => {
    const kit = await build(keySet('next'));
    for (const name of ['jwks.json', 'manifest.json', 'rootcertbundle.pem', 'distribution-2.x.yml', 'distribution-3.x.yml', 'manifest.jws']) {
      const text = readFileSync(join(kit, name), 'utf8');
      expect(text).not.toContain('\r');
      expect(text.endsWith('\n') && !text.endsWith('\n\n')).toBe(true);
      expect(text.charCodeAt(0)).not.toBe(0xfeff);
    }
    const manifest = readFileSync(join(kit, 'manifest.json'), 'utf8');
    expect(Object.keys(JSON.parse(manifest) as object)).toEqual(Object.keys(JSON.parse(manifest) as object).sort());
    for (const line of readFileSync(join(kit, 'rootcertbundle.pem'), 'utf8').split('\n')) expect(line.length).toBeLessThanOrEqual(64);
  });
});

describe('bundle trust: content', () => {
  it('holds the JWKS, both certificates and auth sections whose paths name the bundle files', async () => {
    const keys = keySet('next');
    const kit = await build(keys);
    const jwks = JSON.parse(readFileSync(join(kit, 'jwks.json'), 'utf8')) as { keys: { kid: string }[] };
    expect(jwks.keys.map((k) => k.kid)).toEqual(keys.published.map((k) => k.kid).sort());
    const certs = readFileSync(join(kit, 'rootcertbundle.pem'), 'utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)!;
    expect(certs.map((pem) => libtrustKeyId(new X509Certificate(pem).publicKey)).sort()).toEqual(jwks.keys.map((k) => k.kid));
    const two = parseYaml(readFileSync(join(kit, 'distribution-2.x.yml'), 'utf8')) as { auth: { token: Record<string, string> } };
    expect(two.auth.token).toEqual({ realm: 'https://auth.example/token', service: 'registry.example', issuer: 'registry-token', rootcertbundle: '/etc/docker/registry/rootcertbundle.pem' });
    const three = parseYaml(readFileSync(join(kit, 'distribution-3.x.yml'), 'utf8')) as { auth: { token: Record<string, string> } };
    expect(three.auth.token).toMatchObject({ rootcertbundle: '/etc/distribution/rootcertbundle.pem', jwks: '/etc/distribution/jwks.json' });
  });

  it('without any certificate: no rootcertbundle and no 2.x section', async () => {
    const keys = loadKeySet({ keyPath: file('other.pem') }, {});
    const kit = await build(keys);
    expect(readdirSync(kit).sort()).toEqual(['distribution-3.x.yml', 'jwks.json', 'manifest.json', 'manifest.jws']);
    expect(readFileSync(join(kit, 'distribution-3.x.yml'), 'utf8')).not.toContain('rootcertbundle:');
  });

  it.each(['sample', 'next'] as const)('manifest.jws is a detached JWS that jose verifies with the payload put back (active %s)', async (active) => {
    const keys = keySet(active);
    const kit = await build(keys);
    const [header, , signature] = readFileSync(join(kit, MANIFEST_JWS), 'ascii').trim().split('.');
    const payload = readFileSync(join(kit, MANIFEST)).toString('base64url');
    const { protectedHeader } = await compactVerify(`${header}.${payload}.${signature}`, createLocalJWKSet({ keys: [...keys.jwks.keys] }));
    expect(protectedHeader).toMatchObject({ alg: keys.active.algorithm, kid: keys.active.keyId, typ: 'registry-token-manifest+jws' });
  });
});

describe('bundle verify', () => {
  const jwksOf = (keys: KeySet) => ({ keys: [...keys.jwks.keys] });

  it('accepts an untouched bundle', async () => {
    const keys = keySet('next');
    expect(await verifyBundle(await build(keys), jwksOf(keys))).toMatchObject({ ok: true, kind: 'trust', created: CREATED, kid: nextKid, files: 4 });
  });

  it('fails naming the file when any one byte of any file is changed', async () => {
    const keys = keySet('next');
    const kit = await build(keys);
    const names = readdirSync(kit).sort();
    let checked = 0;
    for (const name of names) {
      const path = join(kit, name);
      const original = readFileSync(path);
      for (const at of [0, Math.floor(original.length / 3), Math.floor(original.length / 2), original.length - 2, original.length - 1]) {
        // Another character, and the same one with the high bit set (an ASCII decode would drop it).
        for (const edit of [(b: number) => (b === 0x41 ? 0x42 : 0x41), (b: number) => b ^ 0x80]) {
          const changed = Buffer.from(original);
          changed[at] = edit(changed[at]!);
          writeFileSync(path, changed);
          const verdict = await verifyBundle(kit, jwksOf(keys));
          expect(verdict.ok, `${name} byte ${at}`).toBe(false);
          if (!verdict.ok) expect(`${verdict.file}: ${verdict.problem}`, `${name} byte ${at}`).toContain(name);
          checked += 1;
        }
      }
      writeFileSync(path, original);
    }
    expect(checked).toBe(names.length * 10);
    expect((await verifyBundle(kit, jwksOf(keys))).ok).toBe(true);
  });

  it('names a missing file, an added file, and a JWKS without the signer', async () => {
    const keys = keySet('next');
    const kit = await build(keys);
    writeFileSync(join(kit, 'extra.txt'), 'slipped in\n');
    expect(await verifyBundle(kit, jwksOf(keys))).toEqual({ ok: false, file: 'extra.txt', problem: 'not listed in the manifest' });
    rmSync(join(kit, 'extra.txt'));
    const stranger = loadKeySet({ keyPath: file('other.pem') }, {});
    expect(await verifyBundle(kit, jwksOf(stranger))).toEqual({ ok: false, file: MANIFEST_JWS, problem: `it is signed by kid ${nextKid}, which the given JWKS does not hold` });
    rmSync(join(kit, 'rootcertbundle.pem'));
    expect(await verifyBundle(kit, jwksOf(keys))).toEqual({ ok: false, file: 'rootcertbundle.pem', problem: 'missing' });
  });
});
