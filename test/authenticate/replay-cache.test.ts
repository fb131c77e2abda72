import { describe, expect, it } from 'vitest';
import { MemoryReplayCache, ReplayCacheFullError } from '../../src/authenticate/replay-cache.ts';

/** A clock the test moves by hand. */
function manualClock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
}

describe('MemoryReplayCache', () => {
  it('remembers a key once: the first time true, a replay false', () => {
    const clock = manualClock();
    const cache = new MemoryReplayCache(100, clock.now);
    expect(cache.remember('jkt:a', clock.now() + 60_000)).toBe(true);
    expect(cache.remember('jkt:a', clock.now() + 60_000)).toBe(false);
    expect(cache.remember('jkt:b', clock.now() + 60_000)).toBe(true);
    expect(cache.size).toBe(2);
  });

  it('is still a replay just before expiry, and fresh again at expiry', () => {
    const clock = manualClock();
    const cache = new MemoryReplayCache(100, clock.now);
    const expiresAt = clock.now() + 60_000;
    cache.remember('k', expiresAt);
    clock.advance(59_999);
    expect(cache.remember('k', clock.now() + 60_000)).toBe(false);
    clock.advance(1);
    expect(cache.remember('k', clock.now() + 60_000)).toBe(true);
    // and the new window counts from now
    expect(cache.remember('k', clock.now() + 60_000)).toBe(false);
  });

  it('prunes expired entries as it goes', () => {
    const clock = manualClock();
    const cache = new MemoryReplayCache(100, clock.now);
    for (let i = 0; i < 10; i++) cache.remember(`old-${i}`, clock.now() + 1_000);
    clock.advance(1_000);
    cache.remember('new', clock.now() + 1_000);
    expect(cache.size).toBe(1);
  });

  it('fails closed when full of unexpired entries, and never forgets one', () => {
    const clock = manualClock();
    const capacity = 5;
    const cache = new MemoryReplayCache(capacity, clock.now);
    for (let i = 0; i < capacity; i++) expect(cache.remember(`k${i}`, clock.now() + 60_000)).toBe(true);
    expect(() => cache.remember('k5', clock.now() + 60_000)).toThrow(ReplayCacheFullError);
    expect(cache.size).toBe(capacity);
    // every remembered proof is still a replay
    for (let i = 0; i < capacity; i++) expect(cache.remember(`k${i}`, clock.now() + 60_000)).toBe(false);
    // room comes back as entries expire
    clock.advance(60_000);
    expect(cache.remember('k5', clock.now() + 60_000)).toBe(true);
    expect(cache.size).toBe(1);
  });

  it('makes room from expired entries before refusing', () => {
    const clock = manualClock();
    const cache = new MemoryReplayCache(3, clock.now);
    for (let i = 0; i < 3; i++) cache.remember(`k${i}`, clock.now() + 1_000);
    clock.advance(1_000);
    for (let i = 3; i < 6; i++) expect(cache.remember(`k${i}`, clock.now() + 1_000)).toBe(true);
    expect(cache.size).toBe(3);
  });

  it('uses Date.now without an injected clock', () => {
    const cache = new MemoryReplayCache(10);
    expect(cache.remember('k', Date.now() + 60_000)).toBe(true);
    expect(cache.remember('k', Date.now() + 60_000)).toBe(false);
    expect(cache.remember('gone', Date.now() - 1)).toBe(true);
    expect(cache.remember('gone', Date.now() + 60_000)).toBe(true);
  });
});
