// The one place that composes the stages: authenticate -> authorize -> quotas -> mint -> record, for
// registry tokens (`exchange`) and registry credentials (`issueCredential`). Every decision,
// issued or rejected, is recorded; nothing is returned before its record is durable.
import { ForbiddenError, InvalidRequestError, ServiceError, TooManyRequestsError, type ReasonCode } from './domain/errors.ts';
import { adminAccess, type AdminPolicyOptions, type AdminPrincipal } from './admin/access.ts';
import type { Clock, Decision, MintedToken, Principal, RootBinding } from './domain/types.ts';
import type { Authenticator } from './authenticate/authenticate.ts';
import type { Credentials } from './authenticate/credentials.ts';
import { requireScopes } from './authenticate/scopes.ts';
import type { Authorizer } from './authorize/decide.ts';
import { normaliseNarrowing } from './authorize/narrowing.ts';
import { parseScopes } from './authorize/scope.ts';
import { CREDENTIAL_AUDIENCE } from './credentials/format.ts';
import type { CredentialIssuer, IssuedCredential } from './credentials/issue.ts';
import { noClientLimit, type ClientLimiter } from './limits/client-limiter.ts';
import type { Minter } from './mint/mint.ts';
import { newRecordId } from './domain/random-ids.ts';
import type { IssuanceQuotas } from './quotas/quotas.ts';
import type { IssuanceRecord, Ledger } from './record/ledger.ts';

export interface RequestContext {
  readonly requestId: string;
  /** W3C trace id (the caller's `traceparent`, or one made for this request). */
  readonly traceId?: string | undefined;
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

/** `POST /credentials`: the caller's OpTok and what it asks for. */
export interface CredentialRequest {
  readonly credentials: Credentials;
  /** Narrowing values, each possibly several space-separated scopes with plan patterns. */
  readonly scopes: readonly string[];
  /** Seconds; undefined: credentials.defaultLifetimeSeconds. */
  readonly expiresIn: number | undefined;
  readonly name: string | undefined;
  readonly context: RequestContext;
}

export interface CredentialGrant {
  readonly credential: IssuedCredential;
  /** Normalised, space-joined; '' for no narrowing. */
  readonly narrowing: string;
  readonly name: string | undefined;
  readonly principal: Principal;
}

/**
 * An operator's order of registry credentials for a named subject (an Offline Kit credential
 * bundle): no OpTok of the subject's is presented, so the operator states what the Authority
 * would have (plan, licence, tenant), and the same plan and revocation checks apply.
 */
export interface OrderedCredentialRequest {
  /** Who orders, for the record: the admin's subject, or `cli:USER` for the operator CLI. */
  readonly orderedBy: string;
  readonly subject: string;
  /** undefined: the default plan. */
  readonly plan: string | undefined;
  readonly license: string | undefined;
  readonly tenant: string | undefined;
  /** The narrowing; at least one scope. */
  readonly scopes: readonly string[];
  readonly expiresIn: number;
  /** One credential per entry, each with this label (undefined: none). */
  readonly names: readonly (string | undefined)[];
  readonly context: RequestContext;
}

/** Told once per decision: the seam for the decision log line and the metrics. */
export interface DecisionEvent {
  readonly outcome: 'issued' | 'rejected';
  readonly operation: 'token' | 'credential';
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
  /** Registry credentials (`credentials.enabled`); `requiredScope` is what an OpTok needs to get one. */
  credentials?: { issuer: CredentialIssuer; requiredScope: string; orderedIssuer?: CredentialIssuer } | undefined;
  /**
   * Per-client rate limit (`rateLimits.perClient`), asked once the caller is authenticated, with
   * the proof's first use; without it the proof is recorded alone.
   */
  clientLimiter?: ClientLimiter;
  /** Issuance quotas (`quotas`), a hard gate asked once a token request is authorized. */
  quotas?: IssuanceQuotas;
  /** Who is a platform admin (default: scope registry.admin.platform, tenancy not required). */
  adminPolicy?: AdminPolicyOptions;
  onDecision?: (event: DecisionEvent) => void;
}

export interface Pipeline {
  exchange(request: TokenRequest): Promise<TokenGrant>;
  /** Issues a registry credential to an OpTok (never to a credential). */
  issueCredential(request: CredentialRequest): Promise<CredentialGrant>;
  /**
   * Issues credentials to a named subject on an operator's order, one decision (and one record)
   * each, checked before the first: a refusal issues none. Never to an unknown plan or a
   * revoked subject or licence; the narrowing is intersected with the plan on every use.
   */
  issueOrderedCredentials(request: OrderedCredentialRequest): Promise<CredentialGrant[]>;
  /**
   * Authenticates an operator for the admin API (same sender checks, admin scope; OpToks only)
   * and says what it may see and do (platform or one tenant: src/admin/access.ts).
   */
  authenticateAdmin(credentials: Credentials): Promise<AdminPrincipal>;
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

/** The fields every record of a request starts with, from what the caller sent. */
function requestFields(context: RequestContext, scopes: readonly string[], service: string | undefined) {
  return {
    requestedScopes: scopes.slice(0, 64).map((s) => s.slice(0, 512)),
    service: service?.slice(0, 255),
    remoteAddress: context.remoteAddress,
    userAgent: context.userAgent?.slice(0, 256),
    requestId: context.requestId,
    traceId: context.traceId,
  };
}

/** What is known of the caller, for its record. */
function principalFields(principal: Principal | undefined) {
  return {
    subject: principal?.subject,
    tenant: principal?.tenant,
    license: principal?.license,
    binding: principal?.binding,
    opTokenId: principal?.tokenId,
    username: principal?.username?.slice(0, 255),
  };
}

/**
 * Where a password-presented caller is refused (getting a credential, the admin API); answers
 * how the OpTok is bound.
 */
function requireOpTok(principal: Principal, what: string): RootBinding['method'] {
  const method = principal.binding.method;
  if (principal.scheme !== 'Basic' && method !== 'credential') return method;
  const presented = principal.binding.method === 'credential' ? 'a registry credential' : 'a password';
  throw new ForbiddenError('credential_not_accepted', `${what} needs an access token from the Authority (DPoP or mutual TLS), not ${presented}`, { scheme: 'Basic' });
}

export function createPipeline(options: PipelineOptions): Pipeline {
  const { authenticator, authorizer, minter, ledger, clock } = options;
  const clientLimiter = options.clientLimiter ?? noClientLimit;
  const allowed = new Set(options.allowedServices);
  const adminPolicy = options.adminPolicy ?? { platformScope: 'registry.admin.platform', tenancyRequired: false };
  const credentialScopes = options.credentials === undefined ? [] : [...new Set([...options.requiredScopes, options.credentials.requiredScope])];

  /**
   * Runs one decision: `run` returns the result and its issued record; a throw becomes a
   * rejected record (`describe` says what was known by then). Both are told to onDecision.
   */
  async function decided<T>(
    operation: 'token' | 'credential',
    run: () => Promise<{ result: T; record: IssuanceRecord }>,
    describe: () => Omit<IssuanceRecord, 'jti' | 'outcome' | 'issuedAt'>,
  ): Promise<T> {
    const started = performance.now();
    let ledgerSeconds: number | undefined;
    const elapsed = () => (performance.now() - started) / 1000;
    try {
      const { result, record } = await run();
      const writeStarted = performance.now();
      await ledger.append(record);
      ledgerSeconds = (performance.now() - writeStarted) / 1000;
      options.onDecision?.({ outcome: 'issued', operation, reason: undefined, record, durationSeconds: elapsed(), ledgerSeconds, error: undefined });
      return result;
    } catch (error) {
      const reason: ReasonCode = error instanceof ServiceError ? error.reason : 'server_error';
      const record: IssuanceRecord = {
        jti: newRecordId(),
        outcome: 'rejected',
        ...(operation === 'credential' ? { operation } : {}),
        reason,
        issuedAt: clock().toISOString(),
        ...describe(),
        ...(error instanceof TooManyRequestsError && error.quota !== undefined ? { quota: error.quota } : {}),
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
      options.onDecision?.({ outcome: 'rejected', operation, reason, record, durationSeconds: elapsed(), ledgerSeconds, error });
      throw error;
    }
  }

  return {
    async exchange(request) {
      let principal: Principal | undefined;
      let decision: Decision | undefined;
      const base = requestFields(request.context, request.scopes, request.service[0]);
      const describe = (): Omit<IssuanceRecord, 'jti' | 'outcome' | 'issuedAt'> => ({
        ...base,
        ...principalFields(principal),
        clientId: principal?.clientId ?? request.clientId[0]?.slice(0, 255),
        plan: decision?.plan ?? principal?.plan,
        granted: decision?.access ?? [],
        ...(decision?.crossTenant === undefined ? {} : { crossTenant: decision.crossTenant }),
      });
      return decided('token', async () => {
        const service = single(request.service, 'service', true)!;
        single(request.clientId, 'client_id', false);
        // A token for this audience would be a registry token that reads like a credential.
        if ((allowed.size > 0 && !allowed.has(service)) || service === CREDENTIAL_AUDIENCE) {
          throw new InvalidRequestError('service_not_allowed', `service "${service}" is not served by this token service`);
        }
        const scopes = parseScopes(request.scopes);
        const verified = await authenticator.verify(request.credentials);
        principal = verified.principal;
        await clientLimiter.admit(principal, verified.proof);
        requireScopes(principal, options.requiredScopes);
        decision = authorizer.decide(principal, scopes);
        await options.quotas?.admit(principal);
        const minted = await minter.mint({ subject: principal.subject, service, access: decision.access });
        const record: IssuanceRecord = {
          jti: minted.jti,
          outcome: 'issued',
          issuedAt: minted.issuedAt.toISOString(),
          expiresAt: minted.expiresAt.toISOString(),
          ...describe(),
        };
        return { result: { minted, decision, principal }, record };
      }, describe);
    },

    async issueCredential(request) {
      let principal: Principal | undefined;
      let plan: string | undefined;
      const base = requestFields(request.context, request.scopes, undefined);
      const describe = (): Omit<IssuanceRecord, 'jti' | 'outcome' | 'issuedAt'> => ({
        ...base,
        operation: 'credential',
        ...principalFields(principal),
        clientId: principal?.clientId,
        plan: plan ?? principal?.plan,
        credentialName: request.name,
        granted: [],
      });
      return decided('credential', async () => {
        const credentials = options.credentials;
        if (credentials === undefined) throw new InvalidRequestError('invalid_request', 'registry credentials are not enabled on this token service (credentials.enabled)');
        const narrowing = normaliseNarrowing(request.scopes);
        const verified = await authenticator.verify(request.credentials);
        principal = verified.principal;
        const root = requireOpTok(principal, 'a registry credential');
        await clientLimiter.admit(principal, verified.proof);
        requireScopes(principal, credentialScopes);
        authorizer.assertNotRevoked(principal);
        authorizer.assertTenant(principal);
        plan = authorizer.planFor(principal);
        const credential = await credentials.issuer.issue(
          {
            subject: principal.subject,
            clientId: principal.clientId,
            tenant: principal.tenant,
            plan: principal.plan,
            license: principal.license,
            root,
            opScopes: options.requiredScopes.filter((scope) => principal!.scopes.has(scope)),
          },
          { narrowing, lifetimeSeconds: request.expiresIn, name: request.name },
        );
        const record: IssuanceRecord = {
          jti: credential.id,
          outcome: 'issued',
          issuedAt: credential.issuedAt.toISOString(),
          expiresAt: credential.expiresAt.toISOString(),
          ...describe(),
        };
        return { result: { credential, narrowing, name: request.name, principal }, record };
      }, describe);
    },

    async issueOrderedCredentials(request) {
      const base = requestFields(request.context, request.scopes, undefined);
      const plan = (): string | undefined => {
        try {
          return authorizer.planFor({ plan: request.plan, scheme: 'Basic' });
        } catch {
          return request.plan;
        }
      };
      // Not an OpTok's principal: what the operator says the subject is, as its credential will
      // carry it. Basic, as the credential will be presented: a refusal is about the subject, so
      // it challenges nobody (the operator authenticated fine).
      const principal: Principal = {
        subject: request.subject,
        clientId: undefined,
        tenant: request.tenant,
        plan: request.plan,
        license: request.license,
        tokenId: undefined,
        scopes: new Set(options.requiredScopes),
        binding: { method: 'none' },
        scheme: 'Basic',
      };
      const grants: CredentialGrant[] = [];
      for (const name of request.names.length === 0 ? [undefined] : request.names) {
        const describe = (): Omit<IssuanceRecord, 'jti' | 'outcome' | 'issuedAt'> => ({
          ...base,
          operation: 'credential',
          subject: request.subject,
          tenant: request.tenant,
          license: request.license,
          plan: plan(),
          credentialName: name,
          issuedBy: request.orderedBy.slice(0, 255),
          granted: [],
        });
        grants.push(await decided('credential', async () => {
          const credentials = options.credentials;
          if (credentials?.orderedIssuer === undefined) throw new InvalidRequestError('invalid_request', 'registry credentials are not enabled on this token service (credentials.enabled)');
          const narrowing = normaliseNarrowing(request.scopes);
          if (narrowing === '') throw new InvalidRequestError('invalid_scope', 'a bundled credential needs at least one scope: the repositories and actions it is for (repository:team/app:pull)');
          authorizer.assertNotRevoked(principal);
          authorizer.planFor(principal);
          const credential = await credentials.orderedIssuer.issue(
            { subject: request.subject, clientId: undefined, tenant: request.tenant, plan: request.plan, license: request.license, root: 'operator', opScopes: options.requiredScopes },
            { narrowing, lifetimeSeconds: request.expiresIn, name },
          );
          const record: IssuanceRecord = {
            jti: credential.id,
            outcome: 'issued',
            issuedAt: credential.issuedAt.toISOString(),
            expiresAt: credential.expiresAt.toISOString(),
            ...describe(),
          };
          return { result: { credential, narrowing, name, principal }, record };
        }, describe));
      }
      return grants;
    },

    async authenticateAdmin(credentials) {
      const principal = await authenticator.authenticate(credentials);
      requireOpTok(principal, 'the admin API');
      requireScopes(principal, [options.adminScope]);
      // A revoked (leaked) operator client must not be able to lift its own revocation.
      authorizer.assertNotRevoked(principal);
      return { ...principal, access: adminAccess(principal, adminPolicy) };
    },
  };
}
