// GET /token: the Docker registry token endpoint (distribution "Token Authentication
// Specification"), answering in the shape clients parse (shared registry facts).
import type { FastifyInstance } from 'fastify';
import { InvalidRequestError } from '../../domain/errors.ts';
import type { Pipeline } from '../../pipeline.ts';
import type { NonceSource } from '../../authenticate/dpop-nonce.ts';
import { credentialsOf, type CredentialOptions } from '../credentials.ts';

type Query = Record<string, string | string[] | undefined>;

function all(query: Query, name: string): string[] {
  const value = query[name];
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

function one(query: Query, name: string): string | undefined {
  const values = all(query, name);
  if (values.length > 1) throw new InvalidRequestError('invalid_request', `the ${name} parameter must appear at most once`);
  return values[0];
}

export function tokenRoutes(app: FastifyInstance, deps: { pipeline: Pipeline; credentials: CredentialOptions; nonces: NonceSource | undefined }): void {
  app.get('/token', async (request, reply) => {
    const query = request.query as Query;
    const grant = await deps.pipeline.exchange({
      credentials: credentialsOf(request, deps.credentials),
      service: one(query, 'service'),
      scopes: all(query, 'scope'),
      clientId: one(query, 'client_id'),
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
      .header('cache-control', 'no-store')
      .header('pragma', 'no-cache')
      .send({
        token: grant.minted.token,
        access_token: grant.minted.token,
        expires_in: grant.minted.expiresIn,
        issued_at: grant.minted.issuedAt.toISOString(),
      });
  });
}
