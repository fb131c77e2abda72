import { once } from 'node:events';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  calculateJwkThumbprint,
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  jwtVerify,
} from 'jose';
import { AuthorityError, startAuthority } from '../../src/dev/authority.ts';
import type { DevAuthority } from '../../src/dev/authority.ts';
import { createCa, issueCertificate, selfSigned, x5tS256 } from '../support/pki.ts';
import type { CertificateAuthority } from '../support/pki.ts';

const AUDIENCE = 'registry-token.test';
const ISSUE = 'registry.token.issue';
const ADMIN = 'registry.token.admin';

const CLIENTS = [
  {
    clientId: 'ci-dpop',
    clientSecret: 'secret-dpop',
    binding: 'dpop' as const,
    scope: `${ISSUE} ${ADMIN}`,
    claims: { 'stellaops:plan': 'team', 'stellaops:license': 'lic-1', tid: 'acme', iss: 'https://evil.example' },
  },
  { clientId: 'ci-mtls', clientSecret: 'secret-mtls', binding: 'mtls' as const, scope: ISSUE, claims: { tid: 'globex' } },
  { clientId: 'ci-plain', clientSecret: 'secret-plain', binding: 'none' as const, scope: ISSUE },
];

let authority: DevAuthority;
let ca: CertificateAuthority;

beforeAll(async () => {
  [authority, ca] = await Promise.all([startAuthority({ audience: AUDIENCE, clients: CLIENTS }), createCa('Test Root CA')]);
});

afterAll(async () => {
  await authority?.close();
});

function verifier(a: DevAuthority) {
  const jwks = createRemoteJWKSet(new URL(a.jwksUri));
  return (token: string) => jwtVerify(token, jwks, { issuer: a.issuer, audience: a.audience, typ: 'at+jwt' });
}

describe('dev Authority (oidc-provider)', () => {
  it('serves discovery on 127.0.0.1 with client_credentials, DPoP and certificate-bound tokens', async () => {
    expect(authority.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const res = await fetch(`${authority.issuer}/.well-known/openid-configuration`);
    expect(res.status).toBe(200);
    const meta = (await res.json()) as Record<string, unknown>;
    expect(meta.issuer).toBe(authority.issuer);
    expect(meta.token_endpoint).toBe(authority.tokenEndpoint);
    expect(meta.jwks_uri).toBe(authority.jwksUri);
    expect(meta.grant_types_supported).toContain('client_credentials');
    expect(meta.dpop_signing_alg_values_supported).toContain('ES256');
    expect(meta.tls_client_certificate_bound_access_tokens).toBe(true);

    const jwks = (await (await fetch(authority.jwksUri)).json()) as { keys: Record<string, unknown>[] };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).not.toHaveProperty('d');
    expect(authority.jwks.keys).toHaveLength(1);
    expect(authority.jwks.keys[0]).not.toHaveProperty('d');
    expect(authority.jwks.keys[0]?.kid).toBe(jwks.keys[0]?.kid);
  });

  it('issues a DPoP-bound JWT access token: cnf.jkt = thumbprint of the proof key, extra claims, all required claims', async () => {
    const dpopKeys = await generateKeyPair('ES256');
    const token = await authority.tokenWithDpop('ci-dpop', dpopKeys);

    const { payload, protectedHeader } = await verifier(authority)(token);
    expect(protectedHeader).toMatchObject({ alg: 'ES256', typ: 'at+jwt', kid: authority.jwks.keys[0]?.kid });
    const jkt = await calculateJwkThumbprint(await exportJWK(dpopKeys.publicKey));
    expect(payload.cnf).toEqual({ jkt });
    expect(payload).toMatchObject({
      iss: authority.issuer, // the client's `iss` claim cannot override
      sub: 'ci-dpop',
      aud: AUDIENCE, // a single string
      client_id: 'ci-dpop',
      scope: `${ISSUE} ${ADMIN}`,
      'stellaops:plan': 'team',
      'stellaops:license': 'lic-1',
      tid: 'acme',
    });
    expect(typeof payload.jti).toBe('string');
    expect(Number.isInteger(payload.iat)).toBe(true);
    expect(payload.exp! - payload.iat!).toBe(300);

    // A fresh token each time, same binding for the same key.
    const again = decodeJwt(await authority.tokenWithDpop('ci-dpop', dpopKeys, { scope: ISSUE }));
    expect(again.jti).not.toBe(payload.jti);
    expect(again.cnf).toEqual({ jkt });
    expect(again.scope).toBe(ISSUE);
  });

  it('issues a certificate-bound token: cnf["x5t#S256"] = base64url(SHA-256(DER))', async () => {
    const client = await issueCertificate(ca, { commonName: 'ci-mtls', clientAuth: true });
    const token = await authority.tokenWithCertificate('ci-mtls', client.certPem);
    const { payload } = await verifier(authority)(token);
    expect(payload.cnf).toEqual({ 'x5t#S256': x5tS256(client.certPem) });
    expect(x5tS256(client.der)).toBe(x5tS256(client.certPem));
    expect(payload).toMatchObject({ sub: 'ci-mtls', client_id: 'ci-mtls', scope: ISSUE, tid: 'globex', aud: AUDIENCE });
  });

  it('issues an unbound bearer token without cnf', async () => {
    const { payload } = await verifier(authority)(await authority.tokenUnbound('ci-plain'));
    expect(payload).not.toHaveProperty('cnf');
    expect(payload).toMatchObject({ sub: 'ci-plain', scope: ISSUE, aud: AUDIENCE });
  });

  it('refuses a scope the client was not given (invalid_scope), drops unknown scopes, omits scope when none asked', async () => {
    const refused = await authority.tokenUnbound('ci-plain', { scope: `${ISSUE} ${ADMIN}` }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(AuthorityError);
    expect(refused).toMatchObject({ error: 'invalid_scope', status: 400 });

    const dropped = decodeJwt(await authority.tokenUnbound('ci-plain', { scope: `${ISSUE} no.such.scope` }));
    expect(dropped.scope).toBe(ISSUE);

    const none = decodeJwt(await authority.tokenUnbound('ci-plain', { scope: '' }));
    expect(none).not.toHaveProperty('scope');
  });

  it('enforces the binding of dpop and mtls clients', async () => {
    await expect(authority.tokenUnbound('ci-dpop')).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(authority.tokenUnbound('ci-mtls')).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(authority.tokenWithCertificate('ci-mtls', 'not a certificate')).rejects.toMatchObject({
      error: 'invalid_grant',
    });
    await expect(authority.tokenUnbound('nobody')).rejects.toThrow(/unknown dev client/);
  });

  it('adds clients at run time', async () => {
    await authority.addClient({ clientId: 'ci-late', clientSecret: 's', binding: 'dpop', scope: ADMIN, claims: { tid: 'late' } });
    const dpopKeys = await generateKeyPair('ES256');
    const payload = decodeJwt(await authority.tokenWithDpop('ci-late', dpopKeys));
    expect(payload).toMatchObject({ sub: 'ci-late', scope: ADMIN, tid: 'late' });
    await expect(
      authority.addClient({ clientId: 'ci-bad', clientSecret: 's', binding: 'none', scope: 'never.declared' }),
    ).rejects.toThrow(/extraScopes/);
  });

  it('honours accessTokenTtlSeconds and signingAlg, and verifies against the static JWKS (air-gapped)', async () => {
    const rsa = await startAuthority({
      audience: 'https://registry.example/token',
      clients: [{ clientId: 'c', clientSecret: 's', binding: 'dpop', scope: ISSUE }],
      accessTokenTtlSeconds: 60,
      signingAlg: 'RS256',
    });
    try {
      const token = await rsa.tokenWithDpop('c', await generateKeyPair('ES256'));
      expect(decodeProtectedHeader(token).alg).toBe('RS256');
      const { payload } = await jwtVerify(token, createLocalJWKSet(rsa.jwks as Parameters<typeof createLocalJWKSet>[0]), {
        issuer: rsa.issuer,
        audience: 'https://registry.example/token',
      });
      expect(payload.aud).toBe('https://registry.example/token');
      expect(payload.exp! - payload.iat!).toBe(60);
    } finally {
      await rsa.close();
    }
  });

  it('signs with a given signingKey, so a restart keeps its keys; intercept answers before the provider', async () => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const signingKey = { ...(await exportJWK(privateKey)), alg: 'ES256' };
    const seen: string[] = [];
    const start = () =>
      startAuthority({
        audience: AUDIENCE,
        clients: [{ clientId: 'c', clientSecret: 's', binding: 'dpop', scope: ISSUE }],
        signingKey,
        intercept(req, res) {
          seen.push(req.url ?? '');
          if (req.url !== '/teapot') return false;
          res.statusCode = 418;
          res.end();
          return true;
        },
      });
    const first = await start();
    const kid = first.jwks.keys[0]?.kid;
    const token = await first.tokenWithDpop('c', await generateKeyPair('ES256'));
    await first.close();
    const second = await start();
    try {
      expect(second.jwks.keys[0]?.kid).toBe(kid);
      expect(second.jwks.keys[0]).not.toHaveProperty('d');
      // A token of the first run verifies against the second run's JWKS endpoint (same key).
      await jwtVerify(token, createRemoteJWKSet(new URL(second.jwksUri)), { issuer: first.issuer });
      expect((await fetch(`${second.issuer}/teapot`)).status).toBe(418);
      expect(seen).toContain('/.well-known/openid-configuration');
    } finally {
      await second.close();
    }
  });

  it('retries once with the DPoP nonce when the Authority requires one', async () => {
    const strict = await startAuthority({
      audience: AUDIENCE,
      clients: [{ clientId: 'c', clientSecret: 's', binding: 'dpop', scope: ISSUE }],
      requireDpopNonce: true,
    });
    try {
      const dpopKeys = await generateKeyPair('ES256');
      const payload = decodeJwt(await strict.tokenWithDpop('c', dpopKeys));
      expect(payload.cnf).toEqual({ jkt: await calculateJwkThumbprint(await exportJWK(dpopKeys.publicKey)) });
    } finally {
      await strict.close();
    }
  });
});

describe('test PKI', () => {
  it('makes a server and a client certificate that complete a real mutual TLS handshake', async () => {
    const server = await issueCertificate(ca, { commonName: 'localhost', serverAltNames: ['127.0.0.1', 'localhost'] });
    const client = await issueCertificate(ca, { commonName: 'client-1', clientAuth: true, keyType: 'rsa' });
    expect(server.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(client.keyType).toBe('rsa');

    const https = createHttpsServer(
      { key: server.keyPem, cert: server.certPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true },
      (req, res) => {
        const peer = (req.socket as TLSSocket).getPeerCertificate();
        res.end(JSON.stringify({ x5t: x5tS256(peer.raw), cn: peer.subject.CN }));
      },
    );
    https.listen(0, '127.0.0.1');
    await once(https, 'listening');
    try {
      const { port } = https.address() as AddressInfo;
      const body = await new Promise<string>((resolve, reject) => {
        const req = httpsRequest(
          { host: '127.0.0.1', port, path: '/', ca: ca.certPem, key: client.keyPem, cert: client.certPem, agent: false },
          (res) => {
            let data = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => (data += chunk));
            res.on('end', () => resolve(data));
          },
        );
        req.on('error', reject);
        req.end();
      });
      expect(JSON.parse(body)).toEqual({ x5t: x5tS256(client.certPem), cn: 'client-1' });
    } finally {
      https.closeAllConnections();
      await new Promise((resolve) => https.close(resolve));
    }
  });

  it('makes self-signed certificates', async () => {
    const cert = await selfSigned({ commonName: 'self', clientAuth: true });
    expect(cert.certificate.subject).toBe('CN=self');
    expect(cert.certificate.issuer).toBe('CN=self');
    expect(cert.chainPem).toBe(cert.certPem);
    expect(x5tS256(cert.certPem)).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});
