// fast-check generators shared by the authorize property tests: small alphabets so that
// random patterns and names collide often, plus the characters an attacker would try.
// A failure prints `{ seed, path }`; pass both to that fc.assert's options to replay it.
import fc from 'fast-check';
import type { ModelVars } from './plan-model.ts';

/** Characters a repository segment may hold. */
const PLAIN = ['a', 'b', 'c', '0', '-', '.', '_'];
/** Characters no valid name holds, and regexp syntax. */
const HOSTILE = ['/', '*', '{', '}', '(', ')', '[', ']', '\\', '$', '^', '|', '?', '+', ':', ' ', 'A', '\u0000', '\n', '\u2028', 'é', '\uD800', '😀'];

const plainChar = fc.constantFrom(...PLAIN);
const anyChar = fc.oneof({ weight: 4, arbitrary: plainChar }, { weight: 1, arbitrary: fc.constantFrom(...HOSTILE) });

export const plainText = (maxLength = 6): fc.Arbitrary<string> => fc.string({ unit: plainChar, maxLength });
export const hostileText = (maxLength = 8): fc.Arbitrary<string> => fc.string({ unit: anyChar, maxLength });

/** A caller's value: absent, plausible, or adversarial (regexp syntax, `/`, `..`, huge). */
export const value: fc.Arbitrary<string | undefined> = fc.oneof(
  { weight: 1, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.constantFrom('', 'a', 'b', 'a-b', 'ab', 'a.b', 'a_b', 'a__b', 'a--b', '..', '-', 'a-', '.*', '[^/]*', '(?:)', 'a/b', 'A', 'a'.repeat(255), 'a'.repeat(256)) },
  { weight: 3, arbitrary: plainText(4) },
  { weight: 6, arbitrary: fc.stringMatching(/^[abc0]{1,2}(?:[-._][abc]{1,2})?$/) },
  { weight: 1, arbitrary: hostileText(6) },
);

export const vars: fc.Arbitrary<ModelVars> = fc.record({ subject: value, tenant: value, clientId: value });

type PieceSpec = { kind: 'text'; text: string } | { kind: 'star' } | { kind: 'var'; name: keyof ModelVars };
type SegmentSpec = 'globstar' | PieceSpec[];

const piece: fc.Arbitrary<PieceSpec> = fc.oneof(
  { weight: 3, arbitrary: plainText(3).map((text) => ({ kind: 'text' as const, text })) },
  { weight: 2, arbitrary: fc.constant({ kind: 'star' as const }) },
  { weight: 2, arbitrary: fc.constantFrom('subject', 'tenant', 'clientId').map((name) => ({ kind: 'var' as const, name })) },
  { weight: 1, arbitrary: fc.constantFrom(...HOSTILE.filter((c) => c !== '/' && c !== '*')).map((text) => ({ kind: 'text' as const, text })) },
);

/** Pieces an operator would write: names, `-`, `*` and placeholders, no hostile characters. */
const tamePiece: fc.Arbitrary<PieceSpec> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('a', 'b', 'ab', '0', '-', 't-', 'ci', '.', '_').map((text) => ({ kind: 'text' as const, text })) },
  { weight: 2, arbitrary: fc.constant({ kind: 'star' as const }) },
  { weight: 2, arbitrary: fc.constantFrom('subject', 'tenant', 'clientId').map((name) => ({ kind: 'var' as const, name })) },
);

const segmentSpec = (tame: boolean): fc.Arbitrary<SegmentSpec> =>
  fc.oneof(
    { weight: 1, arbitrary: fc.constant('globstar' as const) },
    { weight: 4, arbitrary: fc.array(tame ? tamePiece : piece, { minLength: tame ? 1 : 0, maxLength: 4 }) },
  );

const component = fc.stringMatching(/^[abc0]{1,3}(?:-[abc]{1,2})?$/);

function render(segments: readonly SegmentSpec[]): string {
  return segments
    .map((segment) =>
      segment === 'globstar' ? '**' : segment.map((p) => (p.kind === 'text' ? p.text : p.kind === 'star' ? '*' : `{${p.name}}`)).join(''),
    )
    .join('/');
}

/**
 * A pattern and a name built to be near it: each segment instantiated (a `*` filled with
 * random text, a placeholder with the caller's value or something close), then sometimes
 * mutated, so that matches and near misses are both common.
 */
export const patternCaseFor = (who: ModelVars, tame = false): fc.Arbitrary<{ pattern: string; name: string; vars: ModelVars }> =>
  fc.array(segmentSpec(tame), { minLength: 1, maxLength: tame ? 3 : 5 }).chain((segments) => {
    const fillers = segments.map((segment) =>
      segment === 'globstar'
        ? fc.array(tame ? component : plainText(3), { maxLength: 3 })
        : fc.tuple(
            ...segment.map((p): fc.Arbitrary<string> =>
              p.kind === 'text'
                ? tame
                  ? fc.constant(p.text)
                  : fc.oneof({ weight: 5, arbitrary: fc.constant(p.text) }, { weight: 1, arbitrary: hostileText(2) })
                : p.kind === 'star'
                  ? tame
                    ? fc.oneof(fc.constant(''), component)
                    : fc.oneof(plainText(4), hostileText(3))
                  : fc.oneof(
                      { weight: 4, arbitrary: fc.constant(who[p.name] ?? '') },
                      // near misses: the value with its separators changed (`a.b` is not `acb`)
                      { weight: 1, arbitrary: fc.constant((who[p.name] ?? '').replace(/[._-]/g, 'c')) },
                      { weight: 1, arbitrary: value.map((v) => v ?? '') },
                    ),
            ),
          ).map((parts) => [parts.join('')]),
    );
    const instantiated = fc.tuple(...fillers).map((groups) => groups.flat().join('/'));
    const name = tame ? instantiated : fc.oneof({ weight: 4, arbitrary: instantiated }, { weight: 1, arbitrary: hostileText(20) });
    return name.map((n) => ({ pattern: render(segments), name: n, vars: who }));
  });

export const patternCase = vars.chain((who) => patternCaseFor(who));

/** A random pattern string with no structure at all (mostly invalid). */
export const rawPattern: fc.Arbitrary<string> = fc.oneof(
  hostileText(16),
  fc.constantFrom('***', 'a/***', 'a**', '**a', 'a/**b', '{', '}', '{}', '{nope}', '{tenant', 'tenant}', '{{tenant}}', '{Tenant}', '/', '//', '', '**/**/**'),
);
