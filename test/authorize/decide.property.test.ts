// The authorize decision on random catalogues, callers and requests, against the model of
// plan-model.ts: the only errors are our typed ones, and what is granted is never more than
// was asked for and the plan allows (and, with the model, exactly that).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ForbiddenError, InvalidRequestError } from '../../src/domain/errors.ts';
import type { Decision, Principal, ResourceScope } from '../../src/domain/types.ts';
import { createAuthorizer } from '../../src/authorize/decide.ts';
import { compilePlans, type PlanRule } from '../../src/authorize/plans.ts';
import type { RevocationView } from '../../src/authorize/revocations.ts';
import { parseScopes } from '../../src/authorize/scope.ts';
import { hostileText, patternCaseFor, value, vars } from './arbitraries.ts';
import { modelAllowed, modelGrant, modelPattern, type ModelRule, type ModelVars } from './plan-model.ts';

const PLAN_NAMES = ['team', 'tenant', 'ops', '__proto__', 'constructor'];
const ACTIONS = ['pull', 'push', 'delete', '*'] as const;

const actionSet = fc.subarray([...ACTIONS], { minLength: 1 });
const requestedActions = fc.array(fc.constantFrom('pull', 'push', 'delete', '*', 'x', 'pull'), { minLength: 1, maxLength: 5 });

interface World {
  plans: Record<string, ModelRule[]>;
  defaultPlan: string | undefined;
  who: ModelVars & { subject: string };
  plan: string | undefined;
  license: string | undefined;
  revoked: { subjects: string[]; licenses: string[] };
  /** Request names: ones built to be near the plan's patterns, and random ones. */
  names: string[];
}

const world: fc.Arbitrary<World> = vars.chain((who) =>
  fc
    .tuple(
      fc.array(
        fc.tuple(
          fc.constantFrom(...PLAN_NAMES),
          fc.array(fc.tuple(fc.oneof({ weight: 3, arbitrary: patternCaseFor(who, true) }, { weight: 1, arbitrary: patternCaseFor(who) }), actionSet, fc.integer({ min: 0, max: 5 }).map((n) => n === 0)), { maxLength: 5 }),
        ),
        { minLength: 1, maxLength: 4 },
      ),
      fc.option(fc.constantFrom(...PLAN_NAMES, 'nowhere'), { nil: undefined }),
      // the plan claim: mostly one of the catalogue's plans, sometimes none or a stranger
      fc.oneof(
        { weight: 6, arbitrary: fc.nat().map((pick) => ({ pick })) },
        { weight: 1, arbitrary: fc.constantFrom(undefined, 'nowhere', 'toString', '', ...PLAN_NAMES).map((fixed) => ({ fixed })) },
      ),
      fc.option(fc.constantFrom('lic-1', 'lic-2', ''), { nil: undefined }),
      fc.oneof({ weight: 5, arbitrary: fc.constant<string[]>([]) }, { weight: 1, arbitrary: fc.subarray(['lic-1', 'lic-x']) }),
      fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
      fc.array(hostileText(12), { maxLength: 3 }),
      fc.oneof(fc.constant(who.subject ?? 'svc'), value.map((v) => v ?? 'svc')),
    )
    .map(([planList, defaultPlan, claim, license, revokedLicenses, revokeSubject, randomNames, subject]) => {
      const plan = 'pick' in claim ? planList[claim.pick % planList.length]![0] : claim.fixed;
      const plans: Record<string, ModelRule[]> = Object.create(null) as Record<string, ModelRule[]>;
      const names: string[] = [...randomNames];
      for (const [planName, cases] of planList) {
        plans[planName] = cases
          .filter(([c]) => modelPattern(c.pattern).ok)
          .map(([c, actions, catalogue]) => {
            names.push(c.name);
            return catalogue ? { registry: 'catalog', actions } : { repository: c.pattern, actions };
          });
      }
      return {
        plans,
        defaultPlan,
        who: { ...who, subject },
        plan,
        license,
        revoked: { subjects: revokeSubject ? [subject] : [], licenses: revokedLicenses },
        names,
      };
    }),
);

/** Requests over the world's names: some scope strings (parsed first), some scopes as values. */
const request = (w: World): fc.Arbitrary<{ strings: string[] | undefined; scopes: ResourceScope[] }> => {
  const name = w.names.length === 0 ? hostileText(12) : fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...w.names) }, { weight: 1, arbitrary: hostileText(12) });
  const type = fc.constantFrom('repository', 'repository', 'repository', 'repository', 'registry', 'repository(plugin)', 'other');
  const scopeString = fc.tuple(type, fc.oneof(name, fc.constant('catalog')), requestedActions).map(([t, n, a]) => `${t}:${n}:${a.join(',')}`);
  const scopeValue = fc.record({
    type: fc.constantFrom('repository', 'repository', 'repository', 'registry', 'other'),
    class: fc.constant(undefined),
    name: fc.oneof(name, fc.constant('catalog')),
    actions: requestedActions.map((a) => [...new Set(a)]),
  });
  return fc.oneof(
    fc.array(scopeString, { maxLength: 6 }).map((strings) => ({ strings, scopes: [] })),
    fc.array(scopeValue, { maxLength: 6 }).map((scopes) => ({ strings: undefined, scopes })),
  );
};

function principalOf(w: World): Principal {
  return {
    subject: w.who.subject,
    clientId: w.who.clientId,
    tenant: w.who.tenant,
    plan: w.plan,
    license: w.license,
    tokenId: undefined,
    scopes: new Set(),
    binding: { method: 'none' },
    scheme: 'Bearer',
  };
}

type Expected = { refused: string } | { access: Map<string, Set<string>> };

/** What the documented rules say the decision is. */
function expected(w: World, scopes: readonly ResourceScope[]): Expected {
  if (w.revoked.subjects.includes(w.who.subject)) return { refused: 'subject_revoked' };
  if (w.license !== undefined && w.revoked.licenses.includes(w.license)) return { refused: 'license_revoked' };
  const plan = w.plan ?? w.defaultPlan;
  if (plan === undefined || !Object.hasOwn(w.plans, plan)) return { refused: 'plan_denied' };
  const requested = new Map<string, { type: string; name: string; actions: Set<string> }>();
  for (const scope of scopes) {
    const key = `${scope.type}\u0000${scope.name}`;
    const entry = requested.get(key) ?? { type: scope.type, name: scope.name, actions: new Set<string>() };
    for (const action of scope.actions) entry.actions.add(action);
    requested.set(key, entry);
  }
  const access = new Map<string, Set<string>>();
  for (const [key, { type, name, actions }] of requested) {
    const granted = modelGrant(actions, modelAllowed(w.plans[plan]!, type, name, w.who));
    if (granted.size > 0) access.set(key, granted);
  }
  if (requested.size > 0 && access.size === 0) return { refused: 'plan_denied' };
  return { access };
}

function decideOrRefuse(w: World, scopes: readonly ResourceScope[]): { decision: Decision } | { refused: ForbiddenError } {
  const revocations: RevocationView = {
    isSubjectRevoked: (subject) => w.revoked.subjects.includes(subject),
    isLicenseRevoked: (license) => w.revoked.licenses.includes(license),
    isCredentialRevoked: () => false,
    isTenantRevoked: () => false,
    assertCurrent: () => {},
  };
  const authorizer = createAuthorizer(compilePlans(w.plans as Record<string, PlanRule[]>, w.defaultPlan), revocations);
  try {
    return { decision: authorizer.decide(principalOf(w), scopes) };
  } catch (error) {
    expect(error).toBeInstanceOf(ForbiddenError);
    return { refused: error as ForbiddenError };
  }
}

describe('createAuthorizer (property)', () => {
  it('grants exactly what the model grants, never more than requested ∩ allowed, and refuses only with ForbiddenError', () => {
    let granted = 0;
    const refusals: Record<string, number> = {};
    fc.assert(
      fc.property(
        world.chain((w) => request(w).map((r) => ({ w, r }))),
        ({ w, r }) => {
          let scopes = r.scopes;
          if (r.strings !== undefined) {
            try {
              scopes = parseScopes(r.strings);
            } catch (error) {
              expect(error).toBeInstanceOf(InvalidRequestError);
              return;
            }
          }
          const outcome = decideOrRefuse(w, scopes);
          const want = expected(w, scopes);
          if ('refused' in outcome) {
            expect(want).toEqual({ refused: outcome.refused.reason });
            refusals[outcome.refused.reason] = (refusals[outcome.refused.reason] ?? 0) + 1;
            expect(outcome.refused.status).toBe(403);
            return;
          }
          expect('access' in want, `the model refuses (${JSON.stringify(want)})`).toBe(true);
          const plan = (w.plan ?? w.defaultPlan)!;
          expect(outcome.decision.plan).toBe(plan);
          const requested = new Map<string, Set<string>>();
          for (const s of scopes) {
            const key = `${s.type}\u0000${s.name}`;
            requested.set(key, new Set([...(requested.get(key) ?? []), ...s.actions]));
          }
          const seen = new Set<string>();
          for (const entry of outcome.decision.access) {
            const key = `${entry.type}\u0000${entry.name}`;
            expect(seen.has(key), 'one access entry per resource').toBe(false);
            seen.add(key);
            const asked = requested.get(key);
            expect(asked, `granted ${entry.type}:${entry.name}, which was not requested`).toBeDefined();
            const allowed = modelAllowed(w.plans[plan]!, entry.type, entry.name, w.who);
            expect(entry.actions.length).toBeGreaterThan(0);
            for (const action of entry.actions) {
              // the subset property, on its own: asked for (or `*` asked) and allowed (or `*` allowed)
              expect(asked!.has(action) || asked!.has('*'), `${action} on ${entry.name} was not asked for`).toBe(true);
              expect(allowed.has(action) || allowed.has('*'), `${action} on ${entry.name} is not allowed`).toBe(true);
            }
            granted += 1;
          }
          const access = (want as { access: Map<string, Set<string>> }).access;
          expect(new Map(outcome.decision.access.map((e) => [`${e.type}\u0000${e.name}`, new Set(e.actions)]))).toEqual(access);
          expect(outcome.decision.reasons.length).toBe(requested.size);
        },
      ),
      { numRuns: 1000 },
    );
    // the generators must reach grants and every refusal, or the property says little
    expect(granted).toBeGreaterThan(50);
    expect(Object.keys(refusals).sort()).toEqual(['license_revoked', 'plan_denied', 'subject_revoked']);
  });
});
