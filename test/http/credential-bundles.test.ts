// POST /admin/bundles/credentials over real HTTP: admin authentication as for the rest of the
// admin API, the plan and revocation checks of POST /credentials, one ledger record per
// credential, an answer that writes out as a bundle `bundle verify` accepts, credentials that
// work as passwords at GET /token within the plan and the narrowing, and revocation by id.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyBundle, writeBundleFiles } from '../../src/bundle/manifest.ts';
import { callWithProof, decodeJwt, expectProblem, makeProof, newDpopKeys, rawRequest, tokenUrl, type KeyPair, type RawResponse } from '../support/dpop-client.ts';
import { CLI } from '../support/process.ts';
import { CLIENTS, SERVICE, startStack, treeText, type Stack } from '../support/stack.ts';

type Who = 'operator' | 'team-dpop';
let stack: Stack;
const keys = {} as Record<Who, KeyPair>;
const opToks = {} as Record<Who, string>;

interface Answer {
  kind: string;
  created: string;
  signedBy: { kid: string; alg: string };
  credentials: { id: string; subject: string; name?: string; scopes: string[]; notBefore: string; expiresAt: string; file: string; sha256: string }[];
  files: { path: string; mode: string; content: string }[];
}

const ORDER = { subject: 'mirror-site-7', plan: 'team', license: 'lic-7', tenant: 'acme', scope: 'repository:team/app:pull', expires_in: 7_776_000 };

async function order(body: unknown, who: Who | null = 'operator', method = 'POST'): Promise<RawResponse> {
  const url = `${stack.url}/admin/bundles/credentials`;
  const headers: [string, string][] = [['Content-Type', 'application/json']];
  if (who === null) return callWithProof(url, { method, headers, body: JSON.stringify(body) });
  const proof = await makeProof(keys[who], method, url, opToks[who]);
  return callWithProof(url, { method, token: opToks[who], proof, headers, body: JSON.stringify(body) });
}

const secretOf = (answer: Answer, id: string) => Buffer.from(answer.files.find((f) => f.path === `secrets/${id}`)!.content, 'base64').toString('ascii').trim();

function basicToken(secret: string, scope: string[]): Promise<RawResponse> {
  return rawRequest(tokenUrl(stack.url, { service: SERVICE, scope }), { headers: [['Authorization', `Basic ${Buffer.from(`mirror:${secret}`).toString('base64')}`]] });
}

beforeAll(async () => {
  stack = await startStack();
  for (const who of ['operator', 'team-dpop'] as const) {
    keys[who] = await newDpopKeys();
    opToks[who] = await stack.authority.tokenWithDpop(who, keys[who]);
  }
});
afterAll(async () => {
  await stack?.close();
});

describe('POST /admin/bundles/credentials', () => {
  it('needs the admin API’s own authentication: no OpTok 401, no admin scope 403', async () => {
    await expectProblem(await order(ORDER, null), { status: 401, code: 'invalid_token', challenge: { schemes: ['DPoP'] } });
    await expectProblem(await order(ORDER, 'team-dpop'), { status: 403, code: 'insufficient_scope', challenge: { scheme: 'DPoP', error: 'insufficient_scope' } });
    const { records } = await stack.service.ledger.query({ subject: 'mirror-site-7', limit: 10 });
    expect(records).toEqual([]);
  });

  it('answers every file of a bundle that verifies, records each credential, and never records a secret', async () => {
    const res = await order({ ...ORDER, names: ['mirror-a', 'mirror-b'], created: '2026-11-01T00:00:00Z' });
    expect(res.status, res.body).toBe(201);
    expect(res.headers['cache-control']).toBe('no-store');
    const answer = res.json<Answer>();
    expect(answer).toMatchObject({ kind: 'credentials', created: '2026-11-01T00:00:00Z', signedBy: { kid: stack.service.keys.current().active.keyId } });
    expect(answer.credentials.map((c) => c.name).sort()).toEqual(['mirror-a', 'mirror-b']);
    expect(answer.files.map((f) => [f.path, f.mode])).toEqual(expect.arrayContaining([['manifest.json', '0644'], ['manifest.jws', '0644'], ...answer.credentials.map((c) => [c.file, '0600'])]));

    const dir = join(stack.dir, `kit-${randomUUID()}`);
    await writeBundleFiles(dir, answer.files.map((f) => ({ path: f.path, mode: Number.parseInt(f.mode, 8), bytes: Buffer.from(f.content, 'base64') })), answer.created);
    const jwks = (await (await fetch(`${stack.url}/.well-known/jwks.json`)).json()) as { keys: [] };
    expect(await verifyBundle(dir, jwks)).toMatchObject({ ok: true, kind: 'credentials', files: 2 });

    for (const c of answer.credentials) {
      expect(await stack.service.ledger.get(c.id)).toMatchObject({
        outcome: 'issued', operation: 'credential', subject: 'mirror-site-7', plan: 'team', license: 'lic-7', tenant: 'acme',
        credentialName: c.name, issuedBy: 'operator', requestedScopes: ['repository:team/app:pull'],
      });
      expect(Date.parse(c.expiresAt) - Date.parse(c.notBefore)).toBe(7_776_000_000);
    }
    const ledger = treeText(join(stack.dir, 'ledger'));
    for (const c of answer.credentials) expect(ledger).not.toContain(secretOf(answer, c.id));
    expect(stack.logs()).not.toContain(secretOf(answer, answer.credentials[0]!.id));
  });

  it('a bundled credential is a password at GET /token, never granting more than the plan and the narrowing; revoked by id it stops', async () => {
    const res = await order({ ...ORDER, count: 2 });
    expect(res.status, res.body).toBe(201);
    const answer = res.json<Answer>();
    const [one, two] = answer.credentials;
    const granted = await basicToken(secretOf(answer, one!.id), ['repository:team/app:pull,push', 'repository:library/x:pull']);
    expect(granted.status, granted.body).toBe(200);
    expect(decodeJwt(granted.json<{ token: string }>().token).payload).toMatchObject({ sub: 'mirror-site-7', access: [{ type: 'repository', name: 'team/app', actions: ['pull'] }] });
    await expectProblem(await basicToken(secretOf(answer, one!.id), ['repository:team/other:pull']), { status: 403, code: 'plan_denied', challenge: null });

    const url = `${stack.url}/admin/revocations/credentials/${one!.id}`;
    const put = await callWithProof(url, { method: 'PUT', token: opToks.operator, proof: await makeProof(keys.operator, 'PUT', url, opToks.operator), headers: [['Content-Type', 'application/json']], body: JSON.stringify({ reason: 'media lost' }) });
    expect(put.status, put.body).toBe(200);
    await expectProblem(await basicToken(secretOf(answer, one!.id), ['repository:team/app:pull']), { status: 401, code: 'credential_revoked', challenge: { scheme: 'Basic', error: 'invalid_grant' } });
    expect((await basicToken(secretOf(answer, two!.id), ['repository:team/app:pull'])).status).toBe(200);
  });

  it('refuses, and records, what POST /credentials would refuse; bad bodies are 400 naming the field', async () => {
    await expectProblem(await order({ ...ORDER, plan: 'gold' }), { status: 403, code: 'plan_denied', challenge: null });
    await expectProblem(await order({ ...ORDER, license: 'lic-revoked' }), { status: 403, code: 'license_revoked', challenge: null });
    await expectProblem(await order({ ...ORDER, expires_in: 10_000_000 }), { status: 400, code: 'invalid_request', challenge: { scheme: 'Bearer', error: 'invalid_request' } });
    await expectProblem(await order({ ...ORDER, scope: [] }), { status: 400, code: 'invalid_scope', challenge: null });
    const rejected = await stack.service.ledger.query({ subject: 'mirror-site-7', outcome: 'rejected', operation: 'credential', limit: 10 });
    expect(rejected.records.map((r) => r.reason).sort()).toEqual(['invalid_request', 'invalid_scope', 'license_revoked', 'plan_denied']);
    expect(rejected.records.every((r) => r.operation === 'credential' && r.issuedBy === 'operator')).toBe(true);

    const bodies: [unknown, RegExp][] = [
      [{ ...ORDER, subject: undefined }, /^subject: /],
      [{ ...ORDER, count: 2, names: ['a'] }, /^count: count and names disagree/],
      [{ ...ORDER, count: 101 }, /^count: /],
      [{ ...ORDER, created: 'yesterday' }, /created: "yesterday" is not an RFC 3339 time/],
      [{ ...ORDER, secret: 'x' }, /unknown field secret/],
    ];
    for (const [body, detail] of bodies) {
      const problem = await expectProblem(await order(body), { status: 400, code: 'invalid_request', challenge: { scheme: 'Bearer', error: 'invalid_request' } });
      expect(problem.detail, JSON.stringify(body)).toMatch(detail);
    }
  });

  it('the CLI with --url is a thin client of it: the operator’s Authority client, the kit written as answered', async () => {
    const secretFile = join(stack.dir, 'operator.secret');
    writeFileSync(secretFile, `${CLIENTS.find((c) => c.clientId === 'operator')!.clientSecret}\n`, { mode: 0o600 });
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('REGISTRY_TOKEN_') && k !== 'SOURCE_DATE_EPOCH'));
    // Asynchronously: the service and the Authority answer from this very process.
    const cli = (more: string[]) => new Promise<{ status: number | null; stdout: string; stderr: string }>((done) => {
      execFile(process.execPath, [CLI, 'bundle', 'credentials', '--url', stack.url, '--issuer', stack.authority.issuer, '--client-id', 'operator',
        '--client-secret-file', secretFile, '--subject', 'mirror-site-9', '--plan', 'team', '--scope', 'repository:team/app:pull', '--expires', '30d', ...more],
      { encoding: 'utf8', timeout: 30_000, env }, (error, stdout, stderr) => done({ status: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stdout, stderr }));
    });
    const kit = join(stack.dir, 'remote-kit');
    const made = await cli(['--out', kit, '--name', 'site-9']);
    expect(made.status, made.stderr).toBe(0);
    const [listed] = (JSON.parse(made.stdout) as { credentials: { id: string; file: string }[] }).credentials as [{ id: string; file: string }];
    expect(statSync(join(kit, listed.file)).mode & 0o777).toBe(0o600);
    const jwks = (await (await fetch(`${stack.url}/.well-known/jwks.json`)).json()) as { keys: [] };
    expect(await verifyBundle(kit, jwks)).toMatchObject({ ok: true, kind: 'credentials', files: 1 });
    expect(await stack.service.ledger.get(listed.id)).toMatchObject({ operation: 'credential', subject: 'mirror-site-9', credentialName: 'site-9', issuedBy: 'operator' });
    expect((await basicToken(readFileSync(join(kit, listed.file), 'ascii').trim(), ['repository:team/app:pull'])).status).toBe(200);

    const refused = await cli(['--out', join(stack.dir, 'remote-refused'), '--license', 'lic-revoked']);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toBe('registry-token: bundle credentials: refused (license_revoked): the licence has been revoked\n');
  });
});

