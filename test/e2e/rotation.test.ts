// Key rotation end to end, by the runbook of docs/operations.md: the real registry
// (distribution 2.8) trusts both certificates, the service process publishes the next key,
// switches to it and retires the old one, each by SIGHUP; pulls keep working at every step,
// and once the registry no longer trusts the old key its (unexpired) tokens are refused.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthority, type DevAuthority } from '../../src/dev/authority.ts';
import { libtrustKeyId } from '../../src/mint/key-id.ts';
import { AUDIENCE, CLIENTS, baseConfig } from '../support/stack.ts';
import { decodeJwt, dpopGet, newDpopKeys, tokenUrl, type KeyPair } from '../support/dpop-client.ts';
import { freePort, startServiceProcess, waitFor, writeConfig, type ServiceProcess } from '../support/process.ts';
import { buildOciImage, OCI_MANIFEST } from './support/image.ts';
import { createSigningCert, writeCertBundle, type SigningCert } from './support/pki.ts';
import { startRegistry, type RunningRegistry } from './support/registry.ts';
import { dockerRef, skopeoCopy } from './support/skopeo.ts';

const SERVICE = 'registry.localhost';
const SCOPE = 'repository:team/app:pull';

describe('signing key rotation against a real registry, without a restart of the service', () => {
  let dir: string;
  let authority: DevAuthority;
  let service: ServiceProcess;
  let registry: RunningRegistry | undefined;
  let dpopKeys: KeyPair;
  let opTok: string;
  let config: Record<string, unknown>;
  let configPath: string;
  let oldKey: SigningCert;
  let nextKey: SigningCert;
  const kid = (key: SigningCert) => libtrustKeyId(key.certificate.publicKey);
  const entry = (key: SigningCert) => ({ path: key.keyPath, certificatePath: key.certPath });

  async function registryToken(): Promise<string> {
    const response = await dpopGet(tokenUrl(service.url, { service: SERVICE, scope: [SCOPE] }), opTok, dpopKeys);
    expect(response.status).toBe(200);
    return ((await response.json()) as { token: string }).token;
  }

  /** What `docker pull` asks first: the manifest, with the token as Bearer. */
  async function pullStatus(token: string): Promise<number> {
    const response = await fetch(`${registry!.url}/v2/team/app/manifests/1.0`, {
      method: 'HEAD',
      headers: { authorization: `Bearer ${token}`, accept: OCI_MANIFEST },
    });
    return response.status;
  }

  async function jwksKids(): Promise<string[]> {
    const jwks = (await (await fetch(`${service.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
    return jwks.keys.map((k) => k.kid);
  }

  /** Rewrites the configuration, sends SIGHUP, waits for the reload line number `n`. */
  async function reload(signing: Record<string, unknown>, n: number): Promise<void> {
    config.signing = { issuer: 'registry-token', lifetimeSeconds: 300, ...signing };
    writeConfig(configPath, config);
    service.child.kill('SIGHUP');
    await waitFor(() => service.output().split('configuration reloaded').length - 1 >= n);
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'registry-token-rotation-'));
    oldKey = await createSigningCert(join(dir, 'old'), { keyType: 'rsa', commonName: 'registry-token 2026-01' });
    nextKey = await createSigningCert(join(dir, 'next'), { keyType: 'ec', commonName: 'registry-token 2026-07' });
    authority = await startAuthority({ audience: AUDIENCE, clients: CLIENTS });
    const port = await freePort();
    config = baseConfig(authority, dir, {});
    config.server = { host: '127.0.0.1', workers: 1, port, publicUrl: `http://127.0.0.1:${port}` };
    config.signing = { issuer: 'registry-token', lifetimeSeconds: 300, keys: [entry(oldKey)] };
    configPath = writeConfig(join(dir, 'config.yaml'), config);
    service = await startServiceProcess(configPath, port);
    dpopKeys = await newDpopKeys();
    opTok = await authority.tokenWithDpop('team-dpop', dpopKeys);
  });

  afterAll(async () => {
    await registry?.stop();
    await service?.stop();
    await authority?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('add, publish, switch, retire: both tokens accepted across the switch, the old one refused after retirement', async () => {
    // Step 1, add: the registry trusts the next certificate next to the current one.
    const both = await writeCertBundle(join(dir, 'bundle-both.pem'), [oldKey, nextKey]);
    const storageDir = join(dir, 'storage');
    registry = await startRegistry({ realm: `${service.url}/token`, service: SERVICE, issuer: 'registry-token', rootCertBundlePath: both, storageDir });
    const image = await buildOciImage(join(dir, 'image'));
    const pushResponse = await dpopGet(tokenUrl(service.url, { service: SERVICE, scope: ['repository:team/app:pull,push'] }), opTok, dpopKeys);
    const pushed = await skopeoCopy(image.layoutRef, dockerRef(registry.host, 'team/app', '1.0'), { destToken: ((await pushResponse.json()) as { token: string }).token });
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(await jwksKids()).toEqual([kid(oldKey)]);

    // Pulls run without pause through steps 2 and 3: none may fail.
    const statuses: number[] = [];
    const seenKids = new Set<string>();
    let pulling = true;
    const puller = (async () => {
      while (pulling) {
        const token = await registryToken();
        seenKids.add(decodeJwt(token).header.kid as string);
        statuses.push(await pullStatus(token));
      }
    })();

    // Step 2, publish: the next key is in the set, the old one still signs.
    await reload({ keys: [entry(oldKey), entry(nextKey)], activeKeyId: kid(oldKey) }, 1);
    expect(await jwksKids()).toEqual([kid(oldKey), kid(nextKey)]);
    const before = await registryToken();
    expect(decodeJwt(before).header).toMatchObject({ kid: kid(oldKey), alg: 'RS256', x5c: [oldKey.certDerBase64] });

    // Step 3, switch: the next key signs; the old one stays published.
    await reload({ keys: [entry(oldKey), entry(nextKey)], activeKeyId: kid(nextKey) }, 2);
    expect(service.output()).toContain('signing key switched');
    const after = await registryToken();
    expect(decodeJwt(after).header).toMatchObject({ kid: kid(nextKey), alg: 'ES256', x5c: [nextKey.certDerBase64] });
    expect(await jwksKids()).toEqual([kid(nextKey), kid(oldKey)]);
    await waitFor(() => statuses.length >= 5 && seenKids.has(kid(nextKey)), 20_000);
    pulling = false;
    await puller;
    expect(seenKids).toEqual(new Set([kid(oldKey), kid(nextKey)]));
    expect(statuses.filter((status) => status !== 200)).toEqual([]);
    expect(await pullStatus(before)).toBe(200);
    expect(await pullStatus(after)).toBe(200);

    // Step 4, retire: the service stops publishing the old key (here before its tokens
    // expired, which the service warns about), then the registry stops trusting it.
    await reload({ keys: [entry(nextKey)] }, 3);
    expect(await jwksKids()).toEqual([kid(nextKey)]);
    expect(service.output()).toContain('a retired signing key still has unexpired tokens');
    await registry.stop();
    const onlyNext = await writeCertBundle(join(dir, 'bundle-next.pem'), [nextKey]);
    registry = await startRegistry({ realm: `${service.url}/token`, service: SERVICE, issuer: 'registry-token', rootCertBundlePath: onlyNext, storageDir });
    expect(decodeJwt(before).payload.exp as number).toBeGreaterThan(Date.now() / 1000 + 60);
    expect(await pullStatus(before)).toBe(401);
    expect(await pullStatus(after)).toBe(200);
    expect(await pullStatus(await registryToken())).toBe(200);
  });
});
