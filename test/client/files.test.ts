import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerConfigFile, writeIdentityToken } from '../../src/client/auth-files.ts';
import { CredentialCache, fingerprint } from '../../src/client/credential-cache.ts';
import { loadOrCreateKeys } from '../../src/client/dpop-key.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'client-files-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const mode = (path: string) => statSync(path).mode & 0o777;
const sub = (name: string) => mkdtempSync(join(dir, `${name}-`));

describe('docker config.json / containers auth.json', () => {
  it('writes auths[host] = {auth: base64("user:"), identitytoken}, 0600 in a 0700 directory', async () => {
    const file = join(sub('new'), 'docker', 'config.json');
    expect(await writeIdentityToken(file, '127.0.0.1:5000', 'rtc_ABC', 'the-credential')).toEqual([]);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({
      auths: { '127.0.0.1:5000': { auth: Buffer.from('rtc_ABC:').toString('base64'), identitytoken: 'the-credential' } },
    });
    expect(mode(file)).toBe(0o600);
    expect(mode(join(file, '..'))).toBe(0o700);
  });

  it('keeps everything else in the file, replaces the entry, tightens the mode, leaves no temporary file', async () => {
    const folder = sub('existing');
    const file = join(folder, 'config.json');
    const before = {
      auths: { 'other.example': { auth: 'b3RoZXI6cHc=' }, 'r.example': { auth: 'b2xkOnB3', identitytoken: 'old' } },
      credHelpers: { 'gcr.io': 'gcloud' },
      psFormat: 'table {{.ID}}',
    };
    writeFileSync(file, JSON.stringify(before), { mode: 0o644 });
    await writeIdentityToken(file, 'r.example', 'rtc_NEW', 'new-credential');
    const after = JSON.parse(readFileSync(file, 'utf8')) as typeof before;
    expect(after.auths['other.example']).toEqual(before.auths['other.example']);
    expect(after.auths['r.example']).toEqual({ auth: Buffer.from('rtc_NEW:').toString('base64'), identitytoken: 'new-credential' });
    expect(after.credHelpers).toEqual(before.credHelpers);
    expect(after.psFormat).toBe(before.psFormat);
    expect(mode(file)).toBe(0o600);
    expect(readdirSync(folder)).toEqual(['config.json']);
  });

  it('warns when credHelpers or credsStore make the clients look elsewhere, naming no secret', async () => {
    const file = join(sub('helpers'), 'config.json');
    writeFileSync(file, JSON.stringify({ credHelpers: { 'r.example': 'registry-token' } }));
    const [warning] = await writeIdentityToken(file, 'r.example', 'rtc_X', 'secret-value');
    expect(warning).toMatch(/credHelpers sends r\.example to docker-credential-registry-token/);
    const store = join(sub('store'), 'config.json');
    writeFileSync(store, JSON.stringify({ credsStore: 'desktop' }));
    const warnings = await writeIdentityToken(store, 'r.example', 'rtc_X', 'secret-value');
    expect(warnings[0]).toMatch(/credsStore "desktop" is asked before auths/);
    expect(warnings.join('')).not.toContain('secret-value');
  });

  it('leaves a file that is not JSON as it is, and says so', async () => {
    const file = join(sub('broken'), 'config.json');
    writeFileSync(file, '{"auths": ');
    await expect(writeIdentityToken(file, 'r.example', 'u', 'c')).rejects.toThrow(/not valid JSON, left as it is/);
    expect(readFileSync(file, 'utf8')).toBe('{"auths": ');
  });

  it('DIR/config.json, $DOCKER_CONFIG, then ~/.docker', () => {
    expect(dockerConfigFile('/d', { DOCKER_CONFIG: '/e' })).toBe('/d/config.json');
    expect(dockerConfigFile(undefined, { DOCKER_CONFIG: '/e' })).toBe('/e/config.json');
    expect(dockerConfigFile(undefined, {})).toMatch(/\/\.docker\/config\.json$/);
  });
});

describe('DPoP key file', () => {
  it('is made on first use as a 0600 private JWK and the same key is read back', async () => {
    const file = join(sub('key'), 'state', 'dpop-key.json');
    const first = await loadOrCreateKeys(file);
    expect(mode(file)).toBe(0o600);
    expect(mode(join(file, '..'))).toBe(0o700);
    const jwk = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
    expect(jwk).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256' });
    expect(typeof jwk.d).toBe('string');
    const again = await loadOrCreateKeys(file);
    const print = async (keys: typeof first) => calculateJwkThumbprint(await exportJWK(keys.publicKey));
    expect(await print(again)).toBe(await print(first));
  });

  it('concurrent first uses agree on one key', async () => {
    const folder = sub('race');
    const file = join(folder, 'dpop-key.json');
    const all = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateKeys(file)));
    const prints = new Set(await Promise.all(all.map(async (keys) => calculateJwkThumbprint(await exportJWK(keys.publicKey)))));
    expect(prints.size).toBe(1);
    expect(readdirSync(folder)).toEqual(['dpop-key.json']);
  });

  it('refuses a key others can read, and a file that is not a key, saying what to do', async () => {
    const file = join(sub('open'), 'dpop-key.json');
    await loadOrCreateKeys(file);
    chmodSync(file, 0o644);
    await expect(loadOrCreateKeys(file)).rejects.toThrow(`${file}: the DPoP key is readable by others (mode 644); run chmod 600 ${file}`);
    writeFileSync(file, '{"kty":"oct","k":"AAAA"}', { mode: 0o600 });
    chmodSync(file, 0o600);
    await expect(loadOrCreateKeys(file)).rejects.toThrow(/not an EC P-256 private key \(remove the file and a new key is made\)/);
  });
});

describe('credential cache', () => {
  const entry = (print: string, expiresInMs: number) => ({
    fingerprint: print,
    id: 'rtc_1',
    username: 'rtc_1',
    credential: 'cached-credential',
    expires_at: new Date(Date.now() + expiresInMs).toISOString(),
  });

  it('hands a credential back while it is valid past the renewal margin, in a 0600 file', async () => {
    const folder = join(sub('cache'), 'c');
    const cache = new CredentialCache(folder);
    const print = fingerprint({ issuer: 'https://a', clientId: 'c' });
    await cache.put('r.example:5000', entry(print, 600_000));
    expect((await cache.fresh('r.example:5000', print, 300_000))?.credential).toBe('cached-credential');
    expect(await cache.fresh('r.example:5000', print, 600_000)).toBeUndefined();
    expect(await cache.fresh('other.example', print, 0)).toBeUndefined();
    const [file] = readdirSync(folder);
    expect(mode(join(folder, file!))).toBe(0o600);
    expect(mode(folder)).toBe(0o700);
  });

  it('does not reuse a credential asked with other settings, an expired one, or a file others can read', async () => {
    const folder = sub('cache2');
    const cache = new CredentialCache(folder);
    const print = fingerprint({ scopes: [] });
    await cache.put('r', entry(print, 600_000));
    expect(await cache.fresh('r', fingerprint({ scopes: ['repository:x:pull'] }), 0)).toBeUndefined();
    await cache.put('r', entry(print, -1));
    expect(await cache.fresh('r', print, 0)).toBeUndefined();
    await cache.put('r', entry(print, 600_000));
    chmodSync(join(folder, 'r.json'), 0o644);
    expect(await cache.fresh('r', print, 0)).toBeUndefined();
    await cache.drop('r');
    expect(readdirSync(folder)).toEqual([]);
  });
});
