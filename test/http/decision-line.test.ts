// The decision line names the first 16 requested scopes and counts the rest: a refusal of 64
// long scopes used to make a 12 KB line, a second disk to fill and most of that refusal's CPU.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVICE, startStack, type Stack } from '../support/stack.ts';
import { rawRequest, tokenUrl } from '../support/dpop-client.ts';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.close();
});

function decisions(requestId: string): Record<string, unknown>[] {
  return stack
    .logs()
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => line.requestId === requestId && (line.msg === 'token issued' || line.msg === 'token refused'));
}

describe('the decision line', () => {
  it('names at most 16 requested scopes and counts the others', async () => {
    const scopes = Array.from({ length: 40 }, (_, i) => `repository:team/${'x'.repeat(180)}-${i}:pull,push`);
    const res = await rawRequest(tokenUrl(stack.url, { service: SERVICE, scope: scopes }), { headers: [['X-Request-Id', 'decision-line-many']] });
    expect(res.status).toBe(401);
    const [line, ...more] = decisions('decision-line-many');
    expect(more).toEqual([]);
    expect(line!.scopes).toEqual(scopes.slice(0, 16));
    expect(line!.scopesOmitted).toBe(24);
    expect(JSON.stringify(line).length).toBeLessThan(4096);
  });

  it('names every scope of an ordinary request, with no count', async () => {
    const scopes = ['repository:team/app:pull', 'repository:library/base:pull'];
    const res = await rawRequest(tokenUrl(stack.url, { service: SERVICE, scope: scopes }), { headers: [['X-Request-Id', 'decision-line-few']] });
    expect(res.status).toBe(401);
    const [line] = decisions('decision-line-few');
    expect(line!.scopes).toEqual(scopes);
    expect(line).not.toHaveProperty('scopesOmitted');
  });
});
