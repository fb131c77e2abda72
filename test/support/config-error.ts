import { expect } from 'vitest';
import { ConfigError } from '../../src/domain/errors.ts';

/** The ConfigError `fn` throws; neither its message nor any problem may carry a stack trace. */
export function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    const e = error as ConfigError;
    expect(e.message).not.toContain('    at ');
    for (const problem of e.problems) expect(problem).not.toContain('    at ');
    expect(e.message).toBe(`invalid configuration:\n  - ${e.problems.join('\n  - ')}`);
    return e;
  }
  throw new Error('expected a ConfigError, none was thrown');
}
