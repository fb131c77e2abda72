// The one error hierarchy of the service. Stages throw these; the HTTP layer
// renders them in exactly one place (src/http/errors.ts). Anything else that
// reaches the edge becomes a generic 500 `server_error` with no detail.

/** Stable reason codes: metric labels, ledger `reason`, and the problem `code`. */
export type ReasonCode =
  | 'invalid_request'
  | 'invalid_scope'
  | 'service_not_allowed'
  | 'invalid_token'
  | 'invalid_dpop_proof'
  | 'use_dpop_nonce'
  | 'insufficient_scope'
  | 'plan_denied'
  | 'license_revoked'
  | 'subject_revoked'
  | 'tenant_revoked'
  | 'tenant_required'
  | 'cross_tenant'
  | 'unsupported_grant_type'
  | 'invalid_credential'
  | 'credential_expired'
  | 'credential_revoked'
  | 'credential_not_accepted'
  | 'not_found'
  | 'method_not_allowed'
  | 'ledger_unavailable'
  | 'authority_unavailable'
  | 'replay_cache_full'
  | 'revocations_unavailable'
  | 'store_unavailable'
  | 'rate_limited'
  | 'quota_exceeded'
  | 'server_error';

/**
 * The authentication scheme a challenge is issued for (RFC 6750 / RFC 9449; RFC 7617 for a
 * registry credential presented as a password, in a Basic header or a form body).
 */
export type Scheme = 'Bearer' | 'DPoP' | 'Basic';

export interface ServiceErrorOptions {
  /** Private detail for logs; never rendered to the caller. */
  detail?: string;
  cause?: unknown;
}

export abstract class ServiceError extends Error {
  abstract readonly status: number;
  /** RFC 6750 / RFC 9449 `error` value for WWW-Authenticate and the problem body. */
  abstract readonly oauthError: string;
  /** Docker registry error code shown by clients (`errors[].code`). */
  abstract readonly dockerCode: string;
  readonly reason: ReasonCode;
  readonly detail: string | undefined;

  /**
   * Whether instances keep a stack trace. A refusal (4xx) is an expected answer, never a bug to
   * trace, and under a flood each one captured the stack of a request deep in Fastify's hooks
   * (~6 µs at 40 frames, more with a request's async frames: docs/reliability.md, Abuse); a 503
   * keeps one.
   */
  static readonly keepsStack: boolean = false;

  constructor(reason: ReasonCode, message: string, options: ServiceErrorOptions = {}) {
    const limit = Error.stackTraceLimit;
    if (!(new.target as typeof ServiceError).keepsStack) Error.stackTraceLimit = 0;
    try {
      super(message, options.cause === undefined ? undefined : { cause: options.cause });
    } finally {
      Error.stackTraceLimit = limit;
    }
    this.name = new.target.name;
    this.reason = reason;
    this.detail = options.detail;
  }
}

/** 400: the request itself is malformed (bad scope, unknown service, ambiguous credentials). */
export class InvalidRequestError extends ServiceError {
  readonly status = 400;
  readonly oauthError: string;
  readonly dockerCode = 'DENIED';
  constructor(
    reason: 'invalid_request' | 'invalid_scope' | 'service_not_allowed' | 'unsupported_grant_type',
    message: string,
    options?: ServiceErrorOptions,
  ) {
    super(reason, message, options);
    // RFC 6749 §5.2: an unknown grant_type has its own code; containerd falls back to GET on 400.
    this.oauthError = reason === 'invalid_scope' || reason === 'unsupported_grant_type' ? reason : 'invalid_request';
  }
}

/** The reasons a registry credential (or what was presented as one) is refused with 401. */
export type CredentialRefusal = 'invalid_credential' | 'credential_expired' | 'credential_revoked';

/** 401: the caller's credentials are missing or do not verify. */
export class AuthenticationError extends ServiceError {
  readonly status = 401;
  readonly oauthError: string;
  readonly dockerCode = 'UNAUTHORIZED';
  /** The scheme the challenge names; DPoP errors always challenge with DPoP. */
  readonly scheme: Scheme;
  /** Set with `use_dpop_nonce`: the nonce the client must put in its next proof. */
  readonly nonce: string | undefined;
  /**
   * The request carried no credentials at all: RFC 6750 §3.1 says the challenge then names no
   * `error`, and every scheme the service accepts is offered.
   */
  readonly credentialsMissing: boolean;
  constructor(
    reason: 'invalid_request' | 'invalid_token' | 'invalid_dpop_proof' | 'use_dpop_nonce' | CredentialRefusal,
    message: string,
    options: ServiceErrorOptions & { scheme?: Scheme; nonce?: string; credentialsMissing?: boolean } = {},
  ) {
    super(reason, message, options);
    // A credential stands where OAuth has a password or a refresh token: RFC 6749 §5.2 calls
    // every way such a grant fails (malformed, expired, revoked) `invalid_grant`.
    const credential = reason === 'invalid_credential' || reason === 'credential_expired' || reason === 'credential_revoked';
    this.oauthError = credential ? 'invalid_grant' : reason;
    this.scheme = options.scheme ?? (credential ? 'Basic' : reason === 'invalid_dpop_proof' || reason === 'use_dpop_nonce' ? 'DPoP' : 'Bearer');
    this.nonce = options.nonce;
    this.credentialsMissing = options.credentialsMissing ?? false;
  }
}

/** 403: the caller is known but may not have what it asked for. */
export class ForbiddenError extends ServiceError {
  readonly status = 403;
  readonly oauthError: string;
  readonly dockerCode = 'DENIED';
  readonly scheme: Scheme;
  constructor(
    reason:
      | 'insufficient_scope' | 'plan_denied' | 'license_revoked' | 'subject_revoked' | 'credential_not_accepted'
      | 'tenant_revoked' | 'tenant_required' | 'cross_tenant',
    message: string,
    options: ServiceErrorOptions & { scheme?: Scheme } = {},
  ) {
    super(reason, message, options);
    // RFC 6750 §3.1 defines one error for a known caller who may not have what it asked for;
    // the specific reason stays in `reason` (the problem `code`). `access_denied` is an
    // authorization-endpoint code (RFC 6749 §4.1.2.1), not a resource server's.
    this.oauthError = 'insufficient_scope';
    this.scheme = options.scheme ?? 'Bearer';
  }
}

/** 404: an admin lookup found nothing. */
export class NotFoundError extends ServiceError {
  readonly status = 404;
  readonly oauthError = 'not_found';
  readonly dockerCode = 'NOT_FOUND';
  constructor(message: string, options?: ServiceErrorOptions) {
    super('not_found', message, options);
  }
}

/** 405: the endpoint exists but not for this method; `allow` names the methods it serves. */
export class MethodNotAllowedError extends ServiceError {
  readonly status = 405;
  readonly oauthError = 'invalid_request';
  readonly dockerCode = 'UNSUPPORTED';
  readonly allow: readonly string[];
  constructor(method: string, allow: readonly string[]) {
    super('method_not_allowed', `${method} is not served here: use ${allow.join(' or ')}`);
    this.allow = allow;
  }
}

/** 503: a dependency (ledger, Authority keys, shared store) cannot be reached; the caller may retry. */
export class UnavailableError extends ServiceError {
  static override readonly keepsStack = true;
  readonly status = 503;
  readonly oauthError = 'temporarily_unavailable';
  readonly dockerCode = 'UNAVAILABLE';
  constructor(
    reason: 'ledger_unavailable' | 'authority_unavailable' | 'replay_cache_full' | 'revocations_unavailable' | 'store_unavailable',
    message: string,
    options?: ServiceErrorOptions,
  ) {
    super(reason, message, options);
  }
}

/**
 * 429: a rate limit, a fair share or an issuance quota was exceeded; the caller may retry after
 * `retryAfterSeconds`. With `quota` (which quota refused, e.g. `tenant alpha`) the reason is
 * `quota_exceeded`, else `rate_limited`.
 */
export class TooManyRequestsError extends ServiceError {
  readonly status = 429;
  readonly oauthError = 'rate_limited';
  readonly dockerCode = 'TOOMANYREQUESTS';
  /** Whole seconds for the `Retry-After` header. */
  readonly retryAfterSeconds: number;
  readonly quota: string | undefined;
  constructor(message: string, options: ServiceErrorOptions & { retryAfterSeconds: number; quota?: string }) {
    super(options.quota === undefined ? 'rate_limited' : 'quota_exceeded', message, options);
    this.retryAfterSeconds = Math.max(1, Math.ceil(options.retryAfterSeconds));
    this.quota = options.quota;
  }
}

/** A configuration file or environment override that cannot be used; names the key. */
export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}
