// The mint stage: registry token claims and signature. Claim shapes follow what
// distribution accepts (shared registry facts): `aud` a single string, integer times,
// `kid` the libtrust id, `x5c` when a certificate is configured.
import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import type { AccessEntry, Clock, MintedToken } from '../domain/types.ts';
import type { SigningKey } from './signing-key.ts';

export interface Minter {
  mint(input: { subject: string; service: string; access: readonly AccessEntry[] }): Promise<MintedToken>;
}

export function newTokenId(): string {
  return randomBytes(16).toString('base64url');
}

function headerOf(key: SigningKey) {
  return {
    alg: key.algorithm,
    typ: 'JWT',
    kid: key.keyId,
    ...(key.x5c.length > 0 ? { x5c: [...key.x5c] } : {}),
  };
}

/** `signingKey` is asked on every mint: a reload may have switched the active key (key-set-holder.ts). */
export function createMinter(options: { signingKey: () => SigningKey; issuer: string; lifetimeSeconds: number; clock: Clock }): Minter {
  const { issuer, lifetimeSeconds, clock } = options;
  const headers = new WeakMap<SigningKey, ReturnType<typeof headerOf>>();
  return {
    async mint({ subject, service, access }) {
      const key = options.signingKey();
      let header = headers.get(key);
      if (header === undefined) headers.set(key, (header = headerOf(key)));
      const issuedAt = clock();
      // The registry wants integer times; the record and `issued_at` keep the exact moment.
      const now = Math.floor(issuedAt.getTime() / 1000);
      const jti = newTokenId();
      const token = await new SignJWT({ access })
        .setProtectedHeader(header)
        .setIssuer(issuer)
        .setSubject(subject)
        .setAudience(service)
        .setIssuedAt(now)
        .setNotBefore(now)
        .setExpirationTime(now + lifetimeSeconds)
        .setJti(jti)
        .sign(key.privateKey);
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
