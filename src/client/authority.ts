// The Authority side of a login: discovery (issuer/.well-known/openid-configuration), then an
// OAuth 2.0 client_credentials grant whose access token (the OpTok) is bound to a DPoP key.
// oauth4webapi makes the requests and the proofs and checks the answers.
import * as oauth from 'oauth4webapi';
import { ClientError } from './errors.ts';
import { timedFetch } from './http.ts';
import type { DpopKeys } from './dpop-key.ts';

/** The scope the token service asks of an OpTok before it issues a credential (credentials.requiredScope). */
export const DEFAULT_AUTHORITY_SCOPE = 'registry.token.issue';

export interface AuthorityClientOptions {
  issuer: URL;
  clientId: string;
  /** Sent with HTTP Basic (client_secret_basic); never logged, never in a message. */
  clientSecret: string;
  /** Space-separated scopes to ask for. */
  scope: string;
  /** RFC 8707 resource indicator, for Authorities that want to be told the audience. */
  resource?: string | undefined;
}

function transport(issuer: URL): { [oauth.allowInsecureRequests]?: boolean; [oauth.customFetch]: typeof fetch } {
  // Plain HTTP reaches this point only where urls.ts allowed it (loopback or --insecure).
  return { [oauth.customFetch]: timedFetch, ...(issuer.protocol === 'http:' ? { [oauth.allowInsecureRequests]: true } : {}) };
}

async function discover(issuer: URL): Promise<oauth.AuthorizationServer> {
  const where = `${issuer.href.replace(/\/$/, '')}/.well-known/openid-configuration`;
  try {
    let response = await oauth.discoveryRequest(issuer, { ...transport(issuer), algorithm: 'oidc' });
    // An OAuth-only Authority publishes RFC 8414 metadata instead.
    if (response.status === 404) response = await oauth.discoveryRequest(issuer, { ...transport(issuer), algorithm: 'oauth2' });
    return await oauth.processDiscoveryResponse(issuer, response);
  } catch (error) {
    if (error instanceof ClientError) throw error;
    throw new ClientError(`the Authority's discovery document at ${where} cannot be used: ${(error as Error).message}`, { cause: error });
  }
}

interface OAuthRefusal {
  error: string;
  error_description?: string | undefined;
}

/** A 401 from the token endpoint comes as a challenge; its body (or the challenge) says why. */
async function challengeRefusal(error: oauth.WWWAuthenticateChallengeError): Promise<OAuthRefusal> {
  try {
    const body = (await error.response.json()) as Partial<OAuthRefusal>;
    if (typeof body.error === 'string') return { error: body.error, error_description: body.error_description };
  } catch {
    // no JSON body: the challenge parameters are all there is
  }
  const params = error.cause[0]?.parameters;
  return { error: params?.error ?? `HTTP ${error.status}`, error_description: params?.error_description };
}

function refusal(error: OAuthRefusal, clientId: string): ClientError {
  const description = error.error_description === undefined ? '' : ` (${error.error_description})`;
  const hint =
    error.error === 'invalid_client'
      ? `: check the client id "${clientId}" and its secret`
      : error.error === 'invalid_scope'
        ? ': the client may not ask for this scope (--authority-scope)'
        : '';
  return new ClientError(`the Authority refused the client credentials grant: ${error.error}${description}${hint}`);
}

/** An OpTok for `options.clientId`, bound to `keys` (its `cnf.jkt` is their thumbprint). */
export async function obtainOpTok(options: AuthorityClientOptions, keys: DpopKeys): Promise<string> {
  const as = await discover(options.issuer);
  const client: oauth.Client = { client_id: options.clientId };
  const params = new URLSearchParams();
  if (options.scope.trim() !== '') params.set('scope', options.scope.trim());
  if (options.resource !== undefined) params.set('resource', options.resource);
  const dpop = oauth.DPoP(client, keys);
  for (let attempt = 0; ; attempt += 1) {
    try {
      const response = await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic(options.clientSecret), params, {
        ...transport(options.issuer),
        DPoP: dpop,
      });
      const result = await oauth.processClientCredentialsResponse(as, client, response);
      if (result.token_type.toLowerCase() !== 'dpop') {
        throw new ClientError(`the Authority issued a ${result.token_type} token, not a DPoP-bound one: register the client "${options.clientId}" for DPoP-bound access tokens`);
      }
      return result.access_token;
    } catch (error) {
      // The handle has kept the nonce the Authority asked for: one retry uses it.
      if (attempt === 0 && oauth.isDPoPNonceError(error)) continue;
      if (error instanceof ClientError) throw error;
      if (error instanceof oauth.ResponseBodyError) throw refusal(error, options.clientId);
      if (error instanceof oauth.WWWAuthenticateChallengeError) throw refusal(await challengeRefusal(error), options.clientId);
      throw new ClientError(`the Authority's token endpoint answered in a way that cannot be used: ${(error as Error).message}`, { cause: error });
    }
  }
}
