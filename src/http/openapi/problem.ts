// The one error body (src/http/errors.ts renders it): an RFC 9457 problem that also carries the
// Docker `errors` array registry clients print. Every route answers its refusals with it.
export const PROBLEM = {
  $id: 'Problem',
  type: 'object',
  description: 'RFC 9457 problem details with the OAuth `error` fields and the Docker `errors` array.',
  required: ['type', 'title', 'status', 'detail', 'code', 'error', 'error_description', 'errors', 'request_id'],
  additionalProperties: false,
  properties: {
    type: { type: 'string', description: '`urn:registry-token:problem:<code>`' },
    title: { type: 'string' },
    status: { type: 'integer', minimum: 400, maximum: 599 },
    detail: { type: 'string', description: 'What went wrong, for a person.' },
    code: { type: 'string', description: 'The stable reason code (also the metric label and the ledger record `reason`).' },
    error: { type: 'string', description: 'The OAuth / RFC 6750 error code.' },
    error_description: { type: 'string' },
    errors: {
      type: 'array',
      minItems: 1,
      maxItems: 1,
      items: {
        type: 'object',
        required: ['code', 'message'],
        additionalProperties: false,
        properties: {
          code: { type: 'string', description: 'Docker code: UNAUTHORIZED, DENIED, NOT_FOUND, UNSUPPORTED, TOOMANYREQUESTS, UNAVAILABLE.' },
          message: { type: 'string' },
        },
      },
    },
    request_id: { type: 'string', description: 'The X-Request-Id of the answer.' },
  },
} as const;

const WHY: Record<number, string> = {
  400: 'Bad request (invalid_request, invalid_scope, service_not_allowed, ...).',
  401: 'Not authenticated (no or invalid credentials, DPoP proof, nonce); WWW-Authenticate says how.',
  403: 'Authenticated but refused (insufficient_scope, plan_denied, license_revoked, subject_revoked, ...).',
  404: 'No such record, revocation or endpoint.',
  405: 'Method not allowed; Allow lists the methods.',
  413: 'The body is larger than 64 KiB.',
  408: 'The request did not arrive in time.',
  414: 'A path segment is longer than 255 characters.',
  415: 'Unsupported body media type.',
  429: 'Over a rate limit or the client\'s replay-cache share; Retry-After says when to retry.',
  500: 'Internal error; the request id identifies it in the logs.',
  503: 'A dependency is unavailable (authority_unavailable, ledger_unavailable, store_unavailable, replay_cache_full, ...).',
};

/** Response objects for the given refusal statuses, all the one problem body. */
export function problems(...statuses: number[]): Record<number, unknown> {
  return Object.fromEntries(
    statuses.map((status) => [status, { description: WHY[status] ?? 'Refused.', content: { 'application/problem+json': { schema: { $ref: 'Problem#' } } } }]),
  );
}

/**
 * What every endpoint can answer whatever it does: a malformed request, a body too large or of
 * another type, a path segment too long, an internal error, and 503 while the server closes.
 */
export const ALWAYS = [400, 413, 414, 415, 500, 503];
/** The refusals of an endpoint behind authentication and rate limits. */
export const AUTHENTICATED = [...ALWAYS, 401, 403, 429];
