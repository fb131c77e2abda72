import { describe, expect, it } from 'vitest';
import { MemoryReplayCache, ReplayCacheFullError, ReplayShareExceededError } from '../../src/authenticate/replay-cache.ts';
import { thrown } from '../support/thrown.ts';

/** A clock the test moves by hand. */
function manualClock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
}

const C = 'client-a';

describe('MemoryReplayCache', () => {
  it('remembers a key once: the first time true, a replay false', () => {
    const clock = manualClock();
    const cache = new MemoryReplayCache(100, { now: clock.now });
    expect(cache.remember('jkt:a', clock.now() + 60_000, C)).toBe(true);
    expect(cache.remember('jkt:a', clock.now() + 60_000, C)).toBe(false);
    expect(cache.remember('jkt:b', clock.now() + 60_000, C)).toBe(true);
    expect(cache.size).toBe(2);
  });

  it('is still a replay just before expiry, and fresh again at expiry', () => {
    const clock = manualClock();
    const cache = new MemoryReplayCache(100, { now: clock.now });
    const expiresAt = clock.now() + 60_000;
    cache.remember('k', expiresAt, C);
    clock.advance(59_999);
    expect(cache.remember('k', clock.now() + 60_000, C)).toBe(false);
    clock.advance(1);
    expect(cache.remember('k', clock.now() + 60_000, C)).toBe(true);
    // and the new expiry is the one given now
    expect(cache.remember('k', clock.now() + 60_000, C)).toBe(false);
  });

  it('keeps each key until its own expiry, whatever the order they came in', () => {
    const clock = manualClock();
    const cache = new MemoryReplayCache(100, { now: clock.now });
    // A proof whose iat lies ahead lives longer than one that came after it.
    cache.remember('late', clock.now() + 119_000, C);
    cache.remember('early', clock.now() + 30_000, C);
    clock.advance(92_000);
    expect(cache.remember('late', clock.now() + 60_000, C)).toBe(false);
    expect(cache.remember('early', clock.now() + 60_000, C)).toBe(true);
  });

  it('prunes expired entries as it goes', () => {
    const clock = manualClock();
    const cache = new MemoryReplayCache(100, { now: clock.now });
    for (let i = 0; i < 10; i++) cache.remember(`old-${i}`, clock.now() + 1_000 + i, C);
    clock.advance(1_010);
    cache.remember('new', clock.now() + 1_000, C);
    expect(cache.size).toBe(1);
  });

  it('fails closed when full of unexpired entries, and never forgets one', () => {
    const clock = manualClock();
    const capacity = 5;
    const cache = new MemoryReplayCache(capacity, { now: clock.now });
    for (let i = 0; i < capacity; i++) expect(cache.remember(`k${i}`, clock.now() + 60_000, `client-${i}`)).toBe(true);
    thrown(ReplayCacheFullError, () => cache.remember('k5', clock.now() + 60_000, 'client-5'));
    expect(cache.size).toBe(capacity);
    // every remembered proof is still a replay
    for (let i = 0; i < capacity; i++) expect(cache.remember(`k${i}`, clock.now() + 60_000, `client-${i}`)).toBe(false);
    // room comes back as entries expire
    clock.advance(60_000);
    expect(cache.remember('k5', clock.now() + 60_000, 'client-5')).toBe(true);
    expect(cache.size).toBe(1);
  });

  it('makes room from expired entries before refusing', () => {
    const clock = manualClock();
    const cache = new MemoryReplayCache(3, { now: clock.now });
    for (let i = 0; i < 3; i++) cache.remember(`k${i}`, clock.now() + 1_000, C);
    clock.advance(1_000);
    for (let i = 3; i < 6; i++) expect(cache.remember(`k${i}`, clock.now() + 1_000, C)).toBe(true);
    expect(cache.size).toBe(3);
  });

  it('uses Date.now without an injected clock', () => {
    const cache = new MemoryReplayCache(10);
    expect(cache.remember('k', Date.now() + 60_000, C)).toBe(true);
    expect(cache.remember('k', Date.now() + 60_000, C)).toBe(false);
    expect(cache.remember('gone', Date.now() - 1, C)).toBe(true);
    expect(cache.remember('gone', Date.now() + 60_000, C)).toBe(true);
  });
});

describe('MemoryReplayCache: one client cannot take more than its share', () => {
  it('a cache of 100 filled by one client still serves an unrelated client', () => {
    const clock = manualClock();
    const cache = new MemoryReplayCache(100, { perClient: 10, now: clock.now });
    let refused = 0;
    for (let i = 0; i < 100; i++) {
      try {
        cache.remember(`hog:${i}`, clock.now() + 60_000, 'hog');
      } catch (error) {
        expect(error).toBeInstanceOf(ReplayShareExceededError);
        refused++;
      }
    }
    expect(refused).toBe(90);
    expect(cache.size).toBe(10);
    expect(cache.remember('other:1', clock.now() + 60_000, 'other')).toBe(true);
  });

  it('tells the client when its oldest entry expires', () => {
    const clock = manualClock();
    const cache = new MemoryReplayCache(100, { perClient: 3, now: clock.now });
    cache.remember('a', clock.now() + 50_000, C);
    cache.remember('b', clock.now() + 20_000, C); // an earlier iat: expires first
    cache.remember('c', clock.now() + 60_000, C);
    clock.advance(5_000);
    const error = thrown(ReplayShareExceededError, () => cache.remember('d', clock.now() + 60_000, C));
    expect(error.retryAfterMs).toBe(15_000);
    clock.advance(15_000);
    expect(cache.remember('d', clock.now() + 60_000, C)).toBe(true);
  });

  it('a replay is still a replay for a client at its share', () => {
    const clock = manualClock();
    const cache = new MemoryReplayCache(100, { perClient: 2, now: clock.now });
    cache.remember('a', clock.now() + 60_000, C);
    cache.remember('b', clock.now() + 60_000, C);
    expect(cache.remember('a', clock.now() + 60_000, C)).toBe(false);
  });

  it('still fails closed when the whole cache is full of clients within their share', () => {
    const clock = manualClock();
    const cache = new MemoryReplayCache(100, { perClient: 10, now: clock.now });
    for (let c = 0; c < 10; c++) for (let i = 0; i < 10; i++) cache.remember(`${c}:${i}`, clock.now() + 60_000, `client-${c}`);
    thrown(ReplayCacheFullError, () => cache.remember('new', clock.now() + 60_000, 'client-new'));
  });

  it('defaults the share to the whole cache', () => {
    const cache = new MemoryReplayCache(100, { now: () => 0 });
    for (let i = 0; i < 100; i++) cache.remember(`k${i}`, 60_000, C);
    thrown(ReplayCacheFullError, () => cache.remember('k100', 60_000, C));
  });
});

describe('MemoryReplayCache occupancy (the replay_cache_entries gauge)', () => {
  it('counts unexpired proofs only, against the capacity', () => {
    const clock = manualClock();
    const cache = new MemoryReplayCache(10, { now: clock.now });
    expect(cache.occupancy()).toEqual({ entries: 0, capacity: 10 });
    cache.remember('jkt:a', clock.now() + 1_000, C);
    cache.remember('jkt:b', clock.now() + 5_000, C);
    expect(cache.occupancy()).toEqual({ entries: 2, capacity: 10 });
    clock.advance(2_000);
    // Expired entries leave the count at the next scrape even when no proof arrives.
    expect(cache.occupancy()).toEqual({ entries: 1, capacity: 10 });
  });
});
