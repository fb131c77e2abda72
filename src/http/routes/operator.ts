// Endpoints for operators and registries: the public signing keys and Prometheus metrics.
import type { FastifyInstance } from 'fastify';
import type { JWK } from 'jose';
import type { Telemetry } from '../../telemetry/metrics.ts';
import { JWKS, METRICS } from '../openapi/operator.ts';

export function operatorRoutes(app: FastifyInstance, deps: { jwks: () => { readonly keys: readonly JWK[] }; telemetry: Telemetry | undefined }): void {
  app.get('/.well-known/jwks.json', { schema: JWKS }, async (_request, reply) =>
    reply.header('cache-control', 'public, max-age=300').type('application/jwk-set+json').send(deps.jwks()),
  );
  const telemetry = deps.telemetry;
  if (telemetry !== undefined) {
    app.get('/metrics', { schema: METRICS }, async (_request, reply) => {
      const { contentType, body } = await telemetry.scrape();
      return reply.type(contentType).send(body);
    });
  }
}
