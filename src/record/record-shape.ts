// The one place that decides what a stored record holds. Both drivers store exactly these
// fields in this order, so nothing a caller attaches by mistake (a token, a proof) is kept.
import { ledgerUnavailable } from './deps.ts';
import type { GroupCommitter } from './group-commit.ts';
import { RECORD_OUTCOMES } from './ledger.ts';
import type { IssuanceRecord } from './ledger.ts';

const FIELDS = [
  'jti', 'outcome', 'operation', 'reason', 'issuedAt', 'expiresAt', 'subject', 'clientId', 'tenant', 'plan', 'license',
  'service', 'requestedScopes', 'granted', 'crossTenant', 'quota', 'binding', 'opTokenId', 'username', 'credentialName', 'remoteAddress',
  'userAgent', 'requestId', 'traceId', 'truncated', 'summary',
  'issuedBy',
] as const satisfies readonly (keyof IssuanceRecord)[];

/** The known fields only, undefined ones left out; throws TypeError on a malformed record (a bug upstream). */
export function pickRecord(record: IssuanceRecord): IssuanceRecord {
  if (typeof record.jti !== 'string' || record.jti === '') throw new TypeError('ledger record needs a jti');
  if (!RECORD_OUTCOMES.includes(record.outcome)) throw new TypeError(`ledger record outcome must be one of ${RECORD_OUTCOMES.join(', ')}`);
  if (typeof record.issuedAt !== 'string' || Number.isNaN(Date.parse(record.issuedAt))) {
    throw new TypeError('ledger record issuedAt must be an ISO 8601 date');
  }
  const out: Record<string, unknown> = {};
  for (const field of FIELDS) {
    const value = record[field];
    if (value !== undefined) out[field] = value;
  }
  out['requestedScopes'] ??= [];
  out['granted'] ??= [];
  return out as unknown as IssuanceRecord;
}

/** A parsed object from storage back to a record (drops storage-only fields such as `prev`). */
export function fromStored(doc: Record<string, unknown>): IssuanceRecord {
  const out: Record<string, unknown> = {};
  for (const field of FIELDS) {
    const value = doc[field];
    if (value !== undefined && value !== null) out[field] = value;
  }
  return out as unknown as IssuanceRecord;
}

/** Milliseconds since the epoch of a record's issuedAt. */
export function issuedAtMs(record: IssuanceRecord): number {
  return Date.parse(record.issuedAt);
}

/** Both stores' `append`: refuse once closed, keep only the known fields, join the next group. */
export function submitRecord(committer: GroupCommitter<IssuanceRecord>, closed: boolean, record: IssuanceRecord): Promise<void> {
  if (closed) return Promise.reject(ledgerUnavailable('ledger is closed'));
  try {
    return committer.submit(pickRecord(record));
  } catch (error) {
    return Promise.reject(error);
  }
}
