// A registry credential's narrowing: its grammar, and its intersection with the plan in decide.
import { describe, expect, it } from 'vitest';
import { AuthenticationError, ForbiddenError, InvalidRequestError } from '../../src/domain/errors.ts';
import type { Principal } from '../../src/domain/types.ts';
import { createAuthorizer } from '../../src/authorize/decide.ts';
import { normaliseNarrowing } from '../../src/authorize/narrowing.ts';
import { compilePlans } from '../../src/authorize/plans.ts';
import { RevocationSet } from '../../src/authorize/revocations.ts';
import { parseScopes } from '../../src/authorize/scope.ts';
import { thrown } from '../support/thrown.ts';

const catalogue = compilePlans(
  {
    team: [{ repository: 'team/**', actions: ['pull', 'push'] }, { repository: 'library/**', actions: ['pull'] }],
    tenant: [{ repository: 'tenants/{tenant}/**', actions: ['pull', 'push', 'delete'] }],
    operator: [{ repository: '**', actions: ['*'] }, { registry: 'catalog', actions: ['*'] }],
  },
  undefined,
);

function credential(narrowing: string | undefined, overrides: Partial<Principal> = {}): Principal {
  return {
    subject: 'robot',
    clientId: 'robot',
    tenant: 'alpha',
    plan: 'team',
    license: 'lic-1',
    tokenId: undefined,
    scopes: new Set(['registry.token.issue']),
    binding: { method: 'credential', id: 'rtc_01JABCDEFGHJKMNPQRSTVWXYZ0', root: 'dpop', presented: 'basic' },
    scheme: 'Basic',
    narrowing,
    ...overrides,
  };
}

describe('normaliseNarrowing', () => {
  it('joins repeated and space-separated values, drops duplicates, keeps patterns and placeholders', () => {
    expect(normaliseNarrowing([])).toBe('');
    expect(normaliseNarrowing(['repository:team/**:pull repository:team/**:pull', 'repository:tenants/{tenant}/*:push,pull,push', 'registry:catalog:*'])).toBe(
      'repository:team/**:pull repository:tenants/{tenant}/*:push,pull registry:catalog:*',
    );
    expect(normaliseNarrowing(['repository:registry.example:5000/team/app:pull'])).toBe('repository:registry.example:5000/team/app:pull');
  });

  it('refuses what could never match or is not a scope, naming it', () => {
    for (const [value, message] of [
      ['team/app', /expected type:pattern:actions/],
      ['repository:team/app:fly', /action "fly"/],
      ['registry:tags:*', /the only registry resource is "catalog"/],
      ['blob:team/app:pull', /the type must be repository or registry/],
      ['repository:team/a**:pull', /"\*\*" must be a whole segment/],
      ['repository:x/{user}:pull', /unknown placeholder \{user\}/],
      ['repository:team app:pull', /expected type:pattern:actions/],
      [`repository:${'a'.repeat(256)}:pull`, /too long/],
    ] as const) {
      const error = thrown(InvalidRequestError, () => normaliseNarrowing([value]));
      expect(error.reason).toBe('invalid_scope');
      expect(error.message).toMatch(message);
    }
    expect(thrown(InvalidRequestError, () => normaliseNarrowing(Array.from({ length: 33 }, (_, i) => `repository:r${i}:pull`))).message).toMatch(/too many/);
  });
});

describe('decide with a narrowing', () => {
  const authorizer = createAuthorizer(catalogue, new RevocationSet());

  it('grants what both the plan and the narrowing allow; * on either side defers to the other', () => {
    const decision = authorizer.decide(credential('repository:team/app:pull repository:library/**:*'), parseScopes(['repository:team/app:pull,push', 'repository:library/base:pull,push', 'repository:team/other:pull']));
    expect(decision.access).toEqual([
      { type: 'repository', name: 'team/app', actions: ['pull'] },
      { type: 'repository', name: 'library/base', actions: ['pull'] },
    ]);
    const operator = authorizer.decide(credential('repository:team/**:pull registry:catalog:*', { plan: 'operator' }), parseScopes(['repository:team/app:*', 'registry:catalog:*', 'repository:other/x:pull']));
    expect(operator.access).toEqual([
      { type: 'repository', name: 'team/app', actions: ['pull'] },
      { type: 'registry', name: 'catalog', actions: ['*'] },
    ]);
  });

  it('fills placeholders with the credential holder’s own values', () => {
    const p = credential('repository:tenants/{tenant}/**:pull', { plan: 'tenant' });
    expect(authorizer.decide(p, parseScopes(['repository:tenants/alpha/app:pull,push'])).access).toEqual([{ type: 'repository', name: 'tenants/alpha/app', actions: ['pull'] }]);
    expect(thrown(ForbiddenError, () => authorizer.decide(p, parseScopes(['repository:tenants/beta/app:pull']))).message).toMatch(/narrowing grants none/);
  });

  it('no narrowing is the plan alone; a login (no scope) is an empty grant', () => {
    expect(authorizer.decide(credential(undefined), parseScopes(['repository:team/app:pull,push'])).access).toEqual([{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }]);
    expect(authorizer.decide(credential('repository:nothing:pull'), []).access).toEqual([]);
  });

  it('a revoked credential is 401 credential_revoked, and only that credential', () => {
    const revocations = new RevocationSet();
    revocations.setRuntime([{ kind: 'credential', value: 'rtc_01JABCDEFGHJKMNPQRSTVWXYZ0' }]);
    const revoked = createAuthorizer(catalogue, revocations);
    const error = thrown(AuthenticationError, () => revoked.decide(credential(undefined), []));
    expect(error.reason).toBe('credential_revoked');
    expect(error.scheme).toBe('Basic');
    const other = credential(undefined, { binding: { method: 'credential', id: 'rtc_01JABCDEFGHJKMNPQRSTVWXYZ1', root: 'dpop', presented: 'basic' } });
    expect(revoked.decide(other, []).access).toEqual([]);
  });
});
