// The mint stage: registry token claims and signature. Claim shapes follow what
// distribution accepts (shared registry facts): `aud` a single string, integer times,
// `kid` the libtrust id, `x5c` when a certificate is configured.
import { newRecordId } from '../domain/random-ids.ts';
import type { AccessEntry, Clock, MintedToken } from '../domain/types.ts';
import { createSigner } from './signer.ts';
import type { SigningKey } from './signing-key.ts';

export interface Minter {
  mint(input: { subject: string; service: string; access: readonly AccessEntry[] }): Promise<MintedToken>;
}

/** `signingKey` is asked on every mint: a reload may have switched the active key (key-set-holder.ts). */
export function createMinter(options: { signingKey: () => SigningKey; issuer: string; lifetimeSeconds: number; clock: Clock }): Minter {
  const { issuer, lifetimeSeconds, clock } = options;
  const sign = createSigner(options.signingKey, { typ: 'JWT', x5c: true });
  return {
    async mint({ subject, service, access }) {
      const issuedAt = clock();
      // The registry wants integer times; the record and `issued_at` keep the exact moment.
      const now = Math.floor(issuedAt.getTime() / 1000);
      const jti = newRecordId();
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
