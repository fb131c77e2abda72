// Assertions of the battery: a refusal is a problem document with the status, our reason
// `code`, the OAuth `error` (body and WWW-Authenticate) and the Docker `errors[0].code`.
import { expect } from 'vitest';
import { parseChallenge, type KeyPair, type RawResponse } from '../../support/dpop-client.ts';
import { exchange } from './harness.ts';

export const DOCKER: Record<number, string> = { 400: 'DENIED', 401: 'UNAUTHORIZED', 403: 'DENIED', 404: 'NOT_FOUND', 405: 'DENIED', 414: 'DENIED', 429: 'TOOMANYREQUESTS', 503: 'UNAVAILABLE' };

export interface Refusal {
  status: number;
  /** Our reason (`code` of the problem body, the ledger `reason`). */
  code: string;
  /** The OAuth error (`error` of the body); also in WWW-Authenticate when `challenge` is set. */
  error?: string;
  /** The WWW-Authenticate scheme that must carry `error=`; undefined: not checked; null: no header. */
  challenge?: 'DPoP' | 'Bearer' | null;
}

export interface ProblemDocument {
  status: number;
  code: string;
  error: string;
  detail: string;
  errors: { code: string; message: string }[];
}

export function expectRefusal(res: RawResponse, expected: Refusal): ProblemDocument {
  const context = `expected ${expected.status} ${expected.code}; got ${res.status} ${res.headers['www-authenticate'] ?? ''} ${res.body.slice(0, 300)}`;
  expect(res.status, context).toBe(expected.status);
  expect(res.headers['content-type'], context).toMatch(/^application\/problem\+json/);
  const body = res.json<ProblemDocument>();
  expect(body.code, context).toBe(expected.code);
  if (expected.error !== undefined) expect(body.error, context).toBe(expected.error);
  expect(body.errors?.[0]?.code, context).toBe(DOCKER[expected.status]);
  const header = res.headers['www-authenticate'];
  if (expected.challenge === null) expect(header, context).toBeUndefined();
  else if (expected.challenge !== undefined) {
    const challenge = challenges(header)[expected.challenge];
    expect(challenge, context).toBeDefined();
    expect(challenge?.error, context).toBe(expected.error);
  }
  return body;
}

/** Every challenge of a WWW-Authenticate value (one header may carry `DPoP ..., Bearer ...`), by scheme. */
export function challenges(header: string | undefined): Partial<Record<'DPoP' | 'Bearer', Record<string, string>>> {
  const out: Partial<Record<'DPoP' | 'Bearer', Record<string, string>>> = {};
  if (header === undefined) return out;
  const starts = [...header.matchAll(/(?:^|,\s*)(DPoP|Bearer)(?=\s|$)/g)];
  starts.forEach((match, i) => {
    const end = starts[i + 1]?.index ?? header.length;
    const part = header.slice(match.index + match[0].length, end);
    out[match[1] as 'DPoP' | 'Bearer'] = parseChallenge(`${match[1]} ${part.trim()}`)?.params ?? {};
  });
  return out;
}

export const invalidToken: Refusal = { status: 401, code: 'invalid_token', error: 'invalid_token', challenge: 'DPoP' };
export const invalidProof: Refusal = { status: 401, code: 'invalid_dpop_proof', error: 'invalid_dpop_proof', challenge: 'DPoP' };

/** The service still answers an ordinary exchange normally: 200 and the team/app pull grant. */
export async function expectServes(service: { url: string }, token: string, keys: KeyPair, localAddress?: string): Promise<void> {
  const res = await exchange(service, token, keys, { scope: ['repository:team/app:pull'], ...(localAddress === undefined ? {} : { localAddress }) });
  expect(res.status, `a valid exchange after the attack: ${res.body.slice(0, 300)}`).toBe(200);
  const { token: registryToken } = res.json<{ token: string }>();
  const payload = JSON.parse(Buffer.from(registryToken.split('.')[1]!, 'base64url').toString('utf8')) as { access: unknown };
  expect(payload.access).toEqual([{ type: 'repository', name: 'team/app', actions: ['pull'] }]);
}
