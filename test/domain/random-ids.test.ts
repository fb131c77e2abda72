import { describe, expect, it } from 'vitest';
import { randomBase64url, randomHex } from '../../src/domain/random-ids.ts';

describe('random ids from the pooled CSPRNG bytes', () => {
  it('have the asked length and alphabet, across many refills of the pool', () => {
    const seen = new Set<string>();
    // 4 KiB per refill: 20,000 ids of 16 + 8 + 16 bytes cross it ~200 times.
    for (let i = 0; i < 20_000; i++) {
      const id = randomBase64url(16);
      const span = randomHex(8);
      const trace = randomHex(16);
      expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(span).toMatch(/^[0-9a-f]{16}$/);
      expect(trace).toMatch(/^[0-9a-f]{32}$/);
      seen.add(id).add(span).add(trace);
    }
    // No byte is handed out twice: 60,000 draws, 60,000 distinct values.
    expect(seen.size).toBe(60_000);
  });

  it('are not a fixed sequence: a bit of each position varies', () => {
    const ids = Array.from({ length: 64 }, () => Buffer.from(randomBase64url(16), 'base64url'));
    for (let byte = 0; byte < 16; byte++) expect(new Set(ids.map((b) => b[byte])).size).toBeGreaterThan(8);
  });
});
