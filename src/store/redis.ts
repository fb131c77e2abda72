// The redis driver: replay detection, rate-limit counters and runtime revocations in one Redis,
// so any number of replicas behind a load balancer behave as one service. Client: ioredis.
//
// Failing fast is the point: no offline queue and no resend, so a command to an unreachable
// Redis is refused at once (or after `commandTimeoutMs` when Redis accepts but does not answer),
// and the request gets 503 `store_unavailable` instead of waiting. The client reconnects by
// itself; nothing needs a restart when Redis is back.
//
// Keys (under `keyPrefix`):
//   replay:<jkt>:<jti>              one remembered proof, expiring with it (SET NX PX)
//   replay-share:{<client>}         sorted set of that client's unexpired proofs, by expiry, at
//                                   most replayCachePerClient of them, expiring with the last
//   rate:<limit>:<key>              @fastify/rate-limit's fixed-window counters
//   revocations                     hash revocationKey(kind, value, tenant) -> revocation JSON
// and the pub/sub channel <keyPrefix>revocations, told of every change.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Redis, type RedisOptions } from 'ioredis';
import { ReplayCacheFullError, ReplayShareExceededError, type ReplayCache } from '../authenticate/replay-cache.ts';
import { UnavailableError } from '../domain/errors.ts';
import { REVOCATION_KINDS, revocationKey } from '../record/ledger.ts';
import { countersOn, RedisStore } from './rate-limit-stores.ts';
import { rememberThenCount } from './remember-and-count.ts';
import type { Counters, Revocation, RevocationKind, RevocationStore, SharedStore, StoreDeps, StoreOperation } from './store.ts';

export interface RedisConnection {
  /** redis://[user:password@]host:port[/db] or rediss:// for TLS. */
  readonly url: string;
  readonly keyPrefix: string;
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  readonly tls?: {
    readonly caPath?: string | undefined;
    readonly certPath?: string | undefined;
    readonly keyPath?: string | undefined;
    readonly servername?: string | undefined;
  } | undefined;
  readonly connectTimeoutMs: number;
  readonly commandTimeoutMs: number;
}

/**
 * Remembers a proof unless it is there already, within the client's share. Atomic: two replicas
 * given the same proof at the same instant cannot both see it as new. The SET NX is the first
 * write, so a Redis over maxmemory refuses the script (OOM) before it changes anything.
 * Returns {1, 0} new, {0, 0} replay, {-1, ms until the client's oldest proof expires} over share.
 */
const REMEMBER = `
local now = tonumber(ARGV[1])
local expiresAt = tonumber(ARGV[2])
if redis.call('EXISTS', KEYS[1]) == 1 then return {0, 0} end
if redis.call('ZCOUNT', KEYS[2], '(' .. now, '+inf') >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  return {-1, math.max(1, tonumber(oldest[2]) - now)}
end
local ttl = math.max(1, expiresAt - now)
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ttl) then return {0, 0} end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
redis.call('ZADD', KEYS[2], expiresAt, ARGV[4])
if redis.call('PTTL', KEYS[2]) < ttl then redis.call('PEXPIRE', KEYS[2], ttl) end
return {1, 0}
`;

type Client = Redis & {
  rememberProof(proofKey: string, shareKey: string, now: number, expiresAt: number, share: number, member: string): Promise<[number, number]>;
};

/** Where the client connects, for logs: never the password. */
export function describeRedis(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname === '/' ? '' : parsed.pathname}`;
  } catch {
    return 'redis (unparsable url)';
  }
}

/**
 * AUTH from the keys, else from the URL: `rediss://user@host` with the password in
 * `store.redis.password` is the usual way to keep the secret out of the URL.
 */
function credentials(connection: RedisConnection): { username?: string | undefined; password?: string | undefined } {
  const url = new URL(connection.url);
  const fromUrl = (value: string) => (value === '' ? undefined : decodeURIComponent(value));
  return { username: connection.username ?? fromUrl(url.username), password: connection.password ?? fromUrl(url.password) };
}

/** The URL without its credentials: the client would let those win over the explicit ones. */
function withoutCredentials(url: string): string {
  const parsed = new URL(url);
  parsed.username = '';
  parsed.password = '';
  return parsed.toString();
}

function clientOptions(connection: RedisConnection): RedisOptions {
  const read = (path: string, key: string) => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new Error(`store.redis.tls.${key}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  };
  const secure = connection.url.startsWith('rediss://');
  const tls = connection.tls;
  const { username, password } = credentials(connection);
  return {
    keyPrefix: connection.keyPrefix,
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
    connectTimeout: connection.connectTimeoutMs,
    commandTimeout: connection.commandTimeoutMs,
    // Refuse at once while disconnected, and never send a command twice: a resent SET NX
    // would find its own first write and call a fresh proof a replay.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    // Reconnect quickly and keep trying: the first command after Redis is back succeeds.
    retryStrategy: (attempt) => Math.min(100 * attempt, 1000),
    lazyConnect: true,
    connectionName: 'registry-token',
    // CLIENT SETINFO is one more command an ACL would have to allow, for nothing the service needs.
    disableClientInfo: true,
    ...(secure
      ? {
          tls: {
            minVersion: 'TLSv1.2' as const,
            ...(tls?.caPath === undefined ? {} : { ca: read(tls.caPath, 'caPath') }),
            ...(tls?.certPath === undefined ? {} : { cert: read(tls.certPath, 'certPath') }),
            ...(tls?.keyPath === undefined ? {} : { key: read(tls.keyPath, 'keyPath') }),
            ...(tls?.servername === undefined ? {} : { servername: tls.servername }),
          },
        }
      : {}),
  };
}

export async function openRedisStore(connection: RedisConnection, deps: StoreDeps): Promise<SharedStore> {
  const { logger } = deps;
  const where = describeRedis(connection.url);
  const options = clientOptions(connection);
  const target = withoutCredentials(connection.url);
  const client = new Redis(target, options) as Client;
  client.defineCommand('rememberProof', { numberOfKeys: 2, lua: REMEMBER });
  // Pub/sub needs a connection of its own; it may queue its SUBSCRIBE until connected and
  // resubscribes by itself after a reconnect.
  const subscriber = new Redis(target, { ...options, enableOfflineQueue: true, autoResubscribe: true });
  const channel = `${connection.keyPrefix}revocations`;

  // Said once per outage (a lost connection or a failed command), not per reconnect attempt.
  let down = false;
  let closing = false;
  const lost = (error: Error) => {
    if (down || closing) return;
    down = true;
    logger.warn({ store: where, err: { message: error.message } }, 'store: Redis does not answer; requests that need it are refused until it does');
  };
  const answered = () => {
    if (!down) return;
    down = false;
    logger.info({ store: where }, 'store: Redis answers again');
  };
  client.on('error', lost);
  client.on('close', () => lost(new Error('connection closed')));
  client.on('ready', answered);
  subscriber.on('error', () => {});

  const timed = async <T>(operation: StoreOperation, run: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      const result = await run();
      deps.onCommand?.(operation, 'ok', (performance.now() - started) / 1000);
      answered();
      return result;
    } catch (error) {
      deps.onCommand?.(operation, 'error', (performance.now() - started) / 1000);
      const refused = asStoreError(error, operation);
      if (refused instanceof UnavailableError) lost(error as Error);
      throw refused;
    }
  };

  const replayOptions = deps.replay;
  const replay: ReplayCache = {
    async remember(key, expiresAt, clientName) {
      // The proof's key alone says whether it was seen: whoever presents it again replays it.
      const share = `replay-share:{${encodeURIComponent(clientName)}}`;
      const [outcome, retryAfterMs] = await timed('replay', () =>
        client.rememberProof(`replay:${key}`, share, deps.now(), expiresAt, replayOptions.perClient, key),
      );
      if (outcome === -1) throw new ReplayShareExceededError(replayOptions.perClient, retryAfterMs);
      return outcome === 1;
    },
  };

  const counters = (name: string): Counters => {
    const counting = countersOn(new RedisStore(false, false, client, `rate:${name}:`));
    return {
      incr: (key, windowMs) => timed('counter', () => counting.incr(key, windowMs)),
      read: (key, windowMs) => timed('counter', () => counting.read(key, windowMs)),
    };
  };

  const revocations: RevocationStore = {
    list: () =>
      timed('revocations', async () => {
        const all = await client.hgetall('revocations');
        return Object.entries(all)
          .map(([name, text]) => parseRevocation(name, text))
          .sort((a, b) => revocationKey(a.kind, a.value, a.tenant).localeCompare(revocationKey(b.kind, b.value, b.tenant)));
      }),
    put: (revocation) =>
      timed('revocations', async () => {
        const name = revocationKey(revocation.kind, revocation.value, revocation.tenant);
        await client.multi().hset('revocations', name, JSON.stringify(revocation)).publish(channel, name).exec().then(failedStep);
      }),
    delete: (kind, value, tenant) =>
      timed('revocations', async () => {
        const name = revocationKey(kind, value, tenant);
        const results = failedStep(await client.multi().hdel('revocations', name).publish(channel, name).exec());
        return results[0] === 1;
      }),
    watch(onChange) {
      const onMessage = (from: string) => {
        if (from === channel) onChange();
      };
      // After a reconnect a change may have been missed: read again.
      const onReady = () => onChange();
      subscriber.on('message', onMessage);
      subscriber.on('ready', onReady);
      subscriber.subscribe(channel).catch(() => {});
      return () => {
        subscriber.off('message', onMessage);
        subscriber.off('ready', onReady);
      };
    },
  };

  // Start even when Redis is away: readiness says so, and requests are refused until it is back.
  try {
    await client.connect();
    await warnIfEvicting(client, where, logger);
  } catch (error) {
    lost(error as Error);
  }
  subscriber.connect().catch(() => {});

  return {
    driver: 'redis',
    replay,
    counters,
    // Two round trips, as before: one script for both would be a second way of counting beside
    // @fastify/rate-limit's, which the plugin's checkers use on the same keys.
    rememberAndCount: rememberThenCount(replay, counters),
    revocations,
    async check() {
      try {
        await timed('check', () => client.ping());
      } catch (error) {
        throw new Error(`Redis at ${where} does not answer: ${(error as UnavailableError).detail ?? (error as Error).message}`);
      }
    },
    async close() {
      closing = true;
      await Promise.all([client, subscriber].map((c) => c.quit().catch(() => c.disconnect())));
    },
  };
}

/** MULTI/EXEC reports a failed command in its results, not by rejecting. */
function failedStep(results: [Error | null, unknown][] | null): unknown[] {
  if (results === null) throw new Error('transaction discarded');
  const failed = results.find(([error]) => error !== null);
  if (failed !== undefined) throw failed[0];
  return results.map(([, value]) => value);
}

/**
 * An evicting Redis would forget remembered proofs before they expire, and a forgotten proof can
 * be replayed: say so at start. A managed Redis may refuse CONFIG; then nothing is known.
 */
async function warnIfEvicting(client: Redis, where: string, logger: StoreDeps['logger']): Promise<void> {
  let policy: string | undefined;
  try {
    const reply = (await client.config('GET', 'maxmemory-policy')) as unknown;
    policy = Array.isArray(reply) ? String(reply[1]) : typeof reply === 'object' && reply !== null ? String((reply as Record<string, unknown>)['maxmemory-policy']) : undefined;
  } catch {
    return;
  }
  if (policy !== undefined && policy !== 'noeviction') {
    logger.warn({ store: where, maxmemoryPolicy: policy }, 'store: Redis evicts keys under memory pressure (maxmemory-policy); an evicted DPoP proof could be replayed: set maxmemory-policy noeviction');
  }
}

function asStoreError(error: unknown, operation: StoreOperation): Error {
  if (error instanceof ReplayShareExceededError || error instanceof UnavailableError) return error;
  const message = (error as Error).message ?? String(error);
  // A full Redis (maxmemory, noeviction) cannot remember a proof: refuse it, as a full cache does.
  if (operation === 'replay' && /^OOM\b/.test(message)) {
    return Object.assign(new ReplayCacheFullError(0), { message: 'Redis is full (maxmemory reached, noeviction): no DPoP proof can be remembered' });
  }
  return new UnavailableError('store_unavailable', 'the shared state store does not answer; no token is issued without it, retry shortly', {
    detail: `redis ${operation}: ${message}`,
    cause: error,
  });
}

function parseRevocation(name: string, text: string): Revocation {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  const r = value as Partial<Revocation> | null | undefined;
  const ok =
    typeof r === 'object' && r !== null &&
    REVOCATION_KINDS.includes(r.kind as RevocationKind) &&
    typeof r.value === 'string' && typeof r.reason === 'string' && typeof r.revokedAt === 'string' &&
    (r.tenant === undefined || typeof r.tenant === 'string') &&
    name === revocationKey(r.kind as RevocationKind, r.value, r.tenant);
  // Refused rather than skipped: a revocation silently dropped would un-revoke someone.
  if (!ok) throw new Error(`revocations hash field "${name}" is not a revocation`);
  return {
    kind: r.kind!,
    value: r.value!,
    ...(r.tenant === undefined ? {} : { tenant: r.tenant }),
    reason: r.reason!,
    revokedAt: r.revokedAt!,
    ...(typeof r.revokedBy === 'string' ? { revokedBy: r.revokedBy } : {}),
  };
}
