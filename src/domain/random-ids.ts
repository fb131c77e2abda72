// Random identifiers on the hot path (token ids, trace and span ids), drawn from a buffer of
// CSPRNG bytes refilled once per 4 KiB: one CSPRNG call per id cost more than the rest of
// building the claims, and a request draws three ids. Not for keys or secrets: those take
// their own randomBytes().
import { randomFillSync } from 'node:crypto';

const pool = Buffer.alloc(4096);
let offset = pool.length;

function take(bytes: number): number {
  if (offset + bytes > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const at = offset;
  offset += bytes;
  return at;
}

/** 128 random bits as base64url (22 characters): the `jti` of a token or of a ledger record. */
export function newRecordId(): string {
  return randomBase64url(16);
}

/** `bytes` random bytes as base64url (a 16-byte id is 22 characters). */
export function randomBase64url(bytes: number): string {
  const at = take(bytes);
  return pool.toString('base64url', at, at + bytes);
}

/** `bytes` random bytes as lowercase hex. */
export function randomHex(bytes: number): string {
  const at = take(bytes);
  return pool.toString('hex', at, at + bytes);
}
