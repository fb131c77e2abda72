// The scope parser on random and hostile input: it answers a scope or an InvalidRequestError
// (400 invalid_scope), nothing else, and what it answers obeys the grammar, checked here
// without the parser's own regexps.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../../src/domain/errors.ts';
import type { ResourceScope } from '../../src/domain/types.ts';
import { formatScope, MAX_SCOPES, parseScope, parseScopes } from '../../src/authorize/scope.ts';
import { hostileText } from './arbitraries.ts';
import { usableValue } from './plan-model.ts';

/** The longest message a refusal may carry: it is rendered to the caller and recorded. */
const MAX_MESSAGE = 600;

function outcome<T>(fn: () => T): { ok: true; value: T } | { ok: false; error: InvalidRequestError } {
  try {
    return { ok: true, value: fn() };
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidRequestError);
    const refusal = error as InvalidRequestError;
    expect(refusal.reason).toBe('invalid_scope');
    expect(refusal.status).toBe(400);
    expect(refusal.message.length).toBeLessThanOrEqual(MAX_MESSAGE);
    return { ok: false, error: refusal };
  }
}

const lowerAlnum = (text: string) => text !== '' && [...text].every((c) => (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'));

/** The grammar, restated: what any parsed scope must look like. */
function checkParsed(scope: ResourceScope): void {
  expect(lowerAlnum(scope.type)).toBe(true);
  expect(scope.type.length + (scope.class === undefined ? 0 : scope.class.length + 2)).toBeLessThanOrEqual(64);
  expect(scope.actions.length).toBeLessThanOrEqual(16);
  for (const action of scope.actions) expect(action.length).toBeLessThanOrEqual(32);
  if (scope.class !== undefined) expect(lowerAlnum(scope.class)).toBe(true);
  expect(scope.name.length).toBeGreaterThan(0);
  expect(scope.name.length).toBeLessThanOrEqual(255);
  expect(scope.actions.length).toBeGreaterThan(0);
  expect(new Set(scope.actions).size).toBe(scope.actions.length);
  for (const action of scope.actions) expect(action === '*' || (action !== '' && [...action].every((c) => c >= 'a' && c <= 'z'))).toBe(true);
  if (scope.type === 'repository') {
    // [domain[:port]/]component(/component)*: no empty segment, no `..`, lower case below the domain
    const [first, ...rest] = scope.name.split('/');
    for (const segment of rest) expect(usableValue(segment), `segment "${segment}" of ${scope.name}`).toBe(true);
    const domainish = rest.length > 0 && /^[A-Za-z0-9.\-:[\]]+$/.test(first!) && !first!.includes('..');
    expect(usableValue(first) || domainish, `first segment "${first}" of ${scope.name}`).toBe(true);
  }
  // what the parser answers, formatted, parses back to the same
  expect(parseScope(formatScope(scope))).toEqual(scope);
}

const typePart = fc.oneof(
  fc.constantFrom('repository', 'registry', 'repository(plugin)', 'repository()', 'Repository', 'repo(x)(y)', '', '(x)'),
  hostileText(12),
);
const namePart = fc.oneof(
  fc.constantFrom('team/app', 'a', 'localhost:5000/a/b', '[::1]:5000/a', 'a//b', '../a', 'a/../b', 'a/', '/a', 'A/b', 'a..b', 'a__b', 'a___b', 'a--b', 'a-', '*', '**', 'catalog', 'a:b', ':::'),
  hostileText(20),
  fc.array(fc.stringMatching(/^[a-z0-9]{1,3}(?:[._-][a-z0-9]{1,3})?$/), { minLength: 1, maxLength: 4 }).map((parts) => parts.join('/')),
);
const actionPart = fc.oneof(
  fc.array(fc.constantFrom('pull', 'push', 'delete', '*', 'PULL', '', ' ', 'pull ', 'x', 'push,pull'), { minLength: 1, maxLength: 6 }).map((a) => a.join(',')),
  hostileText(12),
);
/** Scope-shaped strings: mostly the three parts joined by `:`, sometimes with extra colons. */
const scopeLike = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(typePart, namePart, actionPart).map(([t, n, a]) => `${t}:${n}:${a}`) },
  { weight: 1, arbitrary: fc.tuple(typePart, namePart, actionPart, fc.integer({ min: 0, max: 5 })).map(([t, n, a, k]) => `${t}${':'.repeat(k)}${n}${':'.repeat(k)}${a}`) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
);

describe('parseScope (property)', () => {
  it('answers a scope that obeys the grammar, or InvalidRequestError, for any string', () => {
    fc.assert(
      fc.property(scopeLike, (scope) => {
        const result = outcome(() => parseScope(scope));
        if (result.ok) checkParsed(result.value);
      }),
      { numRuns: 2000 },
    );
  });

  it('parses every scope the grammar allows, whatever the repetition of actions', () => {
    const valid = fc.record({
      type: fc.constantFrom('repository', 'registry'),
      class: fc.option(fc.constantFrom('plugin', 'image', 'a0'), { nil: undefined }),
      name: fc
        .tuple(
          fc.option(fc.constantFrom('localhost:5000', 'registry.example.com', 'r-1.example:443'), { nil: undefined }),
          fc.array(fc.stringMatching(/^[a-z0-9]{1,4}(?:(?:[._]|__|-+)[a-z0-9]{1,4})*$/), { minLength: 1, maxLength: 4 }),
        )
        .map(([domain, parts]) => [...(domain === undefined ? [] : [domain]), ...parts].join('/'))
        .filter((name) => name.length <= 255),
      actions: fc.array(fc.constantFrom('pull', 'push', 'delete', '*'), { minLength: 1, maxLength: 8 }),
    });
    fc.assert(
      fc.property(valid, ({ type, class: cls, name, actions }) => {
        const text = `${cls === undefined ? type : `${type}(${cls})`}:${name}:${actions.join(',')}`;
        const parsed = parseScope(text);
        expect(parsed).toEqual({ type, class: cls, name, actions: [...new Set(actions)] });
        checkParsed(parsed);
      }),
      { numRuns: 1000 },
    );
  });

  it('keeps a refusal short however long the input', () => {
    const huge = fc.tuple(fc.string({ unit: 'binary', minLength: 1, maxLength: 8 }), fc.integer({ min: 1000, max: 20000 })).map(([s, n]) => s.repeat(n));
    const hugeScope = fc.oneof(
      huge,
      fc.tuple(huge, namePart, actionPart).map(([t, n, a]) => `${t}:${n}:${a}`),
      fc.tuple(typePart, huge, actionPart).map(([t, n, a]) => `${t}:${n}:${a}`),
      fc.tuple(namePart, huge).map(([n, a]) => `repository:${n}:${a}`),
      huge.map((a) => `repository:team/app:pull,${a}`),
      fc.integer({ min: 1, max: 50000 }).map((n) => `repository:team/app:${'pull,'.repeat(n)}pull`),
      fc.integer({ min: 1, max: 50000 }).map((n) => `repository:${':'.repeat(n)}:pull`),
    );
    fc.assert(
      fc.property(hugeScope, (scope) => {
        const result = outcome(() => parseScope(scope));
        if (result.ok) checkParsed(result.value);
      }),
      { numRuns: 200 },
    );
  });
});

describe('parseScopes (property)', () => {
  it('answers the scopes of every space-separated value, or InvalidRequestError', () => {
    const values = fc.array(
      fc.oneof(
        scopeLike,
        fc.array(scopeLike, { maxLength: 5 }).map((s) => s.join(' ')),
        fc.constantFrom('', ' ', '  ', 'repository:a:pull  repository:b:push', '\t'),
      ),
      { maxLength: 12 },
    );
    fc.assert(
      fc.property(values, (scopeValues) => {
        const pieces = scopeValues.flatMap((v) => v.split(' ')).filter((s) => s !== '');
        const result = outcome(() => parseScopes(scopeValues));
        if (!result.ok) return;
        expect(result.value.length).toBe(pieces.length);
        expect(pieces.length).toBeLessThanOrEqual(MAX_SCOPES);
        result.value.forEach(checkParsed);
      }),
      { numRuns: 1000 },
    );
  });

  it('refuses more than MAX_SCOPES scopes as such, before parsing any', () => {
    fc.assert(
      fc.property(fc.integer({ min: MAX_SCOPES + 1, max: 5000 }), fc.integer({ min: 1, max: 8 }), (count, perValue) => {
        const all = Array.from({ length: count }, (_, i) => (i % 7 === 0 ? 'not a scope' : `repository:a/b${i}:pull`));
        const values: string[] = [];
        for (let i = 0; i < all.length; i += perValue) values.push(all.slice(i, i + perValue).join(' '));
        const result = outcome(() => parseScopes(values));
        expect(result.ok).toBe(false);
        if (!result.ok) expect(result.error.message).toMatch(/^too many scopes: \d+ \(at most 64\)$/);
      }),
      { numRuns: 200 },
    );
  });
});
