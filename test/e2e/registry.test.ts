// End to end with real parts only: the development Authority (oidc-provider), the token
// service as a real process, Debian's docker-registry trusting it, and skopeo pushing and
// pulling an image built here.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthority, type DevAuthority } from '../../src/dev/authority.ts';
import { AUDIENCE, CLIENTS, SAMPLE_CERT, baseConfig } from '../support/stack.ts';
import { dpopGet, newDpopKeys, tokenUrl, type KeyPair } from '../support/dpop-client.ts';
import { freePort, startServiceProcess, writeConfig, type ServiceProcess } from '../support/process.ts';
import { buildOciImage, type OciImage } from './support/image.ts';
import { startRegistry, type RunningRegistry } from './support/registry.ts';
import { dockerRef, skopeoCopy, skopeoInspect } from './support/skopeo.ts';

const SERVICE = 'registry.localhost';

describe('push and pull through a real registry with tokens from the service', () => {
  let dir: string;
  let authority: DevAuthority;
  let service: ServiceProcess;
  let registry: RunningRegistry;
  let image: OciImage;
  let keys: KeyPair;
  let opTok: string;

  async function registryToken(scope: string): Promise<string> {
    const response = await dpopGet(tokenUrl(service.url, { service: SERVICE, scope: [scope] }), opTok, keys);
    expect(response.status).toBe(200);
    return ((await response.json()) as { token: string }).token;
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'registry-token-e2e-'));
    authority = await startAuthority({ audience: AUDIENCE, clients: CLIENTS });
    const port = await freePort();
    const config = baseConfig(authority, dir, {});
    config.server = { host: '127.0.0.1', workers: 1, port, publicUrl: `http://127.0.0.1:${port}` };
    service = await startServiceProcess(writeConfig(join(dir, 'config.yaml'), config), port);
    registry = await startRegistry({
      realm: `${service.url}/token`,
      service: SERVICE,
      issuer: 'registry-token',
      rootCertBundlePath: SAMPLE_CERT,
    });
    image = await buildOciImage(join(dir, 'image'));
    keys = await newDpopKeys();
    opTok = await authority.tokenWithDpop('team-dpop', keys);
  });

  afterAll(async () => {
    await registry?.stop();
    await service?.stop();
    await authority?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('pushes with a pull,push token and pulls with a pull-only token, which cannot push', async () => {
    const target = dockerRef(registry.host, 'team/app', '1.0');
    const pushToken = await registryToken('repository:team/app:pull,push');
    const pushed = await skopeoCopy(image.layoutRef, target, { destToken: pushToken });
    expect(pushed.code, pushed.stderr + registry.logs().slice(-4000)).toBe(0);

    const pullToken = await registryToken('repository:team/app:pull');
    const inspected = await skopeoInspect(target, { token: pullToken, raw: true });
    expect(inspected.code, inspected.stderr).toBe(0);
    expect(inspected.stdout).toContain(image.layer.digest);

    const pulled = await skopeoCopy(target, `oci:${join(dir, 'pulled')}:1.0`, { srcToken: pullToken });
    expect(pulled.code, pulled.stderr).toBe(0);

    const refused = await skopeoCopy(image.layoutRef, dockerRef(registry.host, 'team/app', '2.0'), { destToken: pullToken });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/denied|unauthorized/i);
  });

  it('a plan that does not cover a repository yields a token the registry refuses there', async () => {
    // The team plan grants library/** pull only: push is not granted, so the token carries pull.
    const token = await registryToken('repository:library/base:pull,push');
    const refused = await skopeoCopy(image.layoutRef, dockerRef(registry.host, 'library/base', '1'), { destToken: token });
    expect(refused.code).not.toBe(0);
  });
});
