// Registry credentials over real HTTP, with OpToks from the real development Authority:
// POST /credentials (DPoP and mTLS), then every way Docker clients present the credential
// (GET + Basic, POST refresh_token / password forms), narrowing, and the re-checks of every use
// (plan as configured now, licence, subject and credential revocation, expiry).
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/loader.ts';
import { CREDENTIAL_TYPE } from '../../src/credentials/format.ts';
import { createCredentialIssuer, type CredentialSubject } from '../../src/credentials/issue.ts';
import { libtrustKeyId } from '../../src/mint/key-id.ts';
import { createSigner } from '../../src/mint/signer.ts';
import { loadSigningKey } from '../../src/mint/signing-key.ts';
import type { IssuanceRecord } from '../../src/record/ledger.ts';
import { createCa, issueCertificate, x5tS256, type CertificateAuthority, type IssuedCertificate } from '../support/pki.ts';
import { SAMPLE_KEY, SERVICE, startStack, treeText, withTls, type Stack } from '../support/stack.ts';
import {
  callWithProof,
  decodeJwt,
  expectProblem,
  makeProof,
  newDpopKeys,
  rawRequest,
  tokenUrl,
  type KeyPair,
  type RawResponse,
} from '../support/dpop-client.ts';

const ISSUE = 'registry.token.issue';
const FORM = 'application/x-www-form-urlencoded';

let stack: Stack;
/** authority.senderConstraint: optional. */
let lenient: Stack;
/** HTTPS with client certificates (mTLS-bound OpToks). */
let tls: Stack;
let ca: CertificateAuthority;
let clientCert: IssuedCertificate;

const keys = {} as Record<string, KeyPair>;
const opToks = {} as Record<string, string>;
/** Every secret that crossed the wire: none may reach a ledger. */
const secrets = new Set<string>();

interface CredentialAnswer {
  credential: string;
  id: string;
  username: string;
  issued_at: string;
  expires_at: string;
  expires_in: number;
  scope: string;
  name?: string;
}

interface TokenAnswer {
  token: string;
  access_token: string;
  expires_in: number;
  issued_at: string;
  scope: string;
  refresh_token?: string;
}

/** Clients of their own, so revoking their licence or subject touches no other test. */
const OWN_CLIENTS = ['cred-a', 'cred-lic', 'cred-sub', 'cred-plan', 'cred-admin'] as const;

async function ownClient(target: Stack, clientId: string, plan = 'team'): Promise<void> {
  await target.authority.addClient({
    clientId,
    clientSecret: `secret-${clientId}-0000000000`,
    binding: 'dpop',
    scope: ISSUE,
    claims: { 'stellaops:plan': plan, 'stellaops:license': `lic-${clientId}`, tid: 'acme' },
  });
}

async function dpopToken(target: Stack, clientId: string): Promise<void> {
  keys[clientId] ??= await newDpopKeys();
  opToks[clientId] = await target.authority.tokenWithDpop(clientId, keys[clientId]!);
  secrets.add(opToks[clientId]!);
}

/** POST /credentials with a DPoP proof for htm POST and htu <url>/credentials. */
async function postCredentials(
  target: Stack,
  clientId: string,
  body: string | Record<string, unknown> = '',
  options: { headers?: [string, string][]; requestId?: string } = {},
): Promise<RawResponse> {
  const url = `${target.url}/credentials`;
  const proof = await makeProof(keys[clientId]!, 'POST', url, opToks[clientId]!);
  secrets.add(proof);
  const json = typeof body !== 'string';
  return callWithProof(url, {
    method: 'POST',
    token: opToks[clientId],
    proof,
    headers: [
      ['Content-Type', json ? 'application/json' : FORM],
      ['X-Request-Id', options.requestId ?? `cred-${randomUUID()}`],
      ...(options.headers ?? []),
    ],
    body: json ? JSON.stringify(body) : body,
  });
}

async function credentialFor(target: Stack, clientId: string, body: string | Record<string, unknown> = ''): Promise<CredentialAnswer> {
  const res = await postCredentials(target, clientId, body);
  expect(res.status, res.body).toBe(201);
  const answer = res.json<CredentialAnswer>();
  secrets.add(answer.credential);
  return answer;
}

function basic(user: string, secret: string): [string, string] {
  return ['Authorization', `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}`];
}

/** GET /token with the credential as the Basic password, as docker, podman, skopeo and mirrors send it. */
function basicGet(target: Stack, secret: string, params: { scope?: string | string[]; [key: string]: unknown } = {}, options: { user?: string; requestId?: string } = {}): Promise<RawResponse> {
  const scope = typeof params.scope === 'string' ? [params.scope] : params.scope;
  return rawRequest(tokenUrl(target.url, { service: SERVICE, ...params, scope }), {
    headers: [basic(options.user ?? 'someone', secret), ['X-Request-Id', options.requestId ?? `basic-${randomUUID()}`]],
  });
}

/**
 * POST /token with a form, as containerd and clients holding an identity token send it;
 * `chunked` sends the body in pieces without Content-Length, as containers/image does.
 */
function postForm(
  target: Stack,
  fields: readonly (readonly [string, string])[],
  options: { chunked?: boolean; contentType?: string; headers?: [string, string][]; requestId?: string } = {},
): Promise<RawResponse> {
  const body = new URLSearchParams(fields.map(([k, v]): [string, string] => [k, v])).toString();
  if (options.chunked !== true) {
    return rawRequest(`${target.url}/token`, {
      method: 'POST',
      headers: [['Content-Type', options.contentType ?? FORM], ['X-Request-Id', options.requestId ?? `form-${randomUUID()}`], ...(options.headers ?? [])],
      body,
    });
  }
  const url = new URL(`${target.url}/token`);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        hostname: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        agent: false,
        headers: { 'Content-Type': options.contentType ?? FORM, 'X-Request-Id': options.requestId ?? `form-${randomUUID()}` },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body: text, json: <T>() => JSON.parse(text) as T });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    const half = Math.floor(body.length / 2);
    req.write(body.slice(0, half));
    setTimeout(() => req.end(body.slice(half)), 20);
  });
}

function tokenOf(res: RawResponse): TokenAnswer {
  expect(res.status, res.body).toBe(200);
  const answer = res.json<TokenAnswer>();
  secrets.add(answer.token);
  return answer;
}

function accessOf(answer: TokenAnswer): unknown {
  return decodeJwt(answer.token).payload.access;
}

async function recordOf(target: Stack, requestId: string): Promise<IssuanceRecord> {
  const { records } = await target.service.ledger.query({ limit: 1000 });
  const found = records.filter((r) => r.requestId === requestId);
  expect(found, `one ledger record for ${requestId}`).toHaveLength(1);
  return found[0]!;
}

async function admin(target: Stack, method: 'PUT' | 'DELETE', path: string, body?: unknown): Promise<RawResponse> {
  const url = `${target.url}${path}`;
  const proof = await makeProof(keys.operator!, method, url, opToks.operator!);
  const text = body === undefined ? undefined : JSON.stringify(body);
  return callWithProof(url, {
    method,
    token: opToks.operator,
    proof,
    headers: text === undefined ? [] : [['Content-Type', 'application/json']],
    ...(text === undefined ? {} : { body: text }),
  });
}

/** A subject as the Authority's team-dpop client would give it. */
const TEAM: CredentialSubject = { subject: 'team-dpop', clientId: 'team-dpop', tenant: 'acme', plan: 'team', license: 'lic-team', root: 'dpop', opScopes: [ISSUE] };

beforeAll(async () => {
  stack = await startStack();
  lenient = await startStack({
    existingAuthority: stack.authority,
    config: (base) => ({ ...base, authority: { ...(base.authority as object), senderConstraint: 'optional' } }),
  });
  ca = await createCa('registry-token credentials test CA');
  const server = await issueCertificate(ca, { commonName: '127.0.0.1', serverAltNames: ['127.0.0.1'] });
  clientCert = await issueCertificate(ca, { commonName: 'team-mtls', clientAuth: true });
  tls = await startStack({
    existingAuthority: stack.authority,
    config: withTls(server, ca.certPem),
  });
  for (const clientId of OWN_CLIENTS) await ownClient(stack, clientId);
  for (const clientId of ['team-dpop', 'operator', 'no-scope', ...OWN_CLIENTS]) await dpopToken(stack, clientId);
});

afterAll(async () => {
  await tls?.close();
  await lenient?.close();
  await stack?.close();
});

describe('POST /credentials', () => {
  it('issues a credential to a DPoP-bound OpTok: 201, the contract fields, a JWS the service signed, recorded', async () => {
    const requestId = `cred-${randomUUID()}`;
    const res = await postCredentials(stack, 'team-dpop', 'scope=repository:team/app:pull&expires_in=3600&name=ci%20robot', { requestId });
    expect(res.status, res.body).toBe(201);
    expect(res.headers['cache-control']).toBe('no-store');
    const answer = res.json<CredentialAnswer>();
    secrets.add(answer.credential);
    expect(Object.keys(answer).sort()).toEqual(['credential', 'expires_at', 'expires_in', 'id', 'issued_at', 'name', 'scope', 'username']);
    expect(answer.id).toMatch(/^rtc_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(answer.username).toBe(answer.id);
    expect(answer.expires_in).toBe(3600);
    expect(answer.expires_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    expect(Date.parse(answer.expires_at) - Date.parse(answer.issued_at)).toBe(3600_000);
    expect(answer.scope).toBe('repository:team/app:pull');
    expect(answer.name).toBe('ci robot');

    const { header, payload } = decodeJwt(answer.credential);
    expect(header).toMatchObject({ typ: CREDENTIAL_TYPE, alg: 'RS256', kid: expect.any(String) });
    expect(header.x5c).toBeUndefined();
    expect(payload).toMatchObject({
      iss: 'registry-token',
      aud: 'urn:registry-token:credential',
      sub: 'team-dpop',
      client_id: 'team-dpop',
      tenant: 'acme',
      plan: 'team',
      license: 'lic-team',
      scope: 'repository:team/app:pull',
      op_scope: ISSUE,
      jti: answer.id,
      name: 'ci robot',
      bnd: 'dpop',
    });
    for (const claim of ['iat', 'nbf', 'exp'] as const) expect(Number.isInteger(payload[claim])).toBe(true);
    // The kid is the one registry tokens carry and the JWKS publishes.
    const jwks = await (await fetch(`${stack.url}/.well-known/jwks.json`)).json() as { keys: { kid: string }[] };
    expect(jwks.keys.map((k) => k.kid)).toContain(header.kid);

    expect(await recordOf(stack, requestId)).toMatchObject({
      jti: answer.id,
      outcome: 'issued',
      operation: 'credential',
      subject: 'team-dpop',
      plan: 'team',
      license: 'lic-team',
      credentialName: 'ci robot',
      binding: { method: 'dpop' },
      expiresAt: new Date(answer.expires_at).toISOString(),
    });
  });

  it('takes JSON too, repeated and space-joined scopes, and answers "" for no narrowing', async () => {
    const narrowed = await credentialFor(stack, 'team-dpop', { scope: ['repository:team/**:pull', 'repository:library/*:pull registry:catalog:*'] });
    expect(narrowed.scope).toBe('repository:team/**:pull repository:library/*:pull registry:catalog:*');
    const repeated = await credentialFor(stack, 'team-dpop', 'scope=repository:team/a:pull&scope=repository:team/b:push,pull');
    expect(repeated.scope).toBe('repository:team/a:pull repository:team/b:push,pull');
    const plain = await credentialFor(stack, 'team-dpop');
    expect(plain.scope).toBe('');
    expect(plain.expires_in).toBe(86400);
    expect(decodeJwt(plain.credential).payload.scope).toBeUndefined();
  });

  it('issues a credential to a certificate-bound OpTok over mutual TLS', async () => {
    const opTok = await tls.authority.tokenWithCertificate('team-mtls', clientCert.certPem);
    secrets.add(opTok);
    const requestId = `cred-${randomUUID()}`;
    const res = await callWithProof(`${tls.url}/credentials`, {
      method: 'POST',
      token: opTok,
      scheme: 'Bearer',
      headers: [['Content-Type', FORM], ['X-Request-Id', requestId]],
      body: 'scope=repository:team/app:pull',
      tls: { ca: ca.certPem, cert: clientCert.certPem, key: clientCert.keyPem },
    });
    expect(res.status, res.body).toBe(201);
    const answer = res.json<CredentialAnswer>();
    secrets.add(answer.credential);
    expect(decodeJwt(answer.credential).payload).toMatchObject({ sub: 'team-mtls', bnd: 'mtls' });
    expect(await recordOf(tls, requestId)).toMatchObject({ outcome: 'issued', operation: 'credential', binding: { method: 'mtls', x5t: x5tS256(clientCert.der) } });
    // Used without any certificate: the credential is the proof of possession now.
    const used = tokenOf(await rawRequest(tokenUrl(tls.url, { service: SERVICE, scope: ['repository:team/app:pull'] }), { headers: [basic('u', answer.credential)], tls: { ca: ca.certPem } }));
    expect(accessOf(used)).toEqual([{ type: 'repository', name: 'team/app', actions: ['pull'] }]);
  });

  it('refuses what it must, each recorded: no scope on the OpTok, bad input, a credential to mint a credential', async () => {
    const noScope = await postCredentials(stack, 'no-scope');
    await expectProblem(noScope, { status: 403, code: 'insufficient_scope', challenge: { scheme: 'DPoP', error: 'insufficient_scope' } });

    for (const [body, pattern] of [
      ['expires_in=10', /expires_in must be from 60 to 2592000/],
      ['expires_in=99999999', /expires_in must be from 60 to 2592000/],
      ['expires_in=soon', /expires_in: must be a whole number/],
      [`name=${'x'.repeat(129)}`, /name: must be at most 128/],
      ['lifetime=60', /unknown field lifetime/],
    ] as const) {
      const { detail } = await expectProblem(await postCredentials(stack, 'team-dpop', body), { status: 400, code: 'invalid_request', challenge: { scheme: 'Bearer', error: 'invalid_request' } });
      expect(detail).toMatch(pattern);
    }
    const badScope = await expectProblem(await postCredentials(stack, 'team-dpop', 'scope=repository:team/a**:pull'), { status: 400, code: 'invalid_scope', challenge: null });
    expect(badScope.detail).toMatch(/malformed narrowing scope/);
    const badAction = await expectProblem(await postCredentials(stack, 'team-dpop', 'scope=repository:team/a:fly'), { status: 400, code: 'invalid_scope', challenge: null });
    expect(badAction.detail).toMatch(/pull, push, delete/);

    const credential = await credentialFor(stack, 'team-dpop');
    const requestId = `cred-${randomUUID()}`;
    const minted = await rawRequest(`${stack.url}/credentials`, {
      method: 'POST',
      headers: [basic(credential.id, credential.credential), ['Content-Type', FORM], ['X-Request-Id', requestId]],
      body: '',
    });
    const { detail } = await expectProblem(minted, { status: 403, code: 'credential_not_accepted', challenge: null });
    expect(detail).toMatch(/needs an access token from the Authority/);
    expect(await recordOf(stack, requestId)).toMatchObject({ outcome: 'rejected', operation: 'credential', reason: 'credential_not_accepted', binding: { method: 'credential', id: credential.id } });
  });

  it('a proof made for GET /token is not accepted for POST /credentials (htm, htu)', async () => {
    const url = `${stack.url}/credentials`;
    for (const proof of [
      await makeProof(keys['team-dpop']!, 'GET', url, opToks['team-dpop']!),
      await makeProof(keys['team-dpop']!, 'POST', `${stack.url}/token`, opToks['team-dpop']!),
    ]) {
      const res = await callWithProof(url, { method: 'POST', token: opToks['team-dpop'], proof, headers: [['Content-Type', FORM]], body: '' });
      await expectProblem(res, { status: 401, code: 'invalid_dpop_proof', challenge: { scheme: 'DPoP', error: 'invalid_dpop_proof' } });
    }
  });

  it('the admin API refuses a credential: an operator needs an OpTok', async () => {
    const credential = await credentialFor(stack, 'operator');
    const res = await rawRequest(`${stack.url}/admin/revocations`, { headers: [basic('op', credential.credential)] });
    const { detail } = await expectProblem(res, { status: 403, code: 'credential_not_accepted', challenge: null });
    expect(detail).toMatch(/the admin API needs an access token/);
  });
});

describe('GET /token with a credential as the Basic password', () => {
  it('docker login: no scope answers 200 with empty access; offline_token=true returns the very same credential', async () => {
    const credential = await credentialFor(stack, 'team-dpop');
    const requestId = `basic-${randomUUID()}`;
    const login = tokenOf(await basicGet(stack, credential.credential, { account: 'whoever', client_id: 'docker', offline_token: 'true' }, { user: 'whoever', requestId }));
    expect(accessOf(login)).toEqual([]);
    expect(login.refresh_token).toBe(credential.credential);
    expect(login.access_token).toBe(login.token);
    expect(await recordOf(stack, requestId)).toMatchObject({
      outcome: 'issued',
      subject: 'team-dpop',
      username: 'whoever',
      binding: { method: 'credential', id: credential.id, root: 'dpop' },
      granted: [],
    });
    // Without offline_token, no refresh_token.
    expect(tokenOf(await basicGet(stack, credential.credential)).refresh_token).toBeUndefined();
  });

  it('grants the allowed subset: duplicates, push,pull order, a mount source, catalog, *', async () => {
    const credential = await credentialFor(stack, 'team-dpop');
    const answer = tokenOf(
      await basicGet(stack, credential.credential, {
        scope: ['repository:team/app:push,pull', 'repository:team/app:pull', 'repository:library/base:pull', 'registry:catalog:*', 'repository:team/other:*'],
      }),
    );
    expect(accessOf(answer)).toEqual([
      { type: 'repository', name: 'team/app', actions: ['push', 'pull'] },
      { type: 'repository', name: 'library/base', actions: ['pull'] },
      { type: 'repository', name: 'team/other', actions: ['pull', 'push'] },
    ]);
    expect(answer.scope).toBe('repository:team/app:push,pull repository:library/base:pull repository:team/other:pull,push');
  });

  it('the narrowing narrows: never more than the plan and the narrowing both allow', async () => {
    const credential = await credentialFor(stack, 'team-dpop', 'scope=repository:team/app:pull repository:library/**:*');
    const answer = tokenOf(await basicGet(stack, credential.credential, { scope: ['repository:team/app:pull,push', 'repository:team/other:pull', 'repository:library/base:pull,push'] }));
    // team/app: push is cut by the narrowing; team/other: outside it; library: the plan allows pull only.
    expect(accessOf(answer)).toEqual([
      { type: 'repository', name: 'team/app', actions: ['pull'] },
      { type: 'repository', name: 'library/base', actions: ['pull'] },
    ]);
    const outside = await basicGet(stack, credential.credential, { scope: 'repository:team/other:pull' });
    const { detail } = await expectProblem(outside, { status: 403, code: 'plan_denied', challenge: null });
    expect(detail).toMatch(/narrowing/);
  });

  it('refuses, with a message a person can act on: an expired credential, with its expiry date', async () => {
    const sampleKey = loadSigningKey({ keyPath: SAMPLE_KEY });
    const past = new Date(Date.now() - 2 * 86400_000);
    const issuer = createCredentialIssuer({
      sign: createSigner(() => sampleKey, { typ: CREDENTIAL_TYPE, x5c: false }),
      issuer: 'registry-token',
      lifetimes: { defaultLifetimeSeconds: 3600, minLifetimeSeconds: 60, maxLifetimeSeconds: 86400 },
      clock: () => past,
    });
    const expired = await issuer.issue(TEAM, { narrowing: undefined, lifetimeSeconds: 3600, name: undefined });
    secrets.add(expired.secret);
    const requestId = `basic-${randomUUID()}`;
    const res = await basicGet(stack, expired.secret, {}, { requestId });
    const { detail } = await expectProblem(res, { status: 401, code: 'credential_expired', challenge: { scheme: 'Basic', error: 'invalid_grant' } });
    const when = expired.expiresAt.toISOString().replace(/\.\d{3}Z$/, 'Z');
    expect(detail).toBe(`the registry credential expired on ${when}; run "registry-token login" to get a new one`);
    expect(res.json<{ errors: unknown }>().errors).toEqual([{ code: 'UNAUTHORIZED', message: detail }]);
    expect(await recordOf(stack, requestId)).toMatchObject({ outcome: 'rejected', reason: 'credential_expired' });
    // The same in a form.
    const posted = await postForm(stack, [['grant_type', 'refresh_token'], ['refresh_token', expired.secret], ['service', SERVICE]]);
    expect((await expectProblem(posted, { status: 401, code: 'credential_expired', challenge: { scheme: 'Basic', error: 'invalid_grant' } })).detail).toBe(detail);
  });

  it('refuses a credential signed by another key, a registry token, an OpTok, and garbage, each with its own message', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const foreign = createCredentialIssuer({
      sign: createSigner(() => ({ privateKey, publicKey, algorithm: 'ES256', keyId: libtrustKeyId(publicKey), x5c: [] }), { typ: CREDENTIAL_TYPE, x5c: false }),
      issuer: 'registry-token',
      lifetimes: { defaultLifetimeSeconds: 3600, minLifetimeSeconds: 60, maxLifetimeSeconds: 86400 },
      clock: () => new Date(),
    });
    const forged = (await foreign.issue(TEAM, { narrowing: undefined, lifetimeSeconds: 3600, name: undefined })).secret;
    const credential = await credentialFor(stack, 'team-dpop');
    const registryToken = tokenOf(await basicGet(stack, credential.credential)).token;

    const expected = { status: 401, code: 'invalid_credential', challenge: { scheme: 'Basic', error: 'invalid_grant' } } as const;
    const cases: [string, string, RegExp][] = [
      ['another key', forged, /not signed by a key of this token service/],
      ['a registry token', registryToken, /this is a registry token, for the registry itself/],
      ['a DPoP-bound OpTok', opToks['team-dpop']!, /^this is an access token from the Authority, bound to its holder \(DPoP or certificate\): it cannot be used as a password; run "registry-token login"/],
      ['garbage', 'hunter2', /the password is not a registry credential/],
      ['a credential with its signature cut', credential.credential.slice(0, -4), /not signed by a key of this token service/],
    ];
    for (const [what, secret, pattern] of cases) {
      const viaBasic = await expectProblem(await basicGet(stack, secret), expected);
      expect(viaBasic.detail, what).toMatch(pattern);
      const viaForm = await expectProblem(await postForm(stack, [['grant_type', 'password'], ['username', 'u'], ['password', secret], ['service', SERVICE]]), expected);
      expect(viaForm.detail, what).toBe(viaBasic.detail);
    }
  });

  it('an unbound OpTok is refused as a password, unless authority.senderConstraint is optional', async () => {
    const unbound = await stack.authority.tokenUnbound('unbound');
    secrets.add(unbound);
    const { detail } = await expectProblem(await basicGet(stack, unbound), { status: 401, code: 'invalid_credential', challenge: { scheme: 'Basic', error: 'invalid_grant' } });
    expect(detail).toMatch(/access token from the Authority: it cannot be used as a password here \(authority.senderConstraint is required\)/);

    const requestId = `basic-${randomUUID()}`;
    const answer = tokenOf(await basicGet(lenient, unbound, { scope: 'repository:team/app:pull' }, { requestId }));
    expect(accessOf(answer)).toEqual([{ type: 'repository', name: 'team/app', actions: ['pull'] }]);
    expect(await recordOf(lenient, requestId)).toMatchObject({ outcome: 'issued', subject: 'unbound', binding: { method: 'none' } });
    // A bound one stays refused there too: it is useless without its key.
    keys.lenient ??= await newDpopKeys();
    const bound = await lenient.authority.tokenWithDpop('team-dpop', keys.lenient);
    secrets.add(bound);
    expect((await expectProblem(await basicGet(lenient, bound), { status: 401, code: 'invalid_credential', challenge: { scheme: 'Basic', error: 'invalid_grant' } })).detail).toMatch(/bound to its holder/);
  });

  it('malformed Basic headers and two Authorization headers are refused', async () => {
    for (const header of ['Basic', 'Basic !!!', `Basic ${Buffer.from('no-colon').toString('base64')}`, `Basic ${Buffer.from('user:').toString('base64')}`]) {
      const res = await rawRequest(tokenUrl(stack.url, { service: SERVICE }), { headers: [['Authorization', header]] });
      await expectProblem(res, { status: 401, code: 'invalid_credential', challenge: { scheme: 'Basic', error: 'invalid_grant' } });
    }
    const credential = await credentialFor(stack, 'team-dpop');
    const twice = await rawRequest(tokenUrl(stack.url, { service: SERVICE }), { headers: [basic('u', credential.credential), basic('u', credential.credential)] });
    await expectProblem(twice, { status: 400, code: 'invalid_request', challenge: { scheme: 'Bearer', error: 'invalid_request' } });
  });
});

describe('the ledger says how a credential was presented', () => {
  it('Basic on GET, refresh_token and password on POST: binding.presented', async () => {
    const credential = await credentialFor(stack, 'team-dpop');
    const viaBasic = `basic-${randomUUID()}`;
    tokenOf(await basicGet(stack, credential.credential, { service: SERVICE, scope: 'repository:team/app:pull' }, { requestId: viaBasic }));
    const viaRefresh = `refresh-${randomUUID()}`;
    tokenOf(await postForm(stack, [['grant_type', 'refresh_token'], ['refresh_token', credential.credential], ['service', SERVICE], ['scope', 'repository:team/app:pull']], { requestId: viaRefresh }));
    const viaPassword = `password-${randomUUID()}`;
    tokenOf(await postForm(stack, [['grant_type', 'password'], ['username', 'ci'], ['password', credential.credential], ['service', SERVICE], ['scope', 'repository:team/app:pull']], { requestId: viaPassword }));
    const binding = (presented: string) => ({ binding: { method: 'credential', id: credential.id, root: 'dpop', presented } });
    expect(await recordOf(stack, viaBasic)).toMatchObject(binding('basic'));
    expect(await recordOf(stack, viaRefresh)).toMatchObject(binding('refresh_token'));
    expect(await recordOf(stack, viaPassword)).toMatchObject(binding('password'));
  });
});

describe('POST /token: the OAuth form', () => {
  it('refresh_token, chunked, one scope field per scope (containers/image): access_token, scope, no refresh_token', async () => {
    const credential = await credentialFor(stack, 'team-dpop');
    const requestId = `form-${randomUUID()}`;
    const res = await postForm(
      stack,
      [['grant_type', 'refresh_token'], ['refresh_token', credential.credential], ['client_id', 'containers/image'], ['service', SERVICE], ['scope', 'repository:team/app:pull,push'], ['scope', 'repository:library/base:pull']],
      { chunked: true, requestId },
    );
    const answer = tokenOf(res);
    expect(answer.access_token).toBe(answer.token);
    expect(Number.isInteger(answer.expires_in)).toBe(true);
    expect(answer.issued_at).toMatch(/Z$/);
    expect(answer.scope).toBe('repository:team/app:pull,push repository:library/base:pull');
    expect(answer.refresh_token).toBeUndefined();
    expect(await recordOf(stack, requestId)).toMatchObject({ outcome: 'issued', clientId: 'team-dpop', binding: { method: 'credential', id: credential.id } });
  });

  it('refresh_token with space-joined scopes and access_type=offline (docker): the same credential back', async () => {
    const credential = await credentialFor(stack, 'team-dpop');
    const answer = tokenOf(
      await postForm(stack, [['grant_type', 'refresh_token'], ['refresh_token', credential.credential], ['client_id', 'docker'], ['access_type', 'offline'], ['service', SERVICE], ['scope', 'repository:team/app:push,pull repository:team/src:pull']]),
    );
    expect(answer.refresh_token).toBe(credential.credential);
    expect(accessOf(answer)).toEqual([
      { type: 'repository', name: 'team/app', actions: ['push', 'pull'] },
      { type: 'repository', name: 'team/src', actions: ['pull'] },
    ]);
  });

  it('password with charset=utf-8, space-joined duplicates (ctr): the username is recorded, never used', async () => {
    const credential = await credentialFor(stack, 'team-dpop');
    const requestId = `form-${randomUUID()}`;
    const answer = tokenOf(
      await postForm(
        stack,
        [['grant_type', 'password'], ['username', 'anything-at-all'], ['password', credential.credential], ['client_id', 'containerd-client'], ['service', SERVICE], ['scope', 'repository:team/app:pull repository:team/app:pull,push']],
        { contentType: `${FORM}; charset=utf-8`, requestId },
      ),
    );
    expect(accessOf(answer)).toEqual([{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }]);
    expect(await recordOf(stack, requestId)).toMatchObject({ subject: 'team-dpop', username: 'anything-at-all' });
  });

  it('an unsupported grant is 400 unsupported_grant_type (containerd then falls back to GET), never 403 or 500', async () => {
    for (const grant of ['client_credentials', 'authorization_code', 'urn:ietf:params:oauth:grant-type:token-exchange']) {
      const res = await postForm(stack, [['grant_type', grant], ['service', SERVICE]]);
      const { detail } = await expectProblem(res, { status: 400, code: 'unsupported_grant_type', challenge: null });
      expect(res.json<{ error: string }>().error).toBe('unsupported_grant_type');
      expect(detail).toMatch(/use refresh_token or password/);
    }
    await expectProblem(await postForm(stack, [['service', SERVICE]]), { status: 400, code: 'invalid_request', challenge: { scheme: 'Bearer', error: 'invalid_request' } });
    await expectProblem(await postForm(stack, [['grant_type', 'password'], ['grant_type', 'refresh_token']]), { status: 400, code: 'invalid_request', challenge: { scheme: 'Bearer', error: 'invalid_request' } });
    const json = await rawRequest(`${stack.url}/token`, { method: 'POST', headers: [['Content-Type', 'application/json']], body: '{"grant_type":"password"}' });
    expect((await expectProblem(json, { status: 400, code: 'invalid_request', challenge: { scheme: 'Bearer', error: 'invalid_request' } })).detail).toMatch(/x-www-form-urlencoded/);
  });

  it('Authorization together with a credential in the body is 400', async () => {
    const credential = await credentialFor(stack, 'team-dpop');
    const requestId = `form-${randomUUID()}`;
    const res = await postForm(stack, [['grant_type', 'refresh_token'], ['refresh_token', credential.credential], ['service', SERVICE]], { headers: [basic('u', credential.credential)], requestId });
    const { detail } = await expectProblem(res, { status: 400, code: 'invalid_request', challenge: { scheme: 'Bearer', error: 'invalid_request' } });
    expect(detail).toMatch(/not both/);
    expect(await recordOf(stack, requestId)).toMatchObject({ outcome: 'rejected', reason: 'invalid_request' });
  });
});

describe('every use re-checks', () => {
  it('revocation of the credential by id, and lifting it', async () => {
    const credential = await credentialFor(stack, 'cred-a');
    const other = await credentialFor(stack, 'cred-a');
    tokenOf(await basicGet(stack, credential.credential));
    const put = await admin(stack, 'PUT', `/admin/revocations/credentials/${credential.id}`, { reason: 'leaked in a CI log' });
    expect(put.status, put.body).toBe(200);
    expect(put.json()).toMatchObject({ kind: 'credential', value: credential.id, reason: 'leaked in a CI log', revokedBy: 'operator' });
    const requestId = `basic-${randomUUID()}`;
    const res = await basicGet(stack, credential.credential, {}, { requestId });
    const { detail } = await expectProblem(res, { status: 401, code: 'credential_revoked', challenge: { scheme: 'Basic', error: 'invalid_grant' } });
    expect(detail).toBe(`the registry credential ${credential.id} has been revoked; run "registry-token login" to get a new one`);
    expect(await recordOf(stack, requestId)).toMatchObject({ outcome: 'rejected', reason: 'credential_revoked', binding: { method: 'credential', id: credential.id } });
    await expectProblem(await postForm(stack, [['grant_type', 'refresh_token'], ['refresh_token', credential.credential], ['service', SERVICE]]), { status: 401, code: 'credential_revoked', challenge: { scheme: 'Basic', error: 'invalid_grant' } });
    // Only that one: the subject's other credential still works.
    tokenOf(await basicGet(stack, other.credential));
    const listed = await callWithProof(`${stack.url}/admin/revocations`, {
      token: opToks.operator,
      proof: await makeProof(keys.operator!, 'GET', `${stack.url}/admin/revocations`, opToks.operator!),
    });
    expect(listed.json<{ revocations: { kind: string; value: string }[] }>().revocations).toContainEqual(expect.objectContaining({ kind: 'credential', value: credential.id }));

    expect((await admin(stack, 'DELETE', `/admin/revocations/credentials/${credential.id}`)).status).toBe(204);
    tokenOf(await basicGet(stack, credential.credential));
    // Not a credential id: refused rather than a revocation that matches nothing.
    await expectProblem(await admin(stack, 'PUT', '/admin/revocations/credentials/rtc_oops', { reason: 'x' }), { status: 400, code: 'invalid_request', challenge: { scheme: 'Bearer', error: 'invalid_request' } });
  });

  it('revocation of the licence and of the subject', async () => {
    const byLicence = await credentialFor(stack, 'cred-lic');
    const bySubject = await credentialFor(stack, 'cred-sub');
    tokenOf(await basicGet(stack, byLicence.credential));
    tokenOf(await basicGet(stack, bySubject.credential));
    expect((await admin(stack, 'PUT', '/admin/revocations/lic-cred-lic', { reason: 'contract ended' })).status).toBe(200);
    expect((await admin(stack, 'PUT', '/admin/revocations/subjects/cred-sub', { reason: 'client compromised' })).status).toBe(200);
    await expectProblem(await basicGet(stack, byLicence.credential), { status: 403, code: 'license_revoked', challenge: null });
    await expectProblem(await basicGet(stack, bySubject.credential), { status: 403, code: 'subject_revoked', challenge: null });
    // Nor can they get a new credential.
    await expectProblem(await postCredentials(stack, 'cred-lic'), { status: 403, code: 'license_revoked', challenge: { scheme: 'DPoP', error: 'insufficient_scope' } });
  });

  it('the plan as configured now: a reload that takes push away takes it from existing credentials', async () => {
    const credential = await credentialFor(stack, 'cred-plan');
    const before = tokenOf(await basicGet(stack, credential.credential, { scope: 'repository:team/app:pull,push' }));
    expect(accessOf(before)).toEqual([{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }]);
    const raw = rawConfig(stack);
    const plans = { ...(raw.plans as Record<string, unknown>), team: [{ repository: 'team/**', actions: ['pull'] }] };
    stack.service.reload(parseConfig({ ...raw, plans }));
    try {
      const after = tokenOf(await basicGet(stack, credential.credential, { scope: 'repository:team/app:pull,push' }));
      expect(accessOf(after)).toEqual([{ type: 'repository', name: 'team/app', actions: ['pull'] }]);
    } finally {
      stack.service.reload(stack.config);
    }
  });
});

describe('rate limits and the ledger', () => {
  it('a refused credential counts as a failed authentication', async () => {
    const limited = await startStack({
      existingAuthority: stack.authority,
      config: (base) => ({ ...base, rateLimits: { failedAuthPerAddress: { max: 3, windowSeconds: 60 } } }),
    });
    try {
      for (let i = 0; i < 3; i++) await expectProblem(await basicGet(limited, 'not-a-credential'), { status: 401, code: 'invalid_credential', challenge: { scheme: 'Basic', error: 'invalid_grant' } });
      const res = await basicGet(limited, 'not-a-credential');
      await expectProblem(res, { status: 429, code: 'rate_limited', challenge: null });
    } finally {
      await limited.close();
    }
  });

  it('the audit API filters by operation', async () => {
    const audit = async (query: string) => {
      const url = `${stack.url}/admin/issuances`;
      const res = await callWithProof(`${url}?${query}`, { token: opToks.operator, proof: await makeProof(keys.operator!, 'GET', url, opToks.operator!) });
      expect(res.status, res.body).toBe(200);
      return res.json<{ issuances: IssuanceRecord[] }>().issuances;
    };
    const credentials = await audit('operation=credential&limit=500');
    expect(credentials.length).toBeGreaterThan(5);
    expect(credentials.every((r) => r.operation === 'credential')).toBe(true);
    const tokens = await audit('operation=token&outcome=issued&limit=500');
    expect(tokens.length).toBeGreaterThan(5);
    expect(tokens.every((r) => r.operation === undefined)).toBe(true);
    await expectProblem(
      await callWithProof(`${stack.url}/admin/issuances?operation=login`, { token: opToks.operator, proof: await makeProof(keys.operator!, 'GET', `${stack.url}/admin/issuances`, opToks.operator!) }),
      { status: 400, code: 'invalid_request', challenge: { scheme: 'Bearer', error: 'invalid_request' } },
    );
  });

  it('never holds a credential, an OpTok, a proof or a registry token', async () => {
    expect(secrets.size).toBeGreaterThan(20);
    for (const target of [stack, lenient, tls]) {
      const text = treeText(target.dir);
      expect(text.length).toBeGreaterThan(0);
      for (const secret of secrets) {
        expect(text.includes(secret), 'a secret in the ledger').toBe(false);
        // Nor any signature part of one.
        const signature = secret.split('.')[2];
        if (signature !== undefined && signature.length > 20) expect(text.includes(signature)).toBe(false);
      }
    }
    expect(stack.logs().length).toBeGreaterThan(0);
    for (const secret of secrets) expect(stack.logs().includes(secret)).toBe(false);
  });
});

/** The configuration the stack was parsed from, as plain data (for a reload with one change). */
function rawConfig(target: Stack): Record<string, unknown> {
  return JSON.parse(JSON.stringify(target.config)) as Record<string, unknown>;
}
