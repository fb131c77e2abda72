// What every SharedStore driver must do, run against each one (memory.test.ts, redis.test.ts):
// the replay cache, fixed-window counters and runtime revocations, as the service uses them.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReplayShareExceededError } from '../../src/authenticate/replay-cache.ts';
import type { Revocation, SharedStore } from '../../src/store/store.ts';

export interface StoreUnderTest {
  readonly store: SharedStore;
  /** The clock the store was given (ms); tests move it. */
  readonly clock: { now: number };
  close(): Promise<void>;
}

/** Each driver is made with a per-client replay share of 3. */
export const SHARE = 3;

/** The ledger's revocations, for a Redis store that must never fall back to them. */
export const noLedger = {
  list: () => Promise.reject(new Error('not used')),
  put: () => Promise.reject(new Error('not used')),
  delete: () => Promise.reject(new Error('not used')),
};

const revocation = (kind: Revocation['kind'], value: string, reason = 'test'): Revocation => ({
  kind, value, reason, revokedAt: '2026-01-01T00:00:00.000Z', revokedBy: 'operator',
});

export function sharedStoreContract(driver: string, open: () => Promise<StoreUnderTest>): void {
  describe(`${driver} store: the shared-state contract`, () => {
    let subject: StoreUnderTest;
    beforeAll(async () => {
      subject = await open();
    });
    afterAll(async () => {
      await subject.close();
    });
    const fresh = () => `k-${randomUUID()}`;

    it('remembers a proof once: the second time is a replay, until it expires', async () => {
      const { store, clock } = subject;
      const key = fresh();
      const client = `c-${randomUUID()}`;
      expect(await store.replay.remember(key, clock.now + 60_000, client)).toBe(true);
      expect(await store.replay.remember(key, clock.now + 60_000, client)).toBe(false);
      // Another client presenting the same key is still a replay: the key names the proof.
      expect(await store.replay.remember(key, clock.now + 60_000, `other-${randomUUID()}`)).toBe(false);
    });

    it('holds each client to its share, tells when room comes back, and frees it as proofs expire', async () => {
      const { store, clock } = subject;
      const client = `c-${randomUUID()}`;
      for (let i = 0; i < SHARE; i++) expect(await store.replay.remember(fresh(), clock.now + 10_000 + i, client)).toBe(true);
      const over = await (async () => store.replay.remember(fresh(), clock.now + 20_000, client))().catch((error: unknown) => error);
      expect(over).toBeInstanceOf(ReplayShareExceededError);
      expect((over as ReplayShareExceededError).retryAfterMs).toBeGreaterThan(0);
      expect((over as ReplayShareExceededError).retryAfterMs).toBeLessThanOrEqual(10_000);
      // Other clients are not refused for it.
      expect(await store.replay.remember(fresh(), clock.now + 10_000, `c-${randomUUID()}`)).toBe(true);
      clock.now += 10_001;
      expect(await store.replay.remember(fresh(), clock.now + 10_000, client)).toBe(true);
    });

    it('counts hits in fixed windows, separately per limit name, and reads without counting', async () => {
      const { store } = subject;
      const a = store.counters(`a-${randomUUID()}`, { maxKeys: 100 });
      const b = store.counters(`b-${randomUUID()}`, { maxKeys: 100 });
      expect(await a.read('addr', 60_000)).toEqual({ current: 0, ttl: 0 });
      const first = await a.incr('addr', 60_000);
      expect(first.current).toBe(1);
      expect(first.ttl).toBeGreaterThan(0);
      expect(first.ttl).toBeLessThanOrEqual(60_000);
      const second = await a.incr('addr', 60_000);
      expect(second.current).toBe(2);
      // The window does not restart with each hit.
      expect(second.ttl).toBeLessThanOrEqual(first.ttl);
      expect((await a.read('addr', 60_000)).current).toBe(2);
      expect((await a.read('addr', 60_000)).current).toBe(2);
      expect((await b.incr('addr', 60_000)).current).toBe(1);
    });

    it('remembers a proof and counts its client together: only a fresh proof is counted, on the counters of the same name', async () => {
      const { store, clock } = subject;
      const counter = `per-client-${randomUUID()}`;
      const client = `c-${randomUUID()}`;
      const hit = { counter, maxKeys: 100, key: client, windowMs: 60_000 };
      const proof = { key: fresh(), expiresAt: clock.now + 60_000, client };
      expect(await store.rememberAndCount(proof, hit)).toEqual({ fresh: true, count: { current: 1, ttl: expect.any(Number) } });
      // A replayed proof spends nothing of its client's budget.
      expect(await store.rememberAndCount(proof, hit)).toEqual({ fresh: false, count: undefined });
      const counters = store.counters(counter, { maxKeys: 100 });
      expect((await counters.read(client, 60_000)).current).toBe(1);
      await counters.incr(client, 60_000);
      const next = await store.rememberAndCount({ ...proof, key: fresh() }, hit);
      expect(next.count?.current).toBe(3);
      expect(next.count?.ttl).toBeGreaterThan(0);
      expect(next.count?.ttl).toBeLessThanOrEqual(60_000);
    });

    it('refuses a proof over its client\'s share without counting it', async () => {
      const { store, clock } = subject;
      const counter = `per-client-${randomUUID()}`;
      const client = `c-${randomUUID()}`;
      const hit = { counter, maxKeys: 100, key: client, windowMs: 60_000 };
      for (let i = 0; i < SHARE; i++) await store.rememberAndCount({ key: fresh(), expiresAt: clock.now + 10_000, client }, hit);
      const over = await store.rememberAndCount({ key: fresh(), expiresAt: clock.now + 10_000, client }, hit).catch((error: unknown) => error);
      expect(over).toBeInstanceOf(ReplayShareExceededError);
      expect((await store.counters(counter, { maxKeys: 100 }).read(client, 60_000)).current).toBe(SHARE);
    });

    it('keeps runtime revocations: put replaces, list shows all, delete says whether there was one', async () => {
      const { store } = subject;
      const value = `lic-${randomUUID()}`;
      await store.revocations.put(revocation('license', value, 'first'));
      await store.revocations.put(revocation('license', value, 'second'));
      await store.revocations.put(revocation('subject', value));
      await store.revocations.put(revocation('credential', value));
      const mine = (await store.revocations.list()).filter((r) => r.value === value);
      expect(mine).toEqual(expect.arrayContaining([revocation('license', value, 'second'), revocation('subject', value), revocation('credential', value)]));
      expect(mine).toHaveLength(3);
      expect(await store.revocations.delete('license', value)).toBe(true);
      expect(await store.revocations.delete('license', value)).toBe(false);
      expect((await store.revocations.list()).filter((r) => r.value === value)).toEqual([revocation('credential', value), revocation('subject', value)]);
    });

    it('keys revocations by (kind, tenant, value): the same subject revoked platform-wide and in two tenants is three entries', async () => {
      const { store } = subject;
      const value = `ci-${randomUUID()}`;
      const platform = revocation('subject', value);
      const alpha = { ...revocation('subject', value, 'alpha admin'), tenant: 'alpha' };
      const beta = { ...revocation('subject', value, 'beta admin'), tenant: 'be:ta@x' };
      const tenant = revocation('tenant', value);
      for (const r of [platform, alpha, beta, tenant]) await store.revocations.put(r);
      await store.revocations.put({ ...alpha, reason: 'alpha again' });
      const mine = () => store.revocations.list().then((all) => all.filter((r) => r.value === value));
      expect(await mine()).toEqual(expect.arrayContaining([platform, { ...alpha, reason: 'alpha again' }, beta, tenant]));
      expect(await mine()).toHaveLength(4);
      expect(await store.revocations.delete('subject', value, 'alpha')).toBe(true);
      expect(await store.revocations.delete('subject', value, 'alpha')).toBe(false);
      expect(await store.revocations.delete('subject', value, 'gamma')).toBe(false);
      expect(await store.revocations.delete('subject', value)).toBe(true);
      expect(await store.revocations.delete('tenant', value)).toBe(true);
      expect(await mine()).toEqual([beta]);
      expect(await store.revocations.delete('subject', value, 'be:ta@x')).toBe(true);
    });

    it('answers its readiness check', async () => {
      await expect(subject.store.check()).resolves.toBeUndefined();
    });
  });
}
