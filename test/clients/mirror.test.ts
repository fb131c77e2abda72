// docker-registry 2.8 in pull-through cache mode in front of the protected registry, with a
// pull-only registry credential as its proxy password: clients pull from it with no credential
// of their own; it asks the service for a token (GET + Basic) for every upstream request; once
// its credential is revoked it can serve nothing it has not cached.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { requireTool } from '../support/tools.ts';
import type { RunningRegistry } from '../e2e/support/registry.ts';
import { clientEnv, expectAllPlayed, play } from './support/play.ts';
import { startWorld, type IssuedCredential, type World } from './support/world.ts';
import { run } from './support/run.ts';

// Real clients on a shared 2-core machine: a command may take seconds, a file's start (daemons) tens of them.
vi.setConfig({ testTimeout: 180_000, hookTimeout: 180_000 });

let world: World;
let env: NodeJS.ProcessEnv;
let mirror: RunningRegistry;
let credential: IssuedCredential;

beforeAll(async () => {
  for (const tool of ['skopeo', 'docker-registry']) requireTool(tool);
  world = await startWorld('mirror');
  mkdirSync(join(world.dir, 'home'));
  env = clientEnv(join(world.dir, 'home'));
  // Two tags upstream, pushed by the operator.
  const operator = await world.credential({ who: 'operator' });
  for (const tag of ['1.0', '2.0']) {
    const pushed = await run('skopeo', ['--insecure-policy', 'copy', '--dest-tls-verify=false', '--dest-creds', `${operator.id}:${operator.credential}`, `oci:${world.image.dir}:1.0`, `docker://${world.registry.host}/team/mirror/app:${tag}`], { env, timeoutMs: 60_000 });
    expect(pushed.code, pushed.stderr).toBe(0);
  }
  credential = await world.credential({ scope: 'repository:team/**:pull', name: 'pull-through cache' });
  mirror = await world.mirror(credential);
});

afterAll(async () => {
  await world?.stop();
});

describe('a pull-through cache mirror with a registry credential', () => {
  it('serves a pull; upstream it logged in with GET + Basic, its credential id as the username', async () => {
    await play('mirror.pull', { ...world.vars, MIRROR: mirror.host, OUT: join(world.dir, 'pulled') }, { env });
    const upstream = await world.exchangesOf(credential.id);
    expect(upstream.length).toBeGreaterThan(0);
    for (const record of upstream) {
      expect(record).toMatchObject({ outcome: 'issued', username: credential.username, binding: { presented: 'basic' }, requestedScopes: ['repository:team/mirror/app:pull'] });
    }
  });

  it('once its credential is revoked, what it has not cached fails (the client never sees why)', async () => {
    await world.revoke(credential.id);
    await play('mirror.revoked', { ...world.vars, MIRROR: mirror.host, OUT: join(world.dir, 'pulled-2') }, { env });
    const { records } = await world.stack.service.ledger.query({ outcome: 'rejected', limit: 1000 });
    expect(records.some((r) => r.reason === 'credential_revoked' && r.binding?.method === 'credential' && r.binding.id === credential.id)).toBe(true);
  });

  it('played every mirror flow of the table', () => {
    expectAllPlayed('mirror.');
  });
});
