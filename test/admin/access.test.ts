// The admin access policy: who is a platform admin, who is one tenant's, and what each may see
// and do. Every admin endpoint asks this one place (src/admin/access.ts).
import { describe, expect, it } from 'vitest';
import { adminAccess } from '../../src/admin/access.ts';
import { ForbiddenError, NotFoundError } from '../../src/domain/errors.ts';
import type { Principal } from '../../src/domain/types.ts';
import { thrown } from '../support/thrown.ts';

const PLATFORM = 'registry.admin.platform';

function admin(tenant: string | undefined, scopes: string[] = ['registry.token.admin']): Principal {
  return { subject: `admin-${tenant ?? 'none'}`, clientId: undefined, tenant, plan: undefined, license: undefined, tokenId: undefined, scopes: new Set(scopes), binding: { method: 'dpop', jkt: 't' }, scheme: 'DPoP' };
}

const policy = (tenancyRequired = false) => ({ platformScope: PLATFORM, tenancyRequired });

describe('adminAccess', () => {
  it('a tenant admin is confined to its tenant: audit filter, records, revocations', () => {
    const access = adminAccess(admin('alpha'), policy());
    expect(access.platform).toBe(false);
    expect(access.tenant).toBe('alpha');
    expect(access.auditTenant(undefined)).toBe('alpha');
    expect(access.auditTenant('alpha')).toBe('alpha');
    const cross = thrown(ForbiddenError, () => access.auditTenant('beta'));
    expect(cross.reason).toBe('cross_tenant');
    expect(cross.message).toBe('tenant "alpha"\'s admin may not act for tenant "beta"');
    expect(access.sees({ tenant: 'alpha' })).toBe(true);
    expect(access.sees({ tenant: 'beta' })).toBe(false);
    // Records without a tenant (anonymous refusals, platform clients) are the platform's.
    expect(access.sees({})).toBe(false);
    expect(thrown(NotFoundError, () => access.assertSees({ tenant: 'beta' }, 'issuance with jti "x"')).message).toBe('no issuance with jti "x"');
    expect(access.revocationTenant(undefined)).toBe('alpha');
    expect(thrown(ForbiddenError, () => access.revocationTenant('beta')).reason).toBe('cross_tenant');
    const platformOnly = thrown(ForbiddenError, () => access.requirePlatform('revoking a whole tenant'));
    expect(platformOnly.reason).toBe('insufficient_scope');
    expect(platformOnly.message).toBe(`revoking a whole tenant needs a platform admin (scope ${PLATFORM})`);
  });

  it('the platform scope makes a platform admin, tenant claim or not: sees all, chooses the tenant', () => {
    for (const tenant of ['alpha', undefined]) {
      const access = adminAccess(admin(tenant, ['registry.token.admin', PLATFORM]), policy(true));
      expect(access.platform).toBe(true);
      expect(access.tenant).toBeUndefined();
      expect(access.auditTenant(undefined)).toBeUndefined();
      expect(access.auditTenant('beta')).toBe('beta');
      expect(access.sees({ tenant: 'beta' })).toBe(true);
      expect(access.sees({})).toBe(true);
      expect(access.revocationTenant(undefined)).toBeUndefined();
      expect(access.revocationTenant('beta')).toBe('beta');
      access.requirePlatform('revoking a whole tenant');
    }
  });

  it('an admin without tenant or platform scope: platform while tenancy is not required, refused when it is', () => {
    expect(adminAccess(admin(undefined), policy(false)).platform).toBe(true);
    const error = thrown(ForbiddenError, () => adminAccess(admin(undefined), policy(true)));
    expect(error.reason).toBe('tenant_required');
    expect(error.message).toBe(`the admin access token names no tenant and lacks the platform scope ${PLATFORM}`);
  });
});
