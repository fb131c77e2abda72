// Registry credentials against the real registry (Debian's docker-registry 2.8) and skopeo:
// a credential is never a registry token, and as the password skopeo logs in, pushes and
// pulls with it; its narrowing and its revocation reach the registry; the refusal a person
// sees is the service's message.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE_CERT, SERVICE, startStack, type Stack } from '../support/stack.ts';
import { callWithProof, makeProof, newDpopKeys, type KeyPair } from '../support/dpop-client.ts';
import { buildOciImage, type OciImage } from './support/image.ts';
import { startRegistry, type RunningRegistry } from './support/registry.ts';
import { dockerRef, skopeoCopy, skopeoInspect, skopeoLogin } from './support/skopeo.ts';

let stack: Stack;
let registry: RunningRegistry;
let image: OciImage;
const keys = {} as Record<'team-dpop' | 'operator', KeyPair>;
const opToks = {} as Record<'team-dpop' | 'operator', string>;

async function post(who: 'team-dpop' | 'operator', path: string, method: 'POST' | 'PUT', body: string, contentType: string) {
  const url = `${stack.url}${path}`;
  const proof = await makeProof(keys[who], method, url, opToks[who]);
  return callWithProof(url, { method, token: opToks[who], proof, headers: [['Content-Type', contentType]], body });
}

async function credential(scope?: string): Promise<{ credential: string; id: string }> {
  const res = await post('team-dpop', '/credentials', 'POST', scope === undefined ? '' : `scope=${encodeURIComponent(scope)}`, 'application/x-www-form-urlencoded');
  expect(res.status, res.body).toBe(201);
  return res.json();
}

/** skopeo login with the credential as the password, into an auth file of its own. */
async function loggedIn(secret: string, username = 'ci'): Promise<string> {
  const authFile = join(stack.dir, `auth-${randomUUID()}.json`);
  const login = await skopeoLogin(registry.host, username, secret, authFile);
  expect(login.code, login.stderr).toBe(0);
  return authFile;
}

beforeAll(async () => {
  stack = await startStack();
  registry = await startRegistry({ realm: `${stack.url}/token`, service: SERVICE, issuer: 'registry-token', rootCertBundlePath: SAMPLE_CERT });
  image = await buildOciImage(join(stack.dir, 'image'));
  for (const who of ['team-dpop', 'operator'] as const) {
    keys[who] = await newDpopKeys();
    opToks[who] = await stack.authority.tokenWithDpop(who, keys[who]);
  }
});

afterAll(async () => {
  await registry?.stop();
  await stack?.close();
});

describe('a registry credential at the real registry', () => {
  it('is refused as a registry token (Bearer straight to the registry), for pull and for push', async () => {
    const { credential: secret } = await credential();
    const v2 = await fetch(`${registry.url}/v2/`, { headers: { authorization: `Bearer ${secret}` } });
    expect(v2.status).toBe(401);
    const pushed = await skopeoCopy(image.layoutRef, dockerRef(registry.host, 'team/app', 'as-token'), { destToken: secret });
    expect(pushed.code).not.toBe(0);
    expect(pushed.stderr).toMatch(/unauthorized|denied|401/i);
  });

  it('as the password: skopeo logs in (no scope), pushes and pulls', async () => {
    const { credential: secret } = await credential();
    const authFile = await loggedIn(secret);
    const target = dockerRef(registry.host, 'team/app', '1.0');
    const pushed = await skopeoCopy(image.layoutRef, target, { dest: { authFile } });
    expect(pushed.code, pushed.stderr + registry.logs().slice(-2000)).toBe(0);
    const inspected = await skopeoInspect(target, { authFile, raw: true });
    expect(inspected.code, inspected.stderr).toBe(0);
    expect(inspected.stdout).toContain(image.layer.digest);
  });

  it('a pull-only credential pulls but cannot push', async () => {
    const { credential: admin } = await credential();
    const target = dockerRef(registry.host, 'team/narrow', '1.0');
    expect((await skopeoCopy(image.layoutRef, target, { dest: { authFile: await loggedIn(admin) } })).code).toBe(0);

    const { credential: pullOnly } = await credential('repository:team/narrow:pull');
    const authFile = await loggedIn(pullOnly);
    expect((await skopeoInspect(target, { authFile, raw: true })).code).toBe(0);
    const refused = await skopeoCopy(image.layoutRef, dockerRef(registry.host, 'team/narrow', '2.0'), { dest: { authFile } });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/denied|unauthorized/i);
  });

  it('once revoked, skopeo shows the service’s message', async () => {
    const { credential: secret, id } = await credential();
    const authFile = await loggedIn(secret);
    const target = dockerRef(registry.host, 'team/app', '1.0');
    expect((await skopeoCopy(image.layoutRef, target, { dest: { authFile } })).code).toBe(0);
    const revoked = await post('operator', `/admin/revocations/credentials/${id}`, 'PUT', JSON.stringify({ reason: 'test' }), 'application/json');
    expect(revoked.status, revoked.body).toBe(200);
    const refused = await skopeoInspect(target, { authFile, raw: true });
    expect(refused.code).not.toBe(0);
    // skopeo (logrus) escapes the quotes of the message it prints.
    expect(refused.stderr.replaceAll('\\"', '"')).toContain(`invalid username/password: unauthorized: the registry credential ${id} has been revoked; run "registry-token login" to get a new one`);
  });
});
