// The tenant rules of the authorize stage: tenancy.required, another tenant's namespace
// (cross_tenant, a value for one scope and the error when nothing is granted), tenant-scoped
// revocations and the revocation of a whole tenant, all in the one RevocationSet.
import { describe, expect, it } from 'vitest';
import { createAuthorizer } from '../../src/authorize/decide.ts';
import { compilePlans, type PlanRule } from '../../src/authorize/plans.ts';
import { RevocationSet } from '../../src/authorize/revocations.ts';
import { parseScopes } from '../../src/authorize/scope.ts';
import { compileTenantRules } from '../../src/authorize/tenancy.ts';
import { parseConfig } from '../../src/config/loader.ts';
import { planConfigSchema } from '../../src/config/schema.ts';
import { explain } from '../../src/explain.ts';
import { ConfigError, ForbiddenError } from '../../src/domain/errors.ts';
import type { Principal } from '../../src/domain/types.ts';
import { thrown } from '../support/thrown.ts';

const PLANS: Record<string, PlanRule[]> = {
  tenant: [{ repository: 't-{tenant}/**', actions: ['pull', 'push'] }, { repository: 'library/**', actions: ['pull'] }],
  // A plan that reaches everywhere: the tenant rule must still hold.
  wide: [{ repository: '**', actions: ['*'] }],
};

function principal(overrides: Partial<Principal> = {}): Principal {
  return {
    subject: 'ci',
    clientId: 'ci',
    tenant: 'alpha',
    plan: 'tenant',
    license: 'lic-a',
    tokenId: 'op-1',
    scopes: new Set(['registry.token.issue']),
    binding: { method: 'dpop', jkt: 'thumb' },
    scheme: 'DPoP',
    ...overrides,
  };
}

function authorizer(options: { required?: boolean; namespaces?: string[]; revocations?: RevocationSet } = {}) {
  const tenants = compileTenantRules({ required: options.required ?? false, namespaces: options.namespaces ?? ['t-{tenant}/**'] });
  return createAuthorizer(compilePlans(PLANS, undefined), options.revocations ?? new RevocationSet(), tenants);
}

describe('tenant namespaces', () => {
  const rules = compileTenantRules({ required: false, namespaces: ['t-{tenant}/**', 'shared/{tenant}-*/**'] });
  it.each([
    ['t-alpha/app', 'alpha', false],
    ['t-alpha/team/app', 'alpha', false],
    ['t-beta/app', 'alpha', true],
    ['t-alphabet/app', 'alpha', true],
    ['shared/beta-cache/x', 'alpha', true],
    ['shared/alpha-cache/x', 'alpha', false],
    // Not a tenant namespace at all: plans alone decide.
    ['library/alpine', 'alpha', false],
    ['t/app', 'alpha', false],
    // A caller without a tenant (tenancy not required) is a platform client: plans decide.
    ['t-beta/app', undefined, false],
  ] as const)('%s for tenant %s: cross-tenant %s', (name, tenant, expected) => {
    expect(rules.isCrossTenant(name, tenant)).toBe(expected);
  });

  it('refuses namespace patterns without {tenant} or with another placeholder, naming the index', () => {
    expect(() => compileTenantRules({ required: false, namespaces: ['t-{tenant}/**', 'teams/**'] })).toThrow(/tenancy\.namespaces\[1\]: must contain \{tenant\}/);
    expect(() => compileTenantRules({ required: false, namespaces: ['{subject}/{tenant}/**'] })).toThrow(/only \{tenant\}/);
  });

  it('the configuration refuses a bad namespace with its key', () => {
    const base = {
      authority: { issuer: 'https://authority.example', audiences: ['registry-token'] },
      signing: { issuer: 'registry-token', keyPath: 'k.pem' },
      registry: { realm: 'https://r.example/token' },
    };
    const error = thrown(ConfigError, () => parseConfig({ ...base, tenancy: { namespaces: ['tenants/**'] } }));
    expect(error.problems.join('\n')).toMatch(/tenancy\.namespaces\[0\]: must contain \{tenant\}/);
    const claim = thrown(ConfigError, () => parseConfig({ ...base, tenancy: { claim: 'tenant' }, authority: { ...base.authority, claims: { tenant: 'org' } } }));
    expect(claim.problems.join('\n')).toMatch(/tenancy\.claim: names "tenant" but authority\.claims\.tenant names "org"/);
    expect(parseConfig({ ...base, tenancy: { required: true, claim: 'tid', namespaces: ['t-{tenant}/**'] } }).tenancy).toEqual({ required: true, claim: 'tid', namespaces: ['t-{tenant}/**'] });
  });
});

describe('authorize: tenants', () => {
  it('a scope in another tenant namespace is refused as a value; the rest is granted, and the decision says which', () => {
    const decision = authorizer().decide(principal(), parseScopes(['repository:t-alpha/app:pull,push', 'repository:t-beta/app:pull']));
    expect(decision.access).toEqual([{ type: 'repository', name: 't-alpha/app', actions: ['pull', 'push'] }]);
    expect(decision.crossTenant).toEqual(['repository:t-beta/app:pull']);
    expect(decision.reasons.find((r) => r.scope === 'repository:t-beta/app:pull')).toEqual({ scope: 'repository:t-beta/app:pull', rule: undefined, granted: [], refused: 'cross_tenant' });
  });

  it('a plan of ** does not reach across tenants', () => {
    const decision = authorizer().decide(principal({ plan: 'wide' }), parseScopes(['repository:t-beta/app:pull', 'repository:anything/else:pull']));
    expect(decision.access.map((e) => e.name)).toEqual(['anything/else']);
    expect(decision.crossTenant).toEqual(['repository:t-beta/app:pull']);
  });

  it('nothing granted and a scope was cross-tenant: the error is cross_tenant, naming it', () => {
    const error = thrown(ForbiddenError, () => authorizer().decide(principal(), parseScopes(['repository:t-beta/app:pull', 'repository:other/x:pull'])));
    expect(error.reason).toBe('cross_tenant');
    expect(error.status).toBe(403);
    expect(error.message).toBe('repository:t-beta/app:pull: another tenant\'s namespace; tenant "alpha" may only reach its own');
  });

  it('nothing cross-tenant: no crossTenant in the decision, and plan_denied as before', () => {
    const decision = authorizer().decide(principal(), parseScopes(['repository:t-alpha/app:pull']));
    expect(decision.crossTenant).toBeUndefined();
    expect(thrown(ForbiddenError, () => authorizer().decide(principal(), parseScopes(['repository:other/x:pull']))).reason).toBe('plan_denied');
  });

  it('tenancy.required: a caller without a tenant is refused tenant_required, even for a login (no scope)', () => {
    const strict = authorizer({ required: true });
    const error = thrown(ForbiddenError, () => strict.decide(principal({ tenant: undefined }), []));
    expect(error.reason).toBe('tenant_required');
    expect(error.message).toMatch(/names no tenant/);
    // The same rule for a registry credential (what POST /credentials and Basic callers meet).
    const credential = principal({ tenant: undefined, scheme: 'Basic', binding: { method: 'credential', id: 'rtc_x', root: 'dpop', presented: 'basic' } });
    expect(thrown(ForbiddenError, () => strict.assertTenant(credential)).reason).toBe('tenant_required');
    expect(strict.decide(principal(), []).access).toEqual([]);
    // Not required: tenant-less callers are judged by plans alone.
    expect(authorizer().decide(principal({ tenant: undefined }), parseScopes(['repository:library/x:pull'])).access).toHaveLength(1);
  });
});

describe('revocations: tenant-scoped entries and whole tenants', () => {
  it('a revocation keyed (tenant, subject) refuses only that tenant\'s subject; one without a tenant refuses everyone\'s', () => {
    const set = new RevocationSet();
    set.setRuntime([
      { kind: 'subject', value: 'ci', tenant: 'alpha' },
      { kind: 'license', value: 'lic-shared', tenant: 'beta' },
      { kind: 'credential', value: 'rtc_1', tenant: 'alpha' },
      { kind: 'subject', value: 'leaked' },
    ]);
    expect(set.isSubjectRevoked('ci', 'alpha')).toBe(true);
    expect(set.isSubjectRevoked('ci', 'beta')).toBe(false);
    expect(set.isSubjectRevoked('ci', undefined)).toBe(false);
    expect(set.isLicenseRevoked('lic-shared', 'beta')).toBe(true);
    expect(set.isLicenseRevoked('lic-shared', 'alpha')).toBe(false);
    expect(set.isCredentialRevoked('rtc_1', 'alpha')).toBe(true);
    expect(set.isCredentialRevoked('rtc_1', 'beta')).toBe(false);
    for (const tenant of ['alpha', 'beta', undefined]) expect(set.isSubjectRevoked('leaked', tenant)).toBe(true);
  });

  it('a revoked tenant refuses every caller of that tenant with tenant_revoked, before anything else', () => {
    const revocations = new RevocationSet();
    revocations.setRuntime([{ kind: 'tenant', value: 'beta' }]);
    const az = authorizer({ revocations });
    const error = thrown(ForbiddenError, () => az.decide(principal({ tenant: 'beta' }), parseScopes(['repository:t-beta/app:pull'])));
    expect(error.reason).toBe('tenant_revoked');
    expect(error.message).toBe('access for tenant "beta" has been revoked');
    // Admin calls are held to it too (assertNotRevoked is what authenticateAdmin asks).
    expect(thrown(ForbiddenError, () => az.assertNotRevoked(principal({ tenant: 'beta' }))).reason).toBe('tenant_revoked');
    expect(az.decide(principal({ tenant: 'alpha' }), parseScopes(['repository:t-alpha/app:pull'])).access).toHaveLength(1);
    // A subject merely named like the tenant is not touched.
    expect(az.decide(principal({ subject: 'beta' }), []).access).toEqual([]);
  });
});

describe('registry-token explain follows the tenant rules', () => {
  it('another tenant\'s namespace is explained as cross_tenant, the own one granted', () => {
    const config = planConfigSchema.parse({ plans: PLANS, tenancy: { namespaces: ['t-{tenant}/**'] } });
    const refused = explain(config, { plan: 'wide', license: undefined, subject: undefined, tenant: 'alpha', scopes: ['repository:t-beta/app:pull'] });
    expect(refused).toMatchObject({ granted: false, status: 403, reason: 'cross_tenant' });
    const own = explain(config, { plan: 'wide', license: undefined, subject: undefined, tenant: 'alpha', scopes: ['repository:t-alpha/app:pull'] });
    expect(own).toMatchObject({ granted: true, access: [{ type: 'repository', name: 't-alpha/app', actions: ['pull'] }] });
  });
});
