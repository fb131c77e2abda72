// What operators see over real HTTP: liveness and readiness, Prometheus metrics after known
// traffic, the public JWKS, the decision log (and what it must never hold), and error answers
// for unknown routes and internal failures.
import { createPrivateKey, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { calculateJwkThumbprint, exportJWK } from 'jose';
import { buildApp } from '../../src/http/app.ts';
import { libtrustKeyId } from '../../src/mint/key-id.ts';
import type { Pipeline } from '../../src/pipeline.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { SAMPLE_KEY, SERVICE, startStack, type Stack } from '../support/stack.ts';
import {
  callWithProof,
  decodeJwt,
  expectProblem,
  makeProof,
  newDpopKeys,
  rawRequest,
  tokenUrl,
  type KeyPair,
  type ProofOverrides,
  type RawResponse,
} from '../support/dpop-client.ts';

type Client = 'team-dpop' | 'revoked';

let stack: Stack;
/** Its Authority issuer points at a closed port. */
let orphan: Stack;
const keys = {} as Record<Client, KeyPair>;
const opToks = {} as Record<Client, string>;
let teamJkt: string;

interface Expected {
  requestId: string;
  outcome: 'issued' | 'rejected';
  subject: string | undefined;
  plan: string | undefined;
  reason: string | undefined;
}
/** Every exchange made against `stack`, in order. */
const exchanges: Expected[] = [];

async function exchange(
  expected: Omit<Expected, 'requestId'>,
  options: { client?: Client; scope?: string[]; service?: string; overrides?: ProofOverrides; target?: Stack } = {},
): Promise<{ res: RawResponse; proof: string; requestId: string }> {
  const target = options.target ?? stack;
  const client = options.client ?? 'team-dpop';
  const url = tokenUrl(target.url, { service: options.service ?? SERVICE, scope: options.scope ?? [] });
  const proof = await makeProof(keys[client], 'GET', url, opToks[client], options.overrides);
  const requestId = `ops-${randomUUID()}`;
  const res = await callWithProof(url, { token: opToks[client], proof, headers: [['X-Request-Id', requestId]] });
  if (target === stack) exchanges.push({ requestId, ...expected });
  return { res, proof, requestId };
}

function samples(body: string, name: string): string[] {
  return body
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .sort();
}

function logLines(target: Stack): Record<string, unknown>[] {
  return target
    .logs()
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

beforeAll(async () => {
  stack = await startStack();
  const port = await closedPort();
  orphan = await startStack({
    existingAuthority: stack.authority,
    config: (base) => ({ ...base, authority: { ...(base.authority as object), issuer: `http://127.0.0.1:${port}` } }),
  });
  for (const client of ['team-dpop', 'revoked'] as const) {
    keys[client] = await newDpopKeys();
    opToks[client] = await stack.authority.tokenWithDpop(client, keys[client]);
  }
  teamJkt = await calculateJwkThumbprint(await exportJWK(keys['team-dpop'].publicKey));
});

afterAll(async () => {
  await orphan?.close();
  await stack?.close();
});

describe('health', () => {
  it('GET /healthz is 200', async () => {
    const res = await rawRequest(`${stack.url}/healthz`);
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
    expect(res.headers['x-request-id']).toEqual(expect.any(String));
  });

  it('GET /readyz is 200 with every check ok', async () => {
    const res = await rawRequest(`${stack.url}/readyz`);
    expect(res.status, res.body).toBe(200);
    const body = res.json<{ status: string; checks: Record<string, string> }>();
    expect(body).toMatchObject({ status: 'ready', checks: { authority: 'ok', signing: 'ok', ledger: 'ok' } });
    for (const [name, state] of Object.entries(body.checks)) expect(state, name).toBe('ok');
  });

  it('GET /readyz is 503 naming the authority when the Authority is unreachable', async () => {
    const res = await rawRequest(`${orphan.url}/readyz`);
    expect(res.status, res.body).toBe(503);
    const body = res.json<{ status: string; checks: Record<string, string> }>();
    expect(body.status).toBe('not ready');
    expect(body.checks.authority).not.toBe('ok');
    expect(body.checks.authority).toMatch(/Authority/);
    expect(body.checks.signing).toBe('ok');
    expect(body.checks.ledger).toBe('ok');
    // Liveness does not depend on it.
    expect((await rawRequest(`${orphan.url}/healthz`)).status).toBe(200);
  });

  it('an exchange while the Authority is unreachable is 503 authority_unavailable, recorded', async () => {
    const { res, requestId } = await exchange(
      { outcome: 'rejected', subject: undefined, plan: undefined, reason: 'authority_unavailable' },
      { target: orphan, scope: ['repository:team/app:pull'] },
    );
    await expectProblem(res, { status: 503, code: 'authority_unavailable', challenge: null });
    const { records } = await orphan.service.ledger.query({ outcome: 'rejected', limit: 10 });
    expect(records.find((r) => r.requestId === requestId)).toMatchObject({ reason: 'authority_unavailable' });
  });
});

describe('a token that cannot be valid is refused as such while the Authority is away', () => {
  it.each([
    ['not a JWT', 'a.b.c', 'the access token is malformed or not a signed JWT'],
    ['alg none', `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"x"}').toString('base64url')}.`, 'the access token is signed with an algorithm this service does not accept'],
  ])('%s: 401 invalid_token, not 503', async (_name, token, detail) => {
    const url = tokenUrl(orphan.url, { service: SERVICE });
    const res = await callWithProof(url, { token, scheme: 'Bearer' });
    const body = await expectProblem(res, { status: 401, code: 'invalid_token', challenge: { scheme: 'Bearer', error: 'invalid_token' } });
    expect(body.detail).toBe(detail);
  });
});

describe('metrics, JWKS and the decision log after known traffic', () => {
  const N = 3;
  let lastToken: string;

  beforeAll(async () => {
    const team = { subject: 'team-dpop', plan: 'team' };
    for (let i = 0; i < N; i++) {
      const { res } = await exchange({ outcome: 'issued', ...team, reason: undefined }, { scope: ['repository:team/app:pull,push'] });
      expect(res.status, res.body).toBe(200);
      lastToken = res.json<{ token: string }>().token;
    }
    for (let i = 0; i < 2; i++) {
      const { res } = await exchange({ outcome: 'rejected', ...team, reason: 'plan_denied' }, { scope: ['repository:secret/x:pull'] });
      expect(res.status).toBe(403);
    }
    // Refused before the caller is known: no subject, no plan.
    expect((await exchange({ outcome: 'rejected', subject: undefined, plan: undefined, reason: 'invalid_dpop_proof' }, { overrides: { htm: 'POST' } })).res.status).toBe(401);
    expect((await exchange({ outcome: 'rejected', subject: 'revoked', plan: 'team', reason: 'license_revoked' }, { client: 'revoked', scope: ['repository:team/app:pull'] })).res.status).toBe(403);
    expect((await exchange({ outcome: 'rejected', subject: undefined, plan: undefined, reason: 'service_not_allowed' }, { service: 'evil.example' })).res.status).toBe(400);
  });

  it('GET /metrics counts exactly the issued and rejected exchanges, by reason', async () => {
    const res = await rawRequest(`${stack.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(samples(res.body, 'registry_token_issued_total')).toEqual([`registry_token_issued_total{service="${SERVICE}",plan="team",tenant="other"} ${N}`]);
    expect(samples(res.body, 'registry_token_rejected_total')).toEqual(
      [
        `registry_token_rejected_total{service="${SERVICE}",plan="team",reason="plan_denied",tenant="other"} 2`,
        `registry_token_rejected_total{service="${SERVICE}",plan="none",reason="invalid_dpop_proof",tenant="none"} 1`,
        `registry_token_rejected_total{service="${SERVICE}",plan="team",reason="license_revoked",tenant="other"} 1`,
        // A service name the caller chose but nobody allowed never becomes a label value.
        'registry_token_rejected_total{service="other",plan="none",reason="service_not_allowed",tenant="none"} 1',
      ].sort(),
    );
    expect(samples(res.body, 'registry_token_request_duration_seconds_count').sort()).toEqual(
      ['registry_token_request_duration_seconds_count{outcome="issued"} 3', 'registry_token_request_duration_seconds_count{outcome="rejected"} 5'].sort(),
    );
    // Discovery and JWKS were fetched once each, successfully.
    expect(samples(res.body, 'registry_token_jwks_refresh_total')).toEqual([
      'registry_token_jwks_refresh_total{outcome="failure"} 0',
      'registry_token_jwks_refresh_total{outcome="success"} 2',
    ]);
  });

  it('GET /.well-known/jwks.json publishes the signing key under the kid tokens carry', async () => {
    const res = await rawRequest(`${stack.url}/.well-known/jwks.json`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/jwk-set\+json/);
    const { keys: published } = res.json<{ keys: Record<string, unknown>[] }>();
    const kid = libtrustKeyId(createPrivateKey(readFileSync(SAMPLE_KEY)));
    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({ kty: 'RSA', kid, use: 'sig', alg: 'RS256' });
    expect(published[0]!.x5c).toEqual([expect.any(String)]);
    for (const field of ['d', 'p', 'q', 'dp', 'dq', 'qi']) expect(published[0]).not.toHaveProperty(field);
    expect(decodeJwt(lastToken).header.kid).toBe(kid);
  });

  it('writes one decision line per exchange with requestId, subject, plan, outcome and reason', () => {
    const decisions = logLines(stack).filter((line) => line.msg === 'token issued' || line.msg === 'token refused');
    expect(decisions).toHaveLength(exchanges.length);
    for (const expected of exchanges) {
      const lines = decisions.filter((line) => line.requestId === expected.requestId);
      expect(lines, expected.requestId).toHaveLength(1);
      const line = lines[0]!;
      expect(line.msg).toBe(expected.outcome === 'issued' ? 'token issued' : 'token refused');
      expect(line).toMatchObject({ outcome: expected.outcome });
      expect(line.subject).toBe(expected.subject);
      expect(line.plan).toBe(expected.plan);
      expect(line.reason).toBe(expected.reason);
      expect(line.jti).toEqual(expect.any(String));
      expect(line.level).toBe(30);
    }
  });

  it('never logs the OpTok, the DPoP proof or the registry token, even when a request carries them all', async () => {
    const { res, proof } = await exchange({ outcome: 'issued', subject: 'team-dpop', plan: 'team', reason: undefined }, { scope: ['repository:team/app:pull'] });
    expect(res.status).toBe(200);
    const registryToken = res.json<{ token: string }>().token;
    // Send the registry token back in every credential-carrying place.
    const url = tokenUrl(stack.url, { service: SERVICE });
    const requestId = `ops-${randomUUID()}`;
    const echoed = await callWithProof(url, {
      token: registryToken,
      scheme: 'Bearer',
      headers: [
        ['X-Request-Id', requestId],
        ['Cookie', `session=${registryToken}`],
        ['Client-Cert', `:${registryToken}:`],
        ['X-Forwarded-Client-Cert', `Cert="${registryToken}"`],
        ['User-Agent', 'ops-test/1.0'],
      ],
    });
    exchanges.push({ requestId, outcome: 'rejected', subject: undefined, plan: undefined, reason: 'invalid_token' });
    await expectProblem(echoed, { status: 401, code: 'invalid_token', challenge: { scheme: 'Bearer', error: 'invalid_token' } });
    // And to an unknown route and the admin API.
    await callWithProof(`${stack.url}/nowhere`, { token: opToks['team-dpop'], proof });
    await callWithProof(`${stack.url}/admin/issuances`, { token: registryToken, proof });
    // And while the Authority is unreachable (an error path that logs its cause).
    await exchange({ outcome: 'rejected', subject: undefined, plan: undefined, reason: 'authority_unavailable' }, { target: orphan });

    for (const target of [stack, orphan]) {
      const text = target.logs();
      expect(text.length).toBeGreaterThan(0);
      for (const [what, secret] of [
        ['OpTok', opToks['team-dpop']],
        ['revoked OpTok', opToks.revoked],
        ['DPoP proof', proof],
        ['registry token', registryToken],
        ['registry token signature', registryToken.split('.')[2]!],
        ['OpTok signature', opToks['team-dpop'].split('.')[2]!],
      ] as const) {
        expect(text.includes(secret), `${what} in the log`).toBe(false);
      }
    }
    const decision = logLines(stack).find((line) => line.requestId === requestId);
    expect(decision).toMatchObject({ outcome: 'rejected', reason: 'invalid_token' });
  });

  it('the ledger records the DPoP binding of what it issued', async () => {
    const { records } = await stack.service.ledger.query({ outcome: 'issued', limit: 100 });
    expect(records.length).toBe(N + 1);
    for (const record of records) expect(record.binding).toEqual({ method: 'dpop', jkt: teamJkt });
  });
});

describe('error answers', () => {
  it('an unknown route is a 404 problem', async () => {
    const res = await rawRequest(`${stack.url}/v2/_catalog?x=1`);
    const body = await expectProblem(res, { status: 404, code: 'not_found', challenge: null, noStore: false });
    expect(body.detail).toBe('no endpoint GET /v2/_catalog');
    const post = await rawRequest(`${stack.url}/tokens`, {
      method: 'POST',
      headers: [['Content-Type', 'application/x-www-form-urlencoded']],
      body: 'grant_type=refresh_token&refresh_token=x&client_id=skopeo',
    });
    await expectProblem(post, { status: 404, code: 'not_found', challenge: null, noStore: false });
  });

  it('malformed and oversized bodies are 4xx problems, not 500s', async () => {
    const json: [string, string] = ['Content-Type', 'application/json'];
    const malformed = await rawRequest(`${stack.url}/admin/revocations/lic-x`, { method: 'PUT', headers: [json], body: '{"reason":' });
    await expectProblem(malformed, { status: 400, code: 'invalid_request', challenge: null });
    const huge = await rawRequest(`${stack.url}/admin/revocations/lic-x`, {
      method: 'PUT',
      headers: [json],
      body: JSON.stringify({ reason: 'x'.repeat(70 * 1024) }),
    });
    await expectProblem(huge, { status: 413, code: 'invalid_request', challenge: null });
    const media = await rawRequest(`${stack.url}/admin/revocations/lic-x`, { method: 'PUT', headers: [['Content-Type', 'text/x-unknown']], body: 'x' });
    await expectProblem(media, { status: 415, code: 'invalid_request', challenge: null });
  });

  it('errors Fastify raises before routing or parsing are problem documents too (414, 400 bad URL, 431)', async () => {
    // A 3,000-character licence id in the admin path.
    const long = await rawRequest(`${stack.url}/admin/revocations/${'L'.repeat(3000)}`, { method: 'DELETE', headers: [['X-Request-Id', 'long-path-1']] });
    const body = await expectProblem(long, { status: 414, code: 'invalid_request', challenge: null });
    expect(body.title).toBe('URI Too Long');
    expect(body.detail).toBe('a path segment is longer than 255 characters');
    expect(body.request_id).toBe('long-path-1');
    expect(long.body).not.toContain('LLLLLLLLLL');
    // 255 characters still route (404: no such revocation needs a token first, so 401 here).
    const fits = await rawRequest(`${stack.url}/admin/revocations/${'L'.repeat(255)}`, { method: 'DELETE' });
    expect(fits.status).toBe(401);
    const badUrl = await rawRequest(`${stack.url}/admin/issuances/%E0%A4%A`);
    await expectProblem(badUrl, { status: 400, code: 'invalid_request', challenge: null });
    const headers = await rawRequest(tokenUrl(stack.url, { service: SERVICE }), { headers: [['X-Padding', 'x'.repeat(20_000)]] });
    expect(headers.status).toBe(431);
    expect(headers.headers['content-type']).toMatch(/^application\/problem\+json/);
    const problemBody = headers.json<{ code: string; status: number; errors: { code: string }[]; request_id: string }>();
    expect(problemBody).toMatchObject({ status: 431, code: 'invalid_request', errors: [{ code: 'DENIED' }] });
    expect(problemBody.request_id).toBe(headers.headers['x-request-id']);
  });

  it('an internal failure is a bare 500: no message, stack or path leaks; the log keeps it under the request id', async () => {
    const secret = 'mongodb://admin:hunter2@db.internal:27017 at /srv/registry-token/src/record/mongodb.ts:42';
    const failing = (): never => {
      throw new Error(secret);
    };
    const lines: string[] = [];
    const logger = createLogger({
      level: 'info',
      destination: new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(chunk.toString('utf8'));
          done();
        },
      }),
    });
    const pipeline: Pipeline = { exchange: async () => failing(), issueCredential: async () => failing(), issueOrderedCredentials: async () => failing(), authenticateAdmin: async () => failing() };
    const app = await buildApp({
      pipeline,
      logger,
      credentials: { publicUrl: undefined, localUrl: () => 'http://127.0.0.1', isTrustedProxy: () => false, requireClientCa: false },
      challenge: { dpopAlgorithms: ['ES256'], realm: 'http://127.0.0.1/token' },
      trustedProxies: [],
      readiness: [],
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const { port } = app.server.address() as { port: number };
      const res = await rawRequest(tokenUrl(`http://127.0.0.1:${port}`, { service: SERVICE }), { headers: [['X-Request-Id', 'boom-1']] });
      const body = await expectProblem(res, { status: 500, code: 'server_error', challenge: null });
      expect(body.detail).toBe('internal error; the request id identifies it in the logs');
      for (const leak of ['hunter2', 'mongodb', '/srv/', 'Error:', '.ts:', ' at ']) expect(res.body).not.toContain(leak);
      expect(Object.keys(res.headers)).not.toContain('www-authenticate');
      const logged = lines.map((line) => JSON.parse(line) as { reqId?: string; msg?: string; err?: { message?: string } });
      expect(logged.find((line) => line.reqId === 'boom-1' && line.msg === 'unexpected error')?.err?.message).toBe(secret);
    } finally {
      await app.close();
    }
  });
});
