// One refusal's size on disk, bounded: the fixed fields stay, as many of the requested scopes
// (in order) as fit, and long strings are shortened only when that is still not enough.
// `truncated: true` tells an auditor that the record is not the whole request.
import type { IssuanceRecord } from './ledger.ts';
import { pickRecord } from './record-shape.ts';

/** What the file driver adds to each stored line: `,"prev":"<64 hex>"` and the newline. */
export const CHAIN_OVERHEAD_BYTES = 75;
/** Strings in a record cut to fit are shortened to these many characters, until it fits. */
const SHORT_STRINGS = [128, 32];

/** The record as stored, at most `maxBytes` long including the chain's overhead. */
export function boundRecord(record: IssuanceRecord, maxBytes: number): IssuanceRecord {
  const budget = maxBytes - CHAIN_OVERHEAD_BYTES;
  const picked = pickRecord(record);
  if (size(picked) <= budget) return picked;
  let cut: IssuanceRecord = { ...picked, truncated: true, requestedScopes: [] };
  for (const length of SHORT_STRINGS) if (size(cut) > budget) cut = shortenStrings(cut, length);
  // Keep as many scopes, in order, as still fit: the first ones are what the caller asked for first.
  let room = budget - size(cut);
  const scopes: string[] = [];
  for (const scope of picked.requestedScopes) {
    const cost = Buffer.byteLength(JSON.stringify(scope)) + (scopes.length > 0 ? 1 : 0);
    if (cost > room) break;
    scopes.push(scope);
    room -= cost;
  }
  return { ...cut, requestedScopes: scopes };
}

function size(record: IssuanceRecord): number {
  return Buffer.byteLength(JSON.stringify(record));
}

function shortenStrings(record: IssuanceRecord, length: number): IssuanceRecord {
  const out: Record<string, unknown> = { ...record };
  for (const field of ['subject', 'clientId', 'tenant', 'plan', 'license', 'service', 'opTokenId', 'username', 'credentialName', 'quota', 'remoteAddress', 'userAgent', 'requestId'] as const) {
    const value = record[field];
    if (typeof value === 'string' && value.length > length) out[field] = value.slice(0, length);
  }
  return out as unknown as IssuanceRecord;
}
