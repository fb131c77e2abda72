import { describe, expect, it } from 'vitest';
import { allowedActions, compilePlans, type PlanRule } from '../../src/authorize/plans.ts';

const rules: Record<string, PlanRule[]> = {
  team: [
    { repository: 'library/**', actions: ['pull'] },
    { repository: 'team/**', actions: ['pull', 'push'] },
    { repository: 'team/shared/*', actions: ['delete'] },
  ],
  tenant: [{ repository: 'tenants/{tenant}/**', actions: ['pull', 'push'] }],
  operator: [
    { repository: '**', actions: ['*'] },
    { registry: 'catalog', actions: ['*'] },
  ],
};

describe('compilePlans', () => {
  it('compiles every plan once, keeping the default plan', () => {
    const catalogue = compilePlans(rules, 'team');
    expect([...catalogue.plans.keys()]).toEqual(['team', 'tenant', 'operator']);
    expect(catalogue.defaultPlan).toBe('team');
    expect(compilePlans(rules, undefined).defaultPlan).toBeUndefined();
  });

  it('labels each rule with plan, index, type and pattern', () => {
    const catalogue = compilePlans(rules, undefined);
    expect(catalogue.plans.get('team')!.map((r) => r.label)).toEqual([
      'team[0] repository:library/**',
      'team[1] repository:team/**',
      'team[2] repository:team/shared/*',
    ]);
    expect(catalogue.plans.get('operator')!.map((r) => r.type)).toEqual(['repository', 'registry']);
  });

  it('names the plan and rule of a bad pattern', () => {
    expect(() => compilePlans({ broken: [{ repository: 'ok/**', actions: ['pull'] }, { repository: 'a**b', actions: ['pull'] }] }, undefined)).toThrow(
      /^plans\.broken\[1\]\.repository: "\*\*" must be a whole segment/,
    );
  });

  it('handles an empty catalogue', () => {
    expect(compilePlans({}, undefined).plans.size).toBe(0);
  });
});

describe('allowedActions', () => {
  const catalogue = compilePlans(rules, undefined);
  const team = catalogue.plans.get('team')!;
  // type, name, vars, actions, labels
  const table: [string, string, { tenant?: string }, string[], string[]][] = [
    ['repository', 'library/alpine', {}, ['pull'], ['team[0] repository:library/**']],
    ['repository', 'team/app', {}, ['pull', 'push'], ['team[1] repository:team/**']],
    // union across every matching rule
    ['repository', 'team/shared/base', {}, ['pull', 'push', 'delete'], ['team[1] repository:team/**', 'team[2] repository:team/shared/*']],
    ['repository', 'other/app', {}, [], []],
    // a registry resource is never covered by a repository rule
    ['registry', 'catalog', {}, [], []],
  ];
  it.each(table)('team: %s %s', (type, name, vars, actions, labels) => {
    const allowed = allowedActions(team, type, name, vars);
    expect([...allowed.actions].sort()).toEqual([...actions].sort());
    expect(allowed.labels).toEqual(labels);
  });

  it('binds placeholders to the caller', () => {
    const tenant = catalogue.plans.get('tenant')!;
    expect([...allowedActions(tenant, 'repository', 'tenants/acme/app', { tenant: 'acme' }).actions]).toEqual(['pull', 'push']);
    expect([...allowedActions(tenant, 'repository', 'tenants/acme/app', { tenant: 'globex' }).actions]).toEqual([]);
  });

  it('covers the catalogue only with a registry rule', () => {
    const operator = catalogue.plans.get('operator')!;
    expect(allowedActions(operator, 'registry', 'catalog', {}).labels).toEqual(['operator[1] registry:catalog']);
    expect(allowedActions(operator, 'repository', 'catalog', {}).labels).toEqual(['operator[0] repository:**']);
  });
});
