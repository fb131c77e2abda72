// The admin API over real HTTP: operator authentication (DPoP, admin scope), runtime
// revocations that survive a restart on the same ledger, and the issuance audit.
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthority, type DevAuthority } from '../../src/dev/authority.ts';
import type { IssuanceRecord, Revocation } from '../../src/record/ledger.ts';
import { AUDIENCE, CLIENTS, SERVICE, startStack, type Stack } from '../support/stack.ts';
import {
  callWithProof,
  decodeJwt,
  expectProblem,
  makeProof,
  newDpopKeys,
  tokenUrl,
  type KeyPair,
  type ProofOverrides,
  type RawResponse,
} from '../support/dpop-client.ts';

type Who = 'operator' | 'team-dpop';

let authority: DevAuthority;
/** The first service; closed half-way and replaced by `second` on the same ledger directory. */
let first: Stack;
let second: Stack | undefined;
let firstClosed = false;
const keys = {} as Record<Who, KeyPair>;
const opToks = {} as Record<Who, string>;
/** jtis of the registry tokens team-dpop got, in issue order. */
const issuedJtis: string[] = [];

const current = (): Stack => second ?? first;

async function admin(
  method: 'GET' | 'PUT' | 'DELETE',
  path: string,
  options: { who?: Who | null; body?: unknown; overrides?: ProofOverrides; target?: Stack } = {},
): Promise<RawResponse> {
  const url = `${(options.target ?? current()).url}${path}`;
  const who = options.who === undefined ? 'operator' : options.who;
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  const headers: [string, string][] = body === undefined ? [] : [['Content-Type', 'application/json']];
  if (who === null) return callWithProof(url, { method, headers, ...(body === undefined ? {} : { body }) });
  const proof = await makeProof(keys[who], method, url, opToks[who], options.overrides);
  return callWithProof(url, { method, token: opToks[who], proof, headers, ...(body === undefined ? {} : { body }) });
}

/** A team-dpop exchange against the current service. */
async function exchange(): Promise<RawResponse> {
  const url = tokenUrl(current().url, { service: SERVICE, scope: ['repository:team/app:pull'] });
  const proof = await makeProof(keys['team-dpop'], 'GET', url, opToks['team-dpop']);
  const res = await callWithProof(url, { token: opToks['team-dpop'], proof, headers: [['X-Request-Id', `adm-${randomUUID()}`]] });
  if (res.status === 200) issuedJtis.push(decodeJwt(res.json<{ token: string }>().token).payload.jti as string);
  return res;
}

async function expectRevoked(code: 'license_revoked' | 'subject_revoked'): Promise<void> {
  await expectProblem(await exchange(), { status: 403, code, challenge: { scheme: 'DPoP', error: 'insufficient_scope' } });
}

beforeAll(async () => {
  authority = await startAuthority({ audience: AUDIENCE, clients: CLIENTS });
  first = await startStack({ existingAuthority: authority });
  for (const who of ['operator', 'team-dpop'] as const) {
    keys[who] = await newDpopKeys();
    opToks[who] = await authority.tokenWithDpop(who, keys[who]);
  }
});

afterAll(async () => {
  await second?.close();
  if (firstClosed) rmSync(first.dir, { recursive: true, force: true });
  else await first?.close();
  await authority?.close();
});

describe('admin API authentication', () => {
  it('no credentials is 401 invalid_token', async () => {
    for (const [method, path] of [
      ['GET', '/admin/revocations'],
      ['GET', '/admin/issuances'],
      ['GET', '/admin/issuances/some-jti'],
      ['PUT', '/admin/revocations/lic-team'],
      ['DELETE', '/admin/revocations/subjects/team-dpop'],
    ] as const) {
      await expectProblem(await admin(method, path, { who: null, ...(method === 'PUT' ? { body: { reason: 'x' } } : {}) }), {
        status: 401,
        code: 'invalid_token',
        challenge: { schemes: ['DPoP'] },
      });
    }
  });

  it('an OpTok without registry.token.admin is 403 insufficient_scope', async () => {
    await expectProblem(await admin('GET', '/admin/revocations', { who: 'team-dpop' }), {
      status: 403,
      code: 'insufficient_scope',
      challenge: { scheme: 'DPoP', error: 'insufficient_scope' },
    });
    await expectProblem(await admin('PUT', '/admin/revocations/lic-other', { who: 'team-dpop', body: { reason: 'self-service?' } }), {
      status: 403,
      code: 'insufficient_scope',
      challenge: { scheme: 'DPoP', error: 'insufficient_scope' },
    });
    expect(await first.service.ledger.listRevocations()).toEqual([]);
  });

  it('the operator’s proof must name this method and URL', async () => {
    await expectProblem(await admin('PUT', '/admin/revocations/lic-team', { body: { reason: 'x' }, overrides: { htm: 'GET' } }), {
      status: 401,
      code: 'invalid_dpop_proof',
      challenge: { scheme: 'DPoP', error: 'invalid_dpop_proof' },
    });
    await expectProblem(await admin('GET', '/admin/revocations', { overrides: { htu: `${first.url}/admin/issuances` } }), {
      status: 401,
      code: 'invalid_dpop_proof',
      challenge: { scheme: 'DPoP', error: 'invalid_dpop_proof' },
    });
    expect(await first.service.ledger.listRevocations()).toEqual([]);
  });
});

describe('runtime revocations', () => {
  it('a licence revocation applies at once', async () => {
    // The same OpTok before and after: the first use put it in the verified-OpTok cache, and the
    // revocation must still reach it (revocations are checked on every use).
    expect((await exchange()).status).toBe(200);
    const res = await admin('PUT', '/admin/revocations/lic-team', { body: { reason: 'unpaid invoice' } });
    expect(res.status, res.body).toBe(200);
    const revocation = res.json<Revocation>();
    expect(revocation).toMatchObject({ kind: 'license', value: 'lic-team', reason: 'unpaid invoice', revokedBy: 'operator' });
    expect(new Date(revocation.revokedAt).toISOString()).toBe(revocation.revokedAt);
    await expectRevoked('license_revoked');
  });

  it('GET /admin/revocations lists it', async () => {
    const res = await admin('GET', '/admin/revocations');
    expect(res.status).toBe(200);
    expect(res.json<{ revocations: Revocation[] }>().revocations).toEqual([
      expect.objectContaining({ kind: 'license', value: 'lic-team', reason: 'unpaid invoice', revokedBy: 'operator' }),
    ]);
  });

  it('a revocation body must be {reason}', async () => {
    for (const body of [{}, { reason: '' }, { reason: 'ok', extra: 1 }, { reason: 42 }]) {
      await expectProblem(await admin('PUT', '/admin/revocations/lic-x', { body }), {
        status: 400,
        code: 'invalid_request',
        challenge: { scheme: 'Bearer', error: 'invalid_request' },
      });
    }
  });

  it('survives a restart on the same ledger directory', async () => {
    const ledgerPath = first.config.ledger.path;
    await first.service.close();
    firstClosed = true;
    second = await startStack({
      existingAuthority: authority,
      config: (base) => ({ ...base, ledger: { ...(base.ledger as object), path: ledgerPath } }),
    });
    expect(second.config.ledger.path).toBe(ledgerPath);
    await expectRevoked('license_revoked');
  });

  it('DELETE lifts it (204), and exchanges work again; a second DELETE is 404', async () => {
    const res = await admin('DELETE', '/admin/revocations/lic-team');
    expect(res.status, res.body).toBe(204);
    expect(res.body).toBe('');
    expect((await exchange()).status).toBe(200);
    await expectProblem(await admin('DELETE', '/admin/revocations/lic-team'), { status: 404, code: 'not_found', challenge: null });
  });

  it('a licence revoked in the configuration cannot be lifted at run time', async () => {
    await expectProblem(await admin('DELETE', '/admin/revocations/lic-revoked'), { status: 404, code: 'not_found', challenge: null });
  });

  it('a subject revocation refuses that subject only, until lifted', async () => {
    const put = await admin('PUT', '/admin/revocations/subjects/team-dpop', { body: { reason: 'compromised CI runner' } });
    expect(put.status, put.body).toBe(200);
    expect(put.json<Revocation>()).toMatchObject({ kind: 'subject', value: 'team-dpop', revokedBy: 'operator' });
    await expectRevoked('subject_revoked');
    const list = (await admin('GET', '/admin/revocations')).json<{ revocations: Revocation[] }>().revocations;
    expect(list).toEqual([expect.objectContaining({ kind: 'subject', value: 'team-dpop' })]);
    // The operator itself is not affected.
    const url = tokenUrl(current().url, { service: SERVICE });
    const operator = await callWithProof(url, { token: opToks.operator, proof: await makeProof(keys.operator, 'GET', url, opToks.operator) });
    expect(operator.status).toBe(200);
    const del = await admin('DELETE', '/admin/revocations/subjects/team-dpop');
    expect(del.status).toBe(204);
    expect((await exchange()).status).toBe(200);
  });

  it('a revoked operator client cannot use the admin API, not even to lift its own revocation', async () => {
    // Revoked by the configuration so that nothing the operator does at run time can undo it.
    const locked = await startStack({
      existingAuthority: authority,
      config: (base) => ({ ...base, revokedLicenses: ['lic-op'] }),
    });
    try {
      await expectProblem(await admin('GET', '/admin/revocations', { target: locked }), { status: 403, code: 'license_revoked', challenge: { scheme: 'DPoP', error: 'insufficient_scope' } });
      await expectProblem(await admin('DELETE', '/admin/revocations/lic-op', { target: locked }), { status: 403, code: 'license_revoked', challenge: { scheme: 'DPoP', error: 'insufficient_scope' } });
    } finally {
      await locked.close();
    }
  });

  it('a licence named "subjects" is still a licence', async () => {
    const put = await admin('PUT', '/admin/revocations/subjects', { body: { reason: 'odd name' } });
    expect(put.status, put.body).toBe(200);
    expect(put.json<Revocation>()).toMatchObject({ kind: 'license', value: 'subjects' });
    expect((await admin('DELETE', '/admin/revocations/subjects')).status).toBe(204);
  });
});

describe('issuance audit', () => {
  interface Page {
    issuances: IssuanceRecord[];
    nextCursor: string | null;
  }

  it('GET /admin/issuances?subject=…&limit=2 pages newest first through every record', async () => {
    for (let i = 0; i < 3; i++) expect((await exchange()).status).toBe(200);
    const all = (await current().service.ledger.query({ subject: 'team-dpop', limit: 1000 })).records;
    expect(all.length).toBeGreaterThanOrEqual(8);

    const seen: IssuanceRecord[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = `subject=team-dpop&limit=2${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;
      const res = await admin('GET', `/admin/issuances?${query}`);
      expect(res.status, res.body).toBe(200);
      const page = res.json<Page>();
      expect(page.issuances.length).toBeLessThanOrEqual(2);
      expect(page.issuances.every((r) => r.subject === 'team-dpop')).toBe(true);
      seen.push(...page.issuances);
      cursor = page.nextCursor;
      pages++;
    } while (cursor !== null && pages < 100);
    expect(cursor).toBeNull();
    expect(pages).toBe(Math.ceil(all.length / 2));
    expect(seen.map((r) => r.jti)).toEqual(all.map((r) => r.jti));
    // Newest first. Issued records carry the token's whole-second iat, refusals milliseconds,
    // so the order is only monotonic at second precision.
    const seconds = seen.map((r) => Math.floor(Date.parse(r.issuedAt) / 1000));
    expect(seconds).toEqual([...seconds].sort((a, b) => b - a));
    // Every token team-dpop got, newest first, across the restart.
    const issued = seen.filter((r) => r.outcome === 'issued').map((r) => r.jti);
    expect(issued).toEqual([...issuedJtis].reverse());
  });

  it('?outcome=rejected lists the refusals', async () => {
    const res = await admin('GET', '/admin/issuances?outcome=rejected&limit=500');
    expect(res.status).toBe(200);
    const { issuances } = res.json<Page>();
    expect(issuances.length).toBeGreaterThanOrEqual(3);
    expect(issuances.every((r) => r.outcome === 'rejected')).toBe(true);
    expect(issuances.map((r) => r.reason)).toEqual(expect.arrayContaining(['license_revoked', 'subject_revoked']));
  });

  it('?since= and ?until= bound the time range', async () => {
    const all = (await current().service.ledger.query({ limit: 1000 })).records;
    const newest = all[0]!;
    const since = encodeURIComponent(newest.issuedAt);
    const res = await admin('GET', `/admin/issuances?since=${since}&limit=500`);
    expect(res.status, res.body).toBe(200);
    const { issuances } = res.json<Page>();
    expect(issuances.map((r) => r.jti)).toContain(newest.jti);
    expect(issuances.every((r) => Date.parse(r.issuedAt) >= Date.parse(newest.issuedAt))).toBe(true);
    const until = await admin('GET', `/admin/issuances?until=${encodeURIComponent('2000-01-01T00:00:00Z')}`);
    expect(until.json<Page>().issuances).toEqual([]);
  });

  it('a bad query is 400 invalid_request', async () => {
    for (const query of ['since=yesterday', 'until=2026-13-45', 'limit=100000', 'limit=0', 'limit=abc', 'outcome=maybe', 'colour=blue', 'cursor=not-a-cursor']) {
      await expectProblem(await admin('GET', `/admin/issuances?${query}`), {
        status: 400,
        code: 'invalid_request',
        challenge: { scheme: 'Bearer', error: 'invalid_request' },
      });
    }
  });

  it('GET /admin/issuances/{jti} answers the record; an unknown jti is 404', async () => {
    const jti = issuedJtis.at(-1)!;
    const res = await admin('GET', `/admin/issuances/${encodeURIComponent(jti)}`);
    expect(res.status, res.body).toBe(200);
    const record = res.json<IssuanceRecord>();
    expect(record).toEqual(await current().service.ledger.get(jti));
    expect(record).toMatchObject({ jti, outcome: 'issued', subject: 'team-dpop', binding: { method: 'dpop' } });
    await expectProblem(await admin('GET', '/admin/issuances/no-such-jti'), { status: 404, code: 'not_found', challenge: null });
  });

  it('admin calls themselves are not token decisions', async () => {
    const all = (await current().service.ledger.query({ limit: 1000 })).records;
    expect(all.every((r) => r.subject !== 'operator' || r.requestedScopes.length === 0)).toBe(true);
    expect(all.filter((r) => r.subject === 'operator')).toHaveLength(1);
  });
});
