// The e2e harness on its own, without our token service: a real docker-registry (2.8.2)
// with token auth, tokens minted here by hand as the shared registry facts say, and skopeo
// pushing and pulling a hand-built OCI image. It documents what the registry accepts and
// proves the harness can tell a good token from a bad one.
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompactSign, calculateJwkThumbprint, exportJWK } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { libtrustKeyId } from '../../src/mint/key-id.ts';
import { bearerGet } from './support/http.ts';
import { buildOciImage, type OciImage } from './support/image.ts';
import { createSigningCert, writeCertBundle, type SigningCert } from './support/pki.ts';
import { startRegistry, type RunningRegistry } from './support/registry.ts';
import { dockerRef, skopeoCopy, skopeoInspect } from './support/skopeo.ts';

const SERVICE = 'registry.e2e.test';
const ISSUER = 'https://token.e2e.test';
const REPO = 'team/app';

interface Access {
  type: string;
  name: string;
  actions: string[];
}

interface MintOptions {
  cert?: SigningCert;
  /** Header fields; `undefined` removes one (e.g. `{ x5c: undefined }` for a bare kid). */
  header?: Record<string, unknown>;
  /** Claim fields over the good defaults; `undefined` removes one. */
  claims?: Record<string, unknown>;
  access?: Access[];
}

let work: string;
let rsa: SigningCert;
let ec: SigningCert;
let registry: RunningRegistry;
let image: OciImage;

const pull: Access[] = [{ type: 'repository', name: REPO, actions: ['pull'] }];
const pullPush: Access[] = [{ type: 'repository', name: REPO, actions: ['pull', 'push'] }];

/** A registry token signed exactly as given (CompactSign: no claim is reshaped by jose). */
async function mint(options: MintOptions = {}): Promise<string> {
  const cert = options.cert ?? rsa;
  const now = Math.floor(Date.now() / 1000);
  const header: Record<string, unknown> = {
    alg: cert.alg,
    typ: 'JWT',
    kid: libtrustKeyId(cert.privateKey),
    x5c: [cert.certDerBase64],
    ...options.header,
  };
  const claims: Record<string, unknown> = {
    iss: ISSUER,
    sub: 'e2e-harness',
    aud: SERVICE,
    iat: now,
    nbf: now,
    exp: now + 300,
    jti: randomUUID(),
    access: options.access ?? pull,
    ...options.claims,
  };
  const clean = (o: Record<string, unknown>): Record<string, unknown> =>
    Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
  return new CompactSign(new TextEncoder().encode(JSON.stringify(clean(claims))))
    .setProtectedHeader(clean(header) as { alg: string })
    .sign(cert.privateKey);
}

const v2 = async (token: string | undefined): Promise<number> => (await bearerGet(`${registry.url}/v2/`, token)).status;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'e2e-harness-'));
  [rsa, ec] = await Promise.all([
    createSigningCert(join(work, 'rsa'), { keyType: 'rsa' }),
    createSigningCert(join(work, 'ec'), { keyType: 'ec' }),
  ]);
  const bundle = await writeCertBundle(join(work, 'bundle.pem'), [rsa, ec]);
  [registry, image] = await Promise.all([
    startRegistry({ realm: 'http://127.0.0.1:9/token', service: SERVICE, issuer: ISSUER, rootCertBundlePath: bundle }),
    buildOciImage(join(work, 'image'), { tag: 'v1' }),
  ]);
});

beforeEach((ctx) => {
  ctx.onTestFailed(() => {
    console.error(`docker-registry logs (last 8000 chars):\n${registry?.logs().slice(-8000) ?? '(not started)'}`);
  });
});

afterAll(async () => {
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('docker-registry 2.8 token auth, tokens minted by hand', () => {
  it('asks for a Bearer token from the configured realm', async () => {
    const res = await bearerGet(`${registry.url}/v2/`, undefined);
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe(`Bearer realm="http://127.0.0.1:9/token",service="${SERVICE}"`);
  });

  it('finds the key by x5c, by a libtrust kid, by both; RS256 and ES256', async () => {
    const thumbprint = await calculateJwkThumbprint(await exportJWK(rsa.certificate.publicKey));
    const certHashKid = createHash('sha256').update(rsa.certificate.raw).digest('base64url');
    const results = {
      kidAndX5c: await v2(await mint()),
      kidOnly: await v2(await mint({ header: { x5c: undefined } })),
      x5cOnly: await v2(await mint({ header: { kid: undefined } })),
      es256KidAndX5c: await v2(await mint({ cert: ec })),
      es256KidOnly: await v2(await mint({ cert: ec, header: { x5c: undefined } })),
      rfc7638ThumbprintKid: await v2(await mint({ header: { x5c: undefined, kid: thumbprint } })),
      certificateHashKid: await v2(await mint({ header: { x5c: undefined, kid: certHashKid } })),
      otherKeysKid: await v2(await mint({ header: { x5c: undefined, kid: libtrustKeyId(ec.privateKey) } })),
      noKeyHint: await v2(await mint({ header: { x5c: undefined, kid: undefined } })),
    };
    expect(results).toEqual({
      kidAndX5c: 200,
      kidOnly: 200,
      x5cOnly: 200,
      es256KidAndX5c: 200,
      es256KidOnly: 200,
      rfc7638ThumbprintKid: 401,
      certificateHashKid: 401,
      otherKeysKid: 401,
      noKeyHint: 401,
    });
  });

  it('refuses malformed or mismatched claims', async () => {
    const now = Math.floor(Date.now() / 1000);
    const results = {
      good: await v2(await mint()),
      audArray: await v2(await mint({ claims: { aud: [SERVICE] } })),
      otherAud: await v2(await mint({ claims: { aud: 'other.registry' } })),
      floatExp: await v2(await mint({ claims: { exp: now + 300.5 } })),
      floatIat: await v2(await mint({ claims: { iat: now + 0.25 } })),
      noExp: await v2(await mint({ claims: { exp: undefined } })),
      expired: await v2(await mint({ claims: { iat: now - 600, nbf: now - 600, exp: now - 120 } })),
      otherIssuer: await v2(await mint({ claims: { iss: 'https://evil.example' } })),
      algNone: await v2(await mint().then((t) => {
        const [, payload] = t.split('.');
        return `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${payload}.`;
      })),
      emptyAccess: await v2(await mint({ access: [] })),
    };
    expect(results).toEqual({
      good: 200,
      audArray: 401,
      otherAud: 401,
      floatExp: 401,
      floatIat: 401,
      noExp: 401,
      expired: 401,
      otherIssuer: 401,
      algNone: 401,
      emptyAccess: 200,
    });
    expect(registry.logs()).toMatch(/malformed token/i);
  });

  it('pushes with a pull,push token and pulls back with a pull-only token', async () => {
    const pushed = await skopeoCopy(image.layoutRef, dockerRef(registry.host, REPO, 'v1'), {
      destToken: await mint({ access: pullPush }),
    });
    expect(pushed, pushed.stderr).toMatchObject({ code: 0 });

    const pullToken = await mint({ access: pull });
    const inspected = await skopeoInspect(dockerRef(registry.host, REPO, 'v1'), { token: pullToken, raw: true });
    expect(inspected, inspected.stderr).toMatchObject({ code: 0 });
    expect(createHash('sha256').update(inspected.stdout).digest('hex')).toBe(image.manifest.digest.slice(7));

    const outDir = join(work, 'pulled');
    const pulled = await skopeoCopy(dockerRef(registry.host, REPO, 'v1'), `oci:${outDir}:v1`, { srcToken: pullToken });
    expect(pulled, pulled.stderr).toMatchObject({ code: 0 });
    const index = JSON.parse(await readFile(join(outDir, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    expect(index.manifests.map((m) => m.digest)).toEqual([image.manifest.digest]);
    const layer = await readFile(join(outDir, 'blobs', 'sha256', image.layer.digest.slice(7)));
    expect(layer.length).toBe(image.layer.size);
  });

  it('refuses a push with a pull-only token, and tokens with an aud array or a float exp', async () => {
    const pushWithPullOnly = await skopeoCopy(image.layoutRef, dockerRef(registry.host, REPO, 'v2'), {
      destToken: await mint({ access: pull }),
    });
    expect(pushWithPullOnly.code).not.toBe(0);
    expect(pushWithPullOnly.stderr).toMatch(/unauthorized|denied|authentication required/i);

    const otherRepo = await skopeoInspect(dockerRef(registry.host, 'team/other', 'v1'), { token: await mint({ access: pull }) });
    expect(otherRepo.code).not.toBe(0);

    const now = Math.floor(Date.now() / 1000);
    const audArray = await skopeoInspect(dockerRef(registry.host, REPO, 'v1'), {
      token: await mint({ access: pull, claims: { aud: [SERVICE] } }),
    });
    expect(audArray.code).not.toBe(0);
    const floatExp = await skopeoInspect(dockerRef(registry.host, REPO, 'v1'), {
      token: await mint({ access: pull, claims: { exp: now + 300.566 } }),
    });
    expect(floatExp.code).not.toBe(0);
  });
});
