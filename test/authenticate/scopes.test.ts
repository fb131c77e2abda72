import { describe, expect, it } from 'vitest';
import { ForbiddenError } from '../../src/domain/errors.ts';
import type { Principal } from '../../src/domain/types.ts';
import { requireScopes, tokenScopes } from '../../src/authenticate/scopes.ts';
import { thrown } from '../support/thrown.ts';

describe('tokenScopes', () => {
  // claims, scopes
  const table: [string, Record<string, unknown>, string[]][] = [
    ['a scope string', { scope: 'registry.token.issue openid' }, ['registry.token.issue', 'openid']],
    ['runs of spaces', { scope: '  a   b ' }, ['a', 'b']],
    ['an scp array', { scp: ['registry.token.issue', 'admin'] }, ['registry.token.issue', 'admin']],
    ['both, merged without duplicates', { scope: 'a b', scp: ['b', 'c'] }, ['a', 'b', 'c']],
    ['neither', {}, []],
    ['an empty scope string', { scope: '' }, []],
    ['a scope that is not a string', { scope: ['a', 'b'] }, []],
    ['scp entries that are not strings', { scp: ['a', 1, null, { b: 1 }] }, ['a']],
    ['an scp string (not an array)', { scp: 'a b' }, []],
  ];
  it.each(table)('%s', (_label, claims, expected) => {
    expect([...tokenScopes(claims)]).toEqual(expected);
  });
});

function principal(scopes: string[], scheme: 'Bearer' | 'DPoP' = 'DPoP'): Principal {
  return {
    subject: 'svc-ci',
    clientId: 'client-1',
    tenant: undefined,
    plan: undefined,
    license: undefined,
    tokenId: undefined,
    scopes: new Set(scopes),
    binding: { method: 'none' },
    scheme,
  };
}

const forbidden = (fn: () => unknown): ForbiddenError => thrown(ForbiddenError, fn);

describe('requireScopes', () => {
  it('passes when every required scope is present', () => {
    expect(() => requireScopes(principal(['registry.token.issue', 'x']), ['registry.token.issue'])).not.toThrow();
    expect(() => requireScopes(principal([]), [])).not.toThrow();
  });

  it('refuses with insufficient_scope, naming the missing scope', () => {
    const error = forbidden(() => requireScopes(principal(['openid']), ['registry.token.issue']));
    expect(error.reason).toBe('insufficient_scope');
    expect(error.oauthError).toBe('insufficient_scope');
    expect(error.status).toBe(403);
    expect(error.message).toBe('the access token lacks the scope registry.token.issue');
  });

  it('names every missing scope, and only those', () => {
    const error = forbidden(() => requireScopes(principal(['b']), ['a', 'b', 'c']));
    expect(error.message).toBe('the access token lacks the scope a c');
  });

  it('answers in the caller’s scheme', () => {
    expect(forbidden(() => requireScopes(principal([], 'DPoP'), ['a'])).scheme).toBe('DPoP');
    expect(forbidden(() => requireScopes(principal([], 'Bearer'), ['a'])).scheme).toBe('Bearer');
  });

  it('matches scopes exactly (no prefix, no case folding)', () => {
    expect(forbidden(() => requireScopes(principal(['registry.token']), ['registry.token.issue'])).reason).toBe('insufficient_scope');
    expect(forbidden(() => requireScopes(principal(['REGISTRY.TOKEN.ISSUE']), ['registry.token.issue'])).reason).toBe('insufficient_scope');
  });
});
