// The one place that composes the stages: authenticate -> authorize -> mint -> record.
// Every decision, issued or rejected, is recorded; no token is returned before its
// record is durable.
import { InvalidRequestError, ServiceError, type ReasonCode } from './domain/errors.ts';
import type { Clock, Decision, MintedToken, Principal } from './domain/types.ts';
import type { Authenticator } from './authenticate/authenticate.ts';
import type { Credentials } from './authenticate/credentials.ts';
import { requireScopes } from './authenticate/scopes.ts';
import type { Authorizer } from './authorize/decide.ts';
import { parseScopes } from './authorize/scope.ts';
import type { ClientLimiter } from './limits/client-limiter.ts';
import { newTokenId, type Minter } from './mint/mint.ts';
import type { IssuanceRecord, Ledger } from './record/ledger.ts';

export interface RequestContext {
  readonly requestId: string;
  readonly remoteAddress: string | undefined;
  readonly userAgent: string | undefined;
}

export interface TokenRequest {
  readonly credentials: Credentials;
  /** Raw query values: every one, so that a repeated parameter is refused and recorded here. */
  readonly service: readonly string[];
  readonly scopes: readonly string[];
  readonly clientId: readonly string[];
  readonly context: RequestContext;
}

export interface TokenGrant {
  readonly minted: MintedToken;
  readonly decision: Decision;
  readonly principal: Principal;
}

/** Told once per decision: the seam for the decision log line and the metrics. */
export interface DecisionEvent {
  readonly outcome: 'issued' | 'rejected';
  readonly reason: ReasonCode | undefined;
  readonly record: IssuanceRecord;
  readonly durationSeconds: number;
  readonly ledgerSeconds: number | undefined;
  readonly error: unknown;
}

export interface PipelineOptions {
  authenticator: Authenticator;
  authorizer: Authorizer;
  minter: Minter;
  ledger: Ledger;
  requiredScopes: readonly string[];
  adminScope: string;
  allowedServices: readonly string[];
  clock: Clock;
  /** Per-client rate limit, asked once the caller is authenticated (`rateLimits.perClient`). */
  clientLimiter?: ClientLimiter;
  onDecision?: (event: DecisionEvent) => void;
}

export interface Pipeline {
  exchange(request: TokenRequest): Promise<TokenGrant>;
  /** Authenticates an operator for the admin API (same sender checks, admin scope). */
  authenticateAdmin(credentials: Credentials): Promise<Principal>;
}

function single(values: readonly string[], name: string, required: boolean): string | undefined {
  if (values.length > 1) throw new InvalidRequestError('invalid_request', `the ${name} parameter must appear at most once`);
  const value = values[0];
  if (value === undefined || value === '') {
    if (required) throw new InvalidRequestError('invalid_request', `the ${name} parameter is required`);
    return undefined;
  }
  if (value.length > 255) throw new InvalidRequestError('invalid_request', `the ${name} parameter is too long`);
  return value;
}

export function createPipeline(options: PipelineOptions): Pipeline {
  const { authenticator, authorizer, minter, ledger, clock } = options;
  const allowed = new Set(options.allowedServices);

  return {
    async exchange(request) {
      const started = performance.now();
      let principal: Principal | undefined;
      let decision: Decision | undefined;
      let ledgerSeconds: number | undefined;
      const base = {
        requestedScopes: request.scopes.slice(0, 64).map((s) => s.slice(0, 512)),
        service: request.service[0]?.slice(0, 255),
        remoteAddress: request.context.remoteAddress,
        userAgent: request.context.userAgent?.slice(0, 256),
        requestId: request.context.requestId,
      };
      const describe = (): Omit<IssuanceRecord, 'jti' | 'outcome' | 'issuedAt'> => ({
        ...base,
        subject: principal?.subject,
        clientId: principal?.clientId ?? request.clientId[0]?.slice(0, 255),
        tenant: principal?.tenant,
        plan: decision?.plan ?? principal?.plan,
        license: principal?.license,
        binding: principal?.binding,
        opTokenId: principal?.tokenId,
        granted: decision?.access ?? [],
      });
      const elapsed = () => (performance.now() - started) / 1000;

      try {
        const service = single(request.service, 'service', true)!;
        single(request.clientId, 'client_id', false);
        if (allowed.size > 0 && !allowed.has(service)) {
          throw new InvalidRequestError('service_not_allowed', `service "${service}" is not served by this token service`);
        }
        const scopes = parseScopes(request.scopes);
        principal = await authenticator.authenticate(request.credentials);
        await options.clientLimiter?.admit(principal);
        requireScopes(principal, options.requiredScopes);
        decision = authorizer.decide(principal, scopes);
        const minted = await minter.mint({ subject: principal.subject, service, access: decision.access });
        const record: IssuanceRecord = {
          jti: minted.jti,
          outcome: 'issued',
          issuedAt: minted.issuedAt.toISOString(),
          expiresAt: minted.expiresAt.toISOString(),
          ...describe(),
        };
        const writeStarted = performance.now();
        await ledger.append(record);
        ledgerSeconds = (performance.now() - writeStarted) / 1000;
        options.onDecision?.({ outcome: 'issued', reason: undefined, record, durationSeconds: elapsed(), ledgerSeconds, error: undefined });
        return { minted, decision, principal };
      } catch (error) {
        const reason: ReasonCode = error instanceof ServiceError ? error.reason : 'server_error';
        const record: IssuanceRecord = {
          jti: newTokenId(),
          outcome: 'rejected',
          reason,
          issuedAt: clock().toISOString(),
          ...describe(),
          granted: [],
        };
        // A store that could not take the issuance will not take its rejection either.
        if (reason !== 'ledger_unavailable') {
          try {
            await ledger.append(record);
          } catch {
            // The caller's answer is the original error; the failed write shows in readiness and logs.
          }
        }
        options.onDecision?.({ outcome: 'rejected', reason, record, durationSeconds: elapsed(), ledgerSeconds, error });
        throw error;
      }
    },

    async authenticateAdmin(credentials) {
      const principal = await authenticator.authenticate(credentials);
      requireScopes(principal, [options.adminScope]);
      // A revoked (leaked) operator client must not be able to lift its own revocation.
      authorizer.assertNotRevoked(principal);
      return principal;
    },
  };
}
