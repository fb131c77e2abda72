// Three replicas (separate `serve` processes, each its own file ledger) sharing one real
// redis-server (AUTH), behind a real haproxy on loopback, as docs/operations.md describes:
// a replayed proof is refused wherever it lands, a revocation made through one is enforced by
// all, rate limits count across them, a SIGKILLed replica loses no acknowledged record, and a
// dead Redis gives 503 store_unavailable with the reason, then service again without a restart.
import { calculateJwkThumbprint, exportJWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../e2e/support/ports.ts';
import { callWithProof, makeProof, newDpopKeys, tokenUrl, type KeyPair, type RawResponse } from '../support/dpop-client.ts';
import { startHaproxy, type Balancer } from '../support/haproxy.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';
import { expectRefusal } from '../battery/support/expect.ts';
import { Battery, SERVICE, jtiOf, ledgerExport, ledgerVerify, opTokClaims, opTokWithDpop, signWithAuthorityKey, sleep, waitFor } from '../battery/support/harness.ts';
import type { AuthorityProcess, BatteryService } from '../battery/support/harness.ts';

const PASSWORD = 'replicas-redis-password-0001';
const PER_CLIENT = 20;
const NAMES = ['r1', 'r2', 'r3'] as const;

const battery = new Battery('replicas');
let redis: RedisServer;
let authority: AuthorityProcess;
let balancer: Balancer;
const replicas: Record<string, BatteryService> = {};

beforeAll(async () => {
  redis = await startRedis({ password: PASSWORD });
  authority = await battery.authority({ keyFile: `${battery.dir}/authority.jwk` });
  const balancerPort = await freePort();
  const publicUrl = `http://127.0.0.1:${balancerPort}`;
  for (const name of NAMES) {
    replicas[name] = await battery.service(name, authority, (config) => {
      // Proofs are made for the balancer's URL, wherever they are sent.
      (config.server as Record<string, unknown>).publicUrl = publicUrl;
      config.store = {
        driver: 'redis',
        redis: { url: `redis://:${PASSWORD}@127.0.0.1:${redis.port}`, keyPrefix: 'replicas:', connectTimeoutMs: 1000, commandTimeoutMs: 300 },
      };
      (config.ledger as Record<string, unknown>).revocationPollSeconds = 1;
      (config.rateLimits as Record<string, unknown>).perClient = { max: PER_CLIENT, windowSeconds: 600 };
      // Plans for the battery clients this file uses beyond the base ones.
      Object.assign(config.plans as Record<string, unknown>, { platinum: [{ repository: '**' }], ci: [{ repository: 'library/**' }] });
    });
  }
  balancer = await startHaproxy(balancerPort, Object.fromEntries(NAMES.map((name) => [name, Number(new URL(replicas[name]!.url).port)])));
  await waitFor(async () => (await ready()).every(Boolean), 15_000, 'every replica ready behind haproxy');
}, 90_000);

afterAll(async () => {
  await balancer?.stop();
  await battery.close();
  await redis?.stop();
}, 30_000);

async function ready(): Promise<boolean[]> {
  return Promise.all(NAMES.map((name) => fetch(`${replicas[name]!.url}/readyz`).then((r) => r.ok, () => false)));
}

interface Client {
  readonly id: string;
  readonly keys: KeyPair;
  token: string;
}

async function client(id: string): Promise<Client> {
  const keys = await newDpopKeys();
  return { id, keys, token: await opTokWithDpop(authority.issuer, id, keys) };
}

/** An operator with the admin scope: an OpTok signed with the Authority's own key. */
async function operatorClient(): Promise<Client> {
  const keys = await newDpopKeys();
  const jkt = await calculateJwkThumbprint(await exportJWK(keys.publicKey));
  const claims = opTokClaims(authority.issuer, 'operator', jkt, { scope: 'registry.token.issue registry.token.admin', 'stellaops:plan': 'operator', 'stellaops:license': 'lic-op' });
  return { id: 'operator', keys, token: await signWithAuthorityKey(authority, claims) };
}

const balancerTokenUrl = () => tokenUrl(balancer.url, { service: SERVICE, scope: ['repository:library/app:pull'] });

/** A proof for GET /token at the balancer's URL. */
const proofFor = (who: Client) => makeProof(who.keys, 'GET', balancerTokenUrl(), who.token);

/** GET /token with `proof`, through the balancer or straight to one replica. */
function send(who: Client, proof: string, to: 'balancer' | (typeof NAMES)[number] = 'balancer'): Promise<RawResponse> {
  const base = to === 'balancer' ? balancer.url : replicas[to]!.url;
  const url = tokenUrl(base, { service: SERVICE, scope: ['repository:library/app:pull'] });
  return callWithProof(url, { token: who.token, proof, timeoutMs: 10_000 });
}

async function admin(operator: Client, method: 'PUT' | 'DELETE', path: string, body?: unknown): Promise<RawResponse> {
  const url = `${balancer.url}${path}`;
  const proof = await makeProof(operator.keys, method, url, operator.token);
  return callWithProof(url, {
    token: operator.token,
    proof,
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body), headers: [['content-type', 'application/json']] }),
  });
}

describe('three replicas, one Redis, haproxy in front', () => {
  it('a proof replayed through the balancer is refused wherever it lands', { timeout: 30_000 }, async () => {
    const team = await client('team-dpop');
    const proof = await proofFor(team);
    const first = await send(team, proof);
    expect(first.status, first.body).toBe(200);
    const landed = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const again = await send(team, proof);
      expectRefusal(again, { status: 401, code: 'invalid_dpop_proof', error: 'invalid_dpop_proof', challenge: 'DPoP' });
      expect(again.json<{ detail: string }>().detail).toContain('used before');
      landed.add(String(again.headers['x-served-by']));
    }
    // Round robin: the replays reached every replica, the one that took it first included.
    expect([...landed].sort()).toEqual([...NAMES]);
    for (const name of NAMES) expectRefusal(await send(team, proof, name), { status: 401, code: 'invalid_dpop_proof' });
  });

  it('a revocation made through one replica is enforced by all, and so is lifting it', { timeout: 40_000 }, async () => {
    const platinum = await client('platinum');
    const operator = await operatorClient();
    for (const name of NAMES) expect((await send(platinum, await proofFor(platinum), name)).status).toBe(200);

    const put = await admin(operator, 'PUT', '/admin/revocations/subjects/platinum', { reason: 'leaked credentials' });
    expect(put.status, put.body).toBe(200);
    const by = String(put.headers['x-served-by']);
    // The replica that took the call applies it before answering.
    expectRefusal(await send(platinum, await proofFor(platinum), by as (typeof NAMES)[number]), { status: 403, code: 'subject_revoked' });
    for (const name of NAMES) {
      await waitFor(async () => {
        const res = await send(platinum, await proofFor(platinum), name);
        if (res.status !== 403) await sleep(100);
        return res.status === 403 && res.json<{ code: string }>().code === 'subject_revoked';
      }, 10_000, `replica ${name} to refuse the revoked subject`);
    }

    const lifted = await admin(operator, 'DELETE', '/admin/revocations/subjects/platinum');
    expect(lifted.status, lifted.body).toBe(204);
    for (const name of NAMES) {
      await waitFor(async () => {
        const res = await send(platinum, await proofFor(platinum), name);
        if (res.status !== 200) await sleep(100);
        return res.status === 200;
      }, 10_000, `replica ${name} to serve the subject again`);
    }
  });

  it('rate limits count across replicas: perClient is one budget however requests are spread', { timeout: 40_000 }, async () => {
    const run = await client('run');
    const answers: { status: number; by: string }[] = [];
    for (let i = 0; i < PER_CLIENT + 3; i++) {
      const res = await send(run, await proofFor(run));
      answers.push({ status: res.status, by: String(res.headers['x-served-by']) });
    }
    expect(answers.slice(0, PER_CLIENT).every((a) => a.status === 200)).toBe(true);
    expect(new Set(answers.slice(0, PER_CLIENT).map((a) => a.by)).size).toBe(3);
    // Each replica saw about a third of them, yet the next request is over the limit on all three.
    for (const answer of answers.slice(PER_CLIENT)) expect(answer.status).toBe(429);
    expect(new Set(answers.slice(PER_CLIENT).map((a) => a.by)).size).toBe(3);
  });

  it('a replica SIGKILLed under load loses no acknowledged record: every 200 is in some ledger, and each verifies', { timeout: 60_000 }, async () => {
    const ids = ['bystander', 'runner', 'no-plan', 'operator'];
    const clients = await Promise.all(ids.map((id) => client(id)));
    const issued: string[] = [];
    const servedBy = new Set<string>();
    let sent = 0;
    let killed = false;
    const total = clients.length * (PER_CLIENT - 2);
    const worker = async (who: Client) => {
      for (let i = 0; i < PER_CLIENT - 2; i++) {
        sent += 1;
        if (!killed && sent >= total / 3) {
          killed = true;
          process.kill(replicas.r2!.pid, 'SIGKILL');
        }
        const res = await send(who, await proofFor(who)).catch(() => undefined);
        if (res?.status === 200) {
          issued.push(jtiOf(res));
          servedBy.add(String(res.headers['x-served-by']));
        }
      }
    };
    await Promise.all(clients.flatMap((who) => [worker(who)]));
    expect(killed).toBe(true);
    expect(servedBy.has('r2')).toBe(true);
    // The balancer took r2 out: most requests were still answered.
    expect(issued.length).toBeGreaterThan(total / 2);

    const recorded = new Set<string>();
    for (const name of NAMES) {
      const verified = ledgerVerify(replicas[name]!.ledgerPath);
      expect(verified.report.ok, `${name}: ${verified.output}`).toBe(true);
      for (const record of ledgerExport(replicas[name]!.ledgerPath)) recorded.add(record.jti);
    }
    expect(issued.filter((jti) => !recorded.has(jti))).toEqual([]);
  });

  it('Redis killed: 503 store_unavailable with the reason and /readyz naming the store; back: served again, no restart', { timeout: 60_000 }, async () => {
    const tenant = await client('team-dpop');
    await redis.kill();
    for (const name of NAMES.filter((n) => n !== 'r2')) {
      const res = await send(tenant, await proofFor(tenant), name);
      const problem = expectRefusal(res, { status: 503, code: 'store_unavailable', error: 'temporarily_unavailable' });
      expect(problem.detail).toMatch(/shared state store/);
      await waitFor(async () => {
        const readyz = await fetch(`${replicas[name]!.url}/readyz`);
        const body = (await readyz.json()) as { checks: Record<string, string> };
        return readyz.status === 503 && /does not answer/.test(body.checks.store ?? '');
      }, 10_000, `${name} /readyz to name the store`);
    }
    // Every replica not ready: the balancer answers 503 itself.
    await waitFor(async () => (await send(tenant, await proofFor(tenant))).status === 503, 10_000, 'the balancer to answer 503');

    await redis.restart();
    await waitFor(async () => {
      const res = await send(tenant, await proofFor(tenant));
      if (res.status !== 200) await sleep(200);
      return res.status === 200;
    }, 20_000, 'a 200 through the balancer after Redis is back');
    for (const name of NAMES.filter((n) => n !== 'r2')) {
      expect((await send(tenant, await proofFor(tenant), name)).status).toBe(200);
      expect(replicas[name]!.child.exitCode).toBeNull();
    }
  });
});
