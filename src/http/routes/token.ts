// GET /token: the Docker registry token endpoint (distribution "Token Authentication
// Specification"), answering in the shape clients parse (shared registry facts).
import type { FastifyInstance } from 'fastify';
import type { Pipeline } from '../../pipeline.ts';
import type { NonceSource } from '../../authenticate/dpop-nonce.ts';
import { credentialsOf, type CredentialOptions } from '../credentials.ts';
import { MethodNotAllowedError } from '../../domain/errors.ts';

type Query = Record<string, string | string[] | undefined>;

function all(query: Query, name: string): string[] {
  const value = query[name];
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

export function tokenRoutes(app: FastifyInstance, deps: { pipeline: Pipeline; credentials: CredentialOptions; nonces: NonceSource | undefined }): void {
  // HEAD would run the whole exchange (and record an issuance nobody receives): not served.
  app.head('/token', async (request) => {
    throw new MethodNotAllowedError(request.method, ['GET']);
  });
  app.get('/token', { exposeHeadRoute: false }, async (request, reply) => {
    const query = request.query as Query;
    const grant = await deps.pipeline.exchange({
      credentials: credentialsOf(request, deps.credentials),
      service: all(query, 'service'),
      scopes: all(query, 'scope'),
      clientId: all(query, 'client_id'),
      context: {
        requestId: request.id,
        remoteAddress: request.ip,
        userAgent: request.headers['user-agent'],
      },
    });
    if (deps.nonces !== undefined) reply.header('dpop-nonce', deps.nonces.current());
    // `offline_token` is accepted and ignored: the OpTok is the long-lived credential, so no
    // refresh token is ever issued.
    return reply
      .header('pragma', 'no-cache')
      .send({
        token: grant.minted.token,
        access_token: grant.minted.token,
        expires_in: grant.minted.expiresIn,
        issued_at: grant.minted.issuedAt.toISOString(),
      });
  });
}
