// containerd 1.6 and ctr with registry credentials: `--user` (ctr POSTs grant_type=password,
// the ledger shows it) and `--refresh` (grant_type=refresh_token), push, pull, a
// cross-repository mount, a pull-only credential, revocation and expiry. ctr has no login and no
// delete, and never shows the service's message (only the registry's 401).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { requireTool } from '../support/tools.ts';
import { startContainerd, type Daemon } from './support/daemons.ts';
import { clientEnv, expectAllPlayed, play } from './support/play.ts';
import { startWorld, type IssuedCredential, type World } from './support/world.ts';

// Real clients on a shared 2-core machine: a command may take seconds, a file's start (daemons) tens of them.
vi.setConfig({ testTimeout: 180_000, hookTimeout: 180_000 });

let world: World;
let containerd: Daemon;
let env: NodeJS.ProcessEnv;
let vars: Record<string, string>;

beforeAll(async () => {
  for (const tool of ['containerd', 'ctr', 'skopeo', 'docker-registry']) requireTool(tool);
  world = await startWorld('ctr');
  containerd = await startContainerd(join(world.dir, 'containerd'));
  mkdirSync(join(world.dir, 'home'));
  env = clientEnv(join(world.dir, 'home'));
  vars = { ...world.vars, CONTAINERD_SOCK: containerd.socket };
  await play('ctr.import', { ...vars, ARCHIVE: await world.archive('oci-archive', 'team/app:1.0') }, { env });
});

afterAll(async () => {
  await containerd?.stop();
  await world?.stop();
});

/** Refusals of this reason for ctr's pulls of team/ctr/app (a credential that fails to verify leaves no id to match). */
async function refusals(reason: string) {
  const { records } = await world.stack.service.ledger.query({ outcome: 'rejected', limit: 1000 });
  return records.filter((r) => r.reason === reason && r.requestedScopes.some((s) => s.includes('repository:team/ctr/app:pull')));
}

describe('ctr with a registry credential', () => {
  let issued: IssuedCredential;
  let v: Record<string, string>;

  it('--user: pushes and pulls; every exchange is a POST grant_type=password', async () => {
    issued = await world.credential();
    v = { ...vars, ID: issued.id, CREDENTIAL: issued.credential };
    await play('ctr.push', v, { env });
    await play('ctr.pull', v, { env });
    const records = await world.exchangesOf(issued.id);
    expect(records.length).toBeGreaterThan(0);
    for (const record of records) expect(record).toMatchObject({ outcome: 'issued', username: issued.id, binding: { presented: 'password' } });
  });

  it('a push to another repository mounts the layer from the first', async () => {
    await play('ctr.mount', v, { env });
    // containerd puts mount before from, unencoded.
    expect(world.registry.logs()).toMatch(/POST \/v2\/team\/ctr\/other\/blobs\/uploads\/\?mount=sha256:[0-9a-f]{64}&from=team\/ctr\/app[^"]*" 201/);
  });

  it('--refresh: pushes and pulls with POST grant_type=refresh_token', async () => {
    const refresh = await world.credential();
    const r = { ...vars, CREDENTIAL: refresh.credential };
    await play('ctr.refresh-push', r, { env });
    await play('ctr.refresh-pull', r, { env });
    const records = await world.exchangesOf(refresh.id);
    expect(records.length).toBeGreaterThan(0);
    for (const record of records) expect(record).toMatchObject({ outcome: 'issued', binding: { presented: 'refresh_token' } });
  });

  it('a pull-only credential cannot push', async () => {
    const narrow = await world.credential({ scope: 'repository:team/ctr/**:pull' });
    await play('ctr.pull-only-push', { ...vars, ID: narrow.id, CREDENTIAL: narrow.credential }, { env });
    // ctr's message depends on a race of its own (flows.ts): the refusal is proved by what the
    // registry answered the manifest and what the service granted.
    const puts = world.registry.logs().match(/PUT \/v2\/team\/ctr\/app\/manifests\/pull-only[^"]*" \d{3}/g) ?? [];
    expect(puts).not.toEqual([]);
    for (const put of puts) expect(put).toMatch(/" 401$/);
    const records = await world.exchangesOf(narrow.id);
    expect(records.some((r) => r.requestedScopes.some((s) => /^repository:team\/ctr\/app:.*push/.test(s)))).toBe(true);
    for (const record of records) for (const entry of record.granted) expect(entry.actions).not.toContain('push');
  });

  it('a revoked credential stops working within seconds', async () => {
    await world.revoke(issued.id);
    await play('ctr.revoked', v, { env });
    expect(await refusals('credential_revoked')).not.toEqual([]);
  });

  it('an expired credential fails', async () => {
    const expired = await world.expiredCredential();
    await play('ctr.expired', { ...vars, ID: expired.id, CREDENTIAL: expired.credential }, { env });
    expect(await refusals('credential_expired')).not.toEqual([]);
  });

  it('played every ctr flow of the table', () => {
    expectAllPlayed('ctr.');
  });
});
