// What Docker clients send where a password goes: a Basic header on GET /token, or the
// refresh_token / password of an OAuth form on POST /token. The secret is a registry credential
// (verified by src/credentials/), or, with authority.senderConstraint optional, an unbound OpTok.
// A sender-constrained OpTok is refused here with the way out: it is useless without its key,
// which Docker clients cannot hold, so the person is told to get a credential instead.
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { AuthenticationError, InvalidRequestError } from '../domain/errors.ts';
import type { CredentialPresentation, Principal } from '../domain/types.ts';
import type { CredentialVerifier } from '../credentials/verify.ts';
import type { AccessTokenVerifier } from './access-token.ts';
import { opTokPrincipal, type ClaimReader } from './claims.ts';
import type { Credentials } from './credentials.ts';

export interface PresentedPassword {
  readonly secret: string;
  readonly username: string | undefined;
  readonly presented: CredentialPresentation;
}

const BASIC = /^Basic +([A-Za-z0-9+/]+=*)$/i;
const LOGIN = 'run "registry-token login" to get a registry credential';
const BOUND = `this is an access token from the Authority, bound to its holder (DPoP or certificate): it cannot be used as a password; ${LOGIN}`;

function invalid(message: string): AuthenticationError {
  return new AuthenticationError('invalid_credential', message, { scheme: 'Basic' });
}

/** The password of the request, when it carries one (a Basic header or a form credential). */
export function presentedPassword(credentials: Credentials): PresentedPassword | undefined {
  const form = credentials.formCredential;
  const header = credentials.authorization.length === 1 ? credentials.authorization[0]!.trim() : undefined;
  const basic = header === undefined ? undefined : BASIC.exec(header);
  if (form === undefined && (header === undefined || !/^basic(?: |$)/i.test(header))) return undefined;
  if (form !== undefined && credentials.authorization.length > 0) {
    throw new InvalidRequestError('invalid_request', `send the registry credential either in the form (${form.grant}) or in the Authorization header, not both`);
  }
  if (credentials.dpop.length > 0) {
    throw new InvalidRequestError('invalid_request', 'a DPoP proof was sent with a password: a registry credential needs no proof');
  }
  if (form !== undefined) {
    if (form.secret === '') throw invalid(`the ${form.grant === 'password' ? 'password' : 'refresh_token'} is empty; ${LOGIN}`);
    return { secret: form.secret, username: form.username, presented: form.grant };
  }
  if (basic === null || basic === undefined) throw invalid('malformed Basic credentials: expected "Basic base64(username:credential)"');
  const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw invalid('malformed Basic credentials: expected "Basic base64(username:credential)"');
  const secret = decoded.slice(colon + 1);
  if (secret === '') throw invalid(`the password is empty; ${LOGIN}`);
  return { secret, username: decoded.slice(0, colon), presented: 'basic' };
}

/** An OpTok (typ at+jwt, or issued by the Authority) rather than something of ours? */
function looksLikeAccessToken(secret: string, authorityIssuer: string): { bound: boolean } | undefined {
  try {
    const typ = decodeProtectedHeader(secret).typ;
    const payload = decodeJwt(secret);
    const isAccessToken = (typeof typ === 'string' && /^(application\/)?at\+jwt$/i.test(typ)) || payload.iss === authorityIssuer;
    if (!isAccessToken) return undefined;
    const cnf = payload.cnf as Record<string, unknown> | undefined;
    return { bound: typeof cnf === 'object' && cnf !== null && (cnf.jkt !== undefined || cnf['x5t#S256'] !== undefined) };
  } catch {
    return undefined;
  }
}

export function createPasswordAuthenticator(options: {
  accessTokens: AccessTokenVerifier;
  readClaims: ClaimReader;
  credentials: CredentialVerifier | undefined;
  senderConstraint: 'required' | 'optional';
  authorityIssuer: string;
}): (password: PresentedPassword) => Promise<Principal> {
  const { accessTokens, readClaims, senderConstraint } = options;

  async function asAccessToken(password: PresentedPassword, bound: boolean): Promise<Principal> {
    if (bound) throw invalid(BOUND);
    if (senderConstraint === 'required') {
      throw invalid(`this is an access token from the Authority: it cannot be used as a password here (authority.senderConstraint is required); ${LOGIN}`);
    }
    const claims = readClaims(await accessTokens.verify(password.secret, 'Basic'), 'Basic');
    if (claims.cnf?.jkt !== undefined || claims.cnf?.x5t !== undefined) throw invalid(BOUND);
    return opTokPrincipal(claims, { method: 'none' }, 'Basic', password.username);
  }

  return async (password) => {
    const accessToken = looksLikeAccessToken(password.secret, options.authorityIssuer);
    if (accessToken !== undefined) return asAccessToken(password, accessToken.bound);
    if (options.credentials === undefined) {
      throw invalid('registry credentials are not enabled on this token service (credentials.enabled): present an access token from the Authority (DPoP or mutual TLS)');
    }
    const credential = await options.credentials.verify(password.secret);
    if (credential.root === 'none' && senderConstraint === 'required') {
      throw invalid(`the registry credential ${credential.id} was issued to an access token that was not sender-constrained, which this service no longer accepts (authority.senderConstraint); ${LOGIN}`);
    }
    return {
      subject: credential.subject,
      clientId: credential.clientId,
      tenant: credential.tenant,
      plan: credential.plan,
      license: credential.license,
      tokenId: undefined,
      scopes: new Set(credential.opScopes),
      binding: { method: 'credential', id: credential.id, root: credential.root, presented: password.presented },
      scheme: 'Basic',
      narrowing: credential.narrowing,
      username: password.username,
    };
  };
}
