// The libtrust key id: distribution 2.x finds a bare-`kid` key only by this form
// (see shared registry facts). Hand-written because no maintained JS library computes it:
// SHA-256 over the DER SubjectPublicKeyInfo, first 30 bytes, RFC 4648 base32 without
// padding, 12 groups of 4 joined by ':'.
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function base32(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

/** libtrust key id of a public (or private: its public half is used) key. */
export function libtrustKeyId(key: KeyObject): string {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  const digest = createHash('sha256').update(spki).digest().subarray(0, 30);
  return base32(digest).match(/.{4}/g)!.join(':');
}
