import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ExpiryQueue } from '../../src/authenticate/expiry-queue.ts';

describe('ExpiryQueue', () => {
  it('pops in expiry order, whatever order entries came in', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 1_000 }), { maxLength: 200 }), (times) => {
        const queue = new ExpiryQueue<number>();
        times.forEach((at, index) => queue.push(at, index));
        expect(queue.size).toBe(times.length);
        const popped: number[] = [];
        for (let entry = queue.pop(); entry !== undefined; entry = queue.pop()) {
          expect(times[entry.value]).toBe(entry.at);
          popped.push(entry.at);
        }
        expect(popped).toEqual([...times].sort((a, b) => a - b));
        expect(queue.peekAt()).toBeUndefined();
      }),
    );
  });

  it('peeks at the earliest expiry without removing it', () => {
    const queue = new ExpiryQueue<string>();
    queue.push(30, 'c');
    queue.push(10, 'a');
    queue.push(20, 'b');
    expect(queue.peekAt()).toBe(10);
    expect(queue.size).toBe(3);
    expect(queue.pop()).toEqual({ at: 10, value: 'a' });
    expect(queue.peekAt()).toBe(20);
  });
});
