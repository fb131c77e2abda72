import { expect } from 'vitest';
import { ConfigError } from '../../src/domain/errors.ts';

/** The error `fn` throws, checked to be of `type`; fails the test when nothing is thrown. */
export function thrown<E extends Error>(type: abstract new (...args: never[]) => E, fn: () => unknown): E {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(type);
    return error as E;
  }
  throw new Error(`expected a ${type.name}, none was thrown`);
}

/** The ConfigError `fn` throws; neither its message nor any problem may carry a stack trace. */
export function configError(fn: () => unknown): ConfigError {
  const e = thrown(ConfigError, fn);
  expect(e.message).not.toContain('    at ');
  for (const problem of e.problems) expect(problem).not.toContain('    at ');
  expect(e.message).toBe(`invalid configuration:\n  - ${e.problems.join('\n  - ')}`);
  return e;
}
