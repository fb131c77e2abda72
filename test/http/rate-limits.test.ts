// rateLimits over real listeners: per source address (before any credential is read), per
// authenticated client (after authentication, recorded), and per address for failed
// authentications (fail2ban-like), each answered 429 with Retry-After and TOOMANYREQUESTS by the
// one error renderer. A second loopback source address (127.0.0.2) stands for another client host.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthority, type DevAuthority } from '../../src/dev/authority.ts';
import { parseConfig } from '../../src/config/loader.ts';
import { openMemoryStore } from '../../src/store/memory.ts';
import type { SharedStore } from '../../src/store/store.ts';
import { AUDIENCE, baseConfig, CLIENTS, SERVICE, startStack, type Stack } from '../support/stack.ts';
import { callWithProof, expectProblem, makeProof, newDpopKeys, rawRequest, tokenUrl, type KeyPair, type RawResponse } from '../support/dpop-client.ts';

type Client = 'team-dpop' | 'no-plan';

let authority: DevAuthority;
const keys = {} as Record<Client, KeyPair>;
const opToks = {} as Record<Client, string>;

function limits(rateLimits: Record<string, unknown>) {
  return { config: (base: Record<string, unknown>) => ({ ...base, rateLimits }) };
}

async function exchange(
  target: Stack,
  options: { client?: Client; token?: string | null; from?: string; requestId?: string } = {},
): Promise<RawResponse> {
  const client = options.client ?? 'team-dpop';
  const url = tokenUrl(target.url, { service: SERVICE, scope: ['repository:library/base:pull'] });
  const headers: [string, string][] = [['X-Request-Id', options.requestId ?? `rl-${randomUUID()}`]];
  const from = options.from === undefined ? {} : { localAddress: options.from };
  if (options.token === null) return callWithProof(url, { headers, ...from });
  const token = options.token ?? opToks[client];
  const proof = await makeProof(keys[client], 'GET', url, token);
  return callWithProof(url, { token, proof, headers, ...from });
}

/** A well-formed OpTok the Authority never signed: authentication fails. */
function forged(): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'ES256', typ: 'at+jwt', kid: 'nope' })}.${part({ sub: 'x' })}.${Buffer.alloc(64).toString('base64url')}`;
}

async function expectTooMany(res: RawResponse, window: number): Promise<string> {
  const body = await expectProblem(res, { status: 429, code: 'rate_limited', challenge: null });
  expect(body.errors[0]?.code).toBe('TOOMANYREQUESTS');
  expect(body.error).toBe('rate_limited');
  const retryAfter = Number(res.headers['retry-after']);
  expect(Number.isInteger(retryAfter)).toBe(true);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(window);
  // Our renderer, not the plugin's: no x-ratelimit-* headers, no plugin body.
  expect(Object.keys(res.headers).filter((name) => name.startsWith('x-ratelimit'))).toEqual([]);
  return body.detail;
}

async function rateLimitedCount(target: Stack, limit: string): Promise<number> {
  const { body } = await target.service.telemetry.scrape();
  const line = body.split('\n').find((l) => l.startsWith(`registry_token_rate_limited_total{limit="${limit}"}`));
  return Number(line?.split(' ').at(-1));
}

async function ledgerHas(target: Stack, requestId: string): Promise<boolean> {
  const { records } = await target.service.ledger.query({ limit: 500 });
  return records.some((r) => r.requestId === requestId);
}

beforeAll(async () => {
  authority = await startAuthority({ audience: AUDIENCE, clients: CLIENTS });
  for (const client of ['team-dpop', 'no-plan'] as const) {
    keys[client] = await newDpopKeys();
    opToks[client] = await authority.tokenWithDpop(client, keys[client]);
  }
});

afterAll(async () => {
  await authority?.close();
});

describe('rateLimits.perAddress', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ existingAuthority: authority, ...limits({ perAddress: { max: 3, windowSeconds: 600 } }) });
  });
  afterAll(async () => stack?.close());

  it('past max requests from one address, /token answers 429 + Retry-After + TOOMANYREQUESTS, before reading credentials', async () => {
    for (let i = 0; i < 3; i++) expect((await exchange(stack, { from: '127.0.0.1' })).status).toBe(200);
    const requestId = `rl-over-${randomUUID()}`;
    const detail = await expectTooMany(await exchange(stack, { from: '127.0.0.1', requestId }), 600);
    expect(detail).toMatch(/too many requests from this address \(at most 3 in 600 s\); retry in \d+ s/);
    // Refused before the pipeline: nothing recorded, no signature checked.
    expect(await ledgerHas(stack, requestId)).toBe(false);
    expect(await rateLimitedCount(stack, 'per_address')).toBeGreaterThanOrEqual(1);
  });

  it('the admin API counts against the same address limit', async () => {
    await expectTooMany(await rawRequest(`${stack.url}/admin/revocations`, { localAddress: '127.0.0.1' }), 600);
  });

  it('health probes, metrics and the JWKS are never limited', async () => {
    for (const path of ['/healthz', '/readyz', '/metrics', '/.well-known/jwks.json']) {
      const res = await rawRequest(`${stack.url}${path}`, { localAddress: '127.0.0.1' });
      expect(res.status, path).toBe(200);
    }
  });

  it('another address is served', async () => {
    expect((await exchange(stack, { from: '127.0.0.2' })).status).toBe(200);
  });
});

describe('rateLimits.perClient', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ existingAuthority: authority, ...limits({ perClient: { max: 2, windowSeconds: 600 } }) });
  });
  afterAll(async () => stack?.close());

  it('a client over its limit is refused (and the refusal recorded) while another client from the same address is served', async () => {
    for (let i = 0; i < 2; i++) expect((await exchange(stack, { client: 'team-dpop' })).status).toBe(200);
    const requestId = `rl-client-${randomUUID()}`;
    const detail = await expectTooMany(await exchange(stack, { client: 'team-dpop', requestId }), 600);
    expect(detail).toMatch(/too many token requests by this client \(at most 2 in 600 s\)/);
    const { records } = await stack.service.ledger.query({ outcome: 'rejected', limit: 100 });
    expect(records.find((r) => r.requestId === requestId)).toMatchObject({ reason: 'rate_limited', subject: 'team-dpop', granted: [] });
    // Another address does not help the same client.
    await expectTooMany(await exchange(stack, { client: 'team-dpop', from: '127.0.0.2' }), 600);
    expect((await exchange(stack, { client: 'no-plan' })).status).toBe(200);
    expect(await rateLimitedCount(stack, 'per_client')).toBe(2);
  });
});

/** The memory driver, with every question the service asks of it written down in `asked`. */
function watchedStore(asked: string[]): SharedStore {
  const store = openMemoryStore({ replay: { capacity: 1000, perClient: 100 }, ledgerRevocations: { list: async () => [], put: async () => {}, delete: async () => false }, now: Date.now });
  return {
    ...store,
    replay: { remember: (...args) => (asked.push('replay.remember'), store.replay.remember(...args)) },
    counters: (name, options) => {
      const counters = store.counters(name, options);
      return {
        incr: (key, windowMs) => (asked.push(`${name}.incr`), counters.incr(key, windowMs)),
        read: (key, windowMs) => (asked.push(`${name}.read`), counters.read(key, windowMs)),
      };
    },
    rememberAndCount: (proof, hit) => (asked.push(`replay.rememberAndCount(${hit.counter})`), store.rememberAndCount(proof, hit)),
  };
}

describe('rateLimits: what is asked of the shared store', () => {
  let stack: Stack;
  const asked: string[] = [];
  beforeAll(async () => {
    stack = await startStack({
      existingAuthority: authority,
      store: watchedStore(asked),
      ...limits({ perAddress: { max: 6, windowSeconds: 600 }, perClient: { max: 2, windowSeconds: 600 }, failedAuthPerAddress: { max: 4, windowSeconds: 600 } }),
    });
  });
  afterAll(async () => stack?.close());

  it('are asked of the store as one question, and a replayed proof spends nothing of its client\'s budget', async () => {
    const url = tokenUrl(stack.url, { service: SERVICE, scope: ['repository:library/base:pull'] });
    const token = opToks['team-dpop'];
    const proof = await makeProof(keys['team-dpop'], 'GET', url, token);
    asked.length = 0;
    expect((await callWithProof(url, { token, proof })).status).toBe(200);
    // The address limits in the request hook, then the proof and the client's count at once.
    expect(asked.filter((q) => !q.startsWith('per-address') && !q.startsWith('failed-auth'))).toEqual(['replay.rememberAndCount(per-client)']);
    for (let i = 0; i < 3; i++) await expectProblem(await callWithProof(url, { token, proof }), { status: 401, code: 'invalid_dpop_proof', challenge: { scheme: 'DPoP', error: 'invalid_dpop_proof' } });
    // Three replays later the client has one request left of its two.
    expect((await exchange(stack, { client: 'team-dpop' })).status).toBe(200);
    await expectTooMany(await exchange(stack, { client: 'team-dpop' }), 600);
    expect(asked).not.toContain('replay.remember');
  });

  it('an address once refused is refused again without asking the store, until its window closes; others are still asked', async () => {
    // 127.0.0.1 has made 6 requests above: the next is over its per-address limit.
    await expectTooMany(await exchange(stack, { from: '127.0.0.1' }), 600);
    asked.length = 0;
    for (let i = 0; i < 5; i++) {
      const detail = await expectTooMany(await exchange(stack, { from: '127.0.0.1' }), 600);
      expect(detail).toMatch(/too many requests from this address \(at most 6 in 600 s\); retry in \d+ s/);
    }
    expect(asked).toEqual([]);
    // Failed authentications from another address: refused by the store once, then from memory.
    for (let i = 0; i < 4; i++) expect((await exchange(stack, { token: forged(), from: '127.0.0.2' })).status).toBe(401);
    await expectTooMany(await exchange(stack, { client: 'no-plan', from: '127.0.0.2' }), 600);
    asked.length = 0;
    for (let i = 0; i < 3; i++) expect(await expectTooMany(await exchange(stack, { client: 'no-plan', from: '127.0.0.2' }), 600)).toMatch(/too many failed authentications/);
    expect(asked).toEqual([]);
    expect(await rateLimitedCount(stack, 'per_address')).toBe(6);
    expect(await rateLimitedCount(stack, 'failed_auth')).toBe(4);
  });
});

describe('rateLimits.failedAuthPerAddress', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ existingAuthority: authority, ...limits({ failedAuthPerAddress: { max: 2, windowSeconds: 600 } }) });
  });
  afterAll(async () => stack?.close());

  it('an address with too many failed authentications is refused, valid requests too, while another address is served', async () => {
    for (let i = 0; i < 2; i++) expect((await exchange(stack, { token: forged(), from: '127.0.0.2' })).status).toBe(401);
    const detail = await expectTooMany(await exchange(stack, { from: '127.0.0.2' }), 600);
    expect(detail).toMatch(/too many failed authentications from this address \(at most 2 in 600 s\)/);
    await expectTooMany(await rawRequest(`${stack.url}/admin/revocations`, { localAddress: '127.0.0.2' }), 600);
    expect((await exchange(stack, { from: '127.0.0.1' })).status).toBe(200);
    expect(await rateLimitedCount(stack, 'failed_auth')).toBe(2);
    expect(stack.logs()).toContain('address refused after too many failed authentications');
  });

  it('requests without credentials count as failed authentications: an anonymous flood is held to the lower limit', async () => {
    for (let i = 0; i < 2; i++) expect((await exchange(stack, { token: null, from: '127.0.0.3' })).status).toBe(401);
    await expectTooMany(await exchange(stack, { token: null, from: '127.0.0.3' }), 600);
    await expectTooMany(await exchange(stack, { from: '127.0.0.3' }), 600);
  });
});

describe('the defaults', () => {
  it('are on, sized for many CI jobs behind one address', () => {
    const config = parseConfig(baseConfig({ issuer: 'https://authority.example' }, '/tmp/unused'));
    expect(config.rateLimits).toEqual({
      enabled: true,
      perAddress: { max: 6000, windowSeconds: 60 },
      perClient: { max: 3000, windowSeconds: 60 },
      failedAuthPerAddress: { max: 600, windowSeconds: 60 },
    });
  });

  it('apply in a stack with the default configuration: a burst of failures does not lock an address out; the series exist', async () => {
    const stack = await startStack({ existingAuthority: authority });
    try {
      expect(stack.config.rateLimits.enabled).toBe(true);
      for (let i = 0; i < 20; i++) expect((await exchange(stack, { token: forged(), from: '127.0.0.4' })).status).toBe(401);
      expect((await exchange(stack, { from: '127.0.0.4' })).status).toBe(200);
      for (const limit of ['per_address', 'per_client', 'failed_auth']) expect(await rateLimitedCount(stack, limit)).toBe(0);
    } finally {
      await stack.close();
    }
  });

  it('enabled: false turns every limit off', async () => {
    const stack = await startStack({ existingAuthority: authority, ...limits({ enabled: false, perAddress: { max: 1, windowSeconds: 600 }, perClient: { max: 1, windowSeconds: 600 } }) });
    try {
      for (let i = 0; i < 3; i++) expect((await exchange(stack)).status).toBe(200);
    } finally {
      await stack.close();
    }
  });
});
