// The one place errors become HTTP answers: status, RFC 6750/9449 WWW-Authenticate, and an
// RFC 9457 problem body that also carries the Docker `errors` array registry clients print.
// Anything that is not one of our typed errors becomes a bare 500: no internal detail leaks.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AuthenticationError, ForbiddenError, InvalidRequestError, MethodNotAllowedError, ServiceError, TooManyRequestsError, type Scheme } from '../domain/errors.ts';

export interface ChallengeOptions {
  /** Algorithms for `DPoP algs="..."`. */
  dpopAlgorithms: readonly string[];
  realm: string;
  /** mTLS is offered (`server.tls` or `server.clientCertificateHeader`): a Bearer challenge too. */
  mtlsOffered?: boolean;
}

function quoted(text: string): string {
  // RFC 6750: error_description is %x20-21 / %x23-5B / %x5D-7E.
  return text.replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, ' ');
}

/** One WWW-Authenticate value per challenge; the scheme comes from the error's type. */
function challenges(error: ServiceError, options: ChallengeOptions): string[] {
  const realm = `realm="${quoted(options.realm)}"`;
  const algs = `algs="${options.dpopAlgorithms.join(' ')}"`;
  // RFC 6750 §3.1: a request with no credentials gets no `error`, and is told every scheme it
  // could use: DPoP always, Bearer where a certificate can be presented.
  if (error instanceof AuthenticationError && error.credentialsMissing) {
    return [`DPoP ${realm}, ${algs}`, ...(options.mtlsOffered === true ? [`Bearer ${realm}`] : [])];
  }
  let scheme: Scheme;
  if (error instanceof AuthenticationError || error instanceof ForbiddenError) scheme = error.scheme;
  else if (error instanceof InvalidRequestError && error.reason === 'invalid_request') scheme = 'Bearer';
  else return [];
  // RFC 7617 defines no error parameters: a refused password is asked for again, and the
  // reason is in the body, which is what Docker clients print. A 403 asks for nothing.
  if (scheme === 'Basic') return error.status === 401 ? [`Basic ${realm}, charset="UTF-8"`] : [];
  const params = [realm, `error="${error.oauthError}"`, `error_description="${quoted(error.message)}"`];
  if (scheme === 'DPoP') params.push(algs);
  return [`${scheme} ${params.join(', ')}`];
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
  406: 'Not Acceptable', 408: 'Request Timeout', 413: 'Content Too Large', 414: 'URI Too Long',
  415: 'Unsupported Media Type', 429: 'Too Many Requests', 431: 'Request Header Fields Too Large',
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

/** The typed error each answered request was refused with, for hooks that look at the outcome. */
const refusals = new WeakMap<FastifyRequest, ServiceError>();

export function refusalOf(request: FastifyRequest): ServiceError | undefined {
  return refusals.get(request);
}

/**
 * Messages for errors Fastify raises itself (router, body parser): its own texts echo the
 * caller's URL, so the known ones are replaced; the rest are generic already.
 */
function frameworkMessage(error: FastifyError): string {
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') return `a path segment is longer than ${MAX_PARAM_LENGTH} characters`;
  if (error.code === 'FST_ERR_BAD_URL') return 'the URL is not valid (a malformed percent-encoding?)';
  return error.message;
}

/** Longest path parameter (licence id, subject, jti) the router accepts; longer is 414. */
export const MAX_PARAM_LENGTH = 255;

export function renderError(error: unknown, request: FastifyRequest, reply: FastifyReply, options: ChallengeOptions): FastifyReply {
  // Set here too: errors raised before routing (frameworkErrors) skip the onRequest hooks.
  reply.header('cache-control', 'no-store').header('x-request-id', request.id);
  if (error instanceof ServiceError) {
    refusals.set(request, error);
    const header = challenges(error, options);
    if (header.length > 0) reply.header('www-authenticate', header.length === 1 ? header[0] : header);
    if (error instanceof AuthenticationError && error.nonce !== undefined) reply.header('dpop-nonce', error.nonce);
    if (error instanceof TooManyRequestsError) reply.header('retry-after', String(error.retryAfterSeconds));
    if (error instanceof MethodNotAllowedError) reply.header('allow', error.allow.join(', '));
    if (error.status >= 500) request.log.warn({ err: error, cause: (error.cause as Error | undefined)?.message }, error.message);
    return reply
      .code(error.status)
      .type('application/problem+json')
      .send(problem(error.status, error.reason, error.oauthError, error.message, request.id, error.dockerCode));
  }
  // Fastify's own client errors (bad query string or URL, path too long, body too large,
  // unsupported media type...), raised in routing, parsing or a framework hook.
  const fastifyError = error as FastifyError;
  const status = typeof fastifyError.statusCode === 'number' ? fastifyError.statusCode : 500;
  if (status >= 400 && status < 500) {
    return reply
      .code(status)
      .type('application/problem+json')
      .send(problem(status, 'invalid_request', 'invalid_request', frameworkMessage(fastifyError), request.id));
  }
  request.log.error({ err: error }, 'unexpected error');
  return reply
    .code(500)
    .type('application/problem+json')
    .send(problem(500, 'server_error', 'server_error', 'internal error; the request id identifies it in the logs', request.id));
}

/**
 * The answer Node's HTTP parser errors get (no request was formed: malformed request line,
 * headers over the size limit, a request too slow to arrive), as raw bytes for the socket.
 */
export function clientErrorAnswer(code: string | undefined, requestId: string): string {
  const [status, message] =
    code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'the request did not arrive in time']
      : code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'the request headers are too large']
        : [400, 'the request is not valid HTTP'];
  const body = JSON.stringify(problem(status, 'invalid_request', 'invalid_request', message, requestId));
  return [
    `HTTP/1.1 ${status} ${TITLES[status]}`,
    'content-type: application/problem+json',
    'cache-control: no-store',
    `x-request-id: ${requestId}`,
    'connection: close',
    `content-length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
}
