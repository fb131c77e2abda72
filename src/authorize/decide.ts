// The authorize stage: plan, licence and subject checks, then the granted subset per scope.
// Habit from docker_auth: a denial of a scope is a value (fewer or no actions); we throw only
// for a caller who may have nothing at all (no plan, revoked, or an empty grant overall).
import { AuthenticationError, ForbiddenError } from '../domain/errors.ts';
import type { AccessEntry, Decision, Principal, ResourceScope, SenderBinding } from '../domain/types.ts';
import { compileNarrowing } from './narrowing.ts';
import { formatScope } from './scope.ts';
import { allowedActions, type PlanCatalogue } from './plans.ts';
import type { RevocationView } from './revocations.ts';
import { noTenantRules, type TenantRules } from './tenancy.ts';

export interface Authorizer {
  decide(principal: Principal, scopes: readonly ResourceScope[]): Decision;
  /** The plan a principal would be judged under (throws as `decide` would). */
  planFor(principal: Pick<Principal, 'plan' | 'scheme'>): string;
  /**
   * Throws when the subject, the licence or the registry credential is revoked, or when the
   * revocations cannot be trusted (UnavailableError `revocations_unavailable`); admin calls are
   * held to it too.
   */
  assertNotRevoked(principal: RevocationSubject): void;
  /** Throws ForbiddenError `tenant_required` when tenancy is required and the caller names no tenant. */
  assertTenant(principal: Pick<Principal, 'tenant' | 'scheme'>): void;
  /** Swapped whole on reload: a request sees either the old or the new catalogue. */
  replaceCatalogue(catalogue: PlanCatalogue): void;
}

type RevocationSubject = Pick<Principal, 'subject' | 'license' | 'scheme'> & { readonly tenant?: string | undefined; readonly binding?: SenderBinding };

/** What both allow; `*` allows everything the other does. */
function intersect(plan: ReadonlySet<string>, narrowing: ReadonlySet<string>): Set<string> {
  if (plan.has('*')) return new Set(narrowing);
  if (narrowing.has('*')) return new Set(plan);
  return new Set([...plan].filter((action) => narrowing.has(action)));
}

/** `*` requested means "everything": grant `*` when the plan allows it, else every action the plan allows. */
function grant(requested: readonly string[], allowed: ReadonlySet<string>): string[] {
  if (allowed.has('*')) return [...requested];
  const granted = new Set<string>();
  for (const action of requested) {
    if (action === '*') for (const a of allowed) granted.add(a);
    else if (allowed.has(action)) granted.add(action);
  }
  return [...granted];
}

export function createAuthorizer(initial: PlanCatalogue, revocations: RevocationView, tenants: TenantRules = noTenantRules): Authorizer {
  let catalogue = initial;

  function planFor(principal: Pick<Principal, 'plan' | 'scheme'>): string {
    const plan = principal.plan ?? catalogue.defaultPlan;
    if (plan === undefined) {
      throw new ForbiddenError('plan_denied', 'the access token carries no plan and no default plan is configured', { scheme: principal.scheme });
    }
    // A plan claim naming an unknown plan is refused, never widened to the default.
    if (!catalogue.plans.has(plan)) {
      throw new ForbiddenError('plan_denied', `plan "${plan}" is not offered by this registry`, { scheme: principal.scheme });
    }
    return plan;
  }

  function assertNotRevoked(principal: RevocationSubject): void {
    revocations.assertCurrent();
    const { tenant } = principal;
    if (tenant !== undefined && revocations.isTenantRevoked(tenant)) {
      throw new ForbiddenError('tenant_revoked', `access for tenant "${tenant}" has been revoked`, { scheme: principal.scheme });
    }
    if (principal.binding?.method === 'credential' && revocations.isCredentialRevoked(principal.binding.id, tenant)) {
      throw new AuthenticationError('credential_revoked', `the registry credential ${principal.binding.id} has been revoked; run "registry-token login" to get a new one`, { scheme: principal.scheme });
    }
    if (revocations.isSubjectRevoked(principal.subject, tenant)) {
      throw new ForbiddenError('subject_revoked', 'access for this client has been revoked', { scheme: principal.scheme });
    }
    if (principal.license !== undefined && revocations.isLicenseRevoked(principal.license, tenant)) {
      throw new ForbiddenError('license_revoked', 'the licence has been revoked', { scheme: principal.scheme });
    }
  }

  return {
    planFor,
    replaceCatalogue(next) {
      catalogue = next;
    },
    assertNotRevoked,
    assertTenant: (principal) => tenants.assertTenant(principal),
    decide(principal, scopes) {
      assertNotRevoked(principal);
      tenants.assertTenant(principal);
      const plan = planFor(principal);
      const rules = catalogue.plans.get(plan) ?? [];
      const narrowing = principal.narrowing === undefined ? undefined : compileNarrowing(principal.narrowing);
      // Merge repeated scopes for one resource (cross-repository mounts repeat names).
      const merged = new Map<string, { type: string; name: string; actions: Set<string> }>();
      for (const scope of scopes) {
        const key = `${scope.type}\u0000${scope.name}`;
        const entry = merged.get(key) ?? { type: scope.type, name: scope.name, actions: new Set<string>() };
        for (const action of scope.actions) entry.actions.add(action);
        merged.set(key, entry);
      }
      const access: AccessEntry[] = [];
      const reasons: Decision['reasons'][number][] = [];
      const crossTenant: string[] = [];
      for (const { type, name, actions } of merged.values()) {
        // Another tenant's namespace is refused before any plan is asked: a plan of `**` does
        // not reach across tenants.
        if (type === 'repository' && tenants.isCrossTenant(name, principal.tenant)) {
          const scope = formatScope({ type, class: undefined, name, actions: [...actions] });
          crossTenant.push(scope);
          reasons.push({ scope, rule: undefined, granted: [], refused: 'cross_tenant' });
          continue;
        }
        const allowed = allowedActions(rules, type, name, principal);
        if (narrowing !== undefined) {
          const narrowed = allowedActions(narrowing, type, name, principal);
          allowed.actions = intersect(allowed.actions, narrowed.actions);
          allowed.labels.push(...narrowed.labels);
        }
        const granted = grant([...actions], allowed.actions);
        reasons.push({
          scope: formatScope({ type, class: undefined, name, actions: [...actions] }),
          rule: allowed.labels.length === 0 ? undefined : allowed.labels.join(', '),
          granted,
        });
        if (granted.length > 0) access.push({ type, name, actions: granted });
      }
      if (merged.size > 0 && access.length === 0 && crossTenant.length > 0) {
        const names = crossTenant.slice(0, 3).join(', ') + (crossTenant.length > 3 ? ', ...' : '');
        throw new ForbiddenError('cross_tenant', `${names}: another tenant's namespace; tenant "${principal.tenant}" may only reach its own`, { scheme: principal.scheme });
      }
      if (merged.size > 0 && access.length === 0) {
        const what = narrowing === undefined ? `plan "${plan}"` : `plan "${plan}" together with the registry credential's narrowing`;
        throw new ForbiddenError('plan_denied', `${what} grants none of the requested access`, { scheme: principal.scheme });
      }
      return crossTenant.length === 0 ? { plan, access, reasons } : { plan, access, reasons, crossTenant };
    },
  };
}
