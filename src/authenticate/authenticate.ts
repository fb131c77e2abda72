// The authenticate stage: credentials in, Principal out. A password (Basic, or a form's
// refresh_token / password) goes to password.ts; an OpTok's checks run in a fixed order:
// header shape, OpTok signature, the types of the claims we read, DPoP proof and sender
// binding, then replay: a proof's jti is remembered only once every other check passed.
// `verify` stops short of the replay step and hands the proof's first use to the caller, which
// asks the store about it together with what else it must ask (the per-client count).
import { AuthenticationError, InvalidRequestError, type Scheme } from '../domain/errors.ts';
import type { Principal, SenderBinding } from '../domain/types.ts';
import type { CredentialVerifier } from '../credentials/verify.ts';
import type { AccessTokenVerifier } from './access-token.ts';
import { createClaimReader, opTokPrincipal, type ClaimNames, type OpTokClaims } from './claims.ts';
import type { Credentials } from './credentials.ts';
import type { DpopVerifier } from './dpop.ts';
import type { ProofUse } from './replay-cache.ts';
import { certificateThumbprint } from './mtls.ts';
import { createPasswordAuthenticator, presentedPassword } from './password.ts';

export type { ClaimNames } from './claims.ts';

/** A verified DPoP proof whose first use is not recorded yet. */
export interface PendingProof {
  readonly use: ProofUse;
  /** The replay cache's answer for `use` (as `remember` gives it): resolves when fresh, throws the refusal otherwise. */
  judge(remembered: Promise<boolean>): Promise<void>;
  /** Records the first use on its own: the replay cache asked, then judged. */
  record(): Promise<void>;
}

export interface Authenticated {
  readonly principal: Principal;
  /** Present for a DPoP proof: the principal may be relied on only once it is recorded and judged fresh. */
  readonly proof?: PendingProof | undefined;
}

export interface Authenticator {
  /** Every check, the proof's first use included. */
  authenticate(credentials: Credentials): Promise<Principal>;
  /** Every check but the proof's first use, which the caller must record (`proof.record()`, or with its own question). */
  verify(credentials: Credentials): Promise<Authenticated>;
}

const CREDENTIAL = /^(DPoP|Bearer) +([A-Za-z0-9\-._~+/]+=*)$/i;

export function createAuthenticator(options: {
  accessTokens: AccessTokenVerifier;
  dpop: DpopVerifier;
  claims: ClaimNames;
  senderConstraint: 'required' | 'optional';
  /** `authority.issuer`: an OpTok presented as a password is recognised by it. */
  authorityIssuer: string;
  /** Absent when `credentials.enabled` is false. */
  credentials?: CredentialVerifier | undefined;
}): Authenticator {
  const { accessTokens, dpop } = options;
  const readClaims = createClaimReader(options.claims);
  const byPassword = createPasswordAuthenticator({
    accessTokens,
    readClaims,
    credentials: options.credentials,
    senderConstraint: options.senderConstraint,
    authorityIssuer: options.authorityIssuer,
  });

  function parseAuthorization(credentials: Credentials): { scheme: Scheme; token: string } {
    if (credentials.authorization.length === 0) {
      throw new AuthenticationError('invalid_token', 'no credentials: send "Authorization: DPoP <token>" with a DPoP proof, or a Bearer token over mutual TLS; Docker clients log in with a registry credential (registry-token login)', { scheme: 'DPoP', credentialsMissing: true });
    }
    if (credentials.authorization.length > 1) {
      throw new InvalidRequestError('invalid_request', 'more than one Authorization header');
    }
    const header = credentials.authorization[0]!;
    const match = CREDENTIAL.exec(header.trim());
    if (match === null) {
      throw new AuthenticationError('invalid_token', 'the Authorization header must be "DPoP <token>" or "Bearer <token>"', { scheme: 'DPoP' });
    }
    return { scheme: match[1]!.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer', token: match[2]! };
  }

  /** The binding, and for DPoP the proof whose first use is still to be recorded (last). */
  async function bind(scheme: Scheme, token: string, claims: OpTokClaims, credentials: Credentials): Promise<{ binding: SenderBinding; proof?: PendingProof }> {
    const cnf = { jkt: claims.cnf?.jkt, 'x5t#S256': claims.cnf?.x5t };
    if (scheme === 'DPoP') {
      if (credentials.dpop.length !== 1) {
        throw new AuthenticationError('invalid_dpop_proof', credentials.dpop.length === 0 ? 'the DPoP scheme needs a DPoP proof header' : 'send exactly one DPoP header', { scheme });
      }
      const proof = credentials.dpop[0]!;
      const jkt = await dpop.verify({ proof, accessToken: token, method: credentials.method, url: credentials.url });
      if (typeof cnf.jkt !== 'string') throw new AuthenticationError('invalid_token', 'the access token is not DPoP-bound (no cnf.jkt)', { scheme });
      if (cnf.jkt !== jkt) throw new AuthenticationError('invalid_dpop_proof', 'the DPoP proof key does not match the key the access token is bound to (cnf.jkt)', { scheme });
      return {
        binding: { method: 'dpop', jkt },
        proof: {
          use: dpop.use(proof, jkt, claims.subject),
          judge: (remembered) => dpop.judge(remembered),
          record: () => dpop.consume(proof, jkt, claims.subject),
        },
      };
    }
    if (credentials.dpop.length > 0) {
      throw new InvalidRequestError('invalid_request', 'a DPoP proof was sent with the Bearer scheme: use "Authorization: DPoP <token>"');
    }
    if (typeof cnf.jkt === 'string') {
      throw new AuthenticationError('invalid_token', 'this access token is DPoP-bound: present it as "Authorization: DPoP <token>" with a proof', { scheme: 'DPoP' });
    }
    if (typeof cnf['x5t#S256'] === 'string') {
      if (credentials.clientCertificate === undefined) {
        throw new AuthenticationError('invalid_token', 'this access token is bound to a client certificate: connect with that certificate (mutual TLS)', { scheme });
      }
      const x5t = certificateThumbprint(credentials.clientCertificate);
      if (x5t !== cnf['x5t#S256']) {
        throw new AuthenticationError('invalid_token', 'the client certificate does not match the one the access token is bound to (cnf.x5t#S256)', { scheme });
      }
      return { binding: { method: 'mtls', x5t } };
    }
    if (options.senderConstraint === 'required') {
      throw new AuthenticationError('invalid_token', 'the access token is not sender-constrained: ask the Authority for a DPoP- or certificate-bound token', { scheme });
    }
    return { binding: { method: 'none' } };
  }

  async function verify(credentials: Credentials): Promise<Authenticated> {
    const password = presentedPassword(credentials);
    if (password !== undefined) return { principal: await byPassword(password) };
    const { scheme, token } = parseAuthorization(credentials);
    const payload = await accessTokens.verify(token, scheme);
    const claims = readClaims(payload, scheme);
    const { binding, proof } = await bind(scheme, token, claims, credentials);
    return { principal: opTokPrincipal(claims, binding, scheme), proof };
  }

  return {
    verify,
    async authenticate(credentials) {
      const { principal, proof } = await verify(credentials);
      await proof?.record();
      return principal;
    },
  };
}
