import { describe, expect, it } from 'vitest';
import { RefusedAddresses } from '../../src/limits/refused-addresses.ts';

describe('RefusedAddresses', () => {
  it('answers a refusal until its window closes, with the time it has left, then forgets it', () => {
    let now = 1_000_000;
    const refused = new RefusedAddresses(10, () => now);
    expect(refused.get('10.0.0.1')).toBeUndefined();
    refused.add('10.0.0.1', 'failed_auth', 30_000);
    expect(refused.get('10.0.0.1')).toEqual({ limit: 'failed_auth', remainingMs: 30_000 });
    now += 29_999;
    expect(refused.get('10.0.0.1')).toEqual({ limit: 'failed_auth', remainingMs: 1 });
    now += 1;
    expect(refused.get('10.0.0.1')).toBeUndefined();
    expect(refused.size).toBe(0);
  });

  it('a later refusal replaces the earlier one; nothing is kept for a window already closed', () => {
    let now = 0;
    const refused = new RefusedAddresses(10, () => now);
    refused.add('a', 'per_address', 5_000);
    refused.add('a', 'failed_auth', 60_000);
    now = 10_000;
    expect(refused.get('a')).toEqual({ limit: 'failed_auth', remainingMs: 50_000 });
    refused.add('b', 'per_address', 0);
    expect(refused.get('b')).toBeUndefined();
  });

  it('stays within its bound: closed windows go first, then the oldest entry', () => {
    let now = 0;
    const refused = new RefusedAddresses(3, () => now);
    refused.add('short', 'per_address', 1_000);
    refused.add('b', 'per_address', 60_000);
    refused.add('c', 'per_address', 60_000);
    now = 2_000;
    refused.add('d', 'per_address', 60_000);
    expect(refused.size).toBe(3);
    expect(refused.get('b')).toBeDefined();
    refused.add('e', 'per_address', 60_000);
    expect(refused.size).toBe(3);
    // b was the oldest: asked of the store again, nothing worse.
    expect(refused.get('b')).toBeUndefined();
    for (const address of ['c', 'd', 'e']) expect(refused.get(address)).toBeDefined();
  });
});
