// Issues registry credentials: the claims of format.ts, signed by the mint stage's signer with
// the active signing key. The lifetime policy (credentials.*LifetimeSeconds) is applied here.
import { InvalidRequestError } from '../domain/errors.ts';
import type { Clock } from '../domain/types.ts';
import type { Signer } from '../mint/signer.ts';
import { CREDENTIAL_AUDIENCE, newCredentialId, type CredentialClaims } from './format.ts';

export interface CredentialSubject {
  readonly subject: string;
  readonly clientId: string | undefined;
  readonly tenant: string | undefined;
  readonly plan: string | undefined;
  readonly license: string | undefined;
  /** How the OpTok the credential is issued to is bound. */
  readonly root: CredentialClaims['bnd'];
  /** The OpTok's scopes the credential carries over. */
  readonly opScopes: readonly string[];
}

export interface CredentialOrder {
  /** Normalised narrowing, space-joined; undefined or '' means none. */
  readonly narrowing: string | undefined;
  /** Seconds; undefined: credentials.defaultLifetimeSeconds. */
  readonly lifetimeSeconds: number | undefined;
  readonly name: string | undefined;
}

export interface IssuedCredential {
  /** The secret itself: returned to the caller once, never recorded or logged. */
  readonly secret: string;
  readonly id: string;
  readonly issuedAt: Date;
  readonly expiresAt: Date;
  readonly expiresIn: number;
}

export interface CredentialIssuer {
  issue(subject: CredentialSubject, order: CredentialOrder): Promise<IssuedCredential>;
}

export interface LifetimePolicy {
  readonly defaultLifetimeSeconds: number;
  readonly minLifetimeSeconds: number;
  readonly maxLifetimeSeconds: number;
  /** The configuration keys of the bounds, for the refusal; default: the POST /credentials ones. */
  readonly boundKeys?: string;
}

export function createCredentialIssuer(options: { sign: Signer; issuer: string; lifetimes: LifetimePolicy; clock: Clock }): CredentialIssuer {
  const { sign, issuer, lifetimes, clock } = options;
  return {
    async issue(subject, order) {
      const lifetime = order.lifetimeSeconds ?? lifetimes.defaultLifetimeSeconds;
      if (lifetime < lifetimes.minLifetimeSeconds || lifetime > lifetimes.maxLifetimeSeconds) {
        throw new InvalidRequestError(
          'invalid_request',
          `expires_in must be from ${lifetimes.minLifetimeSeconds} to ${lifetimes.maxLifetimeSeconds} seconds (${lifetimes.boundKeys ?? 'credentials.minLifetimeSeconds, credentials.maxLifetimeSeconds'})`,
        );
      }
      const issuedAt = clock();
      const now = Math.floor(issuedAt.getTime() / 1000);
      const id = newCredentialId(issuedAt.getTime());
      const claims: CredentialClaims = {
        iss: issuer,
        aud: CREDENTIAL_AUDIENCE,
        sub: subject.subject,
        ...(subject.clientId === undefined ? {} : { client_id: subject.clientId }),
        ...(subject.tenant === undefined ? {} : { tenant: subject.tenant }),
        ...(subject.plan === undefined ? {} : { plan: subject.plan }),
        ...(subject.license === undefined ? {} : { license: subject.license }),
        ...(order.narrowing === undefined || order.narrowing === '' ? {} : { scope: order.narrowing }),
        op_scope: subject.opScopes.join(' '),
        jti: id,
        ...(order.name === undefined ? {} : { name: order.name }),
        bnd: subject.root,
        iat: now,
        nbf: now,
        exp: now + lifetime,
      };
      return { secret: await sign(claims), id, issuedAt, expiresAt: new Date((now + lifetime) * 1000), expiresIn: lifetime };
    },
  };
}
