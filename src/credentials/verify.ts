// Verifies registry credentials against the service's own published keys (the active signing
// key and the ones still published during a rotation), with a refusal for each way a secret
// can fail to be one, saying what to do: a person reads it in `docker` or `skopeo` output.
import {
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors as joseErrors,
  jwtVerify,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
} from 'jose';
import { AuthenticationError, type CredentialRefusal } from '../domain/errors.ts';
import type { Clock } from '../domain/types.ts';
import { CREDENTIAL_AUDIENCE, CREDENTIAL_TYPE, credentialClaims, fromClaims, rfc3339, type VerifiedCredential } from './format.ts';

export interface CredentialVerifier {
  /** Resolves with the credential, or rejects with AuthenticationError (401) saying why. */
  verify(secret: string): Promise<VerifiedCredential>;
}

export interface CredentialVerifierOptions {
  /** `signing.issuer`. */
  issuer: string;
  /** The JWKS the service publishes now (read on every use, so a key roll applies at once). */
  publishedKeys: () => JSONWebKeySet;
  algorithms: readonly string[];
  clockToleranceSeconds: number;
  clock: Clock;
}

const LOGIN = 'run "registry-token login" to get a new one';

function refuse(reason: CredentialRefusal, message: string, cause?: unknown): AuthenticationError {
  return new AuthenticationError(reason, message, { scheme: 'Basic', cause });
}

/** What an unverified secret looks like, only to choose the message it is refused with. */
function describe(secret: string): { typ: string | undefined; payload: Record<string, unknown> | undefined } {
  try {
    const { typ } = decodeProtectedHeader(secret);
    return { typ: typeof typ === 'string' ? typ.toLowerCase().replace(/^application\//, '') : undefined, payload: decodeJwt(secret) };
  } catch {
    return { typ: undefined, payload: undefined };
  }
}

export function createCredentialVerifier(options: CredentialVerifierOptions): CredentialVerifier {
  let published: JSONWebKeySet | undefined;
  let getKey: JWTVerifyGetKey | undefined;
  const keys: JWTVerifyGetKey = (header, token) => {
    const current = options.publishedKeys();
    if (current !== published || getKey === undefined) {
      published = current;
      getKey = createLocalJWKSet(current);
    }
    return getKey(header, token);
  };

  function translate(error: unknown): Error {
    if (error instanceof AuthenticationError) return error;
    if (error instanceof joseErrors.JWTExpired) {
      const exp = error.payload.exp;
      const when = typeof exp === 'number' ? ` on ${rfc3339(new Date(exp * 1000))}` : '';
      return refuse('credential_expired', `the registry credential expired${when}; ${LOGIN}`, error);
    }
    if (error instanceof joseErrors.JWTClaimValidationFailed) {
      if (error.claim === 'nbf' || error.claim === 'iat') return refuse('invalid_credential', `the registry credential is not valid yet (${error.claim}); check the clocks of the token service replicas`, error);
      if (error.claim === 'iss') return refuse('invalid_credential', `the registry credential was issued by another token service; ${LOGIN} from this one`, error);
      return refuse('invalid_credential', `the registry credential fails the "${error.claim}" check; ${LOGIN}`, error);
    }
    if (error instanceof joseErrors.JWKSNoMatchingKey || error instanceof joseErrors.JWSSignatureVerificationFailed) {
      return refuse('invalid_credential', `the registry credential is not signed by a key of this token service (it comes from another one, or its key was retired); ${LOGIN}`, error);
    }
    if (error instanceof joseErrors.JOSEAlgNotAllowed) return refuse('invalid_credential', `the registry credential is signed with an algorithm this service does not use; ${LOGIN}`, error);
    return refuse('invalid_credential', `the password is not a registry credential; run "registry-token login" to get one`, error);
  }

  return {
    async verify(secret) {
      const seen = describe(secret);
      if (seen.payload === undefined) throw refuse('invalid_credential', 'the password is not a registry credential; run "registry-token login" to get one');
      if (seen.typ !== CREDENTIAL_TYPE) {
        const aud = seen.payload.aud;
        if (seen.payload.access !== undefined || (typeof aud === 'string' && aud !== CREDENTIAL_AUDIENCE)) {
          throw refuse('invalid_credential', `this is a registry token, for the registry itself: it is not a registry credential; run "registry-token login" to get one`);
        }
        throw refuse('invalid_credential', `the password is a JWT but not a registry credential (typ "${CREDENTIAL_TYPE}"); run "registry-token login" to get one`);
      }
      try {
        const { payload } = await jwtVerify(secret, keys, {
          issuer: options.issuer,
          audience: CREDENTIAL_AUDIENCE,
          typ: CREDENTIAL_TYPE,
          algorithms: [...options.algorithms],
          clockTolerance: options.clockToleranceSeconds,
          currentDate: options.clock(),
          requiredClaims: ['exp', 'nbf', 'iat', 'jti', 'sub'],
        });
        const claims = credentialClaims.safeParse(payload);
        if (!claims.success) {
          const claim = claims.error.issues[0]?.path.map(String).join('.') ?? 'claims';
          throw refuse('invalid_credential', `the registry credential is malformed (claim "${claim}"); ${LOGIN}`);
        }
        return fromClaims(claims.data);
      } catch (error) {
        throw translate(error);
      }
    },
  };
}
