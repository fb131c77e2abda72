// Client side of DPoP for tests: the real client library (oauth4webapi) for ordinary calls,
// and jose for deliberately broken proofs.
import { createHash, randomUUID, type webcrypto } from 'node:crypto';
import * as oauth from 'oauth4webapi';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';

export type KeyPair = webcrypto.CryptoKeyPair;

export async function newDpopKeys(alg: 'ES256' | 'RS256' = 'ES256'): Promise<KeyPair> {
  return (await generateKeyPair(alg, { extractable: true })) as KeyPair;
}

/** A GET with an oauth4webapi-made proof: exactly what a conforming client sends. */
export async function dpopGet(url: string, accessToken: string, keys: KeyPair): Promise<Response> {
  const handle = oauth.DPoP({}, keys);
  return oauth.protectedResourceRequest(accessToken, 'GET', new URL(url), new Headers(), null, {
    DPoP: handle,
    [oauth.allowInsecureRequests]: true,
  });
}

export interface ProofOverrides {
  htm?: string;
  htu?: string;
  iat?: number;
  jti?: string;
  ath?: string | null;
  typ?: string;
  nonce?: string;
  /** Sign with these keys but put another public key in the header. */
  headerJwkFrom?: KeyPair;
}

/** A proof made by hand with jose, for tests that need one field wrong. */
export async function makeProof(keys: KeyPair, method: string, url: string, accessToken: string, overrides: ProofOverrides = {}): Promise<string> {
  const jwk = await exportJWK((overrides.headerJwkFrom ?? keys).publicKey);
  const target = new URL(url);
  const payload: Record<string, unknown> = {
    htm: overrides.htm ?? method,
    htu: overrides.htu ?? `${target.origin}${target.pathname}`,
    jti: overrides.jti ?? randomUUID(),
    iat: overrides.iat ?? Math.floor(Date.now() / 1000),
  };
  if (overrides.ath !== null) payload.ath = overrides.ath ?? createHash('sha256').update(accessToken).digest('base64url');
  if (overrides.nonce !== undefined) payload.nonce = overrides.nonce;
  const alg = (keys.privateKey.algorithm as { name: string }).name === 'ECDSA' ? 'ES256' : 'RS256';
  return new SignJWT(payload).setProtectedHeader({ alg, typ: overrides.typ ?? 'dpop+jwt', jwk }).sign(keys.privateKey);
}

export function tokenUrl(base: string, params: { service?: string; scope?: string[]; [key: string]: unknown } = {}): string {
  const url = new URL('/token', base);
  for (const [key, value] of Object.entries(params)) {
    for (const item of Array.isArray(value) ? value : [value]) if (item !== undefined) url.searchParams.append(key, String(item));
  }
  return url.toString();
}

export function decodeJwt(token: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const [header, payload] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(header ?? '', 'base64url').toString('utf8')) as Record<string, unknown>,
    payload: JSON.parse(Buffer.from(payload ?? '', 'base64url').toString('utf8')) as Record<string, unknown>,
  };
}
