// store.onStoreUnavailable: local against a real redis-server that is killed: the replay cache
// and the counters carry on in this process's memory (what the configuration reference says it
// risks), revocations do not fall back, and everything is shared again once Redis is back.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnavailableError } from '../../src/domain/errors.ts';
import { openStore } from '../../src/store/index.ts';
import type { SharedStore } from '../../src/store/store.ts';
import { recordingLogger } from '../record/fixtures.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';

const unusedLedger = {
  list: () => Promise.reject(new Error('not used')),
  put: () => Promise.reject(new Error('not used')),
  delete: () => Promise.reject(new Error('not used')),
};

describe('onStoreUnavailable: local', () => {
  let redis: RedisServer;
  let store: SharedStore;
  let other: SharedStore;
  const logger = recordingLogger();
  const open = (log = recordingLogger()) =>
    openStore(
      { driver: 'redis', redis: { url: redis.url, keyPrefix: 'fallback:', connectTimeoutMs: 1000, commandTimeoutMs: 300 }, onStoreUnavailable: 'local' },
      { replay: { capacity: 1000, perClient: 100 }, ledgerRevocations: unusedLedger, now: Date.now, logger: log },
    );
  beforeAll(async () => {
    redis = await startRedis();
    store = await open(logger);
    other = await open();
  });
  afterAll(async () => {
    await store?.close();
    await other?.close();
    await redis?.stop();
  });

  it('falls back to memory for replay and counters while Redis is away, never for revocations', async () => {
    const shared = `shared-${randomUUID()}`;
    expect(await store.replay.remember(shared, Date.now() + 60_000, 'c')).toBe(true);
    expect(await other.replay.remember(shared, Date.now() + 60_000, 'c')).toBe(false);

    await redis.kill();
    const local = `local-${randomUUID()}`;
    expect(await store.replay.remember(local, Date.now() + 60_000, 'c')).toBe(true);
    // Still refused by the replica that saw it...
    expect(await store.replay.remember(local, Date.now() + 60_000, 'c')).toBe(false);
    // ...but the other replica does not know it: the risk this setting takes.
    expect(await other.replay.remember(local, Date.now() + 60_000, 'c')).toBe(true);
    const counter = store.counters('per-client', { maxKeys: 10 });
    expect((await counter.incr('subject', 60_000)).current).toBe(1);
    expect((await counter.incr('subject', 60_000)).current).toBe(2);
    const revocations = await store.revocations.list().then(() => undefined, (error: unknown) => error);
    expect(revocations instanceof UnavailableError && revocations.reason === 'store_unavailable').toBe(true);
    await expect(store.check()).rejects.toThrow(/does not answer/);
    expect(logger.entries.some((e) => e.level === 'warn' && /onStoreUnavailable is local/.test(e.msg ?? ''))).toBe(true);

    await redis.restart();
    const deadline = Date.now() + 10_000;
    while (!(await store.check().then(() => true, () => false))) {
      if (Date.now() > deadline) throw new Error('the store did not reconnect');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const again = `again-${randomUUID()}`;
    expect(await store.replay.remember(again, Date.now() + 60_000, 'c')).toBe(true);
    expect(await other.replay.remember(again, Date.now() + 60_000, 'c')).toBe(false);
    expect(logger.entries.some((e) => e.level === 'info' && /shared again/.test(e.msg ?? ''))).toBe(true);
  });
});
