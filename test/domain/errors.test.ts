// The error hierarchy's stack policy: a refusal is an expected answer and carries no stack
// (capturing one was a measurable share of a refused request's cost under a flood); a 503 keeps
// its stack, and constructing either leaves Error.stackTraceLimit as it was.
import { describe, expect, it } from 'vitest';
import { AuthenticationError, ForbiddenError, InvalidRequestError, NotFoundError, TooManyRequestsError, UnavailableError } from '../../src/domain/errors.ts';

const frames = (error: Error) => (error.stack ?? '').split('\n').filter((line) => line.trimStart().startsWith('at ')).length;

describe('ServiceError stacks', () => {
  it('refusals (4xx) carry no stack frames, only their name and message', () => {
    const refusals = [
      new InvalidRequestError('invalid_scope', 'bad scope'),
      new AuthenticationError('invalid_token', 'expired'),
      new ForbiddenError('insufficient_scope', 'no'),
      new NotFoundError('nothing here'),
      new TooManyRequestsError('slow down', { retryAfterSeconds: 3 }),
    ];
    for (const error of refusals) {
      expect(frames(error), error.name).toBe(0);
      expect(error.stack).toBe(`${error.name}: ${error.message}`);
    }
  });

  it('a 503 keeps its stack, and Error.stackTraceLimit is left as it was', () => {
    const before = Error.stackTraceLimit;
    new AuthenticationError('invalid_token', 'expired');
    expect(Error.stackTraceLimit).toBe(before);
    expect(frames(new UnavailableError('ledger_unavailable', 'disk full'))).toBeGreaterThan(0);
    expect(frames(new Error('an ordinary error after a refusal'))).toBeGreaterThan(0);
  });
});
