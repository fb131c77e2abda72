// The mint stage: registry token claims and signature. Claim shapes follow what
// distribution accepts (shared registry facts): `aud` a single string, integer times,
// `kid` the libtrust id, `x5c` when a certificate is configured.
import { randomFillSync } from 'node:crypto';
import type { AccessEntry, Clock, MintedToken } from '../domain/types.ts';
import { createSigner } from './signer.ts';
import type { SigningKey } from './signing-key.ts';

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

export function createMinter(options: { key: SigningKey; issuer: string; lifetimeSeconds: number; clock: Clock }): Minter {
  const { key, issuer, lifetimeSeconds, clock } = options;
  const sign = createSigner(key, { typ: 'JWT', x5c: true });
  return {
    async mint({ subject, service, access }) {
      const issuedAt = clock();
      // The registry wants integer times; the record and `issued_at` keep the exact moment.
      const now = Math.floor(issuedAt.getTime() / 1000);
      const jti = newTokenId();
      // The claims in the order SignJWT wrote them.
      const token = sign({ access, iss: issuer, sub: subject, aud: service, iat: now, nbf: now, exp: now + lifetimeSeconds, jti });
      return {
        token,
        jti,
        issuedAt,
        expiresAt: new Date((now + lifetimeSeconds) * 1000),
        expiresIn: lifetimeSeconds,
      };
    },
  };
}
