import { describe, expect, it } from 'vitest';
import { createNonceSource } from '../../src/authenticate/dpop-nonce.ts';

const SECRET = 'a-shared-secret-of-replicas';
const PERIOD_S = 60;
// The start of a time slot, so that "next slot" is exactly one period later.
const T0 = 1_800_000_000_000 - (1_800_000_000_000 % (PERIOD_S * 1000));

function at(start: number) {
  let now = start;
  return { now: () => now, set: (ms: number) => void (now = ms) };
}

describe('createNonceSource', () => {
  it('accepts its current nonce, which is URL-safe', () => {
    const clock = at(T0);
    const source = createNonceSource({ secret: SECRET, periodSeconds: PERIOD_S, now: clock.now });
    const nonce = source.current();
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(source.isValid(nonce)).toBe(true);
  });

  it('keeps one nonce for a whole slot', () => {
    const clock = at(T0);
    const source = createNonceSource({ secret: SECRET, periodSeconds: PERIOD_S, now: clock.now });
    const nonce = source.current();
    clock.set(T0 + PERIOD_S * 1000 - 1);
    expect(source.current()).toBe(nonce);
    clock.set(T0 + PERIOD_S * 1000);
    expect(source.current()).not.toBe(nonce);
  });

  it('accepts the previous slot’s nonce, not an older one', () => {
    const clock = at(T0);
    const source = createNonceSource({ secret: SECRET, periodSeconds: PERIOD_S, now: clock.now });
    const nonce = source.current();
    clock.set(T0 + PERIOD_S * 1000); // next slot
    expect(source.isValid(nonce)).toBe(true);
    clock.set(T0 + 2 * PERIOD_S * 1000 - 1); // still the next slot
    expect(source.isValid(nonce)).toBe(true);
    clock.set(T0 + 2 * PERIOD_S * 1000); // two slots later
    expect(source.isValid(nonce)).toBe(false);
  });

  it('does not accept a nonce from the future', () => {
    const clock = at(T0 + PERIOD_S * 1000);
    const source = createNonceSource({ secret: SECRET, periodSeconds: PERIOD_S, now: clock.now });
    const future = source.current();
    clock.set(T0);
    expect(source.isValid(future)).toBe(false);
  });

  it.each([
    ['undefined', undefined],
    ['null', null],
    ['a number', 42],
    ['an empty string', ''],
    ['a wrong string', 'not-the-nonce'],
    ['an object', { nonce: 'x' }],
  ])('refuses %s', (_label, value) => {
    const source = createNonceSource({ secret: SECRET, periodSeconds: PERIOD_S, now: () => T0 });
    expect(source.isValid(value)).toBe(false);
  });

  it('refuses the current nonce with one character changed or appended', () => {
    const source = createNonceSource({ secret: SECRET, periodSeconds: PERIOD_S, now: () => T0 });
    const nonce = source.current();
    const flipped = (nonce[0] === 'A' ? 'B' : 'A') + nonce.slice(1);
    expect(source.isValid(flipped)).toBe(false);
    expect(source.isValid(nonce + 'A')).toBe(false);
    expect(source.isValid(nonce.slice(1))).toBe(false);
  });

  it('two sources with the same secret agree (replicas)', () => {
    const a = createNonceSource({ secret: SECRET, periodSeconds: PERIOD_S, now: () => T0 });
    const b = createNonceSource({ secret: SECRET, periodSeconds: PERIOD_S, now: () => T0 + 1234 });
    expect(b.current()).toBe(a.current());
    expect(b.isValid(a.current())).toBe(true);
    expect(a.isValid(b.current())).toBe(true);
  });

  it('sources with different secrets do not', () => {
    const a = createNonceSource({ secret: SECRET, periodSeconds: PERIOD_S, now: () => T0 });
    const b = createNonceSource({ secret: 'another-secret-entirely', periodSeconds: PERIOD_S, now: () => T0 });
    expect(b.isValid(a.current())).toBe(false);
  });

  it('without a secret, each source makes its own random one', () => {
    const a = createNonceSource({ periodSeconds: PERIOD_S, now: () => T0 });
    const b = createNonceSource({ periodSeconds: PERIOD_S, now: () => T0 });
    expect(a.isValid(a.current())).toBe(true);
    expect(b.isValid(a.current())).toBe(false);
  });

  it('defaults to 60 second slots', () => {
    const clock = at(T0);
    const source = createNonceSource({ secret: SECRET, now: clock.now });
    const nonce = source.current();
    clock.set(T0 + 59_999);
    expect(source.current()).toBe(nonce);
    clock.set(T0 + 120_000);
    expect(source.isValid(nonce)).toBe(false);
  });
});
