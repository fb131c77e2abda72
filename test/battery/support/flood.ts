// A bounded flood: attackers (each from its own loopback source address, with a fixed number
// of requests and a fixed concurrency) against the service while one valid client keeps
// exchanging, one request at a time, and the valid client's latencies are kept. Used by
// test/battery/abuse.test.ts and by `npm run bench -- --abuse`; imports nothing from vitest.
import { createHash, randomUUID, type webcrypto } from 'node:crypto';
import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import { exportJWK, SignJWT } from 'jose';

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One GET from `localAddress`; never throws on a status; a transport error is status 0. */
export function send(url: string, headers: Record<string, string>, options: { localAddress?: string; agent?: Agent; timeoutMs?: number } = {}): Promise<Answer> {
  return new Promise((resolve) => {
    const req = request(
      url,
      {
        headers,
        agent: options.agent ?? false,
        timeout: options.timeoutMs ?? 10_000,
        ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (error) => resolve({ status: 0, headers: {}, body: String(error) }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (error) => resolve({ status: 0, headers: {}, body: String(error) }));
    req.end();
  });
}

/** A correct DPoP proof for GET `url` (query and fragment are not part of htu). */
export async function proofFor(keys: webcrypto.CryptoKeyPair, url: string, accessToken: string, overrides: { iat?: number } = {}): Promise<string> {
  const target = new URL(url);
  return new SignJWT({
    htm: 'GET',
    htu: `${target.origin}${target.pathname}`,
    jti: randomUUID(),
    iat: overrides.iat ?? Math.floor(Date.now() / 1000),
    ath: createHash('sha256').update(accessToken).digest('base64url'),
  })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(keys.publicKey) })
    .sign(keys.privateKey);
}

export interface Attacker {
  name: string;
  localAddress: string;
  requests: number;
  concurrency: number;
  /** The i-th request: its URL and headers. */
  make(i: number): Promise<{ url: string; headers: Record<string, string> }> | { url: string; headers: Record<string, string> };
}

export interface ValidClient {
  localAddress: string;
  requests: number;
  /** Pause between two requests, so the client stays a well-behaved one. */
  pauseMs: number;
  make(i: number): Promise<{ url: string; headers: Record<string, string> }>;
  /** Told when the clock starts, every request prepared (the bench starts its own client process then). */
  onStart?(): void;
}

export interface AttackResult {
  statuses: Record<number, number>;
  /** Up to 5 answers of each status, to look at. */
  samples: Record<number, Answer[]>;
}

export interface FloodResult {
  attackers: Record<string, AttackResult>;
  valid: { statuses: Record<number, number>; latenciesMs: number[]; failures: Answer[] };
  seconds: number;
}

function tally(result: AttackResult, answer: Answer): void {
  result.statuses[answer.status] = (result.statuses[answer.status] ?? 0) + 1;
  const samples = (result.samples[answer.status] ??= []);
  if (samples.length < 5) samples.push(answer);
}

/**
 * Runs every attacker and the valid client at once; resolves when all are done. Every request
 * (and its DPoP proof) is made before the clock starts: on a machine of two cores the load
 * generator shares the CPU with the service, and signing proofs during the flood would measure
 * the generator, not the service. Proofs stay well inside their 60 s window.
 *
 * With `practice`, each attacker first sends that many GETs of `practice.url` (a route no limit
 * counts) as it will send the flood, on connections it then closes: the generator's own code is
 * compiled before the clock starts, and the flood still opens its connections cold. In a fresh
 * generator process that code was otherwise compiled during the flood's first tenth of a second,
 * on the two cores the service uses too (docs/reliability.md).
 */
export async function flood(attackers: readonly Attacker[], valid: ValidClient, practice?: { url: string; requests: number }): Promise<FloodResult> {
  const prepared = await Promise.all(attackers.map((attacker) => Promise.all(Array.from({ length: attacker.requests }, (_, i) => attacker.make(i)))));
  const validRequests = await Promise.all(Array.from({ length: valid.requests }, (_, i) => valid.make(i)));
  if (practice !== undefined) await Promise.all(attackers.map((attacker) => rehearse(attacker, practice)));
  const started = performance.now();
  valid.onStart?.();
  const results: Record<string, AttackResult> = {};
  const agents: Agent[] = [];
  const attacks = attackers.map(async (attacker, index) => {
    const result: AttackResult = { statuses: {}, samples: {} };
    results[attacker.name] = result;
    const agent = new Agent({ keepAlive: true, maxSockets: attacker.concurrency, localAddress: attacker.localAddress });
    agents.push(agent);
    let next = 0;
    const lane = async () => {
      while (next < attacker.requests) {
        const i = next++;
        const { url, headers } = prepared[index]![i]!;
        tally(result, await send(url, headers, { localAddress: attacker.localAddress, agent }));
      }
    };
    await Promise.all(Array.from({ length: attacker.concurrency }, lane));
  });
  const latenciesMs: number[] = [];
  const statuses: Record<number, number> = {};
  const failures: Answer[] = [];
  const client = (async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1, localAddress: valid.localAddress });
    agents.push(agent);
    for (let i = 0; i < valid.requests; i++) {
      const { url, headers } = validRequests[i]!;
      const t0 = performance.now();
      const answer = await send(url, headers, { localAddress: valid.localAddress, agent });
      latenciesMs.push(performance.now() - t0);
      statuses[answer.status] = (statuses[answer.status] ?? 0) + 1;
      if (answer.status !== 200 && failures.length < 5) failures.push(answer);
      await new Promise((resolve) => setTimeout(resolve, valid.pauseMs));
    }
  })();
  await Promise.all([...attacks, client]);
  for (const agent of agents) agent.destroy();
  return { attackers: results, valid: { statuses, latenciesMs, failures }, seconds: (performance.now() - started) / 1000 };
}

/** `practice.requests` GETs of `practice.url` from the attacker's address and concurrency, on connections closed after. */
async function rehearse(attacker: Attacker, practice: { url: string; requests: number }): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: attacker.concurrency, localAddress: attacker.localAddress });
  let left = practice.requests;
  const lane = async () => {
    while (left-- > 0) await send(practice.url, {}, { localAddress: attacker.localAddress, agent });
  };
  try {
    await Promise.all(Array.from({ length: attacker.concurrency }, lane));
  } finally {
    agent.destroy();
  }
}

export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

/** 64 long, well-formed scopes: the ~14 KB query an anonymous refusal used to store in full. */
export function longScopes(): string[] {
  return Array.from({ length: 64 }, (_, i) => `repository:team/${'x'.repeat(180)}-${i}:pull,push`);
}

// ---------------------------------------------------------------------------------------
// the abuse scenario, shared by the test and the bench

/**
 * The limits under test (issue 7 / CONTRACT.md key names). The valid client sends ~145
 * requests in the window: under perAddress and perClient; each attacker sends 300.
 */
export const ABUSE_CONFIG = {
  rateLimits: {
    enabled: true,
    perAddress: { max: 250, windowSeconds: 60 },
    perClient: { max: 200, windowSeconds: 60 },
    failedAuthPerAddress: { max: 20, windowSeconds: 60 },
  },
  refusals: { maxRecordBytes: 4096, anonymous: 'summary' as const, summaryIntervalSeconds: 1 },
};

/** Adds the limits and the refusal bounds to a service configuration. */
export function applyAbuseConfig(config: Record<string, unknown>): void {
  config.rateLimits = structuredClone(ABUSE_CONFIG.rateLimits);
  // The replay cache's per-client share is not what this flood tests: the rate limits are.
  const authority = config.authority as Record<string, unknown>;
  authority.dpop = { ...(authority.dpop as Record<string, unknown> | undefined), replayCachePerClient: 1000 };
  config.ledger = { ...(config.ledger as Record<string, unknown>), refusals: structuredClone(ABUSE_CONFIG.refusals) };
}

/**
 * The most the ledger may grow by in the flood, besides the issuances themselves (measured
 * per issuance before the flood): every refusal record is capped at maxRecordBytes; recorded
 * one by one are only the refusals of an authenticated client (the greedy client's 429s) and
 * the failed authentications an attacker gets before its limit answers (failedAuthPerAddress
 * .max each, plus its concurrency in flight); anonymous ones are summaries, at most one per
 * attacker address per summaryIntervalSeconds.
 */
export function ledgerBoundBytes(run: { issued: number; bytesPerIssuance: number; authenticatedRefusals: number; seconds: number; attackers: number; concurrency: number }): number {
  const { maxRecordBytes, summaryIntervalSeconds } = ABUSE_CONFIG.refusals;
  const oneByOne = run.authenticatedRefusals + run.attackers * (ABUSE_CONFIG.rateLimits.failedAuthPerAddress.max + run.concurrency);
  const summaries = (Math.ceil(run.seconds / summaryIntervalSeconds) + 2) * run.attackers;
  return Math.ceil(run.issued * run.bytesPerIssuance * 1.1) + (oneByOne + summaries) * maxRecordBytes;
}

export interface AbuseTargets {
  url: string;
  /** A token and a proof the valid client already used: the replay attacker's loot. */
  captured: { token: string; proof: string };
  /** A client of its own that asks too often (valid credentials). */
  greedy: { token: string; keys: webcrypto.CryptoKeyPair };
  service?: string;
}

/** The four attackers: 300 requests each, 8 at a time, each from its own address. */
export function abuseAttackers(targets: AbuseTargets): Attacker[] {
  const service = targets.service ?? 'registry.localhost';
  const tokenUrl = (scopes: string[] = []) => {
    const url = new URL('/token', targets.url);
    url.searchParams.set('service', service);
    for (const scope of scopes) url.searchParams.append('scope', scope);
    return url.toString();
  };
  const longQuery = tokenUrl(longScopes());
  const junkToken = (i: number) =>
    `${Buffer.from(JSON.stringify({ alg: 'ES256', typ: 'at+jwt', kid: `forged-${i}` })).toString('base64url')}.${Buffer.from(JSON.stringify({ sub: `x${i}` })).toString('base64url')}.${'A'.repeat(86)}`;
  return [
    { name: 'anonymous, 64 long scopes', localAddress: '127.0.0.2', requests: 300, concurrency: 8, make: () => ({ url: longQuery, headers: {} }) },
    {
      name: 'invalid tokens, forged X-Forwarded-For',
      localAddress: '127.0.0.3',
      requests: 300,
      concurrency: 8,
      make: (i) => ({ url: tokenUrl(['repository:team/app:pull']), headers: { authorization: `DPoP ${junkToken(i)}`, dpop: 'x.y.z', 'x-forwarded-for': `10.${i % 250}.${(i * 7) % 250}.1` } }),
    },
    {
      name: 'replayed proof',
      localAddress: '127.0.0.4',
      requests: 300,
      concurrency: 8,
      make: () => ({ url: tokenUrl(['repository:team/app:pull']), headers: { authorization: `DPoP ${targets.captured.token}`, dpop: targets.captured.proof } }),
    },
    {
      name: 'greedy client',
      localAddress: '127.0.0.5',
      requests: 300,
      concurrency: 8,
      make: async () => {
        const url = tokenUrl(['repository:team/app:pull']);
        return { url, headers: { authorization: `DPoP ${targets.greedy.token}`, dpop: await proofFor(targets.greedy.keys, url, targets.greedy.token) } };
      },
    },
  ];
}
