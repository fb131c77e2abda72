// The verified-OpTok cache alone: its byte bound, expiry at exp, key-set versions, and what it
// refuses to keep. The verifier's use of it is in access-token.test.ts.
import { describe, expect, it } from 'vitest';
import { VerifiedTokenCache } from '../../src/authenticate/verified-tokens.ts';

const NOW_S = 2_000_000_000;
const clock = (start = NOW_S * 1000) => {
  let now = start;
  return { now: () => now, advance: (seconds: number) => void (now += seconds * 1000) };
};
const token = (i: number, length = 1000) => `t${i}-`.padEnd(length, 'x');
const payload = (i: number, exp = NOW_S + 600) => ({ sub: `s${i}`, exp, cnf: { jkt: `k${i}` } });
const ENTRY = 1000 + 512;

function fill(cache: VerifiedTokenCache, count: number, version = 1): void {
  for (let i = 0; i < count; i++) cache.set(VerifiedTokenCache.keyOf(token(i)), token(i), payload(i), version);
}

describe('VerifiedTokenCache', () => {
  it('keys by the SHA-256 of the token, not the token', () => {
    expect(VerifiedTokenCache.keyOf(token(1))).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(VerifiedTokenCache.keyOf(token(1))).not.toBe(VerifiedTokenCache.keyOf(token(2)));
  });

  it('serves a payload it holds for the same key-set version', () => {
    const cache = new VerifiedTokenCache(1 << 20, clock().now);
    fill(cache, 3);
    expect(cache.get(VerifiedTokenCache.keyOf(token(1)), 1)).toEqual(payload(1));
    expect(cache.get(VerifiedTokenCache.keyOf(token(9)), 1)).toBeUndefined();
  });

  it('never holds more than its bound, dropping the least recently used first', () => {
    const cache = new VerifiedTokenCache(10 * ENTRY, clock().now);
    fill(cache, 10);
    expect(cache.size).toBe(10);
    expect(cache.get(VerifiedTokenCache.keyOf(token(0)), 1)).toBeDefined(); // 0 is now the most recent
    for (let i = 10; i < 13; i++) cache.set(VerifiedTokenCache.keyOf(token(i)), token(i), payload(i), 1);
    expect(cache.size).toBe(10);
    expect(cache.bytes).toBeLessThanOrEqual(10 * ENTRY);
    expect(cache.get(VerifiedTokenCache.keyOf(token(0)), 1)).toBeDefined();
    for (const gone of [1, 2, 3]) expect(cache.get(VerifiedTokenCache.keyOf(token(gone)), 1)).toBeUndefined();
    expect(cache.get(VerifiedTokenCache.keyOf(token(4)), 1)).toBeDefined();
  });

  it('counts bytes, so a few huge tokens cannot pin more than the bound', () => {
    const cache = new VerifiedTokenCache(64 * 1024, clock().now);
    for (let i = 0; i < 100; i++) cache.set(VerifiedTokenCache.keyOf(token(i, 16_000)), token(i, 16_000), payload(i), 1);
    expect(cache.bytes).toBeLessThanOrEqual(64 * 1024);
    expect(cache.size).toBe(3);
    // one entry larger than the whole bound is not kept at all
    const tiny = new VerifiedTokenCache(1024, clock().now);
    tiny.set(VerifiedTokenCache.keyOf(token(1)), token(1), payload(1), 1);
    expect(tiny.size).toBe(0);
  });

  it('drops an entry at the token exp', () => {
    const c = clock();
    const cache = new VerifiedTokenCache(1 << 20, c.now);
    cache.set(VerifiedTokenCache.keyOf(token(1)), token(1), payload(1, NOW_S + 60), 1);
    c.advance(59);
    expect(cache.get(VerifiedTokenCache.keyOf(token(1)), 1)).toBeDefined();
    c.advance(1);
    expect(cache.get(VerifiedTokenCache.keyOf(token(1)), 1)).toBeUndefined();
    expect(cache.size).toBe(0);
    expect(cache.bytes).toBe(0);
  });

  it('does not keep a token that has expired, or has no numeric exp', () => {
    const cache = new VerifiedTokenCache(1 << 20, clock().now);
    cache.set('a', token(1), payload(1, NOW_S), 1);
    cache.set('b', token(2), { sub: 'x' }, 1);
    cache.set('c', token(3), { sub: 'x', exp: String(NOW_S + 60) } as never, 1);
    expect(cache.size).toBe(0);
  });

  it('a different key-set version, or none usable, is a miss and drops the entry', () => {
    const cache = new VerifiedTokenCache(1 << 20, clock().now);
    fill(cache, 2, 1);
    expect(cache.get(VerifiedTokenCache.keyOf(token(0)), 2)).toBeUndefined();
    expect(cache.get(VerifiedTokenCache.keyOf(token(0)), 1)).toBeUndefined();
    expect(cache.get(VerifiedTokenCache.keyOf(token(1)), undefined)).toBeUndefined();
    expect(cache.size).toBe(0);
    expect(cache.bytes).toBe(0);
  });

  it('hands out a frozen payload: one request cannot change what the next one reads', () => {
    const cache = new VerifiedTokenCache(1 << 20, clock().now);
    fill(cache, 1);
    const hit = cache.get(VerifiedTokenCache.keyOf(token(0)), 1) as { sub: string; cnf: { jkt: string } };
    expect(() => {
      hit.sub = 'someone else';
    }).toThrow(TypeError);
    expect(() => {
      hit.cnf.jkt = 'another key';
    }).toThrow(TypeError);
  });

  it('clear() empties it', () => {
    const cache = new VerifiedTokenCache(1 << 20, clock().now);
    fill(cache, 5);
    cache.clear();
    expect(cache.size).toBe(0);
    expect(cache.bytes).toBe(0);
  });
});
