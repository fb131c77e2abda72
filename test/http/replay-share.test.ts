// The DPoP replay cache is shared fairly (issue 7, defect 8): one client holding its share gets
// 429 with Retry-After, and an unrelated client is still served, over real HTTP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVICE, startStack, type Stack } from '../support/stack.ts';
import { callWithProof, expectProblem, makeProof, newDpopKeys, tokenUrl, type KeyPair } from '../support/dpop-client.ts';

let stack: Stack;
const keys: Record<string, KeyPair> = {};
const tokens: Record<string, string> = {};

beforeAll(async () => {
  stack = await startStack({
    config: (base) => ({
      ...base,
      authority: { ...(base.authority as object), dpop: { replayCacheSize: 100, replayCachePerClient: 10 } },
    }),
  });
  for (const client of ['team-dpop', 'no-plan']) {
    keys[client] = await newDpopKeys();
    tokens[client] = await stack.authority.tokenWithDpop(client, keys[client]);
  }
});

afterAll(async () => {
  await stack?.close();
});

async function exchange(client: string) {
  const url = tokenUrl(stack.url, { service: SERVICE, scope: ['repository:library/base:pull'] });
  const token = tokens[client]!;
  return callWithProof(url, { token, proof: await makeProof(keys[client]!, 'GET', url, token) });
}

describe('the replay cache share', () => {
  it('a client past its share gets 429 rate_limited; another client is still served', async () => {
    for (let i = 0; i < 10; i++) expect((await exchange('team-dpop')).status).toBe(200);
    const refused = await exchange('team-dpop');
    const body = await expectProblem(refused, { status: 429, code: 'rate_limited', challenge: null });
    expect(body.errors[0]?.code).toBe('TOOMANYREQUESTS');
    const retryAfter = Number(refused.headers['retry-after']);
    // until the oldest proof is forgotten: at most max age + tolerance + 1 s away (60 + 5 + 1)
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(66);
    expect((await exchange('no-plan')).status).toBe(200);
  });
});
