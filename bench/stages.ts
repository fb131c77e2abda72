// Stage costs: each stage's module measured alone in the bench process, one call awaited at a
// time, so the figures are per-call latency including any thread-pool hand-off, not pure CPU.
import { randomUUID, type webcrypto } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT, type JWK } from 'jose';
import { createHash } from 'node:crypto';
import type { DevAuthority } from '../src/dev/authority.ts';
import { createAccessTokenVerifier } from '../src/authenticate/access-token.ts';
import { createDpopVerifier } from '../src/authenticate/dpop.ts';
import { MemoryReplayCache } from '../src/authenticate/replay-cache.ts';
import { systemClock } from '../src/domain/types.ts';
import { createMinter } from '../src/mint/mint.ts';
import { loadSigningKey } from '../src/mint/signing-key.ts';
import { openFileLedger } from '../src/record/file.ts';
import type { IssuanceRecord } from '../src/record/ledger.ts';
import { round } from './support/proc.ts';
import { AUDIENCE, SERVICE } from './support/service.ts';

export interface StageClient {
  readonly keys: webcrypto.CryptoKeyPair;
  readonly jwk: JWK;
  readonly token: string;
}

export interface Keys {
  readonly RS256: { keyPath: string; certificatePath: string };
  readonly ES256: { keyPath: string; certificatePath: string };
}

async function makeProof(client: StageClient, htu: string): Promise<string> {
  return new SignJWT({ htm: 'GET', htu, jti: randomUUID(), iat: Math.floor(Date.now() / 1000), ath: createHash('sha256').update(client.token).digest('base64url') })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: client.jwk })
    .sign(client.keys.privateKey);
}

/** A fresh directory on tmpfs (/dev/shm), where fdatasync is free; undefined when there is none. */
export function tmpfsDir(): string | undefined {
  try {
    return mkdtempSync('/dev/shm/registry-token-bench-');
  } catch {
    return undefined;
  }
}

async function perCall(count: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  for (let i = 0; i < Math.min(200, count); i++) await fn(i); // warm-up
  const started = performance.now();
  for (let i = 0; i < count; i++) await fn(i);
  return ((performance.now() - started) * 1000) / count;
}


export interface StageCosts {
  mintRs256Us: number;
  mintEs256Us: number;
  opTokVerifyUs: number;
  dpopVerifyUs: number;
  ledger: { disk: LedgerCost; tmpfs: LedgerCost | undefined };
}

interface LedgerCost {
  /** One append awaited at a time: one write + fdatasync per record. */
  sequentialUs: number;
  /** 64 appends in flight: group commit. */
  groupedUs: number;
  recordsPerSync: number;
}

function sampleRecord(i: number): IssuanceRecord {
  const now = new Date();
  return {
    jti: `bench-${i}-${randomUUID()}`,
    outcome: 'issued',
    issuedAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + 300_000).toISOString(),
    subject: 'bench-1',
    clientId: 'bench-1',
    tenant: 'acme',
    plan: 'team',
    license: 'lic-bench',
    service: SERVICE,
    requestedScopes: ['repository:team/app-1:pull,push'],
    granted: [{ type: 'repository', name: 'team/app-1', actions: ['pull', 'push'] }],
    binding: { method: 'dpop', jkt: 'x'.repeat(43) },
    opTokenId: randomUUID(),
    remoteAddress: '127.0.0.1',
    userAgent: undefined,
    requestId: randomUUID(),
  };
}

async function ledgerCost(dir: string): Promise<LedgerCost> {
  let syncs = 0;
  let synced = 0;
  const ledger = await openFileLedger({ dir, onSync: (records) => ((syncs += 1), (synced += records)) });
  try {
    let i = 0;
    const sequentialUs = await perCall(300, () => ledger.append(sampleRecord(i++)));
    syncs = 0;
    synced = 0;
    const total = 6400;
    const inFlight = 64;
    const started = performance.now();
    let issued = 0;
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (issued < total) {
          issued++;
          await ledger.append(sampleRecord(i++));
        }
      }),
    );
    const groupedUs = ((performance.now() - started) * 1000) / total;
    return { sequentialUs: round(sequentialUs, 1), groupedUs: round(groupedUs, 1), recordsPerSync: round(synced / Math.max(syncs, 1), 1) };
  } finally {
    await ledger.close();
  }
}

export async function stageCosts(base: string, authority: DevAuthority, client: StageClient, keys: Keys): Promise<StageCosts> {
  const access = [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }];
  const minter = (k: { keyPath: string; certificatePath: string }) =>
    createMinter({ key: loadSigningKey(k), issuer: 'registry-token', lifetimeSeconds: 300, clock: systemClock });
  const rs = minter(keys.RS256);
  const es = minter(keys.ES256);
  const mintRs256Us = await perCall(2000, () => rs.mint({ subject: 'bench', service: SERVICE, access }));
  const mintEs256Us = await perCall(4000, () => es.mint({ subject: 'bench', service: SERVICE, access }));

  const jwksPath = join(base, 'authority-jwks.json');
  writeFileSync(jwksPath, JSON.stringify(authority.jwks));
  const opToks = createAccessTokenVerifier({
    issuer: authority.issuer,
    jwksPath,
    audiences: [AUDIENCE],
    algorithms: ['ES256', 'RS256'],
    clockToleranceSeconds: 5,
    jwksCacheSeconds: 600,
    jwksCooldownSeconds: 30,
    jwksStaleIfErrorSeconds: 900,
    requireAccessTokenType: true,
  });
  const opTokVerifyUs = await perCall(4000, () => opToks.verify(client.token, 'DPoP'));

  const htu = 'http://127.0.0.1:1/token';
  const dpop = createDpopVerifier({ algorithms: ['ES256'], maxAgeSeconds: 60, clockToleranceSeconds: 5, replayCache: new MemoryReplayCache(100_000) });
  const proof = await makeProof(client, htu);
  const dpopVerifyUs = await perCall(4000, () => dpop.verify({ proof, accessToken: client.token, method: 'GET', url: htu }));

  const shm = tmpfsDir();
  try {
    return {
      mintRs256Us: round(mintRs256Us, 1),
      mintEs256Us: round(mintEs256Us, 1),
      opTokVerifyUs: round(opTokVerifyUs, 1),
      dpopVerifyUs: round(dpopVerifyUs, 1),
      ledger: { disk: await ledgerCost(join(base, 'ledger-cost')), tmpfs: shm === undefined ? undefined : await ledgerCost(shm) },
    };
  } finally {
    if (shm !== undefined) rmSync(shm, { recursive: true, force: true });
  }
}

export function stageTable(costs: StageCosts): string {
  const perSecond = (us: number) => round(1e6 / us);
  return [
    '| stage (in the bench process, awaited one call at a time: latency incl. thread-pool hand-offs, not pure CPU) | µs per call | calls/s, one at a time |',
    '|---|---:|---:|',
    `| mint RS256 (sample 2048-bit key, jose SignJWT, x5c header) | ${costs.mintRs256Us} | ${perSecond(costs.mintRs256Us)} |`,
    `| mint ES256 (P-256) | ${costs.mintEs256Us} | ${perSecond(costs.mintEs256Us)} |`,
    `| OpTok verify (ES256, jwtVerify, claims) | ${costs.opTokVerifyUs} | ${perSecond(costs.opTokVerifyUs)} |`,
    `| DPoP proof verify (ES256, EmbeddedJWK, thumbprint) | ${costs.dpopVerifyUs} | ${perSecond(costs.dpopVerifyUs)} |`,
    `| ledger append, ext4, one at a time (1 fdatasync each) | ${costs.ledger.disk.sequentialUs} | ${perSecond(costs.ledger.disk.sequentialUs)} |`,
    `| ledger append, ext4, 64 in flight (group commit: ${costs.ledger.disk.recordsPerSync} records/fdatasync) | ${costs.ledger.disk.groupedUs} | ${perSecond(costs.ledger.disk.groupedUs)} |`,
    ...(costs.ledger.tmpfs === undefined
      ? []
      : [
          `| ledger append, tmpfs, one at a time | ${costs.ledger.tmpfs.sequentialUs} | ${perSecond(costs.ledger.tmpfs.sequentialUs)} |`,
          `| ledger append, tmpfs, 64 in flight (${costs.ledger.tmpfs.recordsPerSync} records/write) | ${costs.ledger.tmpfs.groupedUs} | ${perSecond(costs.ledger.tmpfs.groupedUs)} |`,
        ]),
  ].join('\n');
}

