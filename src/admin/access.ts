// What an admin principal may see and do: the one place that decides it, for every admin
// endpoint. A platform admin (the platform scope, or any admin without a tenant while tenancy
// is not required) sees and does everything; a tenant admin (the admin scope and a tenant
// claim) sees only its tenant's records and revocations and revokes only within its tenant.
// No Fastify here: routes ask, this answers or throws one of our errors.
import { ForbiddenError, NotFoundError } from '../domain/errors.ts';
import type { Principal } from '../domain/types.ts';

export interface AdminPolicyOptions {
  /** The scope that makes an admin a platform admin (`admin.platformScope`). */
  readonly platformScope: string;
  /** `tenancy.required`: an admin must then carry a tenant or the platform scope. */
  readonly tenancyRequired: boolean;
}

export interface AdminAccess {
  readonly platform: boolean;
  /** The tenant this admin is confined to; undefined for a platform admin. */
  readonly tenant: string | undefined;
  /**
   * The tenant filter of an audit query: a tenant admin's own (asking for another is
   * `cross_tenant`), a platform admin's choice (undefined: every tenant).
   */
  auditTenant(requested: string | undefined): string | undefined;
  /** Whether a record or revocation (by its tenant) is this admin's to see. */
  sees(item: { readonly tenant?: string | undefined }): boolean;
  /** Throws NotFoundError (as if absent, so nothing of another tenant leaks) unless `sees`. */
  assertSees(item: { readonly tenant?: string | undefined }, what: string): void;
  /**
   * The tenant a revocation made or lifted by this admin is keyed by: a tenant admin's own
   * (asking for another is `cross_tenant`), a platform admin's choice (undefined: platform-wide).
   */
  revocationTenant(requested: string | undefined): string | undefined;
  /** Throws ForbiddenError `insufficient_scope` unless a platform admin. */
  requirePlatform(what: string): void;
}

/** An authenticated admin: the principal and what it may see and do. */
export type AdminPrincipal = Principal & { readonly access: AdminAccess };

export function adminAccess(principal: Principal, options: AdminPolicyOptions): AdminAccess {
  const platform = principal.scopes.has(options.platformScope) || (principal.tenant === undefined && !options.tenancyRequired);
  if (!platform && principal.tenant === undefined) {
    throw new ForbiddenError('tenant_required', `the admin access token names no tenant and lacks the platform scope ${options.platformScope}`, { scheme: principal.scheme });
  }
  const tenant = platform ? undefined : principal.tenant;
  const scheme = principal.scheme;
  const confine = (requested: string | undefined): string | undefined => {
    if (platform) return requested;
    if (requested !== undefined && requested !== tenant) {
      throw new ForbiddenError('cross_tenant', `tenant "${tenant}"'s admin may not act for tenant "${requested}"`, { scheme });
    }
    return tenant;
  };
  const sees = (item: { readonly tenant?: string | undefined }) => platform || item.tenant === tenant;
  return {
    platform,
    tenant,
    auditTenant: confine,
    revocationTenant: confine,
    sees,
    assertSees(item, what) {
      if (!sees(item)) throw new NotFoundError(`no ${what}`);
    },
    requirePlatform(what) {
      if (!platform) throw new ForbiddenError('insufficient_scope', `${what} needs a platform admin (scope ${options.platformScope})`, { scheme });
    },
  };
}
