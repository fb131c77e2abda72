// GET /openapi.json: a valid OpenAPI 3.1 document (checked by an OpenAPI validator) that names
// every route Fastify really registered, and whose response schemas the real answers of every
// endpoint match: successes, and the problem bodies of 400, 401, 403, 404, 405, 429 and 503.
import { randomUUID } from 'node:crypto';
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVICE, startStack, type Stack } from '../support/stack.ts';
import { callWithProof, decodeJwt, makeProof, newDpopKeys, rawRequest, tokenUrl, type KeyPair, type RawResponse } from '../support/dpop-client.ts';
import { registeredRoutes, ResponseChecker, type OpenApiDocument } from '../support/openapi.ts';

type Who = 'team-dpop' | 'revoked' | 'operator';

let stack: Stack;
/** Its Authority is a closed port: 503 authority_unavailable. */
let orphan: Stack;
let document: OpenApiDocument;
let checker: ResponseChecker;
const keys = {} as Record<Who, KeyPair>;
const opToks = {} as Record<Who, string>;

interface Call { method?: string; who?: Who; body?: string; contentType?: string; target?: Stack; from?: string }

/** One real request, checked against the document; returns the answer for further assertions. */
async function documented(path: string, call: Call = {}): Promise<RawResponse> {
  const target = call.target ?? stack;
  const method = call.method ?? 'GET';
  const url = `${target.url}${path}`;
  const headers: [string, string][] = call.contentType === undefined ? [] : [['Content-Type', call.contentType]];
  const body = { ...(call.body === undefined ? {} : { body: call.body }), ...(call.from === undefined ? {} : { localAddress: call.from }) };
  const res =
    call.who === undefined
      ? await callWithProof(url, { method, headers, ...body })
      : await callWithProof(url, { method, headers, token: opToks[call.who], proof: await makeProof(keys[call.who], method, url, opToks[call.who]), ...body });
  const errors = checker.errors({ method, path: new URL(url).pathname, status: res.status, contentType: res.headers['content-type'], body: res.body });
  expect(errors, `${method} ${path} -> ${res.status} ${res.body.slice(0, 300)}`).toBe('');
  return res;
}

const tokenPath = (scope: string[] = ['repository:team/app:pull']) => {
  const url = new URL(tokenUrl('http://x', { service: SERVICE, scope }));
  return `${url.pathname}${url.search}`;
};

beforeAll(async () => {
  stack = await startStack({
    // One failed authentication per address a minute: the second anonymous request is a 429.
    config: (base) => ({ ...base, rateLimits: { failedAuthPerAddress: { max: 1, windowSeconds: 60 } } }),
  });
  orphan = await startStack({
    existingAuthority: stack.authority,
    config: (base) => ({ ...base, authority: { ...(base.authority as object), issuer: 'http://127.0.0.1:9' } }),
  });
  for (const who of ['team-dpop', 'revoked', 'operator'] as const) {
    keys[who] = await newDpopKeys();
    opToks[who] = await stack.authority.tokenWithDpop(who, keys[who]);
  }
  const res = await rawRequest(`${stack.url}/openapi.json`);
  expect(res.status).toBe(200);
  document = res.json<OpenApiDocument>();
  checker = new ResponseChecker(document);
});

afterAll(async () => {
  await orphan?.close();
  await stack?.close();
});

describe('the document', () => {
  it('is valid OpenAPI 3.1 (@seriousme/openapi-schema-validator)', async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(document) as never);
    expect(result.errors ?? [], JSON.stringify(result.errors, null, 2)).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('names every route Fastify registered, and nothing else', () => {
    const registered = registeredRoutes(stack.service.app.printRoutes({ commonPrefix: false }));
    const inDocument = Object.entries(document.paths).flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`)).sort();
    expect(registered.length).toBeGreaterThan(20);
    expect(inDocument).toEqual(registered);
  });

  it('describes every refusal with the one problem schema', () => {
    for (const [path, operations] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        for (const [status, response] of Object.entries(operation.responses)) {
          if (Number(status) < 400 || (path === '/readyz' && status === '503')) continue;
          expect(response.content, `${method} ${path} ${status}`).toEqual({ 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } });
        }
      }
    }
  });
});

describe('the checker', () => {
  it('reports an undocumented field, a wrong type, an undocumented status and an unknown path', () => {
    const token = { token: 't', access_token: 't', token_type: 'Bearer', expires_in: 300, issued_at: '2026-12-02T10:00:00Z', scope: '' };
    const answer = (status: number, body: unknown, path = '/token') => ({ method: 'GET', path, status, contentType: 'application/json', body: JSON.stringify(body) });
    expect(checker.errors(answer(200, token))).toBe('');
    expect(checker.errors(answer(200, { ...token, secret: 'x' }))).toMatch(/additional properties/);
    expect(checker.errors(answer(200, { ...token, expires_in: '300' }))).toMatch(/must be integer/);
    expect(checker.errors(answer(418, token))).toMatch(/does not document status 418/);
    expect(checker.errors(answer(200, token, '/nowhere'))).toMatch(/not in the document/);
    expect(checker.errors({ ...answer(200, token), contentType: 'text/html' })).toMatch(/answered text\/html/);
  });
});

describe('real answers match the document', () => {
  it('GET /token: 200, 400, 401, 403, 429', async () => {
    const issued = await documented(tokenPath(), { who: 'team-dpop' });
    expect(issued.status).toBe(200);
    // A login asks for no scope and gets empty access.
    expect((await documented(tokenPath([]), { who: 'team-dpop' })).status).toBe(200);
    expect((await documented('/token?scope=repository:team/app:pull', { who: 'team-dpop' })).status).toBe(400);
    expect((await documented(tokenPath(['not-a-scope']), { who: 'team-dpop' })).status).toBe(400);
    expect((await documented(tokenPath(), { who: 'revoked' })).status).toBe(403);
    // From an address of their own, so the limit does not refuse the other tests' requests.
    expect((await documented(tokenPath(), { from: '127.0.0.2' })).status).toBe(401);
    expect((await documented(tokenPath(), { from: '127.0.0.2' })).status).toBe(429);
  });

  it('GET /token 503 while the Authority is unreachable; /readyz 503 there', async () => {
    expect((await documented(tokenPath(), { who: 'team-dpop', target: orphan })).status).toBe(503);
    expect((await documented('/readyz', { target: orphan })).status).toBe(503);
  });

  it('HEAD /token 405, POST /token 200 with a credential and 400 without a form', async () => {
    expect((await documented('/token', { method: 'HEAD' })).status).toBe(405);
    const created = await documented('/credentials', { method: 'POST', who: 'team-dpop', contentType: 'application/x-www-form-urlencoded', body: 'name=openapi' });
    expect(created.status, created.body).toBe(201);
    const { credential } = created.json<{ credential: string }>();
    const form = new URLSearchParams({ grant_type: 'password', username: 'robot', password: credential, service: SERVICE, scope: 'repository:team/app:pull', client_id: 'containerd-client' });
    const posted = await documented('/token', { method: 'POST', contentType: 'application/x-www-form-urlencoded', body: form.toString() });
    expect(posted.status, posted.body).toBe(200);
    const offline = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: credential, service: SERVICE, access_type: 'offline', client_id: 'docker' });
    expect(JSON.parse((await documented('/token', { method: 'POST', contentType: 'application/x-www-form-urlencoded', body: offline.toString() })).body)).toHaveProperty('refresh_token', credential);
    expect((await documented('/token', { method: 'POST', contentType: 'application/json', body: '{}' })).status).toBe(400);
    expect((await documented('/credentials', { method: 'POST', who: 'team-dpop', contentType: 'application/json', body: '{"bogus":1}' })).status).toBe(400);
  });

  it('operations: /healthz, /readyz, the JWKS, /metrics, /openapi.json, and their HEADs', async () => {
    for (const path of ['/healthz', '/readyz', '/.well-known/jwks.json', '/metrics', '/openapi.json']) {
      expect((await documented(path)).status, path).toBe(200);
      expect((await documented(path, { method: 'HEAD' })).status, path).toBe(200);
    }
  });

  it('the admin API: revoke, list, audit, lift; 401, 403 and 404', async () => {
    const subject = `openapi-${randomUUID()}`;
    const reason = JSON.stringify({ reason: 'openapi test' });
    for (const prefix of ['/admin/revocations', '/admin/revocations/subjects']) {
      expect((await documented(`${prefix}/${subject}`, { method: 'PUT', who: 'operator', contentType: 'application/json', body: reason })).status).toBe(200);
    }
    const credentialId = `rtc_${'0'.repeat(26)}`;
    expect((await documented(`/admin/revocations/credentials/${credentialId}`, { method: 'PUT', who: 'operator', contentType: 'application/json', body: reason })).status).toBe(200);
    expect((await documented('/admin/revocations/credentials/not-an-id', { method: 'PUT', who: 'operator', contentType: 'application/json', body: reason })).status).toBe(400);
    expect((await documented(`/admin/revocations/tenants/${subject}`, { method: 'PUT', who: 'operator', contentType: 'application/json', body: reason })).status).toBe(200);
    expect((await documented(`/admin/revocations/tenants/${subject}`, { method: 'DELETE', who: 'operator' })).status).toBe(204);
    expect((await documented('/admin/revocations', { who: 'operator' })).status).toBe(200);
    const bundle = JSON.stringify({ subject: `mirror-${subject}`, plan: 'team', scope: 'repository:team/app:pull', expires_in: 86_400 });
    expect((await documented('/admin/bundles/credentials', { method: 'POST', who: 'operator', contentType: 'application/json', body: bundle })).status).toBe(201);

    const page = await documented('/admin/issuances?limit=200', { who: 'operator' });
    expect(page.status).toBe(200);
    const records = page.json<{ issuances: { jti: string; outcome: string; operation?: string }[] }>().issuances;
    // Issued and refused tokens and a credential are all in the page, each matched the schema.
    expect(new Set(records.map((r) => `${r.outcome}:${r.operation ?? 'token'}`))).toEqual(new Set(['issued:token', 'rejected:token', 'issued:credential']));
    const jti = decodeJwt((await documented(tokenPath(), { who: 'team-dpop' })).json<{ token: string }>().token).payload.jti as string;
    expect((await documented(`/admin/issuances/${jti}`, { who: 'operator' })).status).toBe(200);
    expect((await documented(`/admin/issuances/${jti}`, { method: 'HEAD', who: 'operator' })).status).toBe(200);
    expect((await documented('/admin/issuances/no-such-jti', { who: 'operator' })).status).toBe(404);
    expect((await documented('/admin/issuances?bogus=1', { who: 'operator' })).status).toBe(400);
    expect((await documented('/admin/revocations', { method: 'HEAD', who: 'operator' })).status).toBe(200);
    expect((await documented('/admin/issuances', { method: 'HEAD', who: 'operator' })).status).toBe(200);

    for (const path of [`/admin/revocations/${subject}`, `/admin/revocations/subjects/${subject}`, `/admin/revocations/credentials/${credentialId}`]) {
      expect((await documented(path, { method: 'DELETE', who: 'operator' })).status, path).toBe(204);
    }
    expect((await documented(`/admin/revocations/${subject}`, { method: 'DELETE', who: 'operator' })).status).toBe(404);
    expect((await documented('/admin/revocations', { who: 'team-dpop' })).status).toBe(403);
  });

  it('covered every documented operation, and the statuses the issue names', () => {
    const operations = new Set([...checker.covered].map((entry) => entry.split(' ').slice(0, 2).join(' ')));
    const all = Object.entries(document.paths).flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`));
    expect(all.filter((operation) => !operations.has(operation))).toEqual([]);
    const statuses = new Set([...checker.covered].map((entry) => Number(entry.split(' ')[2])));
    for (const status of [200, 201, 204, 400, 401, 403, 404, 405, 429, 503]) expect(statuses.has(status), String(status)).toBe(true);
  });
});
