// The redis driver against a real redis-server (test/support/redis.ts): the shared-state contract
// over AUTH, what two replicas on one Redis see of each other, bounds and expiry of what it keeps,
// a full, a dead and a frozen Redis, and TLS with and without client certificates.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReplayCacheFullError } from '../../src/authenticate/replay-cache.ts';
import { UnavailableError } from '../../src/domain/errors.ts';
import { openStore, watchRevocations } from '../../src/store/index.ts';
import type { RedisConnection } from '../../src/store/redis.ts';
import type { SharedStore, StoreOperation } from '../../src/store/store.ts';
import { recordingLogger } from '../record/fixtures.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';
import { noLedger, SHARE, sharedStoreContract } from './contract.ts';

const PASSWORD = 'test-redis-password-1234';

/** The ACL rules docs/operations.md gives, for a key prefix. */
const ACL_RULES = (prefix: string) => [
  `~${prefix}*`, `&${prefix}*`,
  '+hello', '+auth', '+client|setname', '+ping', '+info', '+select', '+quit',
  '+eval', '+evalsha',
  '+exists', '+set', '+get', '+incr', '+pttl', '+pexpire', '+zadd', '+zcount', '+zrangebyscore', '+zremrangebyscore',
  '+hgetall', '+hset', '+hdel', '+multi', '+exec', '+publish', '+subscribe',
];

async function waitFor(condition: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

interface Opened {
  store: SharedStore;
  clock: { now: number };
  logger: ReturnType<typeof recordingLogger>;
  commands: { operation: StoreOperation; outcome: string }[];
}

async function open(redis: { url: string }, connection: Partial<RedisConnection> = {}): Promise<Opened> {
  const clock = { now: Date.now() };
  const logger = recordingLogger();
  const commands: Opened['commands'] = [];
  const store = await openStore(
    {
      driver: 'redis',
      redis: { url: redis.url, keyPrefix: 'test:', connectTimeoutMs: 1000, commandTimeoutMs: 300, ...connection },
      onStoreUnavailable: 'fail-closed',
    },
    {
      replay: { capacity: 1000, perClient: SHARE },
      ledgerRevocations: noLedger,
      now: () => clock.now,
      logger,
      onCommand: (operation, outcome) => commands.push({ operation, outcome }),
    },
  );
  return { store, clock, logger, commands };
}

const refusal = (promise: unknown) => Promise.resolve(promise).then(() => undefined, (error: unknown) => error);
const storeUnavailable = (error: unknown) => error instanceof UnavailableError && error.reason === 'store_unavailable';

describe('redis store', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis({ password: PASSWORD });
  });
  afterAll(async () => {
    await redis?.stop();
  });

  sharedStoreContract('redis (AUTH by password)', async () => {
    const { store, clock } = await open(redis, { password: PASSWORD });
    return { store, clock, close: () => store.close() };
  });

  describe('two replicas on one Redis', () => {
    let a: Opened;
    let b: Opened;
    beforeAll(async () => {
      // One by the password key, one by the password in the URL.
      a = await open(redis, { password: PASSWORD });
      b = await open({ url: `redis://:${PASSWORD}@127.0.0.1:${redis.port}` });
    });
    afterAll(async () => {
      await a?.store.close();
      await b?.store.close();
    });

    it('a proof remembered by one is a replay at the other, and of many concurrent presentations exactly one is new', async () => {
      const key = `jkt:${randomUUID()}`;
      expect(await a.store.replay.remember(key, a.clock.now + 60_000, 'client-1')).toBe(true);
      expect(await b.store.replay.remember(key, b.clock.now + 60_000, 'client-1')).toBe(false);

      const raced = `jkt:${randomUUID()}`;
      const answers = await Promise.all(
        Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a : b).store.replay.remember(raced, a.clock.now + 60_000, `client-${i}`)),
      );
      expect(answers.filter(Boolean)).toHaveLength(1);
    });

    it('counts one limit across both', async () => {
      const name = `per-client-${randomUUID()}`;
      const counted = [];
      for (let i = 0; i < 6; i++) counted.push((await (i % 2 === 0 ? a : b).store.counters(name, { maxKeys: 10 }).incr('subject-1', 60_000)).current);
      expect(counted).toEqual([1, 2, 3, 4, 5, 6]);
    });

    it('remembers a proof and counts its client in one command (one round trip), on the counter keys the plain counters use', async () => {
      const name = `per-client-${randomUUID()}`;
      const subject = `subject-${randomUUID()}`;
      await b.store.counters(name, { maxKeys: 10 }).incr(subject, 60_000);
      a.commands.length = 0;
      const answer = await a.store.rememberAndCount({ key: `jkt:${randomUUID()}`, expiresAt: a.clock.now + 60_000, client: subject }, { counter: name, maxKeys: 10, key: subject, windowMs: 60_000 });
      expect(answer).toEqual({ fresh: true, count: { current: 2, ttl: expect.any(Number) } });
      expect(a.commands).toEqual([{ operation: 'replay', outcome: 'ok' }]);
      expect(await b.store.counters(name, { maxKeys: 10 }).read(subject, 60_000)).toEqual({ current: 2, ttl: expect.any(Number) });
      const pttl = Number(await redis.cli('PTTL', `test:rate:${name}:${subject}`));
      expect(pttl).toBeGreaterThan(0);
      expect(pttl).toBeLessThanOrEqual(60_000);
    });

    it('gives a counter key found without an expiry one, rather than refusing its key forever', async () => {
      const name = `hand-written-${randomUUID()}`;
      await redis.cli('SET', `test:rate:${name}:k`, '41');
      expect(await a.store.counters(name, { maxKeys: 10 }).incr('k', 5_000)).toEqual({ current: 42, ttl: 5_000 });
      const pttl = Number(await redis.cli('PTTL', `test:rate:${name}:k`));
      expect(pttl).toBeGreaterThan(0);
      expect(pttl).toBeLessThanOrEqual(5_000);
    });

    it('tells the other of a revocation at once (pub/sub), before its next poll', async () => {
      const seen: string[][] = [];
      const watch = await watchRevocations(b.store.revocations, {
        pollSeconds: 300,
        logger: b.logger,
        onChange: (list) => seen.push(list.map((r) => r.value)),
      });
      try {
        const value = `lic-${randomUUID()}`;
        await a.store.revocations.put({ kind: 'license', value, reason: 'leaked', revokedAt: new Date().toISOString() });
        await waitFor(async () => watch.find('license', value) !== undefined, 'the pushed revocation');
        await a.store.revocations.delete('license', value);
        await waitFor(async () => watch.find('license', value) === undefined, 'the pushed removal');
      } finally {
        watch.close();
      }
    });

    it('keeps what it remembers bounded and expiring: a share of at most replayCachePerClient, keys with a TTL', async () => {
      const client = `bounded-${randomUUID()}`;
      const tag = encodeURIComponent(client);
      for (let i = 0; i < SHARE + 5; i++) await refusal(a.store.replay.remember(`${client}-k-${i}`, a.clock.now + 30_000, client));
      expect(Number(await redis.cli('ZCARD', `test:replay-share:{${tag}}`))).toBe(SHARE);
      const sharePttl = Number(await redis.cli('PTTL', `test:replay-share:{${tag}}`));
      expect(sharePttl).toBeGreaterThan(0);
      expect(sharePttl).toBeLessThanOrEqual(30_000);
      const proofPttl = Number(await redis.cli('PTTL', `test:replay:${client}-k-0`));
      expect(proofPttl).toBeGreaterThan(0);
      expect(proofPttl).toBeLessThanOrEqual(30_000);
      // Over the share, nothing was written for the refused proofs.
      expect(Number(await redis.cli('EXISTS', `test:replay:${client}-k-${SHARE}`))).toBe(0);
    });

    it('forgets a proof when it expires, so the key is free again', async () => {
      const key = `short-${randomUUID()}`;
      expect(await a.store.replay.remember(key, Date.now() + 100, 'client-expiry')).toBe(true);
      await waitFor(async () => Number(await redis.cli('EXISTS', `test:replay:${key}`)) === 0, 'the proof key to expire');
      a.clock.now = Date.now();
      expect(await a.store.replay.remember(key, a.clock.now + 60_000, 'client-expiry')).toBe(true);
    });

    it('a full Redis (maxmemory, noeviction) refuses new proofs as a full cache does, never forgets one', async () => {
      await redis.cli('CONFIG', 'SET', 'maxmemory', '1');
      try {
        const error = await refusal(a.store.replay.remember(`full-${randomUUID()}`, a.clock.now + 60_000, 'client-full'));
        expect(error).toBeInstanceOf(ReplayCacheFullError);
        expect(storeUnavailable(await refusal(a.store.counters('per-address', { maxKeys: 10 }).incr('addr', 60_000)))).toBe(true);
      } finally {
        await redis.cli('CONFIG', 'SET', 'maxmemory', '0');
      }
    });

    it('refuses a revocations hash it cannot read whole rather than drop an entry', async () => {
      await redis.cli('HSET', 'test:revocations', 'license:broken', 'not json');
      try {
        const error = await refusal(a.store.revocations.list());
        expect(storeUnavailable(error)).toBe(true);
        expect((error as UnavailableError).detail).toContain('license:broken');
      } finally {
        await redis.cli('HDEL', 'test:revocations', 'license:broken');
      }
    });
  });

  it('works as an ACL user limited to the commands and keys docs/operations.md lists', async () => {
    await redis.cli('ACL', 'SETUSER', 'registry-token', 'reset', 'on', '>acl-password-000000', ...ACL_RULES('acl:'));
    // The user in the URL, the password in its own key (as docs/operations.md shows).
    const { store, clock } = await open({ url: `redis://registry-token@127.0.0.1:${redis.port}` }, { password: 'acl-password-000000', keyPrefix: 'acl:' });
    try {
      await store.check();
      const key = `acl-${randomUUID()}`;
      expect(await store.replay.remember(key, clock.now + 60_000, 'c')).toBe(true);
      expect(await store.replay.remember(key, clock.now + 60_000, 'c')).toBe(false);
      const counter = store.counters('per-address', { maxKeys: 10 });
      expect((await counter.incr('addr', 60_000)).current).toBe(1);
      expect((await counter.read('addr', 60_000)).current).toBe(1);
      const pushed: number[] = [];
      const unwatch = store.revocations.watch!(() => pushed.push(1));
      await store.revocations.put({ kind: 'license', value: 'acl', reason: 'r', revokedAt: new Date().toISOString() });
      expect((await store.revocations.list()).map((r) => r.value)).toContain('acl');
      expect(await store.revocations.delete('license', 'acl')).toBe(true);
      await waitFor(async () => pushed.length > 0, 'a pushed change under the ACL');
      unwatch();
      // Outside its prefix it may do nothing.
      await expect(redis.cli('--user', 'registry-token', '--pass', 'acl-password-000000', 'GET', 'test:anything')).rejects.toThrow(/NOPERM/);
    } finally {
      await store.close();
    }
  });

  it('with a wrong password: not ready, and every call is 503 store_unavailable', async () => {
    const { store, logger } = await open(redis, { password: 'wrong-password-000000' });
    try {
      await expect(store.check()).rejects.toThrow(/does not answer/);
      expect(storeUnavailable(await refusal(store.replay.remember('k', Date.now() + 60_000, 'c')))).toBe(true);
      // The log names where, never the password.
      expect(JSON.stringify(logger.entries)).not.toContain('wrong-password');
    } finally {
      await store.close();
    }
  });
});

describe('redis store: Redis goes away and comes back', () => {
  let redis: RedisServer;
  let opened: Opened;
  beforeAll(async () => {
    redis = await startRedis();
    opened = await open(redis);
  });
  afterAll(async () => {
    await opened?.store.close();
    await redis?.stop();
  });

  it('killed: each call fails with store_unavailable at once; back: the same store works again, no restart', async () => {
    const { store, clock, commands } = opened;
    expect(await store.replay.remember('before', clock.now + 60_000, 'c')).toBe(true);
    await redis.kill();
    await expect(store.check()).rejects.toThrow(/Redis at redis:\/\/127\.0\.0\.1:\d+ does not answer/);
    for (const call of [
      () => store.replay.remember('during', clock.now + 60_000, 'c'),
      () => store.counters('per-address', { maxKeys: 10 }).incr('addr', 60_000),
      () => store.counters('per-address', { maxKeys: 10 }).read('addr', 60_000),
      () => store.revocations.list(),
      () => store.revocations.put({ kind: 'subject', value: 's', reason: 'r', revokedAt: new Date().toISOString() }),
      () => store.revocations.delete('subject', 's'),
    ]) {
      expect(storeUnavailable(await refusal(call()))).toBe(true);
    }
    expect(commands.filter((c) => c.outcome === 'error').map((c) => c.operation)).toEqual(
      expect.arrayContaining(['check', 'replay', 'counter', 'revocations']),
    );
    expect(opened.logger.entries.some((e) => e.level === 'warn' && /Redis does not answer/.test(e.msg ?? ''))).toBe(true);

    await redis.restart();
    await waitFor(() => store.check().then(() => true), 'the store to reconnect');
    expect(await store.replay.remember('after', clock.now + 60_000, 'c')).toBe(true);
    expect(opened.logger.entries.some((e) => e.level === 'info' && /Redis answers again/.test(e.msg ?? ''))).toBe(true);
  });

  it('opened while Redis is down: the store starts anyway, refuses, and works once Redis comes up', async () => {
    await redis.kill();
    const late = await open(redis);
    try {
      expect(storeUnavailable(await refusal(late.store.replay.remember('late', late.clock.now + 60_000, 'c')))).toBe(true);
      await expect(late.store.check()).rejects.toThrow(/does not answer/);
      await redis.restart();
      await waitFor(() => late.store.check().then(() => true), 'the late store to connect');
      expect(await late.store.replay.remember(`late-${randomUUID()}`, late.clock.now + 60_000, 'c')).toBe(true);
    } finally {
      await late.store.close();
    }
  });

  it('frozen (accepts, never answers): the command timeout turns each call into store_unavailable', async () => {
    const { store, clock } = opened;
    await waitFor(() => store.check().then(() => true), 'the store to be connected');
    process.kill(redis.pid()!, 'SIGSTOP');
    try {
      const error = await refusal(store.replay.remember(`frozen-${randomUUID()}`, clock.now + 60_000, 'c'));
      expect(storeUnavailable(error)).toBe(true);
      expect((error as UnavailableError).detail).toMatch(/timed out/i);
    } finally {
      process.kill(redis.pid()!, 'SIGCONT');
    }
    await waitFor(() => store.check().then(() => true), 'the store to answer again');
  });
});

describe('redis store over TLS', () => {
  let redis: RedisServer;
  let mutual: RedisServer;
  beforeAll(async () => {
    redis = await startRedis({ tls: {}, password: PASSWORD });
    mutual = await startRedis({ tls: { clientCertificates: true } });
  });
  afterAll(async () => {
    await redis?.stop();
    await mutual?.stop();
  });

  it('rediss:// trusting the server by the given CA, with AUTH', async () => {
    const { store, clock } = await open(redis, { password: PASSWORD, tls: { caPath: redis.tls!.caPath } });
    try {
      await store.check();
      const key = `tls-${randomUUID()}`;
      expect(await store.replay.remember(key, clock.now + 60_000, 'c')).toBe(true);
      expect(await store.replay.remember(key, clock.now + 60_000, 'c')).toBe(false);
    } finally {
      await store.close();
    }
  });

  it('does not talk to a server whose certificate it cannot verify', async () => {
    const { store } = await open(redis, { password: PASSWORD });
    try {
      await expect(store.check()).rejects.toThrow(/does not answer/);
    } finally {
      await store.close();
    }
  });

  it('presents a client certificate where Redis requires one (tls-auth-clients yes), and is refused without', async () => {
    const material = mutual.tls!;
    const withCert = await open(mutual, { tls: { caPath: material.caPath, certPath: material.clientCertPath, keyPath: material.clientKeyPath } });
    const without = await open(mutual, { tls: { caPath: material.caPath } });
    try {
      await withCert.store.check();
      expect((await withCert.store.counters('per-address', { maxKeys: 10 }).incr('addr', 60_000)).current).toBe(1);
      await expect(without.store.check()).rejects.toThrow(/does not answer/);
    } finally {
      await withCert.store.close();
      await without.store.close();
    }
  });
});
