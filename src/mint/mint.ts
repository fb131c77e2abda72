// The mint stage: registry token claims and signature. Claim shapes follow what
// distribution accepts (shared registry facts): `aud` a single string, integer times,
// `kid` the libtrust id, `x5c` when a certificate is configured.
//
// The JWS is put together here and signed with node:crypto's one-shot sign() on the KeyObject,
// on the calling thread: jose's SignJWT goes through WebCrypto, which hands every signature to
// libuv's thread pool and back; for RSA-2048 that round trip cost ~0.14 ms of CPU on top of the
// ~0.26 ms signature (docs/performance.md). The protected header never changes, so it is encoded
// once. The token is byte for byte what SignJWT wrote (test/mint/mint.test.ts compares them).
import { randomFillSync, sign } from 'node:crypto';
import type { AccessEntry, Clock, MintedToken } from '../domain/types.ts';
import type { SigningAlgorithm, SigningKey } from './signing-key.ts';

export interface Minter {
  mint(input: { subject: string; service: string; access: readonly AccessEntry[] }): Promise<MintedToken>;
}

// Token ids from a buffer of random bytes refilled once per 256 ids: one CSPRNG call per id
// cost more than the rest of building the claims.
const ID_BYTES = 16;
const idPool = Buffer.alloc(ID_BYTES * 256);
let idOffset = idPool.length;

export function newTokenId(): string {
  if (idOffset === idPool.length) {
    randomFillSync(idPool);
    idOffset = 0;
  }
  const id = idPool.toString('base64url', idOffset, idOffset + ID_BYTES);
  idOffset += ID_BYTES;
  return id;
}

const DIGEST: Record<SigningAlgorithm, string> = { RS256: 'sha256', RS384: 'sha384', RS512: 'sha512', ES256: 'sha256', ES384: 'sha384', ES512: 'sha512' };

/** A signer for `${header}.${payload}`: RSASSA-PKCS1-v1_5, or ECDSA with the JWS (r || s) encoding. */
function signerFor(key: SigningKey): (input: string) => string {
  const digest = DIGEST[key.algorithm];
  const options = key.algorithm.startsWith('ES') ? { key: key.privateKey, dsaEncoding: 'ieee-p1363' as const } : key.privateKey;
  return (input) => sign(digest, Buffer.from(input), options).toString('base64url');
}

export function createMinter(options: { key: SigningKey; issuer: string; lifetimeSeconds: number; clock: Clock }): Minter {
  const { key, issuer, lifetimeSeconds, clock } = options;
  const header = {
    alg: key.algorithm,
    typ: 'JWT',
    kid: key.keyId,
    ...(key.x5c.length > 0 ? { x5c: [...key.x5c] } : {}),
  };
  const encodedHeader = Buffer.from(JSON.stringify(header)).toString('base64url');
  const signature = signerFor(key);
  return {
    async mint({ subject, service, access }) {
      const issuedAt = clock();
      // The registry wants integer times; the record and `issued_at` keep the exact moment.
      const now = Math.floor(issuedAt.getTime() / 1000);
      const jti = newTokenId();
      // The claims in the order SignJWT wrote them.
      const claims = { access, iss: issuer, sub: subject, aud: service, iat: now, nbf: now, exp: now + lifetimeSeconds, jti };
      const input = `${encodedHeader}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
      return {
        token: `${input}.${signature(input)}`,
        jti,
        issuedAt,
        expiresAt: new Date((now + lifetimeSeconds) * 1000),
        expiresIn: lifetimeSeconds,
      };
    },
  };
}
