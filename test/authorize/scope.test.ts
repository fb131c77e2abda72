import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../../src/domain/errors.ts';
import type { ResourceScope } from '../../src/domain/types.ts';
import { formatScope, MAX_SCOPES, parseScope, parseScopes } from '../../src/authorize/scope.ts';

/** Runs `fn`, which must throw, and returns the error for assertions. */
function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error, none was thrown');
}

function expectInvalidScope(fn: () => unknown, message: RegExp): void {
  const error = caught(fn);
  expect(error).toBeInstanceOf(InvalidRequestError);
  const e = error as InvalidRequestError;
  expect(e.reason).toBe('invalid_scope');
  expect(e.oauthError).toBe('invalid_scope');
  expect(e.status).toBe(400);
  expect(e.message).toMatch(message);
}

describe('parseScope: good scopes', () => {
  const table: [string, ResourceScope][] = [
    ['repository:team/app:pull', { type: 'repository', class: undefined, name: 'team/app', actions: ['pull'] }],
    ['repository:team/app:pull,push', { type: 'repository', class: undefined, name: 'team/app', actions: ['pull', 'push'] }],
    ['repository:app:pull', { type: 'repository', class: undefined, name: 'app', actions: ['pull'] }],
    // A host:port prefix: the scope splits at its first and its last ':'.
    ['repository:localhost:5000/team/app:pull', { type: 'repository', class: undefined, name: 'localhost:5000/team/app', actions: ['pull'] }],
    ['repository:registry.example.com/team/app:push', { type: 'repository', class: undefined, name: 'registry.example.com/team/app', actions: ['push'] }],
    ['repository:[::1]:5000/team/app:pull', { type: 'repository', class: undefined, name: '[::1]:5000/team/app', actions: ['pull'] }],
    ['repository(plugin):name:pull', { type: 'repository', class: 'plugin', name: 'name', actions: ['pull'] }],
    ['registry:catalog:*', { type: 'registry', class: undefined, name: 'catalog', actions: ['*'] }],
    ['repository:a/b:*', { type: 'repository', class: undefined, name: 'a/b', actions: ['*'] }],
    ['repository:a/b:delete', { type: 'repository', class: undefined, name: 'a/b', actions: ['delete'] }],
    // Duplicated actions are deduplicated, first occurrence order kept.
    ['repository:a/b:pull,push,pull', { type: 'repository', class: undefined, name: 'a/b', actions: ['pull', 'push'] }],
    ['repository:a/b:pull,pull', { type: 'repository', class: undefined, name: 'a/b', actions: ['pull'] }],
    // distribution path components: separators '.', '_', '__', '-'+.
    ['repository:my-org/my_app.v2:pull', { type: 'repository', class: undefined, name: 'my-org/my_app.v2', actions: ['pull'] }],
    ['repository:a__b/c--d:pull', { type: 'repository', class: undefined, name: 'a__b/c--d', actions: ['pull'] }],
    ['repository:' + 'a'.repeat(255) + ':pull', { type: 'repository', class: undefined, name: 'a'.repeat(255), actions: ['pull'] }],
  ];
  it.each(table)('%s', (scope, expected) => {
    expect(parseScope(scope)).toEqual(expected);
  });
});

describe('parseScope: bad scopes', () => {
  const table: [label: string, scope: string, message: RegExp][] = [
    ['empty string', '', /expected type:name:actions/],
    ['type only', 'repository', /expected type:name:actions/],
    ['missing actions', 'repository:team/app', /expected type:name:actions/],
    ['missing type', ':team/app:pull', /expected type:name:actions/],
    ['empty name', 'repository::pull', /resource name is empty/],
    ['name over 255 characters', 'repository:' + 'a'.repeat(256) + ':pull', /longer than 255 characters/],
    ['upper-case repository name', 'repository:team/App:pull', /"team\/App" is not a valid repository name/],
    ['upper-case single-component name', 'repository:TEAM:pull', /"TEAM" is not a valid repository name/],
    ['trailing slash', 'repository:team/:pull', /is not a valid repository name/],
    ['leading separator', 'repository:-team/app:pull', /is not a valid repository name/],
    ['double slash', 'repository:team//app:pull', /is not a valid repository name/],
    ['space in name', 'repository:team app:pull', /is not a valid repository name/],
    ['upper-case action', 'repository:team/app:PULL', /action "PULL" is not \[a-z\]\+ or \*/],
    ['action with a dash', 'repository:team/app:pu-ll', /action "pu-ll"/],
    ['empty action', 'repository:team/app:', /action "" is not/],
    ['trailing comma', 'repository:team/app:pull,', /action "" is not/],
    ['star mixed into a word', 'repository:team/app:pu*', /action "pu\*"/],
    ['upper-case type', 'Repository:team/app:pull', /resource type "Repository"/],
    ['type with bad class', 'repository(Plugin):team/app:pull', /resource type "repository\(Plugin\)"/],
    ['type with empty class', 'repository():team/app:pull', /resource type "repository\(\)"/],
    ['bad characters in a registry name', 'registry:cat alog:*', /"cat alog" is not a valid registry name/],
  ];
  it.each(table)('%s', (_label, scope, message) => {
    expectInvalidScope(() => parseScope(scope), message);
  });

  it('quotes the offending scope in the message, shortened', () => {
    const long = 'repository:' + 'a'.repeat(1000) + ':pull';
    const error = caught(() => parseScope(long)) as InvalidRequestError;
    expect(error.message.startsWith('malformed scope "repository:aaaa')).toBe(true);
    expect(error.message.length).toBeLessThan(400);
  });

  it.each([
    ['a long type', 'x'.repeat(10_000) + ':team/app:pull', /resource type is longer than 64 characters/],
    ['a long bad type', 'X'.repeat(10_000) + ':team/app:pull', /resource type is longer than 64 characters/],
    ['a long action', 'repository:team/app:pull,' + 'x'.repeat(10_000), /action "x{40}\.\.\." is longer than 32 characters/],
    ['a long bad action', 'repository:team/app:' + 'PULL'.repeat(5_000), /is longer than 32 characters/],
    ['many different actions', 'repository:team/app:' + Array.from({ length: 2_000 }, (_, i) => 'a' + i.toString(26).replace(/\d/g, (d) => 'qrstuvwxyz'[Number(d)]!)).join(','), /more than 16 different actions/],
  ])('refuses %s, quoting only its start', (_label, scope, message) => {
    const error = caught(() => parseScope(scope)) as InvalidRequestError;
    expect(error.message).toMatch(message);
    expect(error.message.length).toBeLessThan(500);
  });

  it('takes the longest type and action and the most actions it allows', () => {
    const actions = Array.from({ length: 16 }, (_, i) => 'a'.repeat(i + 17));
    const scope = parseScope(`${'t'.repeat(60)}(${'c'.repeat(2)}):x:${actions.join(',')},${actions.join(',')}`);
    expect(scope.actions).toEqual(actions);
    expect(scope.type).toBe('t'.repeat(60));
  });
});

describe('parseScopes', () => {
  it('returns nothing for no scope (a login)', () => {
    expect(parseScopes([])).toEqual([]);
    expect(parseScopes([''])).toEqual([]);
  });

  it('reads repeated scope parameters, in order', () => {
    const scopes = parseScopes(['repository:team/other:pull,push', 'repository:team/app:pull']);
    expect(scopes.map(formatScope)).toEqual(['repository:team/other:pull,push', 'repository:team/app:pull']);
  });

  it('reads several space-separated scopes in one parameter', () => {
    const scopes = parseScopes(['repository:team/a:pull repository:team/b:push', 'registry:catalog:*']);
    expect(scopes.map((s) => s.name)).toEqual(['team/a', 'team/b', 'catalog']);
  });

  it('ignores runs of spaces', () => {
    expect(parseScopes(['  repository:a/b:pull   repository:c/d:pull  '])).toHaveLength(2);
  });

  it(`accepts exactly MAX_SCOPES (${MAX_SCOPES}) scopes`, () => {
    const values = Array.from({ length: MAX_SCOPES }, (_, i) => `repository:team/app${i}:pull`);
    expect(parseScopes(values)).toHaveLength(MAX_SCOPES);
  });

  it('refuses more than MAX_SCOPES, counting scopes inside space-separated values', () => {
    const one = Array.from({ length: MAX_SCOPES + 1 }, (_, i) => `repository:team/app${i}:pull`).join(' ');
    expectInvalidScope(() => parseScopes([one]), new RegExp(`too many scopes: ${MAX_SCOPES + 1} \\(at most ${MAX_SCOPES}\\)`));
  });

  it('refuses the whole request when one scope is malformed', () => {
    expectInvalidScope(() => parseScopes(['repository:team/app:pull', 'repository:Bad/App:pull']), /"Bad\/App" is not a valid repository name/);
  });
});

describe('formatScope', () => {
  it.each([
    'repository:team/app:pull',
    'repository:team/app:pull,push',
    'repository:localhost:5000/team/app:pull',
    'repository(plugin):name:pull',
    'registry:catalog:*',
  ])('round-trips %s', (scope) => {
    expect(formatScope(parseScope(scope))).toBe(scope);
  });

  it('writes deduplicated actions', () => {
    expect(formatScope(parseScope('repository:a/b:push,pull,push'))).toBe('repository:a/b:push,pull');
  });
});
