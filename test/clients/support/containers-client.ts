// podman and buildah (containers/image 5.23, like skopeo) share their commands and their
// messages: one body of tests, run by podman.test.ts and buildah.test.ts against a world each.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { requireTool } from '../../support/tools.ts';
import { clientEnv, expectAllPlayed, play } from './play.ts';
import { startWorld, writeJson, type IssuedCredential, type World } from './world.ts';

export function containersClientSuite(program: 'podman' | 'buildah'): void {
  // Real clients on a shared 2-core machine: a command may take seconds.
  vi.setConfig({ testTimeout: 180_000, hookTimeout: 180_000 });
  let world: World;
  let env: NodeJS.ProcessEnv;
  let vars: Record<string, string>;
  let files = 0;
  const authFile = () => join(world.dir, `auth-${(files += 1)}.json`);
  const repo = `team/${program}`;

  beforeAll(async () => {
    for (const tool of [program, 'skopeo', 'docker-registry']) requireTool(tool);
    world = await startWorld(program);
    const state = join(world.dir, program);
    for (const sub of ['root', 'run', 'tmp']) mkdirSync(join(state, sub), { recursive: true });
    mkdirSync(join(world.dir, 'home'));
    env = clientEnv(join(world.dir, 'home'));
    vars = { ...world.vars, STATE: state };
    const loaded = await play(`${program}.load`, { ...vars, ARCHIVE: await world.archive('docker-archive', 'team/app:1.0') }, { env });
    // podman and buildah end `pull` with the image id on a line of its own.
    const id = loaded.stdout.trim().split('\n').pop()!;
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    vars['IMAGE_ID'] = id;
  });

  afterAll(async () => {
    await world?.stop();
  });

  async function loggedIn(issued: IssuedCredential): Promise<Record<string, string>> {
    const v = { ...vars, AUTH: authFile(), ID: issued.id, CREDENTIAL: issued.credential };
    await play(`${program}.login`, v, { env });
    return v;
  }

  describe(`${program} with a registry credential`, () => {
    let issued: IssuedCredential;
    let v: Record<string, string>;

    it('logs in (no scope: an empty grant), pushes and pulls', async () => {
      issued = await world.credential();
      v = await loggedIn(issued);
      expect((await world.exchangesOf(issued.id))[0]).toMatchObject({ requestedScopes: [], granted: [], binding: { presented: 'basic' } });
      await play(`${program}.push`, v, { env });
      await play(`${program}.pull`, v, { env });
    });

    it('a push to another repository mounts the layer from the first', async () => {
      await play(`${program}.mount`, v, { env });
      expect(world.registry.logs()).toMatch(new RegExp(`POST /v2/team/${program}/other/blobs/uploads/\\?from=team%2F${program}%2Fapp&mount=sha256%3A[0-9a-f]{64}[^"]*" 201`));
    });

    it('a pull-only credential cannot push', async () => {
      const narrow = await loggedIn(await world.credential({ scope: `repository:${repo}/**:pull` }));
      await play(`${program}.pull-only-push`, narrow, { env });
    });

    it('a revoked credential stops working within seconds, with the service’s message', async () => {
      await world.revoke(issued.id);
      await play(`${program}.revoked`, v, { env });
    });

    it('an expired credential fails with the date it expired', async () => {
      const expired = await world.expiredCredential();
      await play(`${program}.expired`, { ...vars, ID: expired.id, CREDENTIAL: expired.credential, EXPIRED_AT: expired.expires_at }, { env });
    });
  });

  if (program === 'podman') {
    describe('podman with the credential helper', () => {
      it('pushes and pulls with nothing but credHelpers in auth.json', async () => {
        const { settingsFile, pathDir } = world.helperSetup();
        const helperEnv = { ...env, PATH: `${pathDir}:${env['PATH'] ?? ''}`, REGISTRY_TOKEN_HELPER_CONFIG: settingsFile };
        const auth = writeJson(world.dir, 'helper-auth.json', { credHelpers: { [world.registry.host]: 'registry-token' } });
        await play('podman.helper-push', { ...vars, AUTH: auth }, { env: helperEnv });
        await play('podman.helper-pull', { ...vars, AUTH: auth }, { env: helperEnv });
        const { records } = await world.stack.service.ledger.query({ operation: 'token', limit: 1000 });
        const helper = records.filter((r) => r.requestedScopes.some((s) => s.startsWith('repository:team/podman/helper:')));
        expect(helper.length).toBeGreaterThan(0);
        for (const record of helper) expect(record).toMatchObject({ outcome: 'issued', clientId: 'team-dpop', binding: { method: 'credential', presented: 'refresh_token' } });
      });
    });
  }

  describe(`${program}: the table`, () => {
    it(`played every ${program} flow of test/clients/flows.ts`, () => {
      expectAllPlayed(`${program}.`);
    });
  });
}
