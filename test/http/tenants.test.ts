// Tenants over real HTTP, with OpToks from the real development Authority: tenancy.required,
// another tenant's namespace (cross_tenant: a value for one scope, the error when nothing is
// granted; counted and recorded), the admin API scoped to two tenants (alpha's admin cannot see
// or revoke beta's), the revocation of a whole tenant by a platform admin only, and a tenant's
// issuance quota (429 TOOMANYREQUESTS, Retry-After, the quota in the record).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthority, type DevAuthority, type DevClient } from '../../src/dev/authority.ts';
import type { IssuanceRecord, Revocation } from '../../src/record/ledger.ts';
import { AUDIENCE, SERVICE, startStack, type Stack } from '../support/stack.ts';
import { callWithProof, decodeJwt, expectProblem, makeProof, newDpopKeys, rawRequest, tokenUrl, type KeyPair, type RawResponse } from '../support/dpop-client.ts';

const ISSUE = 'registry.token.issue';
const ADMIN = 'registry.token.admin';
const PLATFORM = 'registry.admin.platform';
const GAMMA_QUOTA = 3;

const client = (clientId: string, tid: string | undefined, scope = ISSUE, plan = 'tenant'): DevClient => ({
  clientId,
  clientSecret: `secret-${clientId}-0000000000`,
  binding: 'dpop',
  scope,
  claims: { 'stellaops:plan': plan, 'stellaops:license': `lic-${clientId}`, ...(tid === undefined ? {} : { tid }) },
});

const CLIENTS: DevClient[] = [
  client('alpha-ci', 'alpha'),
  client('alpha-wide', 'alpha', ISSUE, 'wide'),
  client('beta-ci', 'beta'),
  client('gamma-ci', 'gamma'),
  client('untenanted', undefined),
  client('admin-alpha', 'alpha', `${ISSUE} ${ADMIN}`),
  client('admin-beta', 'beta', `${ISSUE} ${ADMIN}`),
  client('platform', 'ops', `${ISSUE} ${ADMIN} ${PLATFORM}`),
];
type Who = (typeof CLIENTS)[number]['clientId'];

let authority: DevAuthority;
let stack: Stack;
const keys: Record<string, KeyPair> = {};
const opToks: Record<string, string> = {};

beforeAll(async () => {
  authority = await startAuthority({ audience: AUDIENCE, clients: CLIENTS });
  stack = await startStack({
    existingAuthority: authority,
    config: (base) => ({
      ...base,
      plans: {
        tenant: [{ repository: 't-{tenant}/**', actions: ['pull', 'push'] }, { repository: 'library/**', actions: ['pull'] }],
        wide: [{ repository: '**', actions: ['pull', 'push'] }],
      },
      defaultPlan: 'tenant',
      tenancy: { required: true, namespaces: ['t-{tenant}/**'] },
      quotas: { perTenant: { overrides: { gamma: GAMMA_QUOTA } } },
      telemetry: { logLevel: 'info', tenants: ['alpha', 'beta'] },
    }),
  });
  for (const { clientId } of CLIENTS) {
    keys[clientId] = await newDpopKeys();
    opToks[clientId] = await authority.tokenWithDpop(clientId, keys[clientId]!);
  }
}, 30_000);

afterAll(async () => {
  await stack?.close();
  await authority?.close();
});

async function exchange(who: Who, scope: string[]): Promise<RawResponse> {
  const url = tokenUrl(stack.url, { service: SERVICE, scope });
  const proof = await makeProof(keys[who]!, 'GET', url, opToks[who]!);
  return callWithProof(url, { token: opToks[who], proof, headers: [['X-Request-Id', `tn-${randomUUID()}`]] });
}

async function admin(who: Who, method: 'GET' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<RawResponse> {
  const url = `${stack.url}${path}`;
  const proof = await makeProof(keys[who]!, method, url, opToks[who]!);
  const json = body === undefined ? undefined : JSON.stringify(body);
  return callWithProof(url, { method, token: opToks[who], proof, headers: json === undefined ? [] : [['Content-Type', 'application/json']], ...(json === undefined ? {} : { body: json }) });
}

const revoke = (who: Who, path: string) => admin(who, 'PUT', path, { reason: 'test' });

async function recordOf(res: RawResponse): Promise<IssuanceRecord> {
  const requestId = String(res.headers['x-request-id']);
  const { records } = await stack.service.ledger.query({ limit: 500 });
  const record = records.find((r) => r.requestId === requestId);
  expect(record, `a record for ${requestId}`).toBeDefined();
  return record!;
}

const accessOf = (res: RawResponse) => decodeJwt(res.json<{ token: string }>().token).payload.access;

async function metric(name: string): Promise<string[]> {
  const body = (await rawRequest(`${stack.url}/metrics`)).body;
  return body.split('\n').filter((line) => line.startsWith(`${name}{`)).sort();
}

describe('tenancy on /token', () => {
  it('tenancy.required: an OpTok without a tenant is refused 403 tenant_required, and recorded', async () => {
    const res = await exchange('untenanted', ['repository:library/alpine:pull']);
    const problem = await expectProblem(res, { status: 403, code: 'tenant_required', challenge: { scheme: 'DPoP', error: 'insufficient_scope' } });
    expect(problem.errors[0]!.message).toMatch(/names no tenant/);
    expect((await recordOf(res)).reason).toBe('tenant_required');
    // Nor does it get a registry credential, which would carry no tenant either.
    const url = `${stack.url}/credentials`;
    const proof = await makeProof(keys['untenanted']!, 'POST', url, opToks['untenanted']!);
    const credential = await callWithProof(url, { method: 'POST', token: opToks['untenanted'], proof, headers: [['Content-Type', 'application/json']], body: '{}' });
    await expectProblem(credential, { status: 403, code: 'tenant_required', challenge: { scheme: 'DPoP', error: 'insufficient_scope' } });
  });

  it("another tenant's namespace: left out of the grant and recorded; alone, 403 cross_tenant; counted by tenant", async () => {
    const mixed = await exchange('alpha-ci', ['repository:t-alpha/app:pull,push', 'repository:t-beta/app:pull']);
    expect(mixed.status, mixed.body).toBe(200);
    expect(accessOf(mixed)).toEqual([{ type: 'repository', name: 't-alpha/app', actions: ['pull', 'push'] }]);
    const record = await recordOf(mixed);
    expect(record.outcome).toBe('issued');
    expect(record.tenant).toBe('alpha');
    expect(record.crossTenant).toEqual(['repository:t-beta/app:pull']);

    // A plan of ** does not reach into beta's namespace either.
    const wide = await exchange('alpha-wide', ['repository:t-beta/app:pull,push']);
    const problem = await expectProblem(wide, { status: 403, code: 'cross_tenant', challenge: { scheme: 'DPoP', error: 'insufficient_scope' } });
    expect(problem.detail).toBe('repository:t-beta/app:pull,push: another tenant\'s namespace; tenant "alpha" may only reach its own');
    expect((await recordOf(wide)).reason).toBe('cross_tenant');
    expect(await metric('registry_token_cross_tenant_total')).toEqual(['registry_token_cross_tenant_total{tenant="alpha"} 2']);
  });
});

describe('tenant-scoped admin API: two tenants', () => {
  it("alpha's admin sees only alpha's issuances; another tenant's filter is cross_tenant, another tenant's record is 404", async () => {
    const beta = await exchange('beta-ci', ['repository:t-beta/app:pull']);
    expect(beta.status, beta.body).toBe(200);
    const betaJti = decodeJwt(beta.json<{ token: string }>().token).payload.jti as string;
    expect((await exchange('alpha-ci', ['repository:t-alpha/app:pull'])).status).toBe(200);

    const list = await admin('admin-alpha', 'GET', '/admin/issuances?limit=500');
    expect(list.status, list.body).toBe(200);
    const seen = list.json<{ issuances: IssuanceRecord[] }>().issuances;
    expect(seen.length).toBeGreaterThan(0);
    expect(new Set(seen.map((r) => r.tenant))).toEqual(new Set(['alpha']));
    expect(seen.some((r) => r.subject === 'alpha-ci')).toBe(true);

    await expectProblem(await admin('admin-alpha', 'GET', '/admin/issuances?tenant=beta'), { status: 403, code: 'cross_tenant', challenge: { scheme: 'DPoP', error: 'insufficient_scope' } });
    await expectProblem(await admin('admin-alpha', 'GET', `/admin/issuances/${betaJti}`), { status: 404, code: 'not_found', challenge: null });
    const own = await admin('admin-beta', 'GET', `/admin/issuances/${betaJti}`);
    expect(own.status, own.body).toBe(200);
    expect(own.json<IssuanceRecord>().subject).toBe('beta-ci');

    // The platform admin sees every tenant, and may filter by one.
    const all = (await admin('platform', 'GET', '/admin/issuances?limit=500')).json<{ issuances: IssuanceRecord[] }>().issuances;
    expect(all.some((r) => r.tenant === 'alpha') && all.some((r) => r.tenant === 'beta') && all.some((r) => r.tenant === undefined)).toBe(true);
    const betaOnly = (await admin('platform', 'GET', '/admin/issuances?tenant=beta&limit=500')).json<{ issuances: IssuanceRecord[] }>().issuances;
    expect(betaOnly.length).toBeGreaterThan(0);
    expect(betaOnly.every((r) => r.tenant === 'beta')).toBe(true);
  });

  it("alpha's admin revokes within alpha only: its revocation of a subject named like beta's leaves beta's served", async () => {
    const put = await revoke('admin-alpha', '/admin/revocations/subjects/beta-ci');
    expect(put.status, put.body).toBe(200);
    expect(put.json<Revocation>()).toMatchObject({ kind: 'subject', value: 'beta-ci', tenant: 'alpha', revokedBy: 'admin-alpha' });
    expect((await exchange('beta-ci', ['repository:t-beta/app:pull'])).status).toBe(200);
    await expectProblem(await admin('admin-alpha', 'PUT', '/admin/revocations/subjects/beta-ci?tenant=beta', { reason: 'x' }), { status: 403, code: 'cross_tenant', challenge: { scheme: 'DPoP', error: 'insufficient_scope' } });
    await expectProblem(await revoke('admin-alpha', '/admin/revocations/lic-beta-ci?tenant=beta'), { status: 403, code: 'cross_tenant', challenge: { scheme: 'DPoP', error: 'insufficient_scope' } });

    // Its own subject: refused at once, and only alpha's admin sees and lifts the revocation.
    expect((await revoke('admin-alpha', '/admin/revocations/subjects/alpha-ci')).status).toBe(200);
    await expectProblem(await exchange('alpha-ci', ['repository:t-alpha/app:pull']), { status: 403, code: 'subject_revoked', challenge: { scheme: 'DPoP', error: 'insufficient_scope' } });
    const betaView = (await admin('admin-beta', 'GET', '/admin/revocations')).json<{ revocations: Revocation[] }>().revocations;
    expect(betaView.filter((r) => r.tenant !== 'beta')).toEqual([]);
    const alphaView = (await admin('admin-alpha', 'GET', '/admin/revocations')).json<{ revocations: Revocation[] }>().revocations;
    expect(alphaView.map((r) => `${r.kind}:${r.value}@${r.tenant}`).sort()).toEqual(['subject:alpha-ci@alpha', 'subject:beta-ci@alpha']);
    await expectProblem(await admin('admin-beta', 'DELETE', '/admin/revocations/subjects/alpha-ci'), { status: 404, code: 'not_found', challenge: null });
    expect((await admin('admin-alpha', 'DELETE', '/admin/revocations/subjects/alpha-ci')).status).toBe(204);
    expect((await admin('admin-alpha', 'DELETE', '/admin/revocations/subjects/beta-ci')).status).toBe(204);
    expect((await exchange('alpha-ci', ['repository:t-alpha/app:pull'])).status).toBe(200);
  });

  it("a licence revoked by beta's admin refuses beta's callers only", async () => {
    expect((await revoke('admin-beta', '/admin/revocations/lic-beta-ci')).status).toBe(200);
    await expectProblem(await exchange('beta-ci', ['repository:t-beta/app:pull']), { status: 403, code: 'license_revoked', challenge: { scheme: 'DPoP', error: 'insufficient_scope' } });
    expect((await admin('admin-beta', 'DELETE', '/admin/revocations/lic-beta-ci')).status).toBe(204);
    expect((await exchange('beta-ci', ['repository:t-beta/app:pull'])).status).toBe(200);
  });

  it("a registry credential: alpha's admin cannot revoke beta's (404), beta's admin can", async () => {
    const url = `${stack.url}/credentials`;
    const proof = await makeProof(keys['beta-ci']!, 'POST', url, opToks['beta-ci']!);
    const issued = await callWithProof(url, { method: 'POST', token: opToks['beta-ci'], proof, headers: [['Content-Type', 'application/json']], body: '{}' });
    expect(issued.status, issued.body).toBe(201);
    const { id, credential } = issued.json<{ id: string; credential: string }>();

    const refused = await revoke('admin-alpha', `/admin/revocations/credentials/${id}`);
    await expectProblem(refused, { status: 404, code: 'not_found', challenge: null });
    expect(refused.json<{ detail: string }>().detail).toBe(`no registry credential ${id} of tenant "alpha"`);
    const put = await revoke('admin-beta', `/admin/revocations/credentials/${id}`);
    expect(put.status, put.body).toBe(200);
    expect(put.json<Revocation>().tenant).toBe('beta');
    const basic = `Basic ${Buffer.from(`beta-ci:${credential}`).toString('base64')}`;
    const use = await rawRequest(tokenUrl(stack.url, { service: SERVICE, scope: ['repository:t-beta/app:pull'] }), { headers: [['Authorization', basic]] });
    await expectProblem(use, { status: 401, code: 'credential_revoked', challenge: { scheme: 'Basic', error: 'invalid_grant' } });
  });
});

describe('revoking a whole tenant', () => {
  it('only a platform admin may; every caller of the tenant is refused tenant_revoked, its admin included, until lifted', async () => {
    const denied = await revoke('admin-alpha', '/admin/revocations/tenants/beta');
    const problem = await expectProblem(denied, { status: 403, code: 'insufficient_scope', challenge: { scheme: 'DPoP', error: 'insufficient_scope' } });
    expect(problem.detail).toBe(`revoking a whole tenant needs a platform admin (scope ${PLATFORM})`);

    const put = await revoke('platform', '/admin/revocations/tenants/beta');
    expect(put.status, put.body).toBe(200);
    expect(put.json<Revocation>()).toMatchObject({ kind: 'tenant', value: 'beta', revokedBy: 'platform' });
    expect(put.json<Revocation>().tenant).toBeUndefined();
    const refused = await expectProblem(await exchange('beta-ci', ['repository:t-beta/app:pull']), { status: 403, code: 'tenant_revoked', challenge: { scheme: 'DPoP', error: 'insufficient_scope' } });
    expect(refused.detail).toBe('access for tenant "beta" has been revoked');
    await expectProblem(await admin('admin-beta', 'GET', '/admin/issuances'), { status: 403, code: 'tenant_revoked', challenge: { scheme: 'DPoP', error: 'insufficient_scope' } });
    expect((await exchange('alpha-ci', ['repository:t-alpha/app:pull'])).status).toBe(200);
    // Tenant admins do not see platform revocations; the platform admin does.
    expect((await admin('admin-alpha', 'GET', '/admin/revocations')).json<{ revocations: Revocation[] }>().revocations.some((r) => r.kind === 'tenant')).toBe(false);
    expect((await admin('platform', 'GET', '/admin/revocations')).json<{ revocations: Revocation[] }>().revocations.some((r) => r.kind === 'tenant' && r.value === 'beta')).toBe(true);

    await expectProblem(await admin('admin-alpha', 'DELETE', '/admin/revocations/tenants/beta'), { status: 403, code: 'insufficient_scope', challenge: { scheme: 'DPoP', error: 'insufficient_scope' } });
    expect((await admin('platform', 'DELETE', '/admin/revocations/tenants/beta')).status).toBe(204);
    expect((await exchange('beta-ci', ['repository:t-beta/app:pull'])).status).toBe(200);
  });
});

describe('issuance quota of a tenant', () => {
  it('the token past the quota is 429 TOOMANYREQUESTS with Retry-After, naming the quota; the record says which quota', async () => {
    for (let i = 0; i < GAMMA_QUOTA; i++) {
      const res = await exchange('gamma-ci', ['repository:t-gamma/app:pull']);
      expect(res.status, res.body).toBe(200);
    }
    const over = await exchange('gamma-ci', ['repository:t-gamma/app:pull']);
    const problem = await expectProblem(over, { status: 429, code: 'quota_exceeded', challenge: null });
    expect(problem.errors[0]!.code).toBe('TOOMANYREQUESTS');
    expect(problem.detail).toMatch(/^the issuance quota of tenant "gamma" \(3 tokens per minute\) is used up; retry in \d+ s$/);
    const retryAfter = Number(over.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    const record = await recordOf(over);
    expect(record).toMatchObject({ outcome: 'rejected', reason: 'quota_exceeded', quota: 'tenant gamma', tenant: 'gamma' });
    // Other tenants have their own (here: none); gamma is not a configured label value.
    expect((await exchange('alpha-ci', ['repository:t-alpha/app:pull'])).status).toBe(200);
    expect(await metric('registry_token_quota_exceeded_total')).toEqual(['registry_token_quota_exceeded_total{quota="tenant",tenant="other"} 1']);
  });
});
