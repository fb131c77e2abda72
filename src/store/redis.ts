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
//   rate:<limit>:<key>              fixed-window counters: a count, expiring when its window
//                                   closes (the layout of @fastify/rate-limit's RedisStore)
//   revocations                     hash revocationKey(kind, value, tenant) -> revocation JSON
// and the pub/sub channel <keyPrefix>revocations, told of every change.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Redis, type RedisOptions } from 'ioredis';
import { ReplayCacheFullError, ReplayShareExceededError, type ReplayCache } from '../authenticate/replay-cache.ts';
import { UnavailableError } from '../domain/errors.ts';
import { REVOCATION_KINDS, revocationKey } from '../record/ledger.ts';
import type { Counters, Revocation, RevocationKind, RevocationStore, SharedStore, StoreDeps, StoreOperation, WindowCount } from './store.ts';

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
  /** Redis Sentinel (host:port each): the URL's host is then the master group's name. */
  readonly sentinels?: readonly string[] | undefined;
  readonly sentinelUsername?: string | undefined;
  readonly sentinelPassword?: string | undefined;
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
local function remember(proofKey, shareKey, now, expiresAt, share, member)
  if redis.call('EXISTS', proofKey) == 1 then return {0, 0} end
  if redis.call('ZCOUNT', shareKey, '(' .. now, '+inf') >= share then
    local oldest = redis.call('ZRANGEBYSCORE', shareKey, '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
    return {-1, math.max(1, tonumber(oldest[2]) - now)}
  end
  local ttl = math.max(1, expiresAt - now)
  if not redis.call('SET', proofKey, '1', 'NX', 'PX', ttl) then return {0, 0} end
  redis.call('ZREMRANGEBYSCORE', shareKey, '-inf', now)
  redis.call('ZADD', shareKey, expiresAt, member)
  if redis.call('PTTL', shareKey) < ttl then redis.call('PEXPIRE', shareKey, ttl) end
  return {1, 0}
end
`;

/**
 * One hit on a fixed window that neither slides nor restarts: the first hit opens it for
 * `windowMs`. Returns {count, ms until the window closes}. The counting of @fastify/rate-limit's
 * RedisStore (without continueExceeding or backoff), which this driver used until the proof's
 * script had to count in the same round trip: one script counts here, on the same keys. A key
 * left without an expiry (written by hand) gets one rather than refusing forever.
 */
const COUNT = `
local function count(key, windowMs)
  local current = redis.call('INCR', key)
  local ttl = redis.call('PTTL', key)
  if current == 1 or ttl < 0 then
    redis.call('PEXPIRE', key, windowMs)
    ttl = windowMs
  end
  return {current, ttl}
end
`;

/** The window's count without adding to it: {0, 0} when no window is open. */
const READ = `
local current = redis.call('GET', KEYS[1])
if not current then return {0, 0} end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then ttl = 0 end
return {tonumber(current), ttl}
`;

type Client = Redis & {
  rememberProof(proofKey: string, shareKey: string, now: number, expiresAt: number, share: number, member: string): Promise<[number, number]>;
  /** {remember's two values, then the count and its ttl when the proof was new (else 0, 0)}. */
  rememberAndCount(proofKey: string, shareKey: string, counterKey: string, now: number, expiresAt: number, share: number, member: string, windowMs: number): Promise<[number, number, number, number]>;
  countHit(counterKey: string, windowMs: number): Promise<[number, number]>;
  readHits(counterKey: string): Promise<[number, number]>;
};

function defineScripts(client: Redis): void {
  client.defineCommand('rememberProof', {
    numberOfKeys: 2,
    lua: `${REMEMBER}\nreturn remember(KEYS[1], KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4])`,
  });
  client.defineCommand('rememberAndCount', {
    numberOfKeys: 3,
    lua: `${REMEMBER}\n${COUNT}
local remembered = remember(KEYS[1], KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4])
if remembered[1] ~= 1 then return {remembered[1], remembered[2], 0, 0} end
local counted = count(KEYS[3], tonumber(ARGV[5]))
return {1, 0, counted[1], counted[2]}`,
  });
  client.defineCommand('countHit', { numberOfKeys: 1, lua: `${COUNT}\nreturn count(KEYS[1], tonumber(ARGV[1]))` });
  client.defineCommand('readHits', { numberOfKeys: 1, lua: READ });
}

/** Where the client connects, for logs: never the password. */
export function describeRedis(url: string, sentinels?: readonly string[]): string {
  try {
    const parsed = new URL(url);
    const target = `${parsed.protocol}//${parsed.host}${parsed.pathname === '/' ? '' : parsed.pathname}`;
    return sentinels === undefined ? target : `${target} (primary of master group "${decodeURIComponent(parsed.hostname)}" per Sentinel ${sentinels.join(', ')})`;
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

/** host:port, or [v6]:port, as the schema checked it. */
function hostPort(entry: string): { host: string; port: number } {
  const at = entry.lastIndexOf(':');
  return { host: entry.slice(0, at).replace(/^\[(.*)\]$/, '$1'), port: Number(entry.slice(at + 1)) };
}

/**
 * With Sentinels, ioredis asks them for the primary of the URL's master group before each
 * connection, checks that the server it reaches is a primary, and (failoverDetector) listens
 * to the Sentinels so that it moves to the new primary as soon as one is elected, instead of
 * when the old one drops the connection.
 */
function sentinelOptions(connection: RedisConnection, sentinels: readonly string[], options: RedisOptions): RedisOptions {
  const url = new URL(connection.url);
  const db = url.pathname.replace(/^\//, '');
  return {
    ...options,
    name: decodeURIComponent(url.hostname),
    sentinels: sentinels.map(hostPort),
    ...(db === '' ? {} : { db: Number(db) }),
    ...(connection.sentinelUsername === undefined ? {} : { sentinelUsername: connection.sentinelUsername }),
    ...(connection.sentinelPassword === undefined ? {} : { sentinelPassword: connection.sentinelPassword }),
    sentinelCommandTimeout: connection.commandTimeoutMs,
    failoverDetector: true,
    ...(options.tls === undefined ? {} : { enableTLSForSentinelMode: true, sentinelTLS: options.tls }),
  };
}

export async function openRedisStore(connection: RedisConnection, deps: StoreDeps): Promise<SharedStore> {
  const { logger } = deps;
  const where = describeRedis(connection.url, connection.sentinels);
  const options = clientOptions(connection);
  const sentinels = connection.sentinels;
  const connect = (extra: RedisOptions) =>
    sentinels === undefined
      ? new Redis(withoutCredentials(connection.url), { ...options, ...extra })
      : new Redis(sentinelOptions(connection, sentinels, { ...options, ...extra }));
  const client = connect({}) as Client;
  defineScripts(client);
  // Pub/sub needs a connection of its own; it may queue its SUBSCRIBE until connected and
  // resubscribes by itself after a reconnect.
  const subscriber = connect({ enableOfflineQueue: true, autoResubscribe: true });
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
  // The proof's key alone says whether it was seen: whoever presents it again replays it.
  const shareKey = (clientName: string) => `replay-share:{${encodeURIComponent(clientName)}}`;
  const counterKey = (name: string, key: string) => `rate:${name}:${key}`;
  const windowCount = ([current, ttl]: readonly [number, number]): WindowCount => ({ current, ttl });
  /** Both scripts answer -1 when the client's share of the replay cache is full. */
  const refuseOverShare = (outcome: number, retryAfterMs: number) => {
    if (outcome === -1) throw new ReplayShareExceededError(replayOptions.perClient, retryAfterMs);
  };
  const replay: ReplayCache = {
    async remember(key, expiresAt, clientName) {
      const [outcome, retryAfterMs] = await timed('replay', () =>
        client.rememberProof(`replay:${key}`, shareKey(clientName), deps.now(), expiresAt, replayOptions.perClient, key),
      );
      refuseOverShare(outcome, retryAfterMs);
      return outcome === 1;
    },
  };

  const counters = (name: string): Counters => ({
    incr: (key, windowMs) => timed('counter', async () => windowCount(await client.countHit(counterKey(name, key), windowMs))),
    read: (key) => timed('counter', async () => windowCount(await client.readHits(counterKey(name, key)))),
  });

  // One script, one round trip: the count waits on the proof's answer inside Redis, not across
  // the network (the replay share and the counter keep their own keys).
  const rememberAndCount: SharedStore['rememberAndCount'] = async (proof, hit) => {
    const [outcome, retryAfterMs, current, ttl] = await timed('replay', () =>
      client.rememberAndCount(`replay:${proof.key}`, shareKey(proof.client), counterKey(hit.counter, hit.key), deps.now(), proof.expiresAt, replayOptions.perClient, proof.key, hit.windowMs),
    );
    refuseOverShare(outcome, retryAfterMs);
    return outcome === 1 ? { fresh: true, count: { current, ttl } } : { fresh: false, count: undefined };
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
    rememberAndCount,
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
