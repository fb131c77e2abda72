// GET /token over real HTTP with DPoP-bound OpToks from the development Authority: the answer
// clients parse, the registry token distribution accepts, every refusal (status, problem code,
// WWW-Authenticate) and the ledger record of every decision.
import { createPrivateKey, randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { calculateJwkThumbprint, exportJWK, importX509, jwtVerify, SignJWT } from 'jose';
import * as oauth from 'oauth4webapi';
import { libtrustKeyId } from '../../src/mint/key-id.ts';
import type { AccessEntry } from '../../src/domain/types.ts';
import type { IssuanceRecord } from '../../src/record/ledger.ts';
import { AUDIENCE, SAMPLE_CERT, SAMPLE_KEY, SERVICE, startStack, treeText, type Stack } from '../support/stack.ts';
import {
  callWithProof,
  decodeJwt,
  dpopGet,
  dpopRequest,
  expectProblem,
  makeProof,
  newDpopKeys,
  tokenUrl,
  type ExpectedProblem,
  type KeyPair,
  type ProofOverrides,
  type RawResponse,
} from '../support/dpop-client.ts';

const ISSUE = 'registry.token.issue';
const DPOP_CLIENTS = ['team-dpop', 'no-scope', 'revoked', 'platinum', 'no-plan', 'tenant-a', 'operator'] as const;
type DpopClient = (typeof DPOP_CLIENTS)[number];

/** The main stack; the others each change one thing. */
let stack: Stack;
/** Authority with 1 s tokens and a service with clockToleranceSeconds 0. */
let short: Stack;
/** Another audience, and a static JWKS trusting both Authorities' keys (to reach the iss check). */
let strict: Stack;
/** senderConstraint: optional. */
let lenient: Stack;
/** authority.dpop.requireNonce: true. */
let nonced: Stack;

const keys = {} as Record<DpopClient | 'other', KeyPair>;
const opToks = {} as Record<DpopClient, string>;
const jkts = {} as Record<DpopClient | 'other', string>;
let unboundTok: string;
let expiredTok: string;
let expiredTokAt: number;

/** Every OpTok, proof and registry token that crossed the wire: none may reach the ledger. */
const secrets = new Set<string>();
let rejectedOnMain = 0;
let issuedOnMain = 0;
let seq = 0;

const ok = (name: string, actions: string[], type = 'repository'): AccessEntry => ({ type, name, actions });

interface Sent {
  res: RawResponse;
  requestId: string;
  proof: string | undefined;
  target: Stack;
}

interface ExchangeOptions {
  /** Whose OpTok and DPoP key (default team-dpop). */
  client?: DpopClient;
  /** An OpTok other than the client's. */
  token?: string | null;
  /** The key that signs the proof (default the client's). */
  proofKeys?: KeyPair;
  /** Query parameters; `service` defaults to the registry. */
  params?: { service?: string; scope?: string[]; [key: string]: unknown };
  /** Explicit proof(s); null sends none; undefined makes a correct one (with `overrides`). */
  proof?: string | string[] | null;
  overrides?: ProofOverrides;
  scheme?: 'DPoP' | 'Bearer';
  headers?: [string, string][];
  target?: Stack;
}

async function exchange(options: ExchangeOptions = {}): Promise<Sent> {
  const target = options.target ?? stack;
  const client = options.client ?? 'team-dpop';
  const token = options.token === null ? undefined : (options.token ?? opToks[client]);
  const url = tokenUrl(target.url, { service: SERVICE, ...options.params });
  let proof: string | string[] | undefined;
  if (options.proof === undefined && token !== undefined) {
    proof = await makeProof(options.proofKeys ?? keys[client], 'GET', url, token, options.overrides);
  } else if (options.proof !== null) proof = options.proof;
  const requestId = `t${++seq}-${randomUUID().slice(0, 8)}`;
  if (token !== undefined) secrets.add(token);
  for (const p of proof === undefined ? [] : typeof proof === 'string' ? [proof] : proof) secrets.add(p);
  const res = await callWithProof(url, {
    ...(token === undefined ? {} : { token }),
    ...(proof === undefined ? {} : { proof }),
    scheme: options.scheme ?? 'DPoP',
    headers: [['X-Request-Id', requestId], ...(options.headers ?? [])],
  });
  return { res, requestId, proof: typeof proof === 'string' ? proof : undefined, target };
}

function logLinesOf(target: Stack): string[] {
  return target.logs().split('\n').filter((line) => line !== '');
}

async function recordOf(target: Stack, requestId: string, outcome: 'issued' | 'rejected'): Promise<IssuanceRecord> {
  const { records } = await target.service.ledger.query({ outcome, limit: 500 });
  const found = records.filter((r) => r.requestId === requestId);
  expect(found, `one ${outcome} ledger record for ${requestId}`).toHaveLength(1);
  return found[0]!;
}

/** A refusal: the answer, and its ledger record (rejected, this reason, nothing granted). */
async function expectRejected(sent: Sent, expected: ExpectedProblem): Promise<{ detail: string; record: IssuanceRecord }> {
  const body = await expectProblem(sent.res, expected);
  expect(sent.res.headers['x-request-id']).toBe(sent.requestId);
  const record = await recordOf(sent.target, sent.requestId, 'rejected');
  expect(record.reason).toBe(expected.code);
  expect(record.granted).toEqual([]);
  expect(record.expiresAt).toBeUndefined();
  if (sent.target === stack) rejectedOnMain++;
  return { detail: body.detail, record };
}

interface TokenAnswer {
  token: string;
  access_token: string;
  expires_in: number;
  issued_at: string;
}

/** An issuance: 200, the granted access in the token and in the ledger record with its jti. */
async function expectIssued(
  sent: Sent,
  access: AccessEntry[],
  who: { subject: string; binding: IssuanceRecord['binding']; plan: string },
): Promise<{ body: TokenAnswer; header: Record<string, unknown>; payload: Record<string, unknown>; record: IssuanceRecord }> {
  expect(sent.res.status, sent.res.body).toBe(200);
  const body = sent.res.json<TokenAnswer>();
  secrets.add(body.token);
  const { header, payload } = decodeJwt(body.token);
  expect(payload.access).toEqual(access);
  expect(payload.sub).toBe(who.subject);
  const record = await recordOf(sent.target, sent.requestId, 'issued');
  expect(record).toMatchObject({ jti: payload.jti, subject: who.subject, plan: who.plan, service: SERVICE, binding: who.binding });
  expect(record.reason).toBeUndefined();
  expect(record.granted).toEqual(access);
  expect(record.expiresAt).toBe(new Date((payload.exp as number) * 1000).toISOString());
  if (sent.target === stack) issuedOnMain++;
  return { body, header, payload, record };
}

const dpopBinding = (client: DpopClient | 'other') => ({ method: 'dpop' as const, jkt: jkts[client] });
const authorityRaw = (base: Record<string, unknown>) => base.authority as Record<string, unknown>;

beforeAll(async () => {
  stack = await startStack();
  short = await startStack({
    authority: { accessTokenTtlSeconds: 1 },
    config: (base) => ({ ...base, authority: { ...authorityRaw(base), clockToleranceSeconds: 0 } }),
  });
  const existing = { existingAuthority: stack.authority };
  [strict, lenient, nonced] = await Promise.all([
    startStack({
      ...existing,
      config: (base, dir) => {
        const jwksPath = join(dir, 'authority-jwks.json');
        writeFileSync(jwksPath, JSON.stringify({ keys: [...stack.authority.jwks.keys, ...short.authority.jwks.keys] }));
        return { ...base, authority: { ...authorityRaw(base), audiences: ['another-service'], jwksPath } };
      },
    }),
    startStack({ ...existing, config: (base) => ({ ...base, authority: { ...authorityRaw(base), senderConstraint: 'optional' } }) }),
    startStack({ ...existing, config: (base) => ({ ...base, authority: { ...authorityRaw(base), dpop: { requireNonce: true } } }) }),
  ]);
  await Promise.all(
    [...DPOP_CLIENTS, 'other' as const].map(async (client) => {
      keys[client] = await newDpopKeys();
      jkts[client] = await calculateJwkThumbprint(await exportJWK(keys[client].publicKey));
      if (client !== 'other') opToks[client] = await stack.authority.tokenWithDpop(client, keys[client]);
    }),
  );
  unboundTok = await stack.authority.tokenUnbound('unbound');
  expiredTok = await short.authority.tokenWithDpop('team-dpop', keys['team-dpop']);
  expiredTokAt = Date.now();
});

afterAll(async () => {
  await Promise.all([strict, lenient, nonced, short].map((s) => s?.close()));
  await stack?.close();
});

describe('GET /token: what clients and the registry get', () => {
  it('issues a registry token in the shape clients parse and distribution accepts (oauth4webapi proof)', async () => {
    const requestId = 'smoke-req.1:abc';
    const url = tokenUrl(stack.url, { service: SERVICE, scope: ['repository:team/app:pull,push'], account: 'team-dpop' });
    const { response, proof } = await dpopRequest(url, opToks['team-dpop'], keys['team-dpop'], { headers: { 'x-request-id': requestId } });
    if (proof !== undefined) secrets.add(proof);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('x-request-id')).toBe(requestId);
    expect(response.headers.get('www-authenticate')).toBeNull();
    const body = (await response.json()) as TokenAnswer;
    secrets.add(body.token);
    expect(Object.keys(body).sort()).toEqual(['access_token', 'expires_in', 'issued_at', 'scope', 'token', 'token_type']);
    expect(body.access_token).toBe(body.token);
    expect(body.expires_in).toBe(300);
    expect(Number.isInteger(body.expires_in)).toBe(true);
    expect(body.issued_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/);

    const { header, payload } = decodeJwt(body.token);
    expect(header.alg).toBe('RS256');
    expect(header.kid).toBe(libtrustKeyId(createPrivateKey(readFileSync(SAMPLE_KEY))));
    expect(header.kid).toMatch(/^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
    const certPem = readFileSync(SAMPLE_CERT, 'utf8');
    const certDer = Buffer.from(certPem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64').toString('base64');
    expect(header.x5c).toEqual([certDer]);

    expect(payload.iss).toBe('registry-token');
    expect(payload.sub).toBe('team-dpop');
    expect(payload.aud).toBe(SERVICE);
    expect(typeof payload.aud).toBe('string');
    for (const claim of ['iat', 'nbf', 'exp']) expect(Number.isInteger(payload[claim]), claim).toBe(true);
    expect((payload.exp as number) - (payload.iat as number)).toBe(300);
    expect(payload.nbf).toBe(payload.iat);
    expect(Math.floor(new Date(body.issued_at).getTime() / 1000)).toBe(payload.iat as number);
    expect(typeof payload.jti).toBe('string');
    expect(payload.access).toEqual([ok('team/app', ['pull', 'push'])]);
    // The signature verifies with the certificate the registry's rootcertbundle holds.
    await jwtVerify(body.token, await importX509(certPem, 'RS256'), { issuer: 'registry-token', audience: SERVICE });

    const record = await recordOf(stack, requestId, 'issued');
    expect(record).toMatchObject({
      jti: payload.jti,
      outcome: 'issued',
      subject: 'team-dpop',
      clientId: 'team-dpop',
      tenant: 'acme',
      plan: 'team',
      license: 'lic-team',
      service: SERVICE,
      binding: dpopBinding('team-dpop'),
      requestedScopes: ['repository:team/app:pull,push'],
      granted: [ok('team/app', ['pull', 'push'])],
      requestId,
    });
    expect(record.opTokenId).toBe(decodeJwt(opToks['team-dpop']).payload.jti);
    issuedOnMain++;
  });

  it('the plain dpopGet helper (a fresh oauth4webapi handle) works too', async () => {
    const response = await dpopGet(tokenUrl(stack.url, { service: SERVICE }), opToks['team-dpop'], keys['team-dpop']);
    expect(response.status).toBe(200);
    secrets.add(((await response.json()) as TokenAnswer).token);
    issuedOnMain++;
  });

  it('reuses a well-formed X-Request-Id and replaces a malformed one', async () => {
    const good = await exchange();
    expect(good.res.headers['x-request-id']).toBe(good.requestId);
    await expectIssued(good, [], { subject: 'team-dpop', binding: dpopBinding('team-dpop'), plan: 'team' });

    const malformed = 'not ok; "injected" line\\n';
    const url = tokenUrl(stack.url, { service: SERVICE });
    const proof = await makeProof(keys['team-dpop'], 'GET', url, opToks['team-dpop']);
    secrets.add(proof);
    const res = await callWithProof(url, { token: opToks['team-dpop'], proof, headers: [['X-Request-Id', malformed]] });
    expect(res.status).toBe(200);
    const replaced = res.headers['x-request-id'];
    expect(replaced).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    secrets.add(res.json<TokenAnswer>().token);
    await recordOf(stack, replaced as string, 'issued');
    issuedOnMain++;
    // Too long is malformed as well.
    const long = await callWithProof(url, {
      token: opToks['team-dpop'],
      proof: await makeProof(keys['team-dpop'], 'GET', url, opToks['team-dpop']),
      headers: [['X-Request-Id', 'a'.repeat(129)]],
    });
    expect(long.status).toBe(200);
    expect(long.headers['x-request-id']).not.toBe('a'.repeat(129));
    issuedOnMain++;
  });

  it('login (no scope) answers 200 with an empty access', async () => {
    const { payload } = await expectIssued(await exchange({ params: { account: 'team-dpop' } }), [], {
      subject: 'team-dpop',
      binding: dpopBinding('team-dpop'),
      plan: 'team',
    });
    expect(payload.access).toEqual([]);
  });

  it('repeated scope parameters (cross-repository mount) are all granted, one entry per resource', async () => {
    const sent = await exchange({ params: { scope: ['repository:team/other:pull,push', 'repository:library/base:pull'] } });
    await expectIssued(sent, [ok('team/other', ['pull', 'push']), ok('library/base', ['pull'])], {
      subject: 'team-dpop',
      binding: dpopBinding('team-dpop'),
      plan: 'team',
    });
    // The same resource asked twice is merged; several scopes in one value (space-separated) count too.
    const merged = await exchange({ params: { scope: ['repository:team/app:pull', 'repository:team/app:push'] } });
    await expectIssued(merged, [ok('team/app', ['pull', 'push'])], { subject: 'team-dpop', binding: dpopBinding('team-dpop'), plan: 'team' });
    const spaced = await exchange({ params: { scope: ['repository:team/app:pull repository:library/base:pull'] } });
    await expectIssued(spaced, [ok('team/app', ['pull']), ok('library/base', ['pull'])], {
      subject: 'team-dpop',
      binding: dpopBinding('team-dpop'),
      plan: 'team',
    });
  });

  it('names with a host:port prefix split at the first and last colon', async () => {
    const name = 'localhost:5000/team/app';
    const operator = await exchange({ client: 'operator', params: { scope: [`repository:${name}:pull,push`] } });
    await expectIssued(operator, [ok(name, ['pull', 'push'])], { subject: 'operator', binding: dpopBinding('operator'), plan: 'operator' });
    // Well-formed, so not invalid_scope; the team plan just does not cover that name.
    await expectRejected(await exchange({ params: { scope: [`repository:${name}:pull`] } }), {
      status: 403,
      code: 'plan_denied',
      challenge: { scheme: 'DPoP', error: 'insufficient_scope' },
    });
  });

  it('registry:catalog:* is granted only under the operator plan', async () => {
    const operator = await exchange({ client: 'operator', params: { scope: ['registry:catalog:*'] } });
    await expectIssued(operator, [ok('catalog', ['*'], 'registry')], { subject: 'operator', binding: dpopBinding('operator'), plan: 'operator' });
    const team = await exchange({ params: { scope: ['registry:catalog:*', 'repository:team/app:pull'] } });
    await expectIssued(team, [ok('team/app', ['pull'])], { subject: 'team-dpop', binding: dpopBinding('team-dpop'), plan: 'team' });
    await expectRejected(await exchange({ params: { scope: ['registry:catalog:*'] } }), {
      status: 403,
      code: 'plan_denied',
      challenge: { scheme: 'DPoP', error: 'insufficient_scope' },
    });
  });
});

describe('GET /token: plans decide what is granted', () => {
  it('a partial grant keeps only the allowed actions', async () => {
    await expectIssued(await exchange({ params: { scope: ['repository:library/base:pull,push'] } }), [ok('library/base', ['pull'])], {
      subject: 'team-dpop',
      binding: dpopBinding('team-dpop'),
      plan: 'team',
    });
  });

  it('nothing granted at all is 403 plan_denied', async () => {
    const { detail } = await expectRejected(await exchange({ params: { scope: ['repository:secret/x:pull'] } }), {
      status: 403,
      code: 'plan_denied',
      challenge: { scheme: 'DPoP', error: 'insufficient_scope' },
    });
    expect(detail).toMatch(/team/);
  });

  it('a client without a plan claim is judged under the default plan (library/** pull only)', async () => {
    const sent = await exchange({ client: 'no-plan', params: { scope: ['repository:library/base:pull,push', 'repository:team/app:pull'] } });
    await expectIssued(sent, [ok('library/base', ['pull'])], { subject: 'no-plan', binding: dpopBinding('no-plan'), plan: 'community' });
  });

  it('a plan claim naming an unknown plan is 403 plan_denied, not the default plan', async () => {
    const { record } = await expectRejected(await exchange({ client: 'platinum', params: { scope: ['repository:library/base:pull'] } }), {
      status: 403,
      code: 'plan_denied',
      challenge: { scheme: 'DPoP', error: 'insufficient_scope' },
    });
    expect(record).toMatchObject({ subject: 'platinum', plan: 'platinum', binding: dpopBinding('platinum') });
  });

  it('the {tenant} placeholder binds to the caller’s own tenant', async () => {
    const alpha = await exchange({ client: 'tenant-a', params: { scope: ['repository:tenants/alpha/app:pull,push', 'repository:tenants/beta/app:pull'] } });
    await expectIssued(alpha, [ok('tenants/alpha/app', ['pull', 'push'])], { subject: 'tenant-a', binding: dpopBinding('tenant-a'), plan: 'tenant' });
    await expectRejected(await exchange({ client: 'tenant-a', params: { scope: ['repository:tenants/beta/app:pull'] } }), {
      status: 403,
      code: 'plan_denied',
      challenge: { scheme: 'DPoP', error: 'insufficient_scope' },
    });
  });

  it('a revoked licence is 403 license_revoked', async () => {
    await expectRejected(await exchange({ client: 'revoked', params: { scope: ['repository:team/app:pull'] } }), {
      status: 403,
      code: 'license_revoked',
      challenge: { scheme: 'DPoP', error: 'insufficient_scope' },
    });
  });

  it('an OpTok without registry.token.issue is 403 insufficient_scope', async () => {
    await expectRejected(await exchange({ client: 'no-scope', params: { scope: ['repository:library/base:pull'] } }), {
      status: 403,
      code: 'insufficient_scope',
      challenge: { scheme: 'DPoP', error: 'insufficient_scope' },
    });
  });
});

describe('GET /token: malformed requests', () => {
  it('a malformed scope is 400 invalid_scope', async () => {
    for (const scope of ['repository:Team/App:pull', 'repository:team/app', 'repository:team/app:PULL', 'Repo:team/app:pull']) {
      await expectRejected(await exchange({ params: { scope: [scope] } }), { status: 400, code: 'invalid_scope', challenge: null });
    }
  });

  it('a service this token service does not mint for is 400 service_not_allowed', async () => {
    const { record } = await expectRejected(await exchange({ params: { service: 'evil.example', scope: ['repository:team/app:pull'] } }), {
      status: 400,
      code: 'service_not_allowed',
      challenge: null,
    });
    expect(record.service).toBe('evil.example');
  });

  it('a missing service is 400 invalid_request', async () => {
    await expectRejected(await exchange({ params: { service: undefined } }), {
      status: 400,
      code: 'invalid_request',
      challenge: { scheme: 'Bearer', error: 'invalid_request' },
    });
  });
});

describe('HEAD /token', () => {
  it('is 405 with Allow: GET, and runs nothing: no exchange, no ledger record', async () => {
    const before = (await stack.service.ledger.query({ limit: 500 })).records.length;
    const url = tokenUrl(stack.url, { service: SERVICE, scope: ['repository:team/app:pull'] });
    const token = opToks['team-dpop'];
    // A proof that would make the GET succeed, so that only the method decides.
    const proof = await makeProof(keys['team-dpop'], 'HEAD', url, token);
    secrets.add(token).add(proof);
    const requestId = `head-${randomUUID()}`;
    const res = await callWithProof(url, { method: 'HEAD', token, proof, headers: [['X-Request-Id', requestId]] });
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('GET, POST');
    expect(res.headers['x-request-id']).toBe(requestId);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toBe('');
    const after = (await stack.service.ledger.query({ limit: 500 })).records;
    expect(after.length).toBe(before);
    expect(after.some((r) => r.requestId === requestId)).toBe(false);
    expect(logLinesOf(stack).some((line) => line.includes(requestId))).toBe(false);
  });
});

describe('GET /token: DPoP proof checks', () => {
  const proofError = { status: 401, code: 'invalid_dpop_proof', challenge: { scheme: 'DPoP', error: 'invalid_dpop_proof' } } as const;

  it('a replayed proof is refused the second time', async () => {
    const url = tokenUrl(stack.url, { service: SERVICE });
    const proof = await makeProof(keys['team-dpop'], 'GET', url, opToks['team-dpop']);
    const first = await exchange({ proof });
    await expectIssued(first, [], { subject: 'team-dpop', binding: dpopBinding('team-dpop'), plan: 'team' });
    const { detail } = await expectRejected(await exchange({ proof }), proofError);
    expect(detail).toMatch(/used before/);
  });

  it('a proof for another method (htm POST on a GET) is refused', async () => {
    const { detail } = await expectRejected(await exchange({ overrides: { htm: 'POST' } }), proofError);
    expect(detail).toMatch(/htm/);
  });

  it('a proof for another URL (other path, other port) is refused', async () => {
    const port = Number(new URL(stack.url).port);
    for (const htu of [`${stack.url}/other`, `http://127.0.0.1:${port === 65535 ? port - 1 : port + 1}/token`, `https://127.0.0.1:${port}/token`]) {
      const { detail } = await expectRejected(await exchange({ overrides: { htu } }), proofError);
      expect(detail).toMatch(/htu/);
    }
  });

  it('the htu comparison ignores the query string and fragment', async () => {
    const sent = await exchange({ overrides: { htu: `${stack.url}/token?service=x#frag` } });
    await expectIssued(sent, [], { subject: 'team-dpop', binding: dpopBinding('team-dpop'), plan: 'team' });
  });

  it('a proof whose ath is not the hash of this token (or absent) is refused', async () => {
    const { detail } = await expectRejected(await exchange({ overrides: { ath: 'A'.repeat(43) } }), proofError);
    expect(detail).toMatch(/ath/);
    await expectRejected(await exchange({ overrides: { ath: null } }), proofError);
  });

  it('a proof by key B for a token bound to key A (cnf.jkt) is refused', async () => {
    const { detail } = await expectRejected(await exchange({ proofKeys: keys.other }), proofError);
    expect(detail).toMatch(/cnf\.jkt/);
  });

  it('a proof signed by another key than the one in its header is refused', async () => {
    await expectRejected(await exchange({ overrides: { headerJwkFrom: keys.other } }), proofError);
  });

  it('a stale proof (iat an hour ago) and a wrong typ are refused', async () => {
    await expectRejected(await exchange({ overrides: { iat: Math.floor(Date.now() / 1000) - 3600 } }), proofError);
    await expectRejected(await exchange({ overrides: { typ: 'JWT' } }), proofError);
  });

  it('the DPoP scheme without a proof is refused', async () => {
    const { detail } = await expectRejected(await exchange({ proof: null }), proofError);
    expect(detail).toMatch(/needs a DPoP proof/);
  });

  it('two DPoP headers are refused', async () => {
    const url = tokenUrl(stack.url, { service: SERVICE });
    const a = await makeProof(keys['team-dpop'], 'GET', url, opToks['team-dpop']);
    const b = await makeProof(keys['team-dpop'], 'GET', url, opToks['team-dpop']);
    const { detail } = await expectRejected(await exchange({ proof: [a, b] }), proofError);
    expect(detail).toMatch(/exactly one DPoP header/);
  });

  it('two Authorization headers are 400 invalid_request', async () => {
    const sent = await exchange({ headers: [['Authorization', `Bearer ${opToks['team-dpop']}`]] });
    const { detail } = await expectRejected(sent, { status: 400, code: 'invalid_request', challenge: { scheme: 'Bearer', error: 'invalid_request' } });
    expect(detail).toMatch(/more than one Authorization/);
  });

  it('a DPoP-bound token presented as Bearer is 401 invalid_token', async () => {
    const { detail } = await expectRejected(await exchange({ scheme: 'Bearer', proof: null }), {
      status: 401,
      code: 'invalid_token',
      challenge: { scheme: 'DPoP', error: 'invalid_token' },
    });
    expect(detail).toMatch(/DPoP-bound/);
    // ... and with its proof alongside, the Bearer scheme is ambiguous.
    await expectRejected(await exchange({ scheme: 'Bearer' }), { status: 400, code: 'invalid_request', challenge: { scheme: 'Bearer', error: 'invalid_request' } });
  });

  it('retrieves a DPoP-Nonce when one is required, and accepts a proof carrying it', async () => {
    const first = await exchange({ target: nonced });
    expect(first.res.headers['dpop-nonce']).toEqual(expect.any(String));
    await expectRejected(first, { status: 401, code: 'use_dpop_nonce', challenge: { scheme: 'DPoP', error: 'use_dpop_nonce' } });
    const nonce = first.res.headers['dpop-nonce'] as string;
    const retry = await exchange({ target: nonced, overrides: { nonce } });
    await expectIssued(retry, [], { subject: 'team-dpop', binding: dpopBinding('team-dpop'), plan: 'team' });
    expect(retry.res.headers['dpop-nonce']).toEqual(expect.any(String));
    // A made-up nonce is refused the same way.
    await expectRejected(await exchange({ target: nonced, overrides: { nonce: 'made-up-nonce' } }), {
      status: 401,
      code: 'use_dpop_nonce',
      challenge: { scheme: 'DPoP', error: 'use_dpop_nonce' },
    });
  });

  it('oauth4webapi does not retry by itself, but its handle keeps the nonce for the caller’s retry', async () => {
    const url = tokenUrl(nonced.url, { service: SERVICE });
    const once = oauth.protectedResourceRequest(opToks['team-dpop'], 'GET', new URL(url), new Headers(), null, {
      DPoP: oauth.DPoP({}, keys['team-dpop']),
      [oauth.allowInsecureRequests]: true,
    });
    await expect(once).rejects.toSatisfy((error) => oauth.isDPoPNonceError(error));
    const handle = oauth.DPoP({}, keys['team-dpop']);
    const first = await dpopRequest(url, opToks['team-dpop'], keys['team-dpop'], { handle });
    expect(first.response.status).toBe(401);
    expect(first.response.headers.get('dpop-nonce')).toBeTruthy();
    const second = await dpopRequest(url, opToks['team-dpop'], keys['team-dpop'], { handle });
    expect(second.response.status).toBe(200);
    for (const proof of [first.proof, second.proof]) if (proof !== undefined) secrets.add(proof);
    secrets.add(((await second.response.json()) as TokenAnswer).token);
  });
});

describe('GET /token: OpTok checks', () => {
  const tokenError = { status: 401, code: 'invalid_token', challenge: { scheme: 'DPoP', error: 'invalid_token' } } as const;

  it('an OpTok of another Authority is refused (unknown key; wrong iss where the key is trusted)', async () => {
    const foreign = await short.authority.tokenWithDpop('team-dpop', keys['team-dpop']);
    const unknownKey = await expectRejected(await exchange({ token: foreign }), tokenError);
    expect(unknownKey.detail).toMatch(/key the Authority does not publish/);
    const wrongIssuer = await expectRejected(await exchange({ target: strict, token: foreign }), tokenError);
    expect(wrongIssuer.detail).toMatch(/\(iss\)/);
  });

  it('an OpTok for another audience is refused', async () => {
    const { detail } = await expectRejected(await exchange({ target: strict }), tokenError);
    expect(detail).toMatch(/\(aud\)/);
  });

  async function forgedClaims(): Promise<Record<string, unknown>> {
    const now = Math.floor(Date.now() / 1000);
    return {
      iss: stack.authority.issuer,
      sub: 'team-dpop',
      aud: AUDIENCE,
      client_id: 'team-dpop',
      scope: ISSUE,
      iat: now,
      exp: now + 300,
      jti: randomUUID(),
      cnf: { jkt: jkts['team-dpop'] },
      'stellaops:plan': 'operator',
      'stellaops:license': 'lic-team',
      tid: 'acme',
    };
  }

  it('an unsigned (alg none) OpTok with the right claims and a valid proof is refused', async () => {
    const enc = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const token = `${enc({ alg: 'none', typ: 'at+jwt' })}.${enc(await forgedClaims())}.`;
    await expectRejected(await exchange({ token, params: { scope: ['repository:team/app:pull'] } }), tokenError);
  });

  it('an HS256 OpTok keyed with the Authority’s public key (algorithm confusion) is refused', async () => {
    const publicJwk = stack.authority.jwks.keys[0]!;
    const token = await new SignJWT(await forgedClaims())
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: publicJwk.kid! })
      .sign(new TextEncoder().encode(JSON.stringify(publicJwk)));
    const { detail } = await expectRejected(await exchange({ token, params: { scope: ['repository:team/app:pull'] } }), tokenError);
    expect(detail).toMatch(/algorithm/);
  });

  it('garbage in the Authorization header is refused', async () => {
    await expectRejected(await exchange({ token: 'not-a-jwt' }), tokenError);
    await expectRejected(await exchange({ token: null, proof: null, headers: [['Authorization', 'DPoP']] }), tokenError);
  });

  it('no credentials at all is 401 with a DPoP challenge that names no error (RFC 6750 §3.1)', async () => {
    const { detail } = await expectRejected(await exchange({ token: null, proof: null, params: { scope: ['repository:library/base:pull'] } }), {
      status: 401,
      code: 'invalid_token',
      challenge: { schemes: ['DPoP'] },
    });
    expect(detail).toMatch(/no credentials/);
  });

  it('Basic with a password that is no registry credential (a client secret) is 401 invalid_credential', async () => {
    const basic = Buffer.from('team-dpop:secret-team-dpop-000000').toString('base64');
    const { detail } = await expectRejected(await exchange({ token: null, proof: null, headers: [['Authorization', `Basic ${basic}`]] }), {
      status: 401,
      code: 'invalid_credential',
      challenge: { scheme: 'Basic', error: 'invalid_grant' },
    });
    expect(detail).toMatch(/not a registry credential.*registry-token login/);
  });

  it('an unbound OpTok is 401 "not sender-constrained", unless senderConstraint is optional', async () => {
    const { detail } = await expectRejected(await exchange({ token: unboundTok, scheme: 'Bearer', proof: null }), {
      status: 401,
      code: 'invalid_token',
      challenge: { scheme: 'Bearer', error: 'invalid_token' },
    });
    expect(detail).toMatch(/not sender-constrained/);
    // Sent with the DPoP scheme and a proof, it is still not DPoP-bound.
    const dpop = await expectRejected(await exchange({ token: unboundTok }), tokenError);
    expect(dpop.detail).toMatch(/not DPoP-bound/);

    const sent = await exchange({ target: lenient, token: unboundTok, scheme: 'Bearer', proof: null, params: { scope: ['repository:team/app:pull'] } });
    await expectIssued(sent, [ok('team/app', ['pull'])], { subject: 'unbound', binding: { method: 'none' }, plan: 'team' });
  });
});

// Last but one, so that the 1 s OpTok has long expired by now and the suite hardly waits.
describe('GET /token: an expired OpTok', () => {
  it('an expired OpTok is refused', async () => {
    await sleep(Math.max(0, expiredTokAt + 2200 - Date.now()));
    const { detail } = await expectRejected(await exchange({ target: short, token: expiredTok }), {
      status: 401,
      code: 'invalid_token',
      challenge: { scheme: 'DPoP', error: 'invalid_token' },
    });
    expect(detail).toMatch(/expired/);
  });
});

describe('GET /token: the ledger', () => {
  it('holds one rejected record per refusal and one issued record per token', async () => {
    const rejected = await stack.service.ledger.query({ outcome: 'rejected', limit: 100 });
    expect(rejected.records).toHaveLength(rejectedOnMain);
    for (const record of rejected.records) {
      expect(record.reason).toEqual(expect.any(String));
      expect(record.granted).toEqual([]);
    }
    const issued = await stack.service.ledger.query({ outcome: 'issued', limit: 100 });
    expect(issued.records).toHaveLength(issuedOnMain);
    for (const record of issued.records) {
      expect(record.reason).toBeUndefined();
      expect(record.binding).toMatchObject({ method: 'dpop' });
    }
  });

  it('never holds a token or a proof', () => {
    expect(secrets.size).toBeGreaterThan(50);
    for (const target of [stack, short, strict, lenient, nonced]) {
      const text = treeText(target.config.ledger.path);
      expect(text.length).toBeGreaterThan(0);
      for (const secret of secrets) expect(text.includes(secret), `a secret found in ${target.config.ledger.path}`).toBe(false);
    }
  });
});
