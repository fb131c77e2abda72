// Signs JWTs with the service's signing key: registry tokens (mint.ts) and registry credentials
// (src/credentials/) share the key, its `kid` and this code, so a key rotation moves both.
//
// The JWS is put together here and signed with node:crypto's one-shot sign() on the KeyObject,
// on the calling thread: jose's SignJWT goes through WebCrypto, which hands every signature to
// libuv's thread pool and back; for RSA-2048 that round trip cost ~0.14 ms of CPU on top of the
// ~0.26 ms signature (docs/performance.md). The protected header never changes, so it is encoded
// once. The token is byte for byte what SignJWT writes (test/mint/mint.test.ts compares them).
import { sign } from 'node:crypto';
import type { SigningAlgorithm, SigningKey } from './signing-key.ts';

export type Signer = (payload: object) => string;

const DIGEST: Record<SigningAlgorithm, string> = { RS256: 'sha256', RS384: 'sha384', RS512: 'sha512', ES256: 'sha256', ES384: 'sha384', ES512: 'sha512' };

/**
 * `typ` names what is signed; `x5c` puts the certificate chain in the header (registries find
 * the key by it; nothing else needs it, so credentials stay short).
 */
export function createSigner(key: SigningKey, options: { typ: string; x5c: boolean }): Signer {
  const header = {
    alg: key.algorithm,
    typ: options.typ,
    kid: key.keyId,
    ...(options.x5c && key.x5c.length > 0 ? { x5c: [...key.x5c] } : {}),
  };
  const encodedHeader = Buffer.from(JSON.stringify(header)).toString('base64url');
  const digest = DIGEST[key.algorithm];
  // RSASSA-PKCS1-v1_5, or ECDSA with the JWS (r || s) encoding.
  const keyOptions = key.algorithm.startsWith('ES') ? { key: key.privateKey, dsaEncoding: 'ieee-p1363' as const } : key.privateKey;
  return (payload) => {
    const input = `${encodedHeader}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
    return `${input}.${sign(digest, Buffer.from(input), keyOptions).toString('base64url')}`;
  };
}
