// The Docker engine (Debian's docker.io: dockerd and the docker CLI 20.10) with registry
// credentials: `docker login` stores the identity token the service hands back and the next
// push POSTs refresh_token (seen in the ledger); pull, a cross-repository mount, a pull-only
// credential, revocation and expiry with the message docker shows, the credential helper with
// nothing but `credHelpers` in config.json, and a pull through a pull-through cache mirror.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { requireTool } from '../support/tools.ts';
import { startDockerd, type Daemon } from './support/daemons.ts';
import { clientEnv, DOCKER_CLI, expectAllPlayed, play } from './support/play.ts';
import { run as exec } from './support/run.ts';
import { startWorld, writeJson, type IssuedCredential, type World } from './support/world.ts';

// Real clients on a shared 2-core machine: a command may take seconds, a file's start (daemons) tens of them.
vi.setConfig({ testTimeout: 180_000, hookTimeout: 180_000 });

let world: World;
let dockerd: Daemon;
let env: NodeJS.ProcessEnv;
let vars: Record<string, string>;
let configs = 0;

beforeAll(async () => {
  requireTool(DOCKER_CLI);
  for (const tool of ['dockerd', 'skopeo', 'docker-registry']) requireTool(tool);
  world = await startWorld('docker');
  // Every registry of this file is plain HTTP on loopback, the mirror's port included.
  dockerd = await startDockerd(join(world.dir, 'dockerd'), ['127.0.0.0/8']);
  mkdirSync(join(world.dir, 'home'));
  env = clientEnv(join(world.dir, 'home'));
  vars = { ...world.vars, DOCKER_SOCK: dockerd.socket };
  await play('docker.load', { ...vars, ARCHIVE: await world.archive('docker-archive', 'team/app:1.0') }, { env });
  await play('docker.tag', vars, { env });
});

afterAll(async () => {
  await dockerd?.stop();
  await world?.stop();
});

function newConfig(content?: unknown): string {
  configs += 1;
  const dir = join(world.dir, `docker-config-${configs}`);
  mkdirSync(dir, { recursive: true });
  if (content !== undefined) writeJson(dir, 'config.json', content);
  return dir;
}

async function loggedIn(issued: IssuedCredential): Promise<Record<string, string>> {
  const v = { ...vars, CONFIG: newConfig(), ID: issued.id, CREDENTIAL: issued.credential };
  await play('docker.login', v, { env });
  return v;
}

describe('docker with a registry credential', () => {
  let issued: IssuedCredential;
  let v: Record<string, string>;

  it('login stores the credential as an identity token, and no password (auth is the username alone)', async () => {
    issued = await world.credential();
    v = await loggedIn(issued);
    const config = JSON.parse(readFileSync(join(v['CONFIG']!, 'config.json'), 'utf8')) as { auths: Record<string, { auth?: string; identitytoken?: string }> };
    const entry = config.auths[world.registry.host]!;
    expect(entry.identitytoken).toBe(issued.credential);
    expect(Buffer.from(entry.auth ?? '', 'base64').toString('utf8')).toBe(`${issued.id}:`);
    expect((await world.exchangesOf(issued.id)).map((r) => r.binding)).toEqual([{ method: 'credential', id: issued.id, root: 'dpop', presented: 'basic' }]);
  });

  it('the next push POSTs refresh_token and works; pull works', async () => {
    const before = (await world.exchangesOf(issued.id)).length;
    await play('docker.push', v, { env });
    const pushes = (await world.exchangesOf(issued.id)).slice(0, -before);
    expect(pushes.length).toBeGreaterThan(0);
    for (const record of pushes) expect(record).toMatchObject({ outcome: 'issued', binding: { presented: 'refresh_token' } });
    expect(pushes.some((r) => r.requestedScopes.some((s) => /^repository:team\/docker\/app:(pull,push|push,pull)$/.test(s)))).toBe(true);
    await play('docker.rmi', v, { env });
    await play('docker.pull', v, { env });
  });

  it('a push to another repository mounts the layer from the first', async () => {
    await play('docker.tag-other', v, { env });
    await play('docker.mount', v, { env });
    expect(world.registry.logs()).toMatch(/POST \/v2\/team\/docker\/other\/blobs\/uploads\/\?from=team%2Fdocker%2Fapp&mount=sha256%3A[0-9a-f]{64}[^"]*" 201/);
  });

  it('a pull-only credential cannot push', async () => {
    const narrow = await loggedIn(await world.credential({ scope: 'repository:team/docker/**:pull' }));
    await play('docker.pull-only-push', narrow, { env });
  });

  it('a revoked credential stops working within seconds, with the service’s message', async () => {
    await world.revoke(issued.id);
    await play('docker.revoked', { ...v, ID: issued.id }, { env });
  });

  it('an expired credential fails with the date it expired: at login, and as the identity token of a pull', async () => {
    const expired = await world.expiredCredential();
    const e = { ...vars, ID: expired.id, CREDENTIAL: expired.credential, EXPIRED_AT: expired.expires_at };
    await play('docker.expired', { ...e, CONFIG: newConfig() }, { env });
    // What docker login would have left had it logged in before the credential expired.
    const stored = { auths: { [world.registry.host]: { auth: Buffer.from(`${expired.id}:`).toString('base64'), identitytoken: expired.credential } } };
    await play('docker.expired-identity', { ...e, CONFIG: newConfig(stored) }, { env });
  });
});

describe('docker with the credential helper', () => {
  it('pushes and pulls with nothing but credHelpers in config.json', async () => {
    const { settingsFile, pathDir } = world.helperSetup();
    const helperEnv = { ...env, PATH: `${pathDir}:${env['PATH'] ?? ''}`, REGISTRY_TOKEN_HELPER_CONFIG: settingsFile };
    const v = { ...vars, CONFIG: newConfig({ credHelpers: { [world.registry.host]: 'registry-token' } }) };
    await run(['tag', 'team/app:1.0', `${world.registry.host}/team/docker/helper:1.0`]);
    await play('docker.helper-push', v, { env: helperEnv });
    await run(['rmi', `${world.registry.host}/team/docker/helper:1.0`]);
    await play('docker.helper-pull', v, { env: helperEnv });
    // The helper answered with the identity-token username, so the daemon POSTed refresh_token.
    const { records } = await world.stack.service.ledger.query({ operation: 'token', limit: 1000 });
    const helper = records.filter((r) => r.requestedScopes.some((s) => s.startsWith('repository:team/docker/helper:')));
    expect(helper.length).toBeGreaterThan(0);
    for (const record of helper) expect(record).toMatchObject({ outcome: 'issued', binding: { method: 'credential', presented: 'refresh_token' } });
  });
});

describe('docker through a pull-through cache mirror', () => {
  it('pulls from the mirror, which logs in upstream with its own pull-only credential', async () => {
    const credential = await world.credential({ scope: 'repository:team/**:pull', name: 'mirror' });
    const mirror = await world.mirror(credential);
    await play('docker.mirror-pull', { ...vars, CONFIG: newConfig(), MIRROR: mirror.host }, { env });
    const upstream = await world.exchangesOf(credential.id);
    expect(upstream.length).toBeGreaterThan(0);
    for (const record of upstream) expect(record).toMatchObject({ outcome: 'issued', username: credential.username, binding: { presented: 'basic' } });
  });

  it('played every docker flow of the table', () => {
    expectAllPlayed('docker.');
  });
});

/** A docker command that only prepares the next flow (a tag, a local removal). */
async function run(args: string[]): Promise<void> {
  const outcome = await exec(DOCKER_CLI, args, { env: { ...env, DOCKER_HOST: `unix://${dockerd.socket}` }, timeoutMs: 60_000 });
  expect(outcome.code, outcome.stderr).toBe(0);
}
