// Server-provided DPoP nonces (RFC 9449 section 8) without server state: a nonce is an HMAC
// of the current time slot, so every replica configured with the same secret accepts it.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export interface NonceSource {
  current(): string;
  isValid(nonce: unknown): boolean;
}

export function createNonceSource(options: { secret?: string | undefined; periodSeconds?: number; now?: () => number }): NonceSource {
  const secret = options.secret === undefined ? randomBytes(32) : Buffer.from(options.secret, 'utf8');
  const period = (options.periodSeconds ?? 60) * 1000;
  const now = options.now ?? Date.now;
  const forSlot = (slot: number) => createHmac('sha256', secret).update(String(slot)).digest('base64url');
  return {
    current: () => forSlot(Math.floor(now() / period)),
    isValid(nonce) {
      if (typeof nonce !== 'string') return false;
      const slot = Math.floor(now() / period);
      const given = Buffer.from(nonce);
      // The previous slot too, so a nonce handed out just before a boundary still works.
      return [slot, slot - 1].some((s) => {
        const expected = Buffer.from(forSlot(s));
        return expected.length === given.length && timingSafeEqual(expected, given);
      });
    },
  };
}
