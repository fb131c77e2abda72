// Runtime revocations fail closed: no token (and no admin call) until they were read once, and
// none again once the last successful read is older than ledger.revocationMaxStalenessSeconds.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthority, type DevAuthority } from '../../src/dev/authority.ts';
import { parseConfig } from '../../src/config/loader.ts';
import { openFileLedger } from '../../src/record/file.ts';
import type { IssuanceRecord, Ledger } from '../../src/record/ledger.ts';
import { boundRefusals, type RefusalBoundLedger } from '../../src/record/refusals.ts';
import { createService, type Service } from '../../src/service.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { AUDIENCE, CLIENTS, SERVICE, baseConfig } from '../support/stack.ts';
import { callWithProof, expectProblem, makeProof, newDpopKeys, tokenUrl, type KeyPair } from '../support/dpop-client.ts';

let authority: DevAuthority;
let dir: string;
let service: Service;
let url: string;
let failReads = true;
let offsetMs = 0;
const keys = {} as Record<'team-dpop' | 'operator', KeyPair>;
const opToks = {} as Record<'team-dpop' | 'operator', string>;

/** A real file ledger whose revocation reads fail while `failReads` is set (the store unreachable). */
function flaky(inner: Ledger): Ledger {
  return {
    name: inner.name,
    append: (r) => inner.append(r),
    query: (q) => inner.query(q),
    get: (j) => inner.get(j),
    listRevocations: () => (failReads ? Promise.reject(new Error('store unreachable')) : inner.listRevocations()),
    putRevocation: (r) => inner.putRevocation(r),
    deleteRevocation: (k, v) => inner.deleteRevocation(k, v),
    check: () => inner.check(),
    close: () => inner.close(),
  };
}

beforeAll(async () => {
  authority = await startAuthority({ audience: AUDIENCE, clients: CLIENTS });
  dir = mkdtempSync(join(tmpdir(), 'registry-token-revocations-'));
  for (const who of ['team-dpop', 'operator'] as const) {
    keys[who] = await newDpopKeys();
    opToks[who] = await authority.tokenWithDpop(who, keys[who]);
  }
  const config = parseConfig(baseConfig(authority, dir, { ledger: { driver: 'file', path: join(dir, 'ledger'), onUnavailable: 'spool', spoolPath: join(dir, 'spool'), revocationMaxStalenessSeconds: 60 } }));
  const sink = new Writable({ write: (_c, _e, done) => done() });
  service = await createService(config, {
    logger: createLogger({ level: 'silent', destination: sink }),
    ledger: boundRefusals(flaky(await openFileLedger({ dir: join(dir, 'ledger') })), { maxRecordBytes: 4096, anonymous: 'summary', summaryIntervalSeconds: 3600 }),
    clock: () => new Date(Date.now() + offsetMs),
  });
  await service.app.listen({ host: '127.0.0.1', port: 0 });
  const address = service.app.server.address();
  url = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
});

afterAll(async () => {
  await service?.close();
  await authority?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

async function call(who: 'team-dpop' | 'operator', target: string) {
  const proof = await makeProof(keys[who], 'GET', target, opToks[who], { iat: Math.floor((Date.now() + offsetMs) / 1000) });
  return callWithProof(target, { token: opToks[who], proof });
}
const exchange = () => call('team-dpop', tokenUrl(url, { service: SERVICE, scope: ['repository:team/app:pull'] }));

describe('runtime revocations, store unreachable', () => {
  it('refuses /token and admin calls until revocations were read once', async () => {
    await expectProblem(await exchange(), { status: 503, code: 'revocations_unavailable', challenge: null });
    await expectProblem(await call('operator', `${url}/admin/revocations`), { status: 503, code: 'revocations_unavailable', challenge: null });
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { checks: Record<string, string> }).checks['revocations']).toContain('have not been read');
  });

  it('issues once a read succeeded', async () => {
    failReads = false;
    await service.refreshRevocations();
    expect((await exchange()).status).toBe(200);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
  });

  it('keeps the last list while reads fail, and refuses again past the staleness bound', async () => {
    failReads = true;
    await expect(service.refreshRevocations()).rejects.toThrow('store unreachable');
    offsetMs = 30_000;
    expect((await exchange()).status).toBe(200);
    offsetMs = 61_000;
    await expect(service.refreshRevocations()).rejects.toThrow('store unreachable');
    await expectProblem(await exchange(), { status: 503, code: 'revocations_unavailable', challenge: null });
    const metrics = (await service.telemetry.scrape()).body;
    const age = Number(/^registry_token_revocations_age_seconds (\S+)$/m.exec(metrics)?.[1]);
    expect(age).toBeGreaterThanOrEqual(61);
    failReads = false;
    await service.refreshRevocations();
    expect((await exchange()).status).toBe(200);
  });

  it('serves refusal summaries through the admin audit API', async () => {
    offsetMs = 0;
    await service.refreshRevocations();
    const anonymous = await fetch(tokenUrl(url, { service: SERVICE, scope: ['repository:team/app:pull'] }), { headers: { authorization: 'Bearer not-a-jwt' } });
    expect(anonymous.status).toBe(401);
    await (service.ledger as RefusalBoundLedger).flush();
    const res = await call('operator', `${url}/admin/issuances?outcome=refusals-summary`);
    expect(res.status).toBe(200);
    const { issuances } = res.json<{ issuances: IssuanceRecord[] }>();
    expect(issuances).toHaveLength(1);
    expect(issuances[0]).toMatchObject({ outcome: 'refusals-summary', summary: { total: 1, byReason: [{ reason: 'invalid_token', count: 1 }] } });
  });
});
