import { describe, expect, it } from 'vitest';
import { compilePattern, type PatternVars } from '../../src/authorize/pattern.ts';

const none: PatternVars = {};

describe('compilePattern: wildcards and literals', () => {
  // pattern, name, expected
  const table: [string, string, boolean][] = [
    // literal
    ['team/app', 'team/app', true],
    ['team/app', 'team/app2', false],
    ['team/app', 'team', false],
    ['team/app', 'x/team/app', false],
    // `*`: any run of characters within ONE segment
    ['*', 'app', true],
    ['*', 'team/app', false],
    ['team/*', 'team/app', true],
    ['team/*', 'team/a/b', false],
    ['team/*', 'team', false],
    ['team/*', 'other/app', false],
    ['team/app-*', 'team/app-1', true],
    ['team/app-*', 'team/app-1/x', false],
    ['team/*-ci', 'team/build-ci', true],
    ['team/*-ci', 'team/build-cd', false],
    ['*/app', 'team/app', true],
    ['*/app', 'a/b/app', false],
    // `**` alone: anything
    ['**', 'app', true],
    ['**', 'team/app', true],
    ['**', 'a/b/c/d', true],
    ['**', 'localhost:5000/team/app', true],
    // trailing `**`: at least one segment below
    ['a/**', 'a/b', true],
    ['a/**', 'a/b/c', true],
    ['a/**', 'a', false],
    ['a/**', 'ab', false],
    ['a/**', 'ab/c', false],
    ['a/**', 'b/a/c', false],
    // leading `**`: zero or more segments
    ['**/x', 'x', true],
    ['**/x', 'a/x', true],
    ['**/x', 'a/b/x', true],
    ['**/x', 'ax', false],
    ['**/x', 'a/xx', false],
    ['**/x', 'x/a', false],
    // middle `**`: zero or more segments
    ['a/**/b', 'a/b', true],
    ['a/**/b', 'a/x/b', true],
    ['a/**/b', 'a/x/y/b', true],
    ['a/**/b', 'a/xb', false],
    ['a/**/b', 'ab', false],
    ['a/**/b', 'a/b/c', false],
    ['a/**/b', 'x/a/b', false],
    ['a/**/b/**/c', 'a/b/c', true],
    ['a/**/b/**/c', 'a/1/b/2/3/c', true],
    ['a/**/b/**/c', 'a/1/c', false],
    ['**/x/**', 'x/y', true],
    ['**/x/**', 'a/x/y/z', true],
    ['**/x/**', 'a/x', false],
    // regex metacharacters are literal
    ['team.app', 'team.app', true],
    ['team.app', 'teamXapp', false],
    ['team/app.v2', 'team/appXv2', false],
    ['a+b', 'a+b', true],
    ['a+b', 'aab', false],
    ['a?b', 'a?b', true],
    ['a?b', 'ab', false],
    ['(a|b)', '(a|b)', true],
    ['(a|b)', 'a', false],
    ['a$', 'a$', true],
    ['^a', '^a', true],
    ['[ab]', '[ab]', true],
    ['[ab]', 'a', false],
    ['a\\b', 'a\\b', true],
    ['a{1}c', 'a{1}c', true],
    ['a{1}c', 'ac', false],
    // host:port names
    ['localhost:5000/**', 'localhost:5000/team/app', true],
    ['localhost:5000/**', 'localhost:5001/team/app', false],
  ];
  it.each(table)('%s vs %s -> %s', (pattern, name, expected) => {
    expect(compilePattern(pattern).matches(name, none)).toBe(expected);
  });

  it('"**/**" (and "a/**/**/b") match like one "**"', () => {
    for (const name of ['a', 'a/b', 'a/b/c']) {
      expect(compilePattern('**/**').matches(name, none)).toBe(compilePattern('**').matches(name, none));
    }
    for (const name of ['a/b', 'a/x/b', 'a/x/y/b', 'a', 'b']) {
      expect(compilePattern('a/**/**/b').matches(name, none)).toBe(compilePattern('a/**/b').matches(name, none));
    }
  });

  it('keeps its source', () => {
    expect(compilePattern('team/**').source).toBe('team/**');
  });
});

describe('compilePattern: placeholders match only the caller’s own value', () => {
  const acme: PatternVars = { tenant: 'acme', subject: 'svc-ci', clientId: 'client-1' };
  // pattern, name, vars, expected
  const table: [string, string, PatternVars, boolean][] = [
    ['tenants/{tenant}/**', 'tenants/acme/app', acme, true],
    ['tenants/{tenant}/**', 'tenants/acme/a/b', acme, true],
    ['tenants/{tenant}/**', 'tenants/other/app', acme, false],
    ['tenants/{tenant}/**', 'tenants/acme', acme, false],
    ['tenants/{tenant}/**', 'tenants/acme/app', {}, false],
    ['tenants/{tenant}/**', 'tenants/acme/app', { tenant: undefined }, false],
    ['tenants/{tenant}/**', 'tenants/undefined/app', {}, false],
    ['users/{subject}/*', 'users/svc-ci/app', acme, true],
    ['users/{subject}/*', 'users/svc-cd/app', acme, false],
    ['users/{subject}/*', 'users/svc-ci/app', { tenant: 'acme' }, false],
    ['clients/{clientId}', 'clients/client-1', acme, true],
    ['clients/{clientId}', 'clients/client-2', acme, false],
    // a placeholder is one whole value, not a prefix
    ['tenants/{tenant}/**', 'tenants/acmex/app', acme, false],
    ['t-{tenant}/**', 't-acme/app', acme, true],
    ['t-{tenant}/**', 't-other/app', acme, false],
    // several placeholders must all match
    ['{tenant}/{subject}/**', 'acme/svc-ci/app', acme, true],
    ['{tenant}/{subject}/**', 'acme/other/app', acme, false],
    ['{tenant}/{subject}/**', 'other/svc-ci/app', acme, false],
    // a value with a '/' can never match a single segment
    ['tenants/{tenant}/**', 'tenants/a/b/app', { tenant: 'a/b' }, false],
    // regex characters in the caller's value are not special
    ['tenants/{tenant}/**', 'tenants/aXb/app', { tenant: 'a.b' }, false],
    ['tenants/{tenant}/**', 'tenants/a.b/app', { tenant: 'a.b' }, true],
  ];
  it.each(table)('%s vs %s with %o -> %s', (pattern, name, vars, expected) => {
    expect(compilePattern(pattern).matches(name, vars)).toBe(expected);
  });

  it('one compiled pattern serves different callers', () => {
    const pattern = compilePattern('tenants/{tenant}/**');
    expect(pattern.matches('tenants/acme/app', { tenant: 'acme' })).toBe(true);
    expect(pattern.matches('tenants/acme/app', { tenant: 'globex' })).toBe(false);
    expect(pattern.matches('tenants/globex/app', { tenant: 'globex' })).toBe(true);
  });
});

describe('compilePattern: refused patterns', () => {
  const table: [string, RegExp][] = [
    ['***', /"\*\*\*" is not a pattern/],
    ['a/***', /"\*\*\*" is not a pattern/],
    ['a**b', /"\*\*" must be a whole segment in "a\*\*b"/],
    ['a/**b', /"\*\*" must be a whole segment/],
    ['**a/b', /"\*\*" must be a whole segment/],
    ['tenants/{nope}/**', /unknown placeholder \{nope\}/],
    ['tenants/{Tenant}/**', /unknown placeholder \{Tenant\}/],
  ];
  it.each(table)('%s', (pattern, message) => {
    expect(() => compilePattern(pattern)).toThrow(TypeError);
    expect(() => compilePattern(pattern)).toThrow(message);
  });
});
