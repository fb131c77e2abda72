// The one place errors become HTTP answers: status, RFC 6750/9449 WWW-Authenticate, and an
// RFC 9457 problem body that also carries the Docker `errors` array registry clients print.
// Anything that is not one of our typed errors becomes a bare 500: no internal detail leaks.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AuthenticationError, ForbiddenError, InvalidRequestError, ServiceError, TooManyRequestsError } from '../domain/errors.ts';

export interface ChallengeOptions {
  /** Algorithms for `DPoP algs="..."`. */
  dpopAlgorithms: readonly string[];
  realm: string;
}

function quoted(text: string): string {
  // RFC 6750: error_description is %x20-21 / %x23-5B / %x5D-7E.
  return text.replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, ' ');
}

function challenge(error: ServiceError, options: ChallengeOptions): string | undefined {
  let scheme: 'Bearer' | 'DPoP';
  if (error instanceof AuthenticationError || error instanceof ForbiddenError) scheme = error.scheme;
  else if (error instanceof InvalidRequestError && error.reason === 'invalid_request') scheme = 'Bearer';
  else return undefined;
  const params = [`realm="${quoted(options.realm)}"`, `error="${error.oauthError}"`, `error_description="${quoted(error.message)}"`];
  if (scheme === 'DPoP') params.push(`algs="${options.dpopAlgorithms.join(' ')}"`);
  return `${scheme} ${params.join(', ')}`;
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  error: string;
  error_description: string;
  errors: { code: string; message: string }[];
  request_id: string;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  406: 'Not Acceptable', 413: 'Content Too Large', 415: 'Unsupported Media Type', 429: 'Too Many Requests',
  500: 'Internal Server Error', 503: 'Service Unavailable',
};

function dockerCodeFor(status: number): string {
  if (status === 401) return 'UNAUTHORIZED';
  if (status === 403) return 'DENIED';
  if (status === 404) return 'NOT_FOUND';
  if (status === 429) return 'TOOMANYREQUESTS';
  if (status >= 500) return 'UNAVAILABLE';
  return 'DENIED';
}

export function problem(status: number, code: string, oauthError: string, message: string, requestId: string, dockerCode = dockerCodeFor(status)): Problem {
  return {
    type: `urn:registry-token:problem:${code}`,
    title: TITLES[status] ?? 'Error',
    status,
    detail: message,
    code,
    error: oauthError,
    error_description: message,
    errors: [{ code: dockerCode, message }],
    request_id: requestId,
  };
}

export function renderError(error: unknown, request: FastifyRequest, reply: FastifyReply, options: ChallengeOptions): FastifyReply {
  reply.header('cache-control', 'no-store');
  if (error instanceof ServiceError) {
    const header = challenge(error, options);
    if (header !== undefined) reply.header('www-authenticate', header);
    if (error instanceof AuthenticationError && error.nonce !== undefined) reply.header('dpop-nonce', error.nonce);
    if (error instanceof TooManyRequestsError) reply.header('retry-after', String(error.retryAfterSeconds));
    if (error.status >= 500) request.log.warn({ err: error, cause: (error.cause as Error | undefined)?.message }, error.message);
    return reply
      .code(error.status)
      .type('application/problem+json')
      .send(problem(error.status, error.reason, error.oauthError, error.message, request.id, error.dockerCode));
  }
  // Fastify's own client errors (bad query string, body too large, unsupported media type...).
  const fastifyError = error as FastifyError;
  const status = typeof fastifyError.statusCode === 'number' ? fastifyError.statusCode : 500;
  if (status >= 400 && status < 500) {
    return reply
      .code(status)
      .type('application/problem+json')
      .send(problem(status, 'invalid_request', 'invalid_request', fastifyError.message, request.id));
  }
  request.log.error({ err: error }, 'unexpected error');
  return reply
    .code(500)
    .type('application/problem+json')
    .send(problem(500, 'server_error', 'server_error', 'internal error; the request id identifies it in the logs', request.id));
}
