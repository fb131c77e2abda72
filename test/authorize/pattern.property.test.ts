// The pattern matcher against an independent model (plan-model.ts), on random patterns,
// names and caller values. fast-check prints the seed and the shrunk case on failure.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compilePattern } from '../../src/authorize/pattern.ts';
import { patternCase, rawPattern, vars } from './arbitraries.ts';
import { modelMatches, modelPattern } from './plan-model.ts';

function compiles(source: string): boolean {
  try {
    compilePattern(source);
    return true;
  } catch (error) {
    // A bad pattern is a load-time TypeError, reported with the config key; nothing else.
    expect(error).toBeInstanceOf(TypeError);
    return false;
  }
}

describe('compilePattern (property)', () => {
  it('agrees with the model on random patterns, names and caller values', () => {
    fc.assert(
      fc.property(patternCase, ({ pattern, name, vars: who }) => {
        const model = modelPattern(pattern);
        expect(compiles(pattern)).toBe(model.ok);
        if (!model.ok) return;
        expect(compilePattern(pattern).matches(name, who)).toBe(modelMatches(model, name, who));
      }),
      { numRuns: 3000 },
    );
  });

  it('accepts or refuses any pattern string as the model does, and never throws anything but TypeError', () => {
    fc.assert(
      fc.property(rawPattern, vars, fc.string({ unit: 'binary', maxLength: 30 }), (pattern, who, name) => {
        const model = modelPattern(pattern);
        expect(compiles(pattern)).toBe(model.ok);
        if (model.ok) expect(compilePattern(pattern).matches(name, who)).toBe(modelMatches(model, name, who));
      }),
      { numRuns: 1000 },
    );
  });

  it('a placeholder never matches for a caller without a usable value', () => {
    fc.assert(
      fc.property(patternCase, ({ pattern, name, vars: who }) => {
        const model = modelPattern(pattern);
        fc.pre(model.ok && /\{(subject|tenant|clientId)\}/.test(pattern));
        const stripped = { subject: undefined, tenant: undefined, clientId: undefined };
        expect(compilePattern(pattern).matches(name, stripped)).toBe(false);
        expect(compilePattern(pattern).matches(name, { ...who, tenant: 'a/b', subject: '.*', clientId: '' })).toBe(false);
      }),
      { numRuns: 500 },
    );
  });

  it('one compiled pattern serves many callers in turn (its per-caller cache does not leak between them)', () => {
    fc.assert(
      fc.property(patternCase, fc.array(vars, { minLength: 1, maxLength: 8 }), ({ pattern, name }, callers) => {
        const model = modelPattern(pattern);
        fc.pre(model.ok);
        const compiled = compilePattern(pattern);
        for (const who of [...callers, ...callers.reverse()]) {
          expect(compiled.matches(name, who)).toBe(modelMatches(model, name, who));
        }
      }),
      { numRuns: 500 },
    );
  });
});
