// Certificate-bound OpToks (RFC 8705) over real TLS with client certificates, and behind a
// trusted TLS-terminating proxy that forwards the certificate in the one header configured in
// server.clientCertificateHeader.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IssuanceRecord } from '../../src/record/ledger.ts';
import { createCa, issueCertificate, selfSigned, x5tS256, type CertificateAuthority, type IssuedCertificate } from '../support/pki.ts';
import { SERVICE, startStack, treeText, withTls, type Stack } from '../support/stack.ts';
import {
  callWithProof,
  decodeJwt,
  expectProblem,
  makeProof,
  newDpopKeys,
  tokenUrl,
  type ExpectedProblem,
  type RawResponse,
} from '../support/dpop-client.ts';

let ca: CertificateAuthority;
let server: IssuedCertificate;
let clientA: IssuedCertificate;
let clientB: IssuedCertificate;
let stranger: IssuedCertificate;

/** HTTPS with client certificates checked against `ca`. */
let tlsStack: Stack;
/** Plain HTTP behind a trusted proxy at 127.0.0.1 that forwards nginx-style `X-SSL-Client-Cert`. */
let proxied: Stack;
/** The same behind an RFC 9440 proxy (`Client-Cert`). */
let rfc9440: Stack;
/** The same behind Envoy (`x-forwarded-client-cert`). */
let envoy: Stack;
/** The header configured, but 127.0.0.1 is not a trusted proxy. */
let untrusted: Stack;
/** Plain HTTP, no trusted proxy. */
let direct: Stack;

let tokenA: string;
let tokenStranger: string;
const secrets = new Set<string>();

const scope = ['repository:team/app:pull,push'];
const tokenError: ExpectedProblem = { status: 401, code: 'invalid_token', challenge: { scheme: 'Bearer', error: 'invalid_token' } };

function clientCertHeader(certificate: IssuedCertificate): [string, string] {
  return ['Client-Cert', `:${certificate.der.toString('base64')}:`];
}

const NGINX_HEADER = 'X-SSL-Client-Cert';
function nginxHeader(certificate: IssuedCertificate): [string, string] {
  return [NGINX_HEADER, encodeURIComponent(certificate.certPem)];
}

function behindProxy(header: { name: string; format: string }, trustedProxies = ['127.0.0.1']) {
  return (base: Record<string, unknown>) => ({
    ...base,
    server: { ...(base.server as object), trustedProxies, clientCertificateHeader: header },
  });
}

async function bearer(
  target: Stack,
  token: string,
  options: { cert?: IssuedCertificate; headers?: [string, string][] } = {},
): Promise<{ res: RawResponse; requestId: string }> {
  const requestId = `mtls-${randomUUID()}`;
  secrets.add(token);
  const res = await callWithProof(tokenUrl(target.url, { service: SERVICE, scope }), {
    token,
    scheme: 'Bearer',
    headers: [['X-Request-Id', requestId], ...(options.headers ?? [])],
    tls: {
      ca: ca.certPem,
      ...(options.cert === undefined ? {} : { cert: options.cert.certPem, key: options.cert.keyPem }),
    },
  });
  return { res, requestId };
}

async function record(target: Stack, requestId: string): Promise<IssuanceRecord> {
  const { records } = await target.service.ledger.query({ limit: 100 });
  const found = records.filter((r) => r.requestId === requestId);
  expect(found).toHaveLength(1);
  return found[0]!;
}

async function expectMtlsIssued(target: Stack, sent: { res: RawResponse; requestId: string }, certificate: IssuedCertificate): Promise<void> {
  expect(sent.res.status, sent.res.body).toBe(200);
  const body = sent.res.json<{ token: string }>();
  secrets.add(body.token);
  const { payload } = decodeJwt(body.token);
  expect(payload.sub).toBe('team-mtls');
  expect(payload.access).toEqual([{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }]);
  expect(await record(target, sent.requestId)).toMatchObject({
    outcome: 'issued',
    jti: payload.jti,
    subject: 'team-mtls',
    binding: { method: 'mtls', x5t: x5tS256(certificate.der) },
    granted: payload.access,
  });
}

async function expectRefused(target: Stack, sent: { res: RawResponse; requestId: string }, expected: ExpectedProblem): Promise<string> {
  const body = await expectProblem(sent.res, expected);
  expect(await record(target, sent.requestId)).toMatchObject({ outcome: 'rejected', reason: expected.code, granted: [] });
  return body.detail;
}

beforeAll(async () => {
  ca = await createCa('registry-token test CA');
  [server, clientA, clientB, stranger] = await Promise.all([
    issueCertificate(ca, { commonName: '127.0.0.1', serverAltNames: ['127.0.0.1'] }),
    issueCertificate(ca, { commonName: 'team-mtls A', clientAuth: true }),
    issueCertificate(ca, { commonName: 'team-mtls B', clientAuth: true }),
    selfSigned({ commonName: 'team-mtls stranger', clientAuth: true }),
  ]);
  tlsStack = await startStack({
    config: withTls(server, ca.certPem),
  });
  const existingAuthority = tlsStack.authority;
  [proxied, rfc9440, envoy, untrusted, direct] = await Promise.all([
    startStack({ existingAuthority, config: behindProxy({ name: NGINX_HEADER, format: 'pem-urlencoded' }) }),
    startStack({ existingAuthority, config: behindProxy({ name: 'Client-Cert', format: 'rfc9440' }) }),
    startStack({ existingAuthority, config: behindProxy({ name: 'x-forwarded-client-cert', format: 'xfcc' }) }),
    startStack({ existingAuthority, config: behindProxy({ name: NGINX_HEADER, format: 'pem-urlencoded' }, ['10.9.9.9']) }),
    startStack({ existingAuthority }),
  ]);
  [tokenA, tokenStranger] = await Promise.all([
    tlsStack.authority.tokenWithCertificate('team-mtls', clientA.certPem),
    tlsStack.authority.tokenWithCertificate('team-mtls', stranger.certPem),
  ]);
});

afterAll(async () => {
  await Promise.all([proxied?.close(), rfc9440?.close(), envoy?.close(), untrusted?.close(), direct?.close()]);
  await tlsStack?.close();
});

describe('mutual TLS', () => {
  it('the OpTok is bound to the client certificate (cnf.x5t#S256)', () => {
    expect(tlsStack.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect((decodeJwt(tokenA).payload.cnf as Record<string, unknown>)['x5t#S256']).toBe(x5tS256(clientA.der));
  });

  it('Bearer over TLS with the bound certificate is issued, with the mtls binding recorded', async () => {
    await expectMtlsIssued(tlsStack, await bearer(tlsStack, tokenA, { cert: clientA }), clientA);
  });

  it('another certificate of the same CA is 401 invalid_token', async () => {
    const detail = await expectRefused(tlsStack, await bearer(tlsStack, tokenA, { cert: clientB }), tokenError);
    expect(detail).toMatch(/does not match/);
  });

  it('no client certificate is 401 invalid_token', async () => {
    const detail = await expectRefused(tlsStack, await bearer(tlsStack, tokenA), tokenError);
    expect(detail).toMatch(/bound to a client certificate/);
  });

  it('a self-signed certificate (not from the client CA) is refused even when the token is bound to it', async () => {
    const detail = await expectRefused(tlsStack, await bearer(tlsStack, tokenStranger, { cert: stranger }), tokenError);
    expect(detail).toMatch(/bound to a client certificate/);
  });

  it('a forwarded certificate header is ignored without a trusted proxy, even over TLS', async () => {
    await expectRefused(tlsStack, await bearer(tlsStack, tokenA, { headers: [clientCertHeader(clientA)] }), tokenError);
  });

  it('no credentials: two challenges, DPoP and Bearer (mTLS is offered), neither naming an error', async () => {
    for (const target of [tlsStack, proxied]) {
      const res = await callWithProof(tokenUrl(target.url, { service: SERVICE, scope }), { tls: { ca: ca.certPem } });
      await expectProblem(res, { status: 401, code: 'invalid_token', challenge: { schemes: ['DPoP', 'Bearer'] } });
    }
    // Without TLS and without a forwarded-certificate header there is no mTLS: DPoP only.
    const res = await callWithProof(tokenUrl(direct.url, { service: SERVICE, scope }));
    await expectProblem(res, { status: 401, code: 'invalid_token', challenge: { schemes: ['DPoP'] } });
  });

  it('DPoP clients without a certificate still get through the TLS listener', async () => {
    const keys = await newDpopKeys();
    const token = await tlsStack.authority.tokenWithDpop('team-dpop', keys);
    const url = tokenUrl(tlsStack.url, { service: SERVICE, scope });
    const proof = await makeProof(keys, 'GET', url, token);
    secrets.add(token).add(proof);
    const res = await callWithProof(url, { token, proof, tls: { ca: ca.certPem } });
    expect(res.status, res.body).toBe(200);
    secrets.add(res.json<{ token: string }>().token);
  });
});

describe('behind a trusted TLS-terminating proxy', () => {
  it('the configured header from a trusted proxy binds like the TLS peer', async () => {
    await expectMtlsIssued(proxied, await bearer(proxied, tokenA, { headers: [nginxHeader(clientA)] }), clientA);
  });

  it('a header that is not the configured one is ignored: a client-sent Client-Cert gets no binding', async () => {
    const detail = await expectRefused(proxied, await bearer(proxied, tokenA, { headers: [clientCertHeader(clientA)] }), tokenError);
    expect(detail).toMatch(/bound to a client certificate/);
    for (const header of [
      ['ssl-client-cert', encodeURIComponent(clientA.certPem)],
      ['x-forwarded-client-cert', `Cert="${encodeURIComponent(clientA.certPem)}"`],
    ] as [string, string][]) {
      await expectRefused(proxied, await bearer(proxied, tokenA, { headers: [header] }), tokenError);
    }
  });

  it('the configured header sent twice is no certificate (the client added one): refused, not guessed', async () => {
    for (const pair of [
      [nginxHeader(clientA), nginxHeader(clientB)],
      [nginxHeader(clientB), nginxHeader(clientA)],
      [nginxHeader(clientA), nginxHeader(clientA)],
    ]) {
      const detail = await expectRefused(proxied, await bearer(proxied, tokenA, { headers: pair }), tokenError);
      expect(detail).toMatch(/bound to a client certificate/);
    }
  });

  it('the configured header from a peer that is not a trusted proxy is ignored', async () => {
    const detail = await expectRefused(untrusted, await bearer(untrusted, tokenA, { headers: [nginxHeader(clientA)] }), tokenError);
    expect(detail).toMatch(/bound to a client certificate/);
  });

  it('the forwarded certificate must still be the bound one', async () => {
    await expectRefused(proxied, await bearer(proxied, tokenA, { headers: [nginxHeader(clientB)] }), tokenError);
  });

  it('a malformed forwarded certificate is no certificate (401, never 500)', async () => {
    await expectRefused(proxied, await bearer(proxied, tokenA, { headers: [[NGINX_HEADER, '%E0%A4%A']] }), tokenError);
    await expectRefused(proxied, await bearer(proxied, tokenA, { headers: [[NGINX_HEADER, 'not a certificate']] }), tokenError);
    for (const value of [':not base64 at all:', `:${Buffer.from('garbage').toString('base64')}:`]) {
      await expectRefused(rfc9440, await bearer(rfc9440, tokenA, { headers: [['Client-Cert', value]] }), tokenError);
    }
    await expectRefused(envoy, await bearer(envoy, tokenA, { headers: [['x-forwarded-client-cert', 'By=spiffe://x;Cert="%ZZ"']] }), tokenError);
  });

  it('an RFC 9440 Client-Cert binds when that is the configured header and format', async () => {
    await expectMtlsIssued(rfc9440, await bearer(rfc9440, tokenA, { headers: [clientCertHeader(clientA)] }), clientA);
    await expectRefused(rfc9440, await bearer(rfc9440, tokenA, { headers: [nginxHeader(clientA)] }), tokenError);
  });

  it('an Envoy x-forwarded-client-cert (last element, URL-encoded PEM) binds when configured', async () => {
    const xfcc = `By=spiffe://edge;Cert="${encodeURIComponent(clientB.certPem)}",By=spiffe://mesh;Hash=abc;Cert="${encodeURIComponent(clientA.certPem)}"`;
    await expectMtlsIssued(envoy, await bearer(envoy, tokenA, { headers: [['x-forwarded-client-cert', xfcc]] }), clientA);
  });

  it('the same Client-Cert header without a trusted proxy is 401 invalid_token', async () => {
    const detail = await expectRefused(direct, await bearer(direct, tokenA, { headers: [clientCertHeader(clientA)] }), tokenError);
    expect(detail).toMatch(/bound to a client certificate/);
  });

  it('DPoP behind the proxy checks htu against the forwarded public URL', async () => {
    const keys = await newDpopKeys();
    const token = await tlsStack.authority.tokenWithDpop('team-dpop', keys);
    const url = tokenUrl(proxied.url, { service: SERVICE });
    const forwarded: [string, string][] = [
      ['X-Forwarded-Proto', 'https'],
      ['X-Forwarded-Host', 'registry-token.example'],
    ];
    const publicProof = await makeProof(keys, 'GET', url, token, { htu: 'https://registry-token.example/token' });
    secrets.add(token).add(publicProof);
    const res = await callWithProof(url, { token, proof: publicProof, headers: forwarded });
    expect(res.status, res.body).toBe(200);
    secrets.add(res.json<{ token: string }>().token);
    // A proof for the internal address is not one for the public URL.
    const internalProof = await makeProof(keys, 'GET', url, token);
    await expectProblem(await callWithProof(url, { token, proof: internalProof, headers: forwarded }), {
      status: 401,
      code: 'invalid_dpop_proof',
      challenge: { scheme: 'DPoP', error: 'invalid_dpop_proof' },
    });
  });

  it('no ledger holds a token or a certificate-bound OpTok', () => {
    for (const target of [tlsStack, proxied, rfc9440, envoy, untrusted, direct]) {
      const text = treeText(target.config.ledger.path);
      for (const secret of secrets) expect(text.includes(secret)).toBe(false);
    }
  });
});
