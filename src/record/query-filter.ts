// Query semantics shared by every driver, so the contract suite means the same thing for all:
// equality filters, `repository` against granted[].name, `since` inclusive and `until`
// exclusive on issuedAt, newest first, and an opaque cursor a caller cannot forge into a crash.
import { InvalidRequestError } from '../domain/errors.ts';
import type { IssuanceQuery, IssuanceRecord } from './ledger.ts';
import { issuedAtMs } from './record-shape.ts';

/** Larger pages are cut to this: one admin call must not pull a whole ledger into memory. */
export const MAX_QUERY_LIMIT = 1000;

export function checkLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 1) throw new InvalidRequestError('invalid_request', 'limit must be a positive integer');
  return Math.min(limit, MAX_QUERY_LIMIT);
}

export function matchesQuery(record: IssuanceRecord, query: IssuanceQuery): boolean {
  if (query.subject !== undefined && record.subject !== query.subject) return false;
  if (query.license !== undefined && record.license !== query.license) return false;
  if (query.tenant !== undefined && record.tenant !== query.tenant) return false;
  if (query.service !== undefined && record.service !== query.service) return false;
  if (query.outcome !== undefined && record.outcome !== query.outcome) return false;
  if (query.operation !== undefined && (record.operation ?? 'token') !== query.operation) return false;
  if (query.repository !== undefined && !record.granted.some((g) => g.name === query.repository)) return false;
  if (query.since !== undefined || query.until !== undefined) {
    const at = issuedAtMs(record);
    if (query.since !== undefined && at < query.since.getTime()) return false;
    if (query.until !== undefined && at >= query.until.getTime()) return false;
  }
  return true;
}

/** base64url(JSON): opaque to callers, and each driver checks the shape it gets back. */
export function encodeCursor(position: object): string {
  return Buffer.from(JSON.stringify(position), 'utf8').toString('base64url');
}

export function decodeCursor<T>(cursor: string, isPosition: (value: unknown) => value is T): T {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    value = undefined;
  }
  if (!isPosition(value)) throw new InvalidRequestError('invalid_request', 'invalid cursor');
  return value;
}
