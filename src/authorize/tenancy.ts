// Tenant rules of the authorize stage, compiled once: whether a caller must carry a tenant, and
// which repositories belong to some tenant (`tenancy.namespaces`, patterns with `{tenant}`).
// "Another tenant's namespace" is decided without capturing the tenant out of the name (pattern.ts
// says why captures are wrong): a name lies in some tenant's namespace when it matches the pattern
// with `{tenant}` widened to `*`, and in the caller's own when it matches with the caller's value
// filled in. Some tenant's but not the caller's: cross-tenant, whatever the plan says.
import { ForbiddenError } from '../domain/errors.ts';
import type { Principal } from '../domain/types.ts';
import { compilePattern, type CompiledPattern } from './pattern.ts';

export interface TenancyOptions {
  /** Refuse callers (OpToks, registry credentials) that carry no tenant. */
  readonly required: boolean;
  /** Repository patterns, each with `{tenant}`, that name one tenant's namespace (`t-{tenant}/**`). */
  readonly namespaces: readonly string[];
}

export interface TenantRules {
  /** Throws ForbiddenError `tenant_required` when tenancy is required and the caller has none. */
  assertTenant(principal: Pick<Principal, 'tenant' | 'scheme'>): void;
  /**
   * Whether the repository lies in a tenant namespace that is not `tenant`'s. A caller without a
   * tenant (tenancy not required: a platform client) is judged by its plan alone.
   */
  isCrossTenant(repository: string, tenant: string | undefined): boolean;
}

interface Namespace {
  readonly own: CompiledPattern;
  readonly any: CompiledPattern;
}

/** A TypeError names the offending `tenancy.namespaces[i]` (the config schema reports it). */
export function compileNamespace(source: string): Namespace {
  if (!source.includes('{tenant}')) throw new TypeError('must contain {tenant}: it is the part of the name that says whose namespace it is');
  if (/\{(subject|clientId)\}/.test(source)) throw new TypeError('only {tenant} may appear in a tenant namespace');
  return { own: compilePattern(source), any: compilePattern(source.replaceAll('{tenant}', '*')) };
}

export function compileTenantRules(options: TenancyOptions): TenantRules {
  const namespaces = options.namespaces.map((source, index) => {
    try {
      return compileNamespace(source);
    } catch (error) {
      throw new TypeError(`tenancy.namespaces[${index}]: ${(error as Error).message}`);
    }
  });
  return {
    assertTenant(principal) {
      if (!options.required || principal.tenant !== undefined) return;
      throw new ForbiddenError('tenant_required', 'this registry serves tenants only, and the access token (or registry credential) names no tenant; ask the Authority for a token of your tenant', { scheme: principal.scheme });
    },
    isCrossTenant(repository, tenant) {
      if (tenant === undefined) return false;
      const vars = { tenant };
      return namespaces.some((ns) => ns.any.matches(repository, {}) && !ns.own.matches(repository, vars));
    },
  };
}

export const noTenantRules: TenantRules = compileTenantRules({ required: false, namespaces: [] });
