import { describe, expect, it } from 'vitest';
import { ForbiddenError } from '../../src/domain/errors.ts';
import type { Principal } from '../../src/domain/types.ts';
import { createAuthorizer } from '../../src/authorize/decide.ts';
import { compilePlans, type PlanRule } from '../../src/authorize/plans.ts';
import { RevocationSet, type RevocationView } from '../../src/authorize/revocations.ts';
import { parseScopes } from '../../src/authorize/scope.ts';
import { thrown } from '../support/thrown.ts';

const PLANS: Record<string, PlanRule[]> = {
  community: [{ repository: 'library/**', actions: ['pull'] }],
  team: [
    { repository: 'library/**', actions: ['pull'] },
    { repository: 'team/**', actions: ['pull', 'push'] },
    { repository: 'team/**', actions: ['delete'] },
  ],
  tenant: [{ repository: 'tenants/{tenant}/**', actions: ['pull', 'push', 'delete'] }],
  prefixed: [
    { repository: 'ci/{clientId}-*', actions: ['pull', 'push'] },
    { repository: 't-{tenant}-*/app', actions: ['pull'] },
  ],
  janitor: [{ repository: '**', actions: ['pull', 'delete'] }],
  operator: [
    { repository: '**', actions: ['*'] },
    { registry: 'catalog', actions: ['*'] },
  ],
  noCatalogue: [{ repository: '**', actions: ['*'] }],
  empty: [],
};

function principal(overrides: Partial<Principal> = {}): Principal {
  return {
    subject: 'svc-ci',
    clientId: 'client-1',
    tenant: 'acme',
    plan: 'team',
    license: 'lic-1',
    tokenId: 'op-1',
    scopes: new Set(['registry.token.issue']),
    binding: { method: 'dpop', jkt: 'thumb' },
    scheme: 'DPoP',
    ...overrides,
  };
}

function authorizer(options: { defaultPlan?: string; revocations?: RevocationView } = {}) {
  return createAuthorizer(compilePlans(PLANS, options.defaultPlan), options.revocations ?? new RevocationSet());
}

const forbidden = (fn: () => unknown): ForbiddenError => thrown(ForbiddenError, fn);

/** `decide` for scope strings, answering with `type:name:actions` strings of what was granted. */
function granted(who: Partial<Principal>, ...scopes: string[]): string[] {
  const decision = authorizer().decide(principal(who), parseScopes(scopes));
  return decision.access.map((e) => `${e.type}:${e.name}:${e.actions.join(',')}`);
}

describe('createAuthorizer: which plan', () => {
  it('takes the plan from the claim', () => {
    const decision = authorizer({ defaultPlan: 'community' }).decide(principal({ plan: 'team' }), parseScopes(['repository:team/app:push']));
    expect(decision.plan).toBe('team');
    expect(decision.access).toEqual([{ type: 'repository', name: 'team/app', actions: ['push'] }]);
  });

  it('falls back to the default plan when the token carries none', () => {
    const auth = authorizer({ defaultPlan: 'community' });
    expect(auth.planFor({ plan: undefined, scheme: 'Bearer' })).toBe('community');
    const decision = auth.decide(principal({ plan: undefined }), parseScopes(['repository:library/alpine:pull']));
    expect(decision.plan).toBe('community');
  });

  it('refuses an unknown plan claim instead of widening it to the default', () => {
    const auth = authorizer({ defaultPlan: 'community' });
    const error = forbidden(() => auth.decide(principal({ plan: 'platinum' }), parseScopes(['repository:library/alpine:pull'])));
    expect(error.reason).toBe('plan_denied');
    expect(error.message).toBe('plan "platinum" is not offered by this registry');
    expect(error.scheme).toBe('DPoP');
    expect(forbidden(() => auth.planFor({ plan: 'platinum', scheme: 'Bearer' })).scheme).toBe('Bearer');
  });

  it('refuses a token with no plan when there is no default', () => {
    const error = forbidden(() => authorizer().decide(principal({ plan: undefined }), []));
    expect(error.reason).toBe('plan_denied');
    expect(error.message).toMatch(/carries no plan and no default plan/);
    expect(error.status).toBe(403);
    expect(error.oauthError).toBe('insufficient_scope');
  });

  it('does not take inherited object keys for plans', () => {
    expect(forbidden(() => authorizer().planFor({ plan: 'toString', scheme: 'Bearer' })).reason).toBe('plan_denied');
    expect(forbidden(() => authorizer().planFor({ plan: '__proto__', scheme: 'Bearer' })).reason).toBe('plan_denied');
  });
});

describe('createAuthorizer: revocations', () => {
  it('refuses a configured revoked licence', () => {
    const auth = authorizer({ revocations: new RevocationSet(['lic-1']) });
    const error = forbidden(() => auth.decide(principal(), parseScopes(['repository:team/app:pull'])));
    expect(error.reason).toBe('license_revoked');
    expect(error.oauthError).toBe('insufficient_scope');
    expect(error.scheme).toBe('DPoP');
  });

  it('refuses a licence revoked at run time, and forgives it when the runtime set changes', () => {
    const revocations = new RevocationSet();
    const auth = authorizer({ revocations });
    expect(() => auth.decide(principal(), [])).not.toThrow();
    revocations.setRuntime([{ kind: 'license', value: 'lic-1' }]);
    expect(forbidden(() => auth.decide(principal(), [])).reason).toBe('license_revoked');
    revocations.setRuntime([]);
    expect(() => auth.decide(principal(), [])).not.toThrow();
  });

  it('refuses a revoked subject, even for a login', () => {
    const revocations = new RevocationSet();
    revocations.setRuntime([{ kind: 'subject', value: 'svc-ci' }]);
    const error = forbidden(() => authorizer({ revocations }).decide(principal(), []));
    expect(error.reason).toBe('subject_revoked');
  });

  it('checks revocations before the plan', () => {
    const revocations = new RevocationSet(['lic-1']);
    expect(forbidden(() => authorizer({ revocations }).decide(principal({ plan: 'platinum' }), [])).reason).toBe('license_revoked');
  });

  it('a token without a licence claim is not caught by licence revocations', () => {
    const revocations = new RevocationSet(['lic-1']);
    expect(authorizer({ revocations }).decide(principal({ license: undefined }), []).access).toEqual([]);
  });
});

describe('createAuthorizer: granted subset', () => {
  // principal overrides, requested scopes, granted entries
  const table: [label: string, who: Partial<Principal>, scopes: string[], expected: string[]][] = [
    ['the full request when allowed', { plan: 'team' }, ['repository:team/app:pull,push'], ['repository:team/app:pull,push']],
    ['a partial grant: pull of pull,push', { plan: 'team' }, ['repository:library/alpine:pull,push'], ['repository:library/alpine:pull']],
    ['the union across matching rules', { plan: 'team' }, ['repository:team/app:pull,push,delete'], ['repository:team/app:pull,push,delete']],
    ['* when the plan allows *', { plan: 'operator' }, ['repository:any/thing:*'], ['repository:any/thing:*']],
    ['every allowed action for * otherwise', { plan: 'janitor' }, ['repository:any/thing:*'], ['repository:any/thing:pull,delete']],
    ['* expands to the union of the matching rules', { plan: 'team' }, ['repository:team/app:*'], ['repository:team/app:pull,push,delete']],
    ['actions as requested when the plan allows *', { plan: 'operator' }, ['repository:a/b:push,pull'], ['repository:a/b:push,pull']],
    [
      'omits entries granted nothing, keeps the others',
      { plan: 'team' },
      ['repository:other/app:pull', 'repository:team/app:pull', 'repository:library/x:push'],
      ['repository:team/app:pull'],
    ],
    ['merges repeated scopes for one repository', { plan: 'team' }, ['repository:team/app:pull', 'repository:team/app:push'], ['repository:team/app:pull,push']],
    [
      'merges repeated scopes inside one parameter',
      { plan: 'team' },
      ['repository:team/app:push repository:team/app:pull,push'],
      ['repository:team/app:push,pull'],
    ],
    [
      'a cross-repository mount: two repositories',
      { plan: 'team' },
      ['repository:team/other:pull,push', 'repository:library/base:pull'],
      ['repository:team/other:pull,push', 'repository:library/base:pull'],
    ],
    ['the caller’s own tenant', { plan: 'tenant', tenant: 'acme' }, ['repository:tenants/acme/app:pull', 'repository:tenants/globex/app:pull'], ['repository:tenants/acme/app:pull']],
    ['a client id before a wildcard (issue 7)', { plan: 'prefixed', clientId: 'runner' }, ['repository:ci/runner-build-1:push'], ['repository:ci/runner-build-1:push']],
    ['a tenant before a wildcard (issue 7)', { plan: 'prefixed', tenant: 'a' }, ['repository:t-a-b-c/app:pull', 'repository:t-ab-x/app:pull'], ['repository:t-a-b-c/app:pull']],
    ['the catalogue with a registry rule', { plan: 'operator' }, ['registry:catalog:*'], ['registry:catalog:*']],
    [
      'no catalogue without a registry rule, other entries kept',
      { plan: 'noCatalogue' },
      ['registry:catalog:*', 'repository:a/b:pull'],
      ['repository:a/b:pull'],
    ],
    ['a class does not change the resource type', { plan: 'team' }, ['repository(plugin):team/app:pull'], ['repository:team/app:pull']],
  ];
  it.each(table)('%s', (_label, who, scopes, expected) => {
    expect(granted(who, ...scopes)).toEqual(expected);
  });

  // principal overrides, requested scopes
  const denials: [label: string, who: Partial<Principal>, scopes: string[]][] = [
    ['no action of a single scope', { plan: 'community' }, ['repository:library/alpine:push']],
    ['no matching repository', { plan: 'community' }, ['repository:team/app:pull']],
    ['several scopes, none granted', { plan: 'community' }, ['repository:team/app:pull', 'repository:library/alpine:delete']],
    ['the catalogue with a repository rule only', { plan: 'noCatalogue' }, ['registry:catalog:*']],
    ['another tenant', { plan: 'tenant', tenant: 'acme' }, ['repository:tenants/globex/app:pull']],
    ['a tenant pattern with no tenant claim', { plan: 'tenant', tenant: undefined }, ['repository:tenants/acme/app:pull']],
    ['a prefix of another client id', { plan: 'prefixed', clientId: 'run' }, ['repository:ci/runner-build-1:pull']],
    ['an empty plan', { plan: 'empty' }, ['repository:library/alpine:pull']],
  ];
  it.each(denials)('refuses a non-empty request granted nothing: %s', (_label, who, scopes) => {
    const error = forbidden(() => authorizer().decide(principal(who), parseScopes(scopes)));
    expect(error.reason).toBe('plan_denied');
    expect(error.message).toBe(`plan "${who.plan}" grants none of the requested access`);
  });

  it('answers a login (no scope) with empty access, even under an empty plan', () => {
    expect(authorizer().decide(principal({ plan: 'empty' }), [])).toEqual({ plan: 'empty', access: [], reasons: [] });
  });

  it('explains each merged scope with the rules that matched', () => {
    const decision = authorizer().decide(principal({ plan: 'team' }), parseScopes(['repository:team/app:pull,delete', 'repository:other/x:pull', 'repository:team/app:push']));
    expect(decision.reasons).toEqual([
      { scope: 'repository:team/app:pull,delete,push', rule: 'team[1] repository:team/**, team[2] repository:team/**', granted: ['pull', 'delete', 'push'] },
      { scope: 'repository:other/x:pull', rule: undefined, granted: [] },
    ]);
  });

  it('returns fresh action arrays the caller may keep', () => {
    const auth = authorizer();
    const a = auth.decide(principal({ plan: 'operator' }), parseScopes(['repository:a/b:*']));
    a.access[0]!.actions.push('mutated');
    const b = auth.decide(principal({ plan: 'operator' }), parseScopes(['repository:a/b:*']));
    expect(b.access[0]!.actions).toEqual(['*']);
  });
});

describe('createAuthorizer: replaceCatalogue', () => {
  it('swaps the whole catalogue: plans, rules and default', () => {
    const auth = authorizer({ defaultPlan: 'community' });
    const request = parseScopes(['repository:team/app:pull,push']);
    expect(auth.decide(principal({ plan: 'team' }), request).access[0]!.actions).toEqual(['pull', 'push']);

    auth.replaceCatalogue(compilePlans({ team: [{ repository: 'team/**', actions: ['pull'] }], basic: [] }, 'basic'));
    expect(auth.decide(principal({ plan: 'team' }), request).access[0]!.actions).toEqual(['pull']);
    expect(auth.planFor({ plan: undefined, scheme: 'Bearer' })).toBe('basic');
    // a plan that is gone is refused, not widened
    expect(forbidden(() => auth.decide(principal({ plan: 'community' }), request)).message).toBe('plan "community" is not offered by this registry');
  });

  it('a decision under way keeps the catalogue it started with', () => {
    const auth = authorizer();
    const before = auth.decide(principal({ plan: 'operator' }), parseScopes(['repository:a/b:*']));
    auth.replaceCatalogue(compilePlans({}, undefined));
    expect(before.access).toEqual([{ type: 'repository', name: 'a/b', actions: ['*'] }]);
    expect(forbidden(() => auth.decide(principal({ plan: 'operator' }), [])).reason).toBe('plan_denied');
  });
});
