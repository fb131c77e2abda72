// OpToks from the real development Authority carrying claims of the wrong type (the issue's
// examples): refused 401 invalid_token naming the claim on /token and on the admin API, never
// treated as absent. And the start-up warning when the typ check is turned off.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthority, type DevAuthority, type DevClient } from '../../src/dev/authority.ts';
import { AUDIENCE, SERVICE, startStack, type Stack } from '../support/stack.ts';
import { callWithProof, expectProblem, makeProof, newDpopKeys, tokenUrl, type KeyPair } from '../support/dpop-client.ts';

const ISSUE = 'registry.token.issue';
const ADMIN = 'registry.token.admin';
const client = (clientId: string, claims: Record<string, unknown>, scope = ISSUE): DevClient => ({
  clientId,
  clientSecret: `secret-${clientId}-0000000000`,
  binding: 'dpop',
  scope,
  claims: { 'stellaops:plan': 'team', 'stellaops:license': 'lic-ok', tid: 'acme', ...claims },
});
const CLIENTS = [
  client('array-licence', { 'stellaops:license': ['lic-revoked'] }),
  client('array-plan', { 'stellaops:plan': ['operator'] }),
  client('numeric-tenant', { tid: 42 }),
  client('array-licence-admin', { 'stellaops:license': ['lic-revoked'], 'stellaops:plan': 'operator' }, `${ISSUE} ${ADMIN}`),
  client('fine', {}),
];

let authority: DevAuthority;
let stack: Stack;
let lenient: Stack;
let keys: KeyPair;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  authority = await startAuthority({ audience: AUDIENCE, clients: CLIENTS, extraScopes: [ADMIN] });
  stack = await startStack({ existingAuthority: authority });
  lenient = await startStack({
    existingAuthority: authority,
    config: (base) => ({ ...base, authority: { ...(base.authority as object), requireAccessTokenType: false } }),
  });
  keys = await newDpopKeys();
  for (const { clientId } of CLIENTS) tokens[clientId] = await authority.tokenWithDpop(clientId, keys);
});

afterAll(async () => {
  await lenient?.close();
  await stack?.close();
  await authority?.close();
});

async function call(path: string, clientId: string) {
  const url = path === '/token' ? tokenUrl(stack.url, { service: SERVICE, scope: ['repository:team/app:pull,push'] }) : `${stack.url}${path}`;
  const token = tokens[clientId]!;
  return callWithProof(url, { token, proof: await makeProof(keys, 'GET', url, token) });
}

const invalidToken = { status: 401, code: 'invalid_token', challenge: { scheme: 'DPoP', error: 'invalid_token' } } as const;

describe('claims of the wrong type', () => {
  it('the dev Authority issues them as given (the premise of these tests)', () => {
    const payload = JSON.parse(Buffer.from(tokens['array-licence']!.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    expect(payload['stellaops:license']).toEqual(['lic-revoked']);
  });

  it.each([
    ['array-licence', 'stellaops:license'],
    ['array-plan', 'stellaops:plan'],
    ['numeric-tenant', 'tid'],
  ])('%s is refused on /token, naming %s', async (clientId, claim) => {
    const body = await expectProblem(await call('/token', clientId), invalidToken);
    expect(body.detail).toBe(`the access token claim "${claim}" must be a string`);
  });

  it('an array licence does not pass the admin API', async () => {
    const body = await expectProblem(await call('/admin/revocations', 'array-licence-admin'), invalidToken);
    expect(body.detail).toBe('the access token claim "stellaops:license" must be a string');
  });

  it('a well-typed OpTok of the same Authority is issued', async () => {
    const res = await call('/token', 'fine');
    expect(res.status, res.body).toBe(200);
  });
});

describe('authority.requireAccessTokenType', () => {
  it('is on by default, silently', () => {
    expect(stack.config.authority.requireAccessTokenType).toBe(true);
    expect(stack.logs()).not.toMatch(/requireAccessTokenType/);
  });

  it('turned off, is warned about at start-up', () => {
    const warning = lenient
      .logs()
      .split('\n')
      .filter((line) => line.includes('requireAccessTokenType'))
      .map((line) => JSON.parse(line) as { level: number; msg: string });
    expect(warning).toHaveLength(1);
    expect(warning[0]!.level).toBe(40);
  });
});
