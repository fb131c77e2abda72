// Offline Kit credential bundles against the real registry (Debian's docker-registry 2.8) and
// skopeo: a bundle made by the operator CLI (before `serve` holds the ledger) and one ordered
// from the admin API verify offline against the service's JWKS; a bundled secret file, as
// written, is the password skopeo logs in and pulls with, within its narrowing; recorded in the
// ledger the service then serves from; and once revoked by id, refused with the service's message.
// The admin API's answer is written out with `bundle credentials --answer`.
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callWithProof, makeProof, newDpopKeys, type KeyPair } from '../support/dpop-client.ts';
import { CLI, writeConfig } from '../support/process.ts';
import { baseConfig, SERVICE, SAMPLE_CERT, startStack, type Stack } from '../support/stack.ts';
import { buildOciImage, type OciImage } from './support/image.ts';
import { startRegistry, type RunningRegistry } from './support/registry.ts';
import { dockerRef, skopeoCopy, skopeoInspect, skopeoLogin } from './support/skopeo.ts';

let dir: string;
let stack: Stack;
let registry: RunningRegistry;
let image: OciImage;
const keys = {} as Record<'team-dpop' | 'operator', KeyPair>;
const opToks = {} as Record<'team-dpop' | 'operator', string>;
let cliKit: { id: string; file: string }[];

const cli = (args: string[]) => {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('REGISTRY_TOKEN_') && k !== 'SOURCE_DATE_EPOCH'));
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000, env });
};

async function call(who: 'team-dpop' | 'operator', path: string, method: 'POST' | 'PUT' | 'GET', body?: string, contentType = 'application/json') {
  const url = `${stack.url}${path}`;
  const proof = await makeProof(keys[who], method, url, opToks[who]);
  return callWithProof(url, { method, token: opToks[who], proof, headers: body === undefined ? [] : [['Content-Type', contentType]], ...(body === undefined ? {} : { body }) });
}

/** skopeo login with the secret file's bytes on stdin, as an operator at the site would. */
async function loggedIn(secretFile: string): Promise<string> {
  const authFile = join(dir, `auth-${randomUUID()}.json`);
  const login = await skopeoLogin(registry.host, 'mirror', readFileSync(secretFile, 'ascii'), authFile);
  expect(login.code, login.stderr).toBe(0);
  return authFile;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'e2e-credential-bundle-'));
  const ledger = join(dir, 'ledger');
  // The operator CLI first, on the ledger the service will then hold.
  const config = writeConfig(join(dir, 'config.yaml'), baseConfig({ issuer: 'http://127.0.0.1:1' }, dir, { ledger: { driver: 'file', path: ledger } }));
  const made = cli(['bundle', 'credentials', '--config', config, '--out', join(dir, 'cli-kit'), '--subject', 'mirror-site-7', '--plan', 'team',
    '--scope', 'repository:team/mirror:pull', '--expires', '90d', '--name', 'site-7-a', '--name', 'site-7-b', '--created', '2026-11-01T00:00:00Z']);
  expect(made.status, made.stderr).toBe(0);
  cliKit = (JSON.parse(made.stdout) as { credentials: { id: string; file: string }[] }).credentials;
  stack = await startStack({ config: (base) => ({ ...base, ledger: { driver: 'file', path: ledger, refusals: { anonymous: 'full' } } }) });
  registry = await startRegistry({ realm: `${stack.url}/token`, service: SERVICE, issuer: 'registry-token', rootCertBundlePath: SAMPLE_CERT });
  image = await buildOciImage(join(dir, 'image'));
  for (const who of ['team-dpop', 'operator'] as const) {
    keys[who] = await newDpopKeys();
    opToks[who] = await stack.authority.tokenWithDpop(who, keys[who]);
  }
  // The mirror's upstream content, pushed with an ordinary credential of the team.
  const issued = await call('team-dpop', '/credentials', 'POST', '', 'application/x-www-form-urlencoded');
  expect(issued.status, issued.body).toBe(201);
  const pushed = await skopeoCopy(image.layoutRef, dockerRef(registry.host, 'team/mirror', '1.0'), { dest: { creds: `ci:${issued.json<{ credential: string }>().credential}` } });
  expect(pushed.code, pushed.stderr).toBe(0);
  writeFileSync(join(dir, 'jwks.json'), JSON.stringify(stack.service.keys.current().jwks));
});

afterAll(async () => {
  await registry?.stop();
  await stack?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('a credential bundle at the real registry', () => {
  it('made by the CLI: verifies offline, was recorded in the ledger the service serves, pulls but cannot push', async () => {
    const verified = cli(['bundle', 'verify', join(dir, 'cli-kit'), '--jwks', join(dir, 'jwks.json')]);
    expect(verified.status, verified.stderr).toBe(0);
    for (const { id } of cliKit) {
      const record = await call('operator', `/admin/issuances/${id}`, 'GET');
      expect(record.json()).toMatchObject({ jti: id, operation: 'credential', outcome: 'issued', subject: 'mirror-site-7', issuedBy: expect.stringMatching(/^cli:/) });
    }
    const authFile = await loggedIn(join(dir, 'cli-kit', cliKit[0]!.file));
    const target = dockerRef(registry.host, 'team/mirror', '1.0');
    const inspected = await skopeoInspect(target, { authFile, raw: true });
    expect(inspected.code, inspected.stderr).toBe(0);
    expect(inspected.stdout).toContain(image.layer.digest);
    const refused = await skopeoCopy(image.layoutRef, dockerRef(registry.host, 'team/mirror', '2.0'), { dest: { authFile } });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/denied|unauthorized/i);
  });

  it('ordered from the admin API: written out, verifies offline and pulls; revoked by id, skopeo shows the service’s message', async () => {
    const res = await call('operator', '/admin/bundles/credentials', 'POST', JSON.stringify({ subject: 'mirror-site-8', plan: 'team', scope: 'repository:team/mirror:pull', expires_in: 7_776_000, count: 1 }));
    expect(res.status, res.body).toBe(201);
    const answer = res.json<{ created: string; credentials: { id: string; file: string }[]; files: { path: string; mode: string; content: string }[] }>();
    const kit = join(dir, 'api-kit');
    // What an export pipeline does with the answer: the CLI writes it out as the kit.
    writeFileSync(join(dir, 'answer.json'), res.body, { mode: 0o600 });
    const written = cli(['bundle', 'credentials', '--answer', join(dir, 'answer.json'), '--out', kit]);
    expect(written.status, written.stderr).toBe(0);
    const verified = cli(['bundle', 'verify', kit, '--jwks', join(dir, 'jwks.json')]);
    expect(verified.status, verified.stderr).toBe(0);

    const [{ id, file }] = answer.credentials as [{ id: string; file: string }];
    const authFile = await loggedIn(join(kit, file));
    const target = dockerRef(registry.host, 'team/mirror', '1.0');
    expect((await skopeoInspect(target, { authFile, raw: true })).code).toBe(0);
    const revoked = await call('operator', `/admin/revocations/credentials/${id}`, 'PUT', JSON.stringify({ reason: 'site 8 media lost' }));
    expect(revoked.status, revoked.body).toBe(200);
    const refused = await skopeoInspect(target, { authFile, raw: true });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr.replaceAll('\\"', '"')).toContain(`invalid username/password: unauthorized: the registry credential ${id} has been revoked; run "registry-token login" to get a new one`);
    // The CLI's credentials are untouched by that revocation.
    expect((await skopeoInspect(target, { authFile: await loggedIn(join(dir, 'cli-kit', cliKit[1]!.file)), raw: true })).code).toBe(0);
  });
});
