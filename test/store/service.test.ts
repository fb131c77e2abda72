// The service built on store.driver redis (in process, real Authority, real redis-server): what
// /token, the admin API, /readyz and /metrics say while Redis is away, failing closed and with
// onStoreUnavailable local, and that both serve again when it is back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthority, type DevAuthority } from '../../src/dev/authority.ts';
import { AUDIENCE, CLIENTS, SERVICE, startStack, type Stack } from '../support/stack.ts';
import { callWithProof, expectProblem, makeProof, newDpopKeys, tokenUrl, type KeyPair } from '../support/dpop-client.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';

let redis: RedisServer;
let authority: DevAuthority;
let keys: KeyPair;
let operatorKeys: KeyPair;

beforeAll(async () => {
  redis = await startRedis();
  authority = await startAuthority({ audience: AUDIENCE, clients: CLIENTS });
  keys = await newDpopKeys();
  operatorKeys = await newDpopKeys();
});
afterAll(async () => {
  await authority?.close();
  await redis?.stop();
});

function stackOn(onStoreUnavailable: 'fail-closed' | 'local', keyPrefix: string): Promise<Stack> {
  return startStack({
    existingAuthority: authority,
    config: (base) => ({
      ...base,
      store: { driver: 'redis', redis: { url: redis.url, keyPrefix, commandTimeoutMs: 300, connectTimeoutMs: 1000 }, onStoreUnavailable },
    }),
  });
}

async function exchange(stack: Stack) {
  const url = tokenUrl(stack.url, { service: SERVICE, scope: ['repository:library/base:pull'] });
  const token = await authority.tokenWithDpop('team-dpop', keys);
  return callWithProof(url, { token, proof: await makeProof(keys, 'GET', url, token) });
}

async function readyz(stack: Stack) {
  const res = await fetch(`${stack.url}/readyz`);
  return { status: res.status, body: (await res.json()) as { checks: Record<string, string>; details?: Record<string, Record<string, unknown>> } };
}

async function untilServed(stack: Stack): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await exchange(stack)).status !== 200) {
    if (Date.now() > deadline) throw new Error('not served again after Redis came back');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('store.driver redis in the service', () => {
  it('fail-closed: 503 store_unavailable from /token and the admin API, /readyz names the store, metrics count it; then serves again', async () => {
    const stack = await stackOn('fail-closed', 'svc-closed:');
    try {
      expect((await exchange(stack)).status).toBe(200);
      expect((await readyz(stack)).body.details?.store).toEqual({ driver: 'redis' });
      await redis.kill();

      const refused = await exchange(stack);
      const body = await expectProblem(refused, { status: 503, code: 'store_unavailable', challenge: null });
      expect(body.errors[0]?.code).toBe('UNAVAILABLE');
      expect(body.detail).toBe('the shared state store does not answer; no token is issued without it, retry shortly');

      const adminUrl = `${stack.url}/admin/revocations/subjects/someone`;
      const operatorToken = await authority.tokenWithDpop('operator', operatorKeys);
      const admin = await callWithProof(adminUrl, {
        method: 'PUT',
        token: operatorToken,
        proof: await makeProof(operatorKeys, 'PUT', adminUrl, operatorToken),
        body: JSON.stringify({ reason: 'test' }),
        headers: [['content-type', 'application/json']],
      });
      await expectProblem(admin, { status: 503, code: 'store_unavailable', challenge: null });

      const notReady = await readyz(stack);
      expect(notReady.status).toBe(503);
      expect(notReady.body.checks.store).toMatch(/^Redis at redis:\/\/127\.0\.0\.1:\d+ does not answer/);

      const metrics = await (await fetch(`${stack.url}/metrics`)).text();
      // The per-address counter is the first thing a request needs from the store.
      expect(metrics).toMatch(/registry_token_store_errors_total\{operation="counter"\} [1-9]/);
      expect(metrics).toMatch(/registry_token_store_command_duration_seconds_count\{operation="replay",outcome="ok"\} [1-9]/);
      // What the dashboard and RegistryTokenStoreUnavailable watch; a shared replay cache is not counted.
      expect(metrics).toContain('registry_token_store_up{driver="redis"} 0\n');
      expect(metrics).not.toMatch(/^registry_token_replay_cache_entries /m);

      await redis.restart();
      await untilServed(stack);
      expect((await readyz(stack)).status).toBe(200);
      expect(await (await fetch(`${stack.url}/metrics`)).text()).toContain('registry_token_store_up{driver="redis"} 1\n');
    } finally {
      await stack.close();
    }
  });

  it('local: tokens keep flowing on this replica\'s memory while Redis is away, /readyz stays ready and says so', async () => {
    const stack = await stackOn('local', 'svc-local:');
    try {
      const before = await exchange(stack);
      expect(before.status, before.body).toBe(200);
      await redis.kill();
      const during = await exchange(stack);
      expect(during.status, during.body).toBe(200);
      const state = await readyz(stack);
      expect(state.status).toBe(200);
      expect(state.body.checks.store).toBe('ok');
      expect(state.body.details?.store).toMatchObject({ driver: 'redis', fallback: 'local' });
      await redis.restart();
      // Served throughout; shared again once the store check passes.
      const deadline = Date.now() + 10_000;
      while ((await readyz(stack)).body.details?.store?.fallback !== undefined) {
        if (Date.now() > deadline) throw new Error('still on the local fallback after Redis came back');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect((await exchange(stack)).status).toBe(200);
    } finally {
      await stack.close();
    }
  });
});
