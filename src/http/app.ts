// buildApp composes the HTTP layer over an already-built pipeline; it never listens.
// server.ts listens; tests use `inject` or a real listener.
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import formbody from '@fastify/formbody';
import Fastify, { LogController, type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import type { Logger } from 'pino';
import type { NonceSource } from '../authenticate/dpop-nonce.ts';
import { AuthenticationError } from '../domain/errors.ts';
import type { RateLimits } from '../limits/rate-limits.ts';
import type { Pipeline } from '../pipeline.ts';
import type { CredentialOptions } from './credentials.ts';
import { clientErrorAnswer, MAX_PARAM_LENGTH, problem, refusalOf, renderError, type ChallengeOptions } from './errors.ts';
import { registerOpenApi } from './openapi/document.ts';
import { requestIdOf } from './request-id.ts';
import { lazyRequestLogger } from './request-logger.ts';
import { rememberTraceContext, traceContextOf } from './trace-context.ts';
import { credentialRoutes } from './routes/credentials.ts';
import { healthRoutes, type ReadinessCheck } from './routes/health.ts';
import { tokenRoutes } from './routes/token.ts';

export interface AppOptions {
  pipeline: Pipeline;
  logger: Logger;
  credentials: CredentialOptions;
  challenge: ChallengeOptions;
  trustedProxies: readonly string[];
  nonces?: NonceSource | undefined;
  readiness: readonly ReadinessCheck[];
  /** Extra routes (metrics, JWKS, admin), registered by their owners. */
  plugins?: readonly ((app: FastifyInstance) => void | Promise<void>)[];
  /** HTTPS options (with requestCert for mTLS); plain HTTP when absent. */
  https?: import('node:https').ServerOptions;
  requestTimeoutSeconds?: number;
  /** `rateLimits`; none when absent or disabled. */
  rateLimits?: RateLimits | undefined;
  /** `credentials.enabled`: POST /credentials and POST /token are served. */
  credentialsEnabled?: boolean;
}

/** The token, credential and admin endpoints are limited; health probes, metrics and the JWKS never are. */
function rateLimited(request: FastifyRequest): boolean {
  const route = request.routeOptions.url;
  return route === '/token' || route === '/credentials' || route?.startsWith('/admin/') === true;
}

/**
 * A 401, with credentials or without: what `rateLimits.failedAuthPerAddress` counts. Requests
 * without credentials count too: no client is served without them, and an anonymous flood
 * (64 long scopes each) is the cheapest way to make the service work and write.
 */
function failedAuthentication(request: FastifyRequest): boolean {
  const refusal = refusalOf(request);
  return refusal instanceof AuthenticationError && refusal.reason !== 'use_dpop_nonce';
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const serverOptions: FastifyServerOptions & { https?: unknown } = {
    loggerInstance: options.logger,
    // One decision line per exchange is written by the pipeline's observer instead.
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: lazyRequestLogger,
    genReqId: requestIdOf,
    requestIdHeader: false,
    trustProxy: options.trustedProxies.length > 0 ? [...options.trustedProxies] : false,
    bodyLimit: 64 * 1024,
    requestTimeout: (options.requestTimeoutSeconds ?? 15) * 1000,
    return503OnClosing: true,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // Errors raised before routing (path too long, bad percent-encoding) and by Node's parser
    // (no request at all) are problem documents like every other answer.
    frameworkErrors: (error, request, reply) => renderError(error, request, reply, options.challenge),
    clientErrorHandler: (error: NodeJS.ErrnoException, socket: Socket) => {
      if (error.code === 'ECONNRESET' || socket.destroyed) return;
      if (socket.writable) socket.end(clientErrorAnswer(error.code, randomUUID()));
      else socket.destroy();
    },
    ...(options.https === undefined ? {} : { https: options.https }),
  };
  // Fastify's overloads type HTTPS and HTTP instances apart; the routes are the same.
  const app = Fastify(serverOptions as FastifyServerOptions) as unknown as FastifyInstance;

  // While closing, answers end their keep-alive connection, so that close() waits for the
  // in-flight exchanges and not for clients' idle sockets.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    const trace = traceContextOf(request.headers);
    rememberTraceContext(request, trace);
    reply.headers(trace.headers);
    // Tokens, audit records and revocation lists must never sit in a cache; routes that
    // serve public, cacheable data (the JWKS) say so themselves.
    reply.header('cache-control', 'no-store');
  });
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close');
  });
  app.setErrorHandler((error, request, reply) => renderError(error, request, reply, options.challenge));
  // Before every route, so that each one is in the document.
  await registerOpenApi(app);
  // Before the routes, so that its hooks run on every one of them.
  await options.rateLimits?.install(app, { applies: rateLimited, failedAuthentication });
  app.setNotFoundHandler((request, reply) =>
    reply
      .code(404)
      .type('application/problem+json')
      .send(problem(404, 'not_found', 'not_found', `no endpoint ${request.method} ${request.url.split('?')[0]}`, request.id)),
  );

  // OAuth token requests and POST /credentials come as forms (with or without a charset).
  await app.register(formbody);
  const credentialsEnabled = options.credentialsEnabled ?? false;
  tokenRoutes(app, { pipeline: options.pipeline, credentials: options.credentials, nonces: options.nonces, credentialsEnabled });
  if (credentialsEnabled) credentialRoutes(app, { pipeline: options.pipeline, credentials: options.credentials, nonces: options.nonces });
  healthRoutes(app, options.readiness);
  for (const plugin of options.plugins ?? []) await plugin(app);
  return app;
}
