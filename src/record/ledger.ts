// The record stage's narrow interface. One implementation per file (file.ts, mongodb.ts);
// the pipeline only ever sees `Ledger`.
import type { AccessEntry, SenderBinding } from '../domain/types.ts';
import type { ReasonCode } from '../domain/errors.ts';

/**
 * `refusals-summary`: anonymous refusals of one interval, counted rather than stored one by one
 * (`ledger.refusals.anonymous: summary`); see `summary`.
 */
export type RecordOutcome = 'issued' | 'rejected' | 'refusals-summary';

export const RECORD_OUTCOMES: readonly RecordOutcome[] = ['issued', 'rejected', 'refusals-summary'];

/** Anonymous refusals counted over [from, until]. */
export interface RefusalSummary {
  /** ISO 8601 UTC of the first and last refusal counted. */
  readonly from: string;
  readonly until: string;
  readonly total: number;
  /** Sorted by count, largest first. */
  readonly byReason: readonly { readonly reason: string; readonly count: number }[];
  /** The most frequent remote addresses, at most SUMMARY_MAX_ADDRESSES (refusals.ts). */
  readonly byAddress: readonly { readonly address: string; readonly count: number }[];
  /** Refusals from addresses not listed in byAddress (beyond the cap, or without an address). */
  readonly otherAddresses: number;
}

/** What was decided: a registry token (the default, absent in the record) or a registry credential. */
export type RecordOperation = 'token' | 'credential';

export const RECORD_OPERATIONS: readonly RecordOperation[] = ['token', 'credential'];

/** One decision. Never holds a token, a credential, a proof or a key: ids and hashes only. */
export interface IssuanceRecord {
  /** The registry token's `jti` or the credential's id; for a rejection, a fresh id. */
  readonly jti: string;
  readonly outcome: RecordOutcome;
  /** Set on credential decisions (`POST /credentials`) only; token exchanges leave it out. */
  readonly operation?: 'credential' | undefined;
  readonly reason?: ReasonCode | undefined;
  /** ISO 8601 UTC. */
  readonly issuedAt: string;
  readonly expiresAt?: string | undefined;
  readonly subject?: string | undefined;
  readonly clientId?: string | undefined;
  readonly tenant?: string | undefined;
  readonly plan?: string | undefined;
  readonly license?: string | undefined;
  readonly service?: string | undefined;
  readonly requestedScopes: readonly string[];
  readonly granted: readonly AccessEntry[];
  readonly binding?: SenderBinding | undefined;
  /** The OpTok's `jti`. */
  readonly opTokenId?: string | undefined;
  /** The username sent with a registry credential (Basic, form): recorded, never used to decide. */
  readonly username?: string | undefined;
  /** Requested scopes refused as another tenant's namespace (the rest may have been granted). */
  readonly crossTenant?: readonly string[] | undefined;
  /** The issuance quota that refused (`reason: quota_exceeded`), e.g. `tenant alpha`. */
  readonly quota?: string | undefined;
  /** The label asked for a credential (`name`). */
  readonly credentialName?: string | undefined;
  /** Who ordered a credential for someone else (a credential bundle): the admin's subject, or `cli:` and the operator's user. */
  readonly issuedBy?: string | undefined;
  readonly remoteAddress?: string | undefined;
  readonly userAgent?: string | undefined;
  readonly requestId?: string | undefined;
  /** W3C trace id of the request (`traceparent`), to follow one pull from the registry's log here. */
  readonly traceId?: string | undefined;
  /** Set when fields were cut to fit `ledger.refusals.maxRecordBytes` (scopes dropped from the end, strings shortened). */
  readonly truncated?: boolean | undefined;
  /** Only on `refusals-summary` records. */
  readonly summary?: RefusalSummary | undefined;
}

export interface IssuanceQuery {
  readonly subject?: string;
  readonly license?: string;
  readonly tenant?: string;
  readonly service?: string;
  /** Matches records whose granted access names this repository. */
  readonly repository?: string;
  readonly outcome?: RecordOutcome;
  /** `token`: records without `operation`; `credential`: credential decisions. */
  readonly operation?: RecordOperation;
  /** Inclusive, on issuedAt. */
  readonly since?: Date;
  /** Exclusive, on issuedAt. */
  readonly until?: Date;
  /** A positive integer; pages are cut to MAX_QUERY_LIMIT (query-filter.ts). */
  readonly limit: number;
  /** Opaque, from a previous page's `nextCursor`. */
  readonly cursor?: string;
}

export interface IssuancePage {
  /** Newest first. */
  readonly records: IssuanceRecord[];
  readonly nextCursor: string | undefined;
}

/** `tenant`: a whole tenant, every caller whose tenant claim is `value` (platform admins only). */
export type RevocationKind = 'license' | 'subject' | 'credential' | 'tenant';

export const REVOCATION_KINDS: readonly RevocationKind[] = ['license', 'subject', 'credential', 'tenant'];

/**
 * One runtime revocation. Its identity is (kind, tenant, value): a tenant admin's revocation
 * carries its tenant and touches only that tenant's callers; one without a tenant (a platform
 * admin's) touches every caller.
 */
export interface Revocation {
  readonly kind: RevocationKind;
  readonly value: string;
  readonly tenant?: string | undefined;
  readonly reason: string;
  /** ISO 8601 UTC. */
  readonly revokedAt: string;
  readonly revokedBy?: string | undefined;
}

export interface Ledger {
  readonly name: string;
  /**
   * Resolves once the record is durable (fsynced / acknowledged by a majority).
   * Concurrent calls share one write (group commit). Rejects with UnavailableError
   * when the store cannot take it and no spool is configured.
   */
  append(record: IssuanceRecord): Promise<void>;
  query(query: IssuanceQuery): Promise<IssuancePage>;
  get(jti: string): Promise<IssuanceRecord | undefined>;
  /** Runtime revocations, kept in the same store so they survive restarts and reach every replica. */
  listRevocations(): Promise<Revocation[]>;
  putRevocation(revocation: Revocation): Promise<void>;
  /** Resolves true when something was removed; `tenant` undefined: the platform-wide one. */
  deleteRevocation(kind: RevocationKind, value: string, tenant?: string): Promise<boolean>;
  /** Throws when the store is not writable (readiness). */
  check(): Promise<void>;
  /** Records durable in a local spool, waiting for the store; absent (or undefined) without a spool. */
  spooled?(): number | undefined;
  /** Flushes pending groups, then releases the store. */
  close(): Promise<void>;
}

/**
 * The one identity of a revocation, for every store's key: `kind:value` platform-wide,
 * `kind@tenant:value` within a tenant (the tenant percent-encoded, so no `:` or `@` in it).
 */
export function revocationKey(kind: RevocationKind, value: string, tenant?: string): string {
  return tenant === undefined ? `${kind}:${value}` : `${kind}@${encodeURIComponent(tenant)}:${value}`;
}
