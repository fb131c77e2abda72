// The registry credential: a compact JWS the service signs with its own signing key and
// verifies against its own published keys, so any replica checks it without a database and
// nothing secret is stored. Its audience is a URN no registry `service` may be (config refuses
// it), so a registry never takes a credential for a registry token, and its `typ` differs from
// both registry tokens (JWT) and OpToks (at+jwt), so neither is ever taken for a credential.
import { monotonicFactory } from 'ulid';
import { z } from 'zod';

export const CREDENTIAL_AUDIENCE = 'urn:registry-token:credential';
export const CREDENTIAL_TYPE = 'registry-credential+jwt';
export const CREDENTIAL_ID_PREFIX = 'rtc_';
/** `rtc_` and a ULID: 26 Crockford base32 characters, time first, so ids sort by issue time. */
export const CREDENTIAL_ID = /^rtc_[0-9A-HJKMNP-TV-Z]{26}$/;
export const MAX_NAME_LENGTH = 128;

const ulid = monotonicFactory();

export function newCredentialId(now: number): string {
  return `${CREDENTIAL_ID_PREFIX}${ulid(now)}`;
}

const text = z.string().min(1).max(1024);
const seconds = z.number().int().nonnegative();

/** Every claim a credential carries, each with its type; anything else in it is ignored. */
export const credentialClaims = z.object({
  iss: text,
  aud: z.literal(CREDENTIAL_AUDIENCE),
  sub: text,
  client_id: text.optional(),
  tenant: text.optional(),
  plan: text.optional(),
  license: text.optional(),
  /** The narrowing: space-joined scopes with plan patterns; absent: none. */
  scope: z.string().max(16_384).optional(),
  /** The OpTok's scopes among authority.requiredScopes, space-joined. */
  op_scope: z.string().max(4096),
  jti: z.string().regex(CREDENTIAL_ID),
  name: z.string().max(MAX_NAME_LENGTH).optional(),
  /**
   * How the OpTok it was issued to was bound; `operator`: issued by an operator to a named
   * subject (an Offline Kit credential bundle), not to the caller's own OpTok.
   */
  bnd: z.enum(['dpop', 'mtls', 'none', 'operator']),
  iat: seconds,
  nbf: seconds,
  exp: seconds,
});

export type CredentialClaims = z.infer<typeof credentialClaims>;

/** A credential whose signature, issuer, audience, type and times have been checked. */
export interface VerifiedCredential {
  readonly id: string;
  readonly subject: string;
  readonly clientId: string | undefined;
  readonly tenant: string | undefined;
  readonly plan: string | undefined;
  readonly license: string | undefined;
  readonly narrowing: string | undefined;
  readonly opScopes: readonly string[];
  readonly name: string | undefined;
  readonly root: CredentialClaims['bnd'];
  readonly expiresAt: Date;
}

export function fromClaims(claims: CredentialClaims): VerifiedCredential {
  return {
    id: claims.jti,
    subject: claims.sub,
    clientId: claims.client_id,
    tenant: claims.tenant,
    plan: claims.plan,
    license: claims.license,
    narrowing: claims.scope,
    opScopes: claims.op_scope.split(' ').filter((s) => s !== ''),
    name: claims.name,
    root: claims.bnd,
    expiresAt: new Date(claims.exp * 1000),
  };
}

/** `2026-12-02T10:00:00Z`: whole seconds, as the credential's times are. */
export function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
