import { spawnSync } from 'node:child_process';
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

  it('stays right for a caller after hundreds of others (its per-caller regexps are a bounded cache)', () => {
    const pattern = compilePattern('ci/{clientId}-*');
    for (let i = 0; i < 1000; i += 1) {
      expect(pattern.matches(`ci/c${i}-build`, { clientId: `c${i}` })).toBe(true);
      expect(pattern.matches(`ci/c${i}-build`, { clientId: `c${i + 1}` })).toBe(false);
    }
    expect(pattern.matches('ci/c0-build', { clientId: 'c0' })).toBe(true);
    expect(pattern.matches('ci/c0-build', { clientId: 'c999' })).toBe(false);
  });

  it('one compiled pattern serves different callers', () => {
    const pattern = compilePattern('tenants/{tenant}/**');
    expect(pattern.matches('tenants/acme/app', { tenant: 'acme' })).toBe(true);
    expect(pattern.matches('tenants/acme/app', { tenant: 'globex' })).toBe(false);
    expect(pattern.matches('tenants/globex/app', { tenant: 'globex' })).toBe(true);
  });
});

describe('compilePattern: a placeholder next to a wildcard is the caller\'s value, literally', () => {
  // Issue 7, defect 9: both were refused.
  it('ci/{clientId}-* grants ci/runner-build-1 to client runner', () => {
    expect(compilePattern('ci/{clientId}-*').matches('ci/runner-build-1', { clientId: 'runner' })).toBe(true);
  });
  it('t-{tenant}-*/app grants t-a-b-c/app to tenant a', () => {
    expect(compilePattern('t-{tenant}-*/app').matches('t-a-b-c/app', { tenant: 'a' })).toBe(true);
  });

  // pattern, name, vars, expected
  const table: [string, string, PatternVars, boolean][] = [
    // the value is a literal prefix of the segment, `*` takes the rest (any `-` included)
    ['ci/{clientId}-*', 'ci/runner-', { clientId: 'runner' }, true],
    ['ci/{clientId}-*', 'ci/runner-x-y-z', { clientId: 'runner' }, true],
    ['ci/{clientId}-*', 'ci/runner', { clientId: 'runner' }, false],
    ['ci/{clientId}-*', 'ci/runnerx-1', { clientId: 'runner' }, false],
    ['ci/{clientId}-*', 'ci/other-runner-1', { clientId: 'runner' }, false],
    ['ci/{clientId}-*', 'ci/runner-1/x', { clientId: 'runner' }, false],
    ['ci/{clientId}-*', 'ci/run-1', { clientId: 'run-ner' }, false],
    ['ci/{clientId}-*', 'ci/run-ner-1', { clientId: 'run-ner' }, true],
    ['t-{tenant}-*/app', 't-ab-x/app', { tenant: 'a' }, false],
    ['t-{tenant}-*/app', 't-a-/app', { tenant: 'a' }, true],
    ['t-{tenant}-*/app', 't-a/app', { tenant: 'a' }, false],
    ['t-{tenant}-*/app', 't-a-b-c/other', { tenant: 'a' }, false],
    ['t-{tenant}-*/app', 't-a-b-c/app', { tenant: 'a-b' }, true],
    ['t-{tenant}-*/app', 't-a-b-c/app', { tenant: 'b' }, false],
    // `*` before the value, and on both sides
    ['ci/*-{clientId}', 'ci/build-1-runner', { clientId: 'runner' }, true],
    ['ci/*-{clientId}', 'ci/build-runner-1', { clientId: 'runner' }, false],
    ['ci/*{clientId}*', 'ci/xrunnery', { clientId: 'runner' }, true],
    ['ci/*{clientId}*', 'ci/xrunnxery', { clientId: 'runner' }, false],
    // directly adjacent: the value is a prefix, nothing separates it from `*`
    ['ci/{clientId}*', 'ci/runner', { clientId: 'runner' }, true],
    ['ci/{clientId}*', 'ci/runners', { clientId: 'runner' }, true],
    ['ci/{clientId}*', 'ci/runne', { clientId: 'runner' }, false],
    // two placeholders in one segment, and repeated
    ['{tenant}-{clientId}/**', 'a-b-c/app', { tenant: 'a-b', clientId: 'c' }, true],
    ['{tenant}-{clientId}/**', 'a-b-c/app', { tenant: 'a', clientId: 'b-c' }, true],
    ['{tenant}-{clientId}/**', 'a-b-c/app', { tenant: 'a', clientId: 'c' }, false],
    ['{tenant}/{tenant}-*', 'acme/acme-1', { tenant: 'acme' }, true],
    ['{tenant}/{tenant}-*', 'acme/other-1', { tenant: 'acme' }, false],
    // with `**` around
    ['**/{clientId}-*', 'a/b/runner-1', { clientId: 'runner' }, true],
    ['**/{clientId}-*/**', 'runner-1/x', { clientId: 'runner' }, true],
    ['**/{clientId}-*/**', 'runnerx-1/x', { clientId: 'runner' }, false],
    // a caller without the value, or with an empty one, never matches
    ['ci/{clientId}-*', 'ci/runner-1', {}, false],
    ['ci/{clientId}-*', 'ci/-1', { clientId: '' }, false],
    ['t-{tenant}-*/app', 't--x/app', { tenant: '' }, false],
    // a value that is not something a repository segment can hold never matches
    ['ci/{clientId}-*', 'ci/a/b-1', { clientId: 'a/b' }, false],
    ['ci/{clientId}-*', 'ci/x-1', { clientId: '*' }, false],
    ['ci/{clientId}-*', 'ci/x-1', { clientId: '.*' }, false],
    ['ci/{clientId}-*', 'ci/x-1', { clientId: '[^/]*' }, false],
    ['ci/{clientId}-*', 'ci/x-1', { clientId: '(?:)' }, false],
    ['ci/{clientId}-*', 'ci/\u0000-1', { clientId: '\u0000' }, false],
    ['{tenant}/**', 'a/b/app', { tenant: 'a/b' }, false],
    ['{tenant}/**', '../app', { tenant: '..' }, false],
    ['t-{tenant}-*/app', 't---x/app', { tenant: '-' }, false],
    ['{tenant}/**', 'acme/app', { tenant: 'Acme' }, false],
    ['{tenant}_/**', 'a__/app', { tenant: 'a_' }, false],
    ['ci/{clientId}-*', `ci/${'a'.repeat(256)}-1`, { clientId: 'a'.repeat(256) }, false],
    ['ci/{clientId}-*', `ci/${'a'.repeat(255)}-1`, { clientId: 'a'.repeat(255) }, true],
    // regexp characters a segment may hold are literal
    ['ci/{clientId}-*', 'ci/a.b-1', { clientId: 'a.b' }, true],
    ['ci/{clientId}-*', 'ci/aXb-1', { clientId: 'a.b' }, false],
  ];
  it.each(table)('%s vs %s with %o -> %s', (pattern, name, vars, expected) => {
    expect(compilePattern(pattern).matches(name, vars)).toBe(expected);
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
    // no repository name holds a brace: anything else in braces is a mistyped placeholder
    ['a{1}c', /"a\{1\}c": braces only write a placeholder/],
    ['{1}', /braces only write a placeholder/],
    ['t-{tenant_id}-*', /braces only write a placeholder/],
    ['t/{tenant_id}/**', /braces only write a placeholder/],
    ['t/{tenant/**', /braces only write a placeholder/],
    ['t/tenant}/**', /braces only write a placeholder/],
    ['t/{}/**', /braces only write a placeholder/],
    ['t/{{tenant}}/**', /braces only write a placeholder/],
  ];
  it.each(table)('%s', (pattern, message) => {
    expect(() => compilePattern(pattern)).toThrow(TypeError);
    expect(() => compilePattern(pattern)).toThrow(message);
  });
});

// The name is the caller's (a scope), the pattern the operator's: matching must stay linear in
// the name whatever wildcards sit side by side. A backtracking regexp took seconds to minutes on
// these (found by the property test) and blocked the whole event loop meanwhile. They run in a
// child process that is killed after 10 s, so a regression fails instead of hanging the suite.
describe('compilePattern: adversarial names never make matching backtrack', () => {
  const long = 'a'.repeat(250);
  const cases: [string, string, PatternVars][] = [
    ['**/{clientId}{subject}*{clientId}/ca_/', `-ab/_./..a/${'a'.repeat(200)}c-a-b/ca_bc_/`, { subject: 'ca', clientId: 'a'.repeat(120) }],
    ['*a*a*a*a*a*a*b', long, {}],
    ['**/*a*a*a*b/**/*a*a*c', `${'x/'.repeat(60)}${'a'.repeat(60)}/${'a/'.repeat(30)}${'a'.repeat(40)}`, {}],
    ['{tenant}*{tenant}*{tenant}*z', long, { tenant: 'a' }],
  ];
  it('answers false for every case, each tried 20 times', () => {
    const module = new URL('../../src/authorize/pattern.ts', import.meta.url).pathname;
    const script = `import { compilePattern } from ${JSON.stringify(module)};
const cases = ${JSON.stringify(cases)};
const answers = cases.map(([pattern, name, vars]) => Array.from({ length: 20 }, (_, i) => compilePattern(pattern).matches(name + (i % 2 ? '!' : ''), vars)).some(Boolean));
process.stdout.write(JSON.stringify(answers));`;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 10_000, encoding: 'utf8' });
    expect(run.signal, 'killed after 10 s: the matcher backtracks').toBeNull();
    expect(JSON.parse(run.stdout)).toEqual(cases.map(() => false));
  });
});
