// skopeo 1.9 (containers/image) against the protected registry with registry credentials:
// login, push, pull, a cross-repository mount, list-tags, delete (a plan with and without
// `delete`), a pull-only credential, revocation, expiry, the identity token that
// `registry-token login` writes (POST refresh_token), and /v2/_catalog with curl.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CLIENTS } from '../support/stack.ts';
import { requireTool } from '../support/tools.ts';
import { clientEnv, expectAllPlayed, play } from './support/play.ts';
import { startWorld, type World } from './support/world.ts';

// Real clients on a shared 2-core machine: a command may take seconds, a file's start (daemons) tens of them.
vi.setConfig({ testTimeout: 180_000, hookTimeout: 180_000 });

let world: World;
let env: NodeJS.ProcessEnv;
let n = 0;
const authFile = () => join(world.dir, `auth-${(n += 1)}.json`);

beforeAll(async () => {
  for (const tool of ['skopeo', 'curl', 'docker-registry']) requireTool(tool);
  world = await startWorld('skopeo');
  mkdirSync(join(world.dir, 'home'));
  env = clientEnv(join(world.dir, 'home'));
});

afterAll(async () => {
  await world?.stop();
});

async function loggedIn(who: 'team-dpop' | 'operator' = 'team-dpop', scope?: string) {
  const issued = await world.credential({ who, ...(scope === undefined ? {} : { scope }) });
  const vars = { ...world.vars, AUTH: authFile(), ID: issued.id, CREDENTIAL: issued.credential };
  await play('skopeo.login', vars, { env });
  return { issued, vars };
}

describe('skopeo with a registry credential', () => {
  it('logs in, pushes, pulls, mounts across repositories, lists tags; delete needs a plan that grants it', async () => {
    const { issued, vars } = await loggedIn();
    await play('skopeo.push', vars, { env });
    await play('skopeo.pull', { ...vars, OUT: join(world.dir, 'pulled') }, { env });
    await play('skopeo.mount', vars, { env });
    expect(world.registry.logs()).toMatch(new RegExp(`POST /v2/team/skopeo/other/blobs/uploads/\\?from=team%2Fskopeo%2Fapp&mount=${world.image.layer.digest.replace(':', '%3A')}[^"]*" 201`));
    await play('skopeo.list-tags', vars, { env });
    await play('skopeo.delete-refused', vars, { env });
    // skopeo delete asks for repository:NAME:* and the team plan grants pull,push of it.
    const asked = (await world.exchangesOf(issued.id)).find((r) => r.requestedScopes.includes('repository:team/skopeo/other:*'));
    expect(asked?.granted).toEqual([{ type: 'repository', name: 'team/skopeo/other', actions: ['pull', 'push'] }]);
    const operator = await loggedIn('operator');
    await play('skopeo.delete', operator.vars, { env });
  });

  it('a pull-only credential pulls but cannot push', async () => {
    const { vars } = await loggedIn('team-dpop', 'repository:team/skopeo/**:pull');
    await play('skopeo.pull', { ...vars, OUT: join(world.dir, 'pulled-narrow') }, { env });
    await play('skopeo.pull-only-push', vars, { env });
  });

  it('a revoked credential stops working within seconds, with the service’s message', async () => {
    const { issued, vars } = await loggedIn();
    await world.revoke(issued.id);
    await play('skopeo.revoked', vars, { env });
  });

  it('an expired credential: login says only invalid username/password; a pull shows the date', async () => {
    const expired = await world.expiredCredential();
    const vars = { ...world.vars, AUTH: authFile(), ID: expired.id, CREDENTIAL: expired.credential, EXPIRED_AT: expired.expires_at };
    await play('skopeo.expired-login', vars, { env });
    await play('skopeo.expired', vars, { env });
  });

  it('with the identity token registry-token login writes, skopeo POSTs refresh_token', async () => {
    const client = CLIENTS.find((c) => c.clientId === 'team-dpop')!;
    const secretFile = join(world.dir, 'client-secret');
    writeFileSync(secretFile, client.clientSecret, { mode: 0o600 });
    const auth = authFile();
    const vars = { ...world.vars, AUTH: auth, ISSUER: world.stack.authority.issuer, SECRET_FILE: secretFile };
    await play('registry-token.login-auth-file', vars, { env });
    const entry = (JSON.parse(readFileSync(auth, 'utf8')) as { auths: Record<string, { identitytoken: string }> }).auths[world.registry.host]!;
    const id = JSON.parse(Buffer.from(entry.identitytoken.split('.')[1]!, 'base64url').toString('utf8')).jti as string;
    await play('skopeo.identity-push', vars, { env });
    const records = await world.exchangesOf(id);
    expect(records.length).toBeGreaterThan(0);
    expect(records.every((r) => r.outcome === 'issued' && r.binding?.method === 'credential' && r.binding.presented === 'refresh_token')).toBe(true);
    expect(records.some((r) => r.clientId === 'team-dpop' && r.requestedScopes.includes('repository:team/skopeo/identity:pull,push'))).toBe(true);
  });
});

describe('/v2/_catalog with curl', () => {
  it('a plan that grants registry:catalog:* lists the repositories; the team plan is refused', async () => {
    const operator = await world.credential({ who: 'operator' });
    const answer = await play('curl.catalog-token', { ...world.vars, ID: operator.id, CREDENTIAL: operator.credential }, { env });
    const token = (JSON.parse(answer.stdout) as { token: string }).token;
    const listed = await play('curl.catalog', { ...world.vars, TOKEN: token }, { env });
    expect((JSON.parse(listed.stdout) as { repositories: string[] }).repositories).toContain('team/skopeo/app');
    const team = await world.credential();
    await play('curl.catalog-refused', { ...world.vars, ID: team.id, CREDENTIAL: team.credential }, { env });
  });

  it('played every skopeo and curl flow of the table', () => {
    expectAllPlayed('skopeo.', 'curl.', 'registry-token.login-auth-file');
  });
});
