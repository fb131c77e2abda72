// The public JWKS served at /.well-known/jwks.json: the current signing key and, during a
// rotation, the previous ones, each with the same `kid` the tokens carry, so distribution
// 3.x (static JWKS) and 2.x (rootcertbundle + libtrust kid) trust the same keys.
import { readFileSync } from 'node:fs';
import { createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { exportJWK, type JWK } from 'jose';
import { ConfigError } from '../domain/errors.ts';
import { libtrustKeyId } from './key-id.ts';
import type { SigningKey } from './signing-key.ts';

function publicKeyFrom(path: string): { key: KeyObject; x5c?: string[] } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError([`signing.previousKeyPaths: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
  try {
    if (text.includes('BEGIN CERTIFICATE')) {
      const certificate = new X509Certificate(text);
      return { key: certificate.publicKey, x5c: [certificate.raw.toString('base64')] };
    }
    return { key: createPublicKey(text) };
  } catch {
    throw new ConfigError([`signing.previousKeyPaths: ${path} is neither a PEM certificate nor a PEM public key`]);
  }
}

async function jwkOf(key: KeyObject, kid: string, alg: string | undefined, x5c: readonly string[] | undefined): Promise<JWK> {
  const jwk = await exportJWK(key);
  return { ...jwk, kid, use: 'sig', ...(alg === undefined ? {} : { alg }), ...(x5c === undefined || x5c.length === 0 ? {} : { x5c: [...x5c] }) };
}

export async function publicJwks(current: SigningKey, previousKeyPaths: readonly string[]): Promise<{ keys: JWK[] }> {
  const keys = [await jwkOf(current.publicKey, current.keyId, current.algorithm, current.x5c)];
  for (const path of previousKeyPaths) {
    const { key, x5c } = publicKeyFrom(path);
    keys.push(await jwkOf(key, libtrustKeyId(key), undefined, x5c));
  }
  return { keys };
}
