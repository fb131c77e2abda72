// The file ledger's hash chain. Each stored line is the record plus `prev`, the SHA-256 (hex)
// of the previous line's exact bytes, so editing, removing or reordering any line breaks the
// link of the line after it. The chain runs across segment files; the first line of the first
// segment links to GENESIS.
import { createHash } from 'node:crypto';
import { RECORD_OUTCOMES } from './ledger.ts';
import type { IssuanceRecord, RecordOutcome } from './ledger.ts';
import { fromStored, pickRecord } from './record-shape.ts';

export const GENESIS = '0'.repeat(64);

export function hashLine(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The stored line (no newline) for `record` chained after the line whose hash is `prev`. */
export function encodeLine(record: IssuanceRecord, prev: string): Buffer {
  return Buffer.from(JSON.stringify({ ...pickRecord(record), prev }), 'utf8');
}

export type ParsedLine =
  | { readonly ok: true; readonly record: IssuanceRecord; readonly prev: string }
  | { readonly ok: false; readonly problem: string; readonly jti: string | undefined };

const HEX64 = /^[0-9a-f]{64}$/;

export function parseLine(bytes: Uint8Array): ParsedLine {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return { ok: false, problem: 'not valid JSON', jti: undefined };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, problem: 'not a JSON object', jti: undefined };
  }
  const doc = value as Record<string, unknown>;
  const jti = typeof doc['jti'] === 'string' ? doc['jti'] : undefined;
  if (jti === undefined || jti === '') return { ok: false, problem: 'no jti', jti };
  if (typeof doc['prev'] !== 'string' || !HEX64.test(doc['prev'])) return { ok: false, problem: 'no valid prev hash', jti };
  if (typeof doc['issuedAt'] !== 'string' || Number.isNaN(Date.parse(doc['issuedAt']))) {
    return { ok: false, problem: 'no valid issuedAt', jti };
  }
  if (!RECORD_OUTCOMES.includes(doc['outcome'] as RecordOutcome)) return { ok: false, problem: 'no valid outcome', jti };
  return { ok: true, record: fromStored(doc), prev: doc['prev'] };
}
