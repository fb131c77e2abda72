// The Docker registry token endpoint (distribution "Token Authentication Specification" and
// its OAuth2 form), answering in the shapes clients parse (shared registry facts):
//   GET /token   an OpTok (DPoP or mTLS), or a registry credential as the Basic password
//   POST /token  an OAuth form: grant_type refresh_token or password, with a registry credential
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { presentedPassword } from '../../authenticate/password.ts';
import type { Credentials } from '../../authenticate/credentials.ts';
import type { NonceSource } from '../../authenticate/dpop-nonce.ts';
import { formatScope } from '../../authorize/scope.ts';
import { InvalidRequestError, MethodNotAllowedError } from '../../domain/errors.ts';
import type { Pipeline, RequestContext, TokenGrant } from '../../pipeline.ts';
import { GET_TOKEN, HEAD_TOKEN, POST_TOKEN } from '../openapi/token.ts';
import { traceIdOf } from '../trace-context.ts';
import { credentialsOf, formCredentialOf, formValues, type CredentialOptions, type FormFields } from '../credentials.ts';

export interface TokenRouteDeps {
  pipeline: Pipeline;
  credentials: CredentialOptions;
  nonces: NonceSource | undefined;
  /** `credentials.enabled`: POST /token is served only with registry credentials. */
  credentialsEnabled: boolean;
}

export function contextOf(request: FastifyRequest): RequestContext {
  return { requestId: request.id, traceId: traceIdOf(request), remoteAddress: request.ip, userAgent: request.headers['user-agent'] };
}

const FORM = 'application/x-www-form-urlencoded';

function isForm(request: FastifyRequest): boolean {
  return (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase() === FORM;
}

/** The answer of both methods: `token` and `access_token` (docker and ctr read the latter on POST). */
function answer(grant: TokenGrant, refreshToken: string | undefined) {
  return {
    token: grant.minted.token,
    access_token: grant.minted.token,
    token_type: 'Bearer',
    expires_in: grant.minted.expiresIn,
    issued_at: grant.minted.issuedAt.toISOString(),
    scope: grant.decision.access.map((entry) => formatScope({ ...entry, class: undefined })).join(' '),
    ...(refreshToken === undefined ? {} : { refresh_token: refreshToken }),
  };
}

/**
 * What `offline_token=true` / `access_type=offline` get back as `refresh_token`: the very
 * credential that was presented, never a new or rotated one (clients keep the first forever).
 */
function sameCredential(grant: TokenGrant, credentials: Credentials, offline: boolean): string | undefined {
  if (!offline || grant.principal.binding.method !== 'credential') return undefined;
  return presentedPassword(credentials)?.secret;
}

export function tokenRoutes(app: FastifyInstance, deps: TokenRouteDeps): void {
  // HEAD would run the whole exchange (and record an issuance nobody receives): not served.
  app.head('/token', { schema: HEAD_TOKEN }, async (request) => {
    throw new MethodNotAllowedError(request.method, ['GET', ...(deps.credentialsEnabled ? ['POST'] : [])]);
  });

  app.get('/token', { schema: GET_TOKEN, exposeHeadRoute: false }, async (request, reply) => {
    const query = request.query as FormFields;
    const credentials = credentialsOf(request, deps.credentials);
    const grant = await deps.pipeline.exchange({
      credentials,
      service: formValues(query, 'service'),
      scopes: formValues(query, 'scope'),
      clientId: formValues(query, 'client_id'),
      context: contextOf(request),
    });
    if (deps.nonces !== undefined) reply.header('dpop-nonce', deps.nonces.current());
    const offline = formValues(query, 'offline_token').includes('true');
    return reply.header('pragma', 'no-cache').send(answer(grant, sameCredential(grant, credentials, offline)));
  });

  if (!deps.credentialsEnabled) return;
  app.post('/token', { schema: POST_TOKEN }, async (request, reply) => {
    if (request.body !== undefined && !isForm(request)) {
      throw new InvalidRequestError('invalid_request', `POST /token takes an ${FORM} body (RFC 6749)`);
    }
    const fields = (request.body ?? {}) as FormFields;
    const credentials = { ...credentialsOf(request, deps.credentials), formCredential: formCredentialOf(fields) };
    const grant = await deps.pipeline.exchange({
      credentials,
      service: formValues(fields, 'service'),
      scopes: formValues(fields, 'scope'),
      clientId: formValues(fields, 'client_id'),
      context: contextOf(request),
    });
    const offline = formValues(fields, 'access_type').includes('offline');
    return reply.header('pragma', 'no-cache').send(answer(grant, sameCredential(grant, credentials, offline)));
  });
}
