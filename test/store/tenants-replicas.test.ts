// Tenants across replicas: two `serve` processes sharing one real redis-server behind a real
// haproxy. An issuance quota is one budget however the requests are spread (each replica saw
// about half of them, yet the next one is refused on both), for a tenant and for a licence; and
// a tenant admin's revocation, keyed (tenant, subject) in Redis, and a platform admin's revocation
// of a whole tenant are enforced by both replicas.
import { calculateJwkThumbprint, exportJWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../e2e/support/ports.ts';
import { callWithProof, makeProof, newDpopKeys, tokenUrl, type KeyPair, type RawResponse } from '../support/dpop-client.ts';
import { startHaproxy, type Balancer } from '../support/haproxy.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';
import { expectRefusal } from '../battery/support/expect.ts';
import { Battery, SERVICE, opTokClaims, signWithAuthorityKey, sleep, waitFor } from '../battery/support/harness.ts';
import type { AuthorityProcess, BatteryService } from '../battery/support/harness.ts';

const NAMES = ['q1', 'q2'] as const;
type Replica = (typeof NAMES)[number];
const TENANT_QUOTA = 6;
const LICENSE_QUOTA = 4;

const battery = new Battery('tenants-replicas');
let redis: RedisServer;
let authority: AuthorityProcess;
let balancer: Balancer;
const replicas: Partial<Record<Replica, BatteryService>> = {};

beforeAll(async () => {
  redis = await startRedis();
  authority = await battery.authority({ keyFile: `${battery.dir}/authority.jwk` });
  const balancerPort = await freePort();
  const publicUrl = `http://127.0.0.1:${balancerPort}`;
  for (const name of NAMES) {
    replicas[name] = await battery.service(name, authority, (config) => {
      (config.server as Record<string, unknown>).publicUrl = publicUrl;
      config.store = { driver: 'redis', redis: { url: `redis://127.0.0.1:${redis.port}`, keyPrefix: 'tenants:', connectTimeoutMs: 1000, commandTimeoutMs: 300 } };
      (config.ledger as Record<string, unknown>).revocationPollSeconds = 1;
      config.quotas = { perTenant: { overrides: { quota: TENANT_QUOTA } }, perLicense: { overrides: { 'lic-small': LICENSE_QUOTA } } };
    });
  }
  balancer = await startHaproxy(balancerPort, Object.fromEntries(NAMES.map((name) => [name, Number(new URL(replicas[name]!.url).port)])));
  await waitFor(async () => (await Promise.all(NAMES.map((n) => fetch(`${replicas[n]!.url}/readyz`).then((r) => r.ok, () => false)))).every(Boolean), 15_000, 'both replicas ready');
}, 90_000);

afterAll(async () => {
  await balancer?.stop();
  await battery.close();
  await redis?.stop();
}, 30_000);

interface Caller {
  readonly keys: KeyPair;
  readonly token: string;
}

/** An OpTok signed with the Authority's key, DPoP-bound, with the claims under test. */
async function caller(subject: string, claims: Record<string, unknown>): Promise<Caller> {
  const keys = await newDpopKeys();
  const jkt = await calculateJwkThumbprint(await exportJWK(keys.publicKey));
  return { keys, token: await signWithAuthorityKey(authority, opTokClaims(authority.issuer, subject, jkt, claims)) };
}

const SCOPE = ['repository:library/app:pull'];

/** GET /token; the proof is made for the balancer's URL wherever the request is sent. */
async function send(who: Caller, to: 'balancer' | Replica = 'balancer'): Promise<RawResponse> {
  const proof = await makeProof(who.keys, 'GET', tokenUrl(balancer.url, { service: SERVICE, scope: SCOPE }), who.token);
  const base = to === 'balancer' ? balancer.url : replicas[to]!.url;
  return callWithProof(tokenUrl(base, { service: SERVICE, scope: SCOPE }), { token: who.token, proof, timeoutMs: 10_000 });
}

async function admin(who: Caller, method: 'PUT' | 'DELETE', path: string): Promise<RawResponse> {
  const url = `${balancer.url}${path}`;
  const proof = await makeProof(who.keys, method, url, who.token);
  return callWithProof(url, { token: who.token, proof, method, ...(method === 'PUT' ? { body: JSON.stringify({ reason: 'test' }), headers: [['content-type', 'application/json']] } : {}) });
}

/** Waits until `who` gets `status` from every replica. */
async function onEveryReplica(who: Caller, status: number, what: string): Promise<void> {
  for (const name of NAMES) {
    await waitFor(async () => {
      const res = await send(who, name);
      if (res.status !== status) await sleep(100);
      return res.status === status;
    }, 10_000, `${name}: ${what}`);
  }
}

describe('tenants with two replicas and one Redis', () => {
  it('a tenant quota holds across replicas: the token past it is refused on each', { timeout: 30_000 }, async () => {
    const first = await caller('quota-a', { tid: 'quota', 'stellaops:license': 'lic-a' });
    const second = await caller('quota-b', { tid: 'quota', 'stellaops:license': 'lic-b' });
    const answers: { status: number; by: string }[] = [];
    for (let i = 0; i < TENANT_QUOTA; i++) {
      const res = await send(i % 2 === 0 ? first : second);
      answers.push({ status: res.status, by: String(res.headers['x-served-by']) });
    }
    expect(answers.map((a) => a.status)).toEqual(Array(TENANT_QUOTA).fill(200));
    // Round robin: both replicas issued some of them.
    expect(new Set(answers.map((a) => a.by))).toEqual(new Set(NAMES));
    for (const name of NAMES) {
      const over = await send(second, name);
      const problem = expectRefusal(over, { status: 429, code: 'quota_exceeded', error: 'rate_limited', challenge: null });
      expect(problem.detail).toMatch(/^the issuance quota of tenant "quota" \(6 tokens per minute\) is used up; retry in \d+ s$/);
      expect(Number(over.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    }
    // Another tenant is not held to it.
    expect((await send(await caller('other-tenant', { tid: 'elsewhere' }))).status).toBe(200);
  });

  it('a licence quota holds across replicas too, whatever the tenant', { timeout: 30_000 }, async () => {
    const a = await caller('small-a', { tid: 'one', 'stellaops:license': 'lic-small' });
    const b = await caller('small-b', { tid: 'two', 'stellaops:license': 'lic-small' });
    for (let i = 0; i < LICENSE_QUOTA; i++) expect((await send(i % 2 === 0 ? a : b, NAMES[i % 2]!)).status).toBe(200);
    for (const name of NAMES) {
      const problem = expectRefusal(await send(a, name), { status: 429, code: 'quota_exceeded', challenge: null });
      expect(problem.detail).toMatch(/^the issuance quota of licence "lic-small" \(4 tokens per minute\)/);
    }
  });

  it("a tenant admin's revocation (keyed tenant, subject) and a platform admin's tenant revocation reach both replicas", { timeout: 40_000 }, async () => {
    const alphaCi = await caller('shared-name', { tid: 'alpha' });
    const betaCi = await caller('shared-name', { tid: 'beta' });
    const alphaAdmin = await caller('admin-alpha', { tid: 'alpha', scope: 'registry.token.issue registry.token.admin' });
    const platform = await caller('platform', { tid: 'ops', scope: 'registry.token.issue registry.token.admin registry.admin.platform' });

    expect((await admin(alphaAdmin, 'PUT', '/admin/revocations/subjects/shared-name')).status).toBe(200);
    await onEveryReplica(alphaCi, 403, "alpha's shared-name refused");
    // beta's subject of the same name is another subject.
    for (const name of NAMES) expect((await send(betaCi, name)).status).toBe(200);
    expectRefusal(await admin(alphaAdmin, 'PUT', '/admin/revocations/tenants/beta'), { status: 403, code: 'insufficient_scope' });

    expect((await admin(platform, 'PUT', '/admin/revocations/tenants/beta')).status).toBe(200);
    await onEveryReplica(betaCi, 403, 'tenant beta refused');
    expectRefusal(await send(betaCi, 'q1'), { status: 403, code: 'tenant_revoked' });
    expect((await admin(platform, 'DELETE', '/admin/revocations/tenants/beta')).status).toBe(204);
    expect((await admin(alphaAdmin, 'DELETE', '/admin/revocations/subjects/shared-name')).status).toBe(204);
    await onEveryReplica(betaCi, 200, 'tenant beta served again');
    await onEveryReplica(alphaCi, 200, "alpha's shared-name served again");
  });
});
