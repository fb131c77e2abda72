import { describe, expect, it } from 'vitest';
import { createAuthenticator, type ClaimNames } from '../../src/authenticate/authenticate.ts';
import type { AccessTokenVerifier } from '../../src/authenticate/access-token.ts';
import type { Credentials } from '../../src/authenticate/credentials.ts';
import type { DpopVerifier } from '../../src/authenticate/dpop.ts';
import { AuthenticationError } from '../../src/domain/errors.ts';

const JKT = 'jkt-of-the-proof-key';
const CLAIMS: ClaimNames = { plan: 'stellaops:plan', license: 'stellaops:license', tenant: 'tid' };

/** A well-typed DPoP-bound OpTok payload, as the Authority writes it. */
const valid = (): Record<string, unknown> => ({
  iss: 'https://authority.test',
  sub: 'svc-build',
  client_id: 'svc-build',
  aud: 'registry-token',
  exp: 2_000_000_000,
  jti: 'optok-1',
  scope: 'registry.token.issue other',
  cnf: { jkt: JKT },
  'stellaops:plan': 'team',
  'stellaops:license': 'LIC-1',
  tid: 'acme',
});

function setup(payload: Record<string, unknown>, claims: ClaimNames = CLAIMS) {
  const consumed: { proof: string; jkt: string; client: string }[] = [];
  const accessTokens: AccessTokenVerifier = { verify: async () => payload, ready: async () => true, cacheBytes: () => 0 };
  const dpop: DpopVerifier = {
    algorithms: ['ES256'],
    verify: async () => JKT,
    consume: async (proof, jkt, client) => void consumed.push({ proof, jkt, client }),
    use: (proof, jkt, client) => ({ key: `${jkt}:${proof}`, expiresAt: 0, client }),
    judge: async (remembered) => {
      if (!(await remembered)) throw new AuthenticationError('invalid_dpop_proof', 'used before', { scheme: 'DPoP' });
    },
    keyCacheBytes: () => 0,
  };
  const authenticator = createAuthenticator({ accessTokens, dpop, claims, senderConstraint: 'required', authorityIssuer: 'https://authority.test' });
  const credentials: Credentials = { authorization: ['DPoP a.b.c'], dpop: ['the-proof'], method: 'GET', url: 'https://rt.test/token', clientCertificate: undefined };
  return { authenticate: () => authenticator.authenticate(credentials), verify: () => authenticator.verify(credentials), consumed };
}

async function refusal(promise: Promise<unknown>): Promise<AuthenticationError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(AuthenticationError);
  return error as AuthenticationError;
}

describe('createAuthenticator: a well-typed OpTok', () => {
  it('becomes a Principal, and its proof is consumed for its subject', async () => {
    const { authenticate, consumed } = setup(valid());
    const principal = await authenticate();
    expect(principal).toMatchObject({
      subject: 'svc-build',
      clientId: 'svc-build',
      tenant: 'acme',
      plan: 'team',
      license: 'LIC-1',
      tokenId: 'optok-1',
      binding: { method: 'dpop', jkt: JKT },
      scheme: 'DPoP',
    });
    expect([...principal.scopes]).toEqual(['registry.token.issue', 'other']);
    expect(consumed).toEqual([{ proof: 'the-proof', jkt: JKT, client: 'svc-build' }]);
  });

  it('verify stops short of the proof\'s first use: the caller asks the replay cache, and judge says whether it was fresh', async () => {
    const { verify, consumed } = setup(valid());
    const { principal, proof } = await verify();
    expect(principal.subject).toBe('svc-build');
    expect(consumed).toEqual([]);
    expect(proof?.use).toEqual({ key: `${JKT}:the-proof`, expiresAt: 0, client: 'svc-build' });
    await expect(proof!.judge(Promise.resolve(true))).resolves.toBeUndefined();
    await expect(proof!.judge(Promise.resolve(false))).rejects.toThrow(/used before/);
    await proof!.record();
    expect(consumed).toEqual([{ proof: 'the-proof', jkt: JKT, client: 'svc-build' }]);
  });

  it('absent optional claims stay absent; the client id stands in for a missing sub', async () => {
    const payload = valid();
    for (const name of ['sub', 'jti', 'stellaops:plan', 'stellaops:license', 'tid', 'scope']) delete payload[name];
    payload.scp = ['registry.token.issue'];
    const principal = await setup(payload).authenticate();
    expect(principal).toMatchObject({ subject: 'svc-build', plan: undefined, license: undefined, tenant: undefined, tokenId: undefined });
    expect([...principal.scopes]).toEqual(['registry.token.issue']);
  });

  it('reads the configured claim names', async () => {
    const names = { plan: 'https://example.test/plan', license: 'lic', tenant: 'org' };
    const principal = await setup({ ...valid(), 'https://example.test/plan': 'gold', lic: 'L-2', org: 'o-1' }, names).authenticate();
    expect(principal).toMatchObject({ plan: 'gold', license: 'L-2', tenant: 'o-1' });
  });
});

describe('createAuthenticator: a claim of the wrong type refuses the OpTok, naming the claim', () => {
  const table: [label: string, change: Record<string, unknown>, message: string][] = [
    ['an array licence', { 'stellaops:license': ['LIC-REVOKED-1'] }, 'the access token claim "stellaops:license" must be a string'],
    ['a null licence', { 'stellaops:license': null }, 'the access token claim "stellaops:license" must be a string'],
    ['an empty licence', { 'stellaops:license': '' }, 'the access token claim "stellaops:license" must not be empty'],
    ['an array plan', { 'stellaops:plan': ['enterprise'] }, 'the access token claim "stellaops:plan" must be a string'],
    ['an object plan', { 'stellaops:plan': { name: 'enterprise' } }, 'the access token claim "stellaops:plan" must be a string'],
    ['a numeric tenant', { tid: 7 }, 'the access token claim "tid" must be a string'],
    ['a numeric sub', { sub: 12345 }, 'the access token claim "sub" must be a string'],
    ['an empty sub', { sub: '' }, 'the access token claim "sub" must not be empty'],
    ['a numeric client_id', { client_id: 1 }, 'the access token claim "client_id" must be a string'],
    ['an array azp', { azp: ['a'] }, 'the access token claim "azp" must be a string'],
    ['a numeric jti', { jti: 42 }, 'the access token claim "jti" must be a string'],
    ['an array scope', { scope: ['registry.token.issue'] }, 'the access token claim "scope" must be a string'],
    ['a string scp', { scp: 'registry.token.issue' }, 'the access token claim "scp" must be an array of strings'],
    ['an scp with a number', { scp: ['registry.token.issue', 3] }, 'the access token claim "scp" must be an array of strings'],
    ['a string cnf', { cnf: 'jkt' }, 'the access token claim "cnf" must be an object'],
    ['a null cnf', { cnf: null }, 'the access token claim "cnf" must be an object'],
    ['an array cnf', { cnf: [JKT] }, 'the access token claim "cnf" must be an object'],
    ['a numeric cnf.jkt', { cnf: { jkt: 1 } }, 'the access token claim "cnf.jkt" must be a string'],
    ['an array cnf.x5t#S256', { cnf: { 'x5t#S256': ['x'] } }, 'the access token claim "cnf.x5t#S256" must be a string'],
  ];

  it.each(table)('%s', async (_label, change, message) => {
    const { authenticate, consumed } = setup({ ...valid(), ...change });
    const error = await refusal(authenticate());
    expect(error.reason).toBe('invalid_token');
    expect(error.status).toBe(401);
    expect(error.scheme).toBe('DPoP');
    expect(error.message).toBe(message);
    // refused before the proof's jti is remembered
    expect(consumed).toEqual([]);
  });

  it('a numeric sub never becomes the client id', async () => {
    const error = await refusal(setup({ ...valid(), sub: 12345 }).authenticate());
    expect(error.message).toMatch(/"sub"/);
  });

  it('a wrong-typed custom claim name is named as configured', async () => {
    const names = { plan: 'https://example.test/plan', license: 'lic', tenant: 'org' };
    const error = await refusal(setup({ ...valid(), lic: ['L'] }, names).authenticate());
    expect(error.message).toBe('the access token claim "lic" must be a string');
  });

  it('an OpTok with neither sub nor client id names no subject', async () => {
    const payload = valid();
    delete payload.sub;
    delete payload.client_id;
    const error = await refusal(setup(payload).authenticate());
    expect(error.message).toBe('the access token names no subject (sub)');
  });
});
