// The credential format, issuer and verifier on their own: what is signed, what verifies
// against the published key set (during a key rotation too), and the refusal for each way a
// secret fails to be a credential.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { exportJWK, SignJWT, type JSONWebKeySet } from 'jose';
import { describe, expect, it } from 'vitest';
import { CREDENTIAL_AUDIENCE, CREDENTIAL_ID, CREDENTIAL_TYPE, newCredentialId } from '../../src/credentials/format.ts';
import { createCredentialIssuer, type CredentialSubject } from '../../src/credentials/issue.ts';
import { createCredentialVerifier } from '../../src/credentials/verify.ts';
import { AuthenticationError, InvalidRequestError } from '../../src/domain/errors.ts';
import { libtrustKeyId } from '../../src/mint/key-id.ts';
import { createSigner } from '../../src/mint/signer.ts';
import type { SigningKey } from '../../src/mint/signing-key.ts';

const ISSUER = 'registry-token';
const LIFETIMES = { defaultLifetimeSeconds: 3600, minLifetimeSeconds: 60, maxLifetimeSeconds: 86400 };
const SUBJECT: CredentialSubject = { subject: 'robot', clientId: 'robot', tenant: 'acme', plan: 'team', license: 'lic-1', root: 'dpop', opScopes: ['registry.token.issue'] };

function ecKey(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, publicKey, algorithm: 'ES256', keyId: libtrustKeyId(publicKey), x5c: [] };
}

async function jwksOf(...keys: SigningKey[]): Promise<JSONWebKeySet> {
  return { keys: await Promise.all(keys.map(async (k) => ({ ...(await exportJWK(k.publicKey as KeyObject)), kid: k.keyId, use: 'sig' }))) };
}

function issuerWith(key: SigningKey, clock = () => new Date()) {
  return createCredentialIssuer({ sign: createSigner(key, { typ: CREDENTIAL_TYPE, x5c: false }), issuer: ISSUER, lifetimes: LIFETIMES, clock });
}

function verifierWith(published: () => JSONWebKeySet, clock = () => new Date()) {
  return createCredentialVerifier({ issuer: ISSUER, publishedKeys: published, algorithms: ['ES256', 'RS256'], clockToleranceSeconds: 5, clock });
}

async function thrown(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

async function refusal(promise: Promise<unknown>): Promise<AuthenticationError> {
  const error = await thrown(promise);
  expect(error).toBeInstanceOf(AuthenticationError);
  return error as AuthenticationError;
}

describe('credential ids', () => {
  it('are rtc_ and a ULID, sortable by issue time', () => {
    const a = newCredentialId(Date.parse('2026-01-01T00:00:00Z'));
    const b = newCredentialId(Date.parse('2026-01-01T00:00:01Z'));
    expect(a).toMatch(CREDENTIAL_ID);
    expect(a).toHaveLength(30);
    expect(a < b).toBe(true);
  });
});

describe('issue and verify', () => {
  it('round-trips every claim, with integer times and the lifetime asked for', async () => {
    const key = ecKey();
    const published = await jwksOf(key);
    const issued = await issuerWith(key).issue(SUBJECT, { narrowing: 'repository:team/**:pull', lifetimeSeconds: 600, name: 'ci' });
    expect(issued.expiresIn).toBe(600);
    const verified = await verifierWith(() => published).verify(issued.secret);
    expect(verified).toEqual({
      id: issued.id,
      subject: 'robot',
      clientId: 'robot',
      tenant: 'acme',
      plan: 'team',
      license: 'lic-1',
      narrowing: 'repository:team/**:pull',
      opScopes: ['registry.token.issue'],
      name: 'ci',
      root: 'dpop',
      expiresAt: issued.expiresAt,
    });
  });

  it('applies the lifetime bounds and the default', async () => {
    const issuer = issuerWith(ecKey());
    expect((await issuer.issue(SUBJECT, { narrowing: undefined, lifetimeSeconds: undefined, name: undefined })).expiresIn).toBe(3600);
    for (const lifetimeSeconds of [59, 86401]) {
      const error = await thrown(issuer.issue(SUBJECT, { narrowing: undefined, lifetimeSeconds, name: undefined }));
      expect(error).toBeInstanceOf(InvalidRequestError);
      expect((error as Error).message).toMatch(/from 60 to 86400 seconds/);
    }
  });

  it('keeps verifying a credential of the previous key while it is published, and not after (key rotation)', async () => {
    const previous = ecKey();
    const next = ecKey();
    const issued = await issuerWith(previous).issue(SUBJECT, { narrowing: undefined, lifetimeSeconds: 600, name: undefined });
    let published = await jwksOf(next, previous);
    const verifier = verifierWith(() => published);
    expect((await verifier.verify(issued.secret)).id).toBe(issued.id);
    published = await jwksOf(next);
    expect((await refusal(verifier.verify(issued.secret))).message).toMatch(/not signed by a key of this token service/);
  });

  it('refuses each kind of impostor with its own reason and message', async () => {
    const key = ecKey();
    const published = await jwksOf(key);
    const verifier = verifierWith(() => published);
    const now = Math.floor(Date.now() / 1000);
    const base = { iss: ISSUER, aud: CREDENTIAL_AUDIENCE, sub: 'robot', op_scope: '', jti: newCredentialId(Date.now()), bnd: 'dpop', iat: now, nbf: now, exp: now + 600 };
    const sign = (claims: Record<string, unknown>, typ = CREDENTIAL_TYPE) => new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ, kid: key.keyId }).sign(key.privateKey);

    const cases: [string, string, string, RegExp][] = [
      ['expired', await sign({ ...base, iat: now - 7200, nbf: now - 7200, exp: now - 3600 }), 'credential_expired', /^the registry credential expired on \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ; run "registry-token login"/],
      ['not yet valid', await sign({ ...base, nbf: now + 3600 }), 'invalid_credential', /not valid yet \(nbf\)/],
      ['another issuer', await sign({ ...base, iss: 'other-service' }), 'invalid_credential', /issued by another token service/],
      ['a registry token', await sign({ ...base, aud: 'registry.example', access: [] }, 'JWT'), 'invalid_credential', /this is a registry token/],
      ['another JWT', await sign({ ...base }, 'JWT'), 'invalid_credential', /a JWT but not a registry credential/],
      ['a credential typ with a registry audience', await sign({ ...base, aud: 'registry.example' }), 'invalid_credential', /fails the "aud" check/],
      ['a malformed claim', await sign({ ...base, bnd: 'telepathy' }), 'invalid_credential', /malformed \(claim "bnd"\)/],
      ['a bad id', await sign({ ...base, jti: 'rtc_short' }), 'invalid_credential', /malformed \(claim "jti"\)/],
      ['garbage', 'correct horse battery staple', 'invalid_credential', /the password is not a registry credential/],
    ];
    for (const [what, secret, reason, message] of cases) {
      const error = await refusal(verifier.verify(secret));
      expect(error.reason, what).toBe(reason);
      expect(error.message, what).toMatch(message);
      expect(error.scheme).toBe('Basic');
      expect(error.status).toBe(401);
    }
  });

  it('checks the time against the service clock', async () => {
    const key = ecKey();
    const published = await jwksOf(key);
    const issued = await issuerWith(key).issue(SUBJECT, { narrowing: undefined, lifetimeSeconds: 600, name: undefined });
    const later = () => new Date(Date.now() + 700_000);
    const error = await refusal(verifierWith(() => published, later).verify(issued.secret));
    expect(error.reason).toBe('credential_expired');
  });
});
