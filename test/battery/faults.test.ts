// The fault battery: the Authority down at start-up, going down, stopped (SIGSTOP) longer than
// the fetch timeout, rotating its key; the disk under the ledger full (a tmpfs the test mounts)
// with onUnavailable reject and spool; SIGKILL under load; clock skew. Real processes and real
// signals throughout; the service's clock is the real one, skew is in the tokens and proofs.
import { randomUUID } from 'node:crypto';
import { rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { calculateJwkThumbprint, exportJWK } from 'jose';
import { newDpopKeys, type KeyPair, type RawResponse } from '../support/dpop-client.ts';
import { startServiceProcess } from '../support/process.ts';
import {
  Battery,
  exchange,
  jtiOf,
  ledgerExport,
  ledgerVerify,
  opTokClaims,
  opTokWithDpop,
  signWithAuthorityKey,
  sleep,
  waitFor,
  type AuthorityProcess,
  type BatteryService,
} from './support/harness.ts';
import { expectRefusal, expectServes, invalidProof, invalidToken } from './support/expect.ts';

const battery = new Battery('faults');
let keys: KeyPair;
let jkt: string;
const unavailable = (code: string) => ({ status: 503, code, error: 'temporarily_unavailable' });

beforeAll(async () => {
  keys = await newDpopKeys();
  jkt = await calculateJwkThumbprint(await exportJWK(keys.publicKey));
}, 30_000);

afterAll(async () => {
  await battery.close();
}, 30_000);

const authorityOf = (config: Record<string, unknown>) => config.authority as Record<string, unknown>;

/** Retries `attempt` until it answers 200 (each try a fresh proof), up to `timeoutMs`. */
async function eventually200(attempt: () => Promise<RawResponse>, timeoutMs: number): Promise<RawResponse> {
  let last: RawResponse | undefined;
  await waitFor(async () => {
    last = await attempt();
    if (last.status !== 200) await sleep(250);
    return last.status === 200;
  }, timeoutMs, 'a 200').catch((error: unknown) => {
    throw new Error(`${String(error)}; last answer ${last?.status} ${last?.body.slice(0, 300)}`);
  });
  return last!;
}

describe('the Authority', () => {
  it('down at start-up: 503 authority_unavailable, then serves once it is up, without a restart', { timeout: 60_000 }, async () => {
    const keyFile = join(battery.dir, 'late.jwk');
    // Start once to make the key and a token, then stop it: the service starts with it down.
    const first = await battery.authority({ keyFile });
    const port = first.port;
    const token = await opTokWithDpop(first.issuer, 'team-dpop', keys);
    await first.stop('SIGTERM');
    // A one-second cool-down: the test waits for the refetch, not for the default 30 s.
    const service = await battery.service('authority-late', first, (config) => {
      authorityOf(config).jwksCooldownSeconds = 1;
    });
    expectRefusal(await exchange(service, token, keys), unavailable('authority_unavailable'));
    expectRefusal(await exchange(service, token, keys), unavailable('authority_unavailable'));
    const late = await battery.authority({ keyFile, port });
    expect(late.kid).toBe(first.kid);
    await eventually200(() => exchange(service, token, keys), 30_000);
    await expectServes(service, token, keys);
    await Promise.all([service.stop('SIGTERM'), late.stop('SIGTERM')]);
  });

  it('going down mid-run: cached keys keep serving within jwksCacheSeconds', { timeout: 30_000 }, async () => {
    const authority = await battery.authority({ keyFile: join(battery.dir, 'down.jwk') });
    const token = await opTokWithDpop(authority.issuer, 'team-dpop', keys);
    const service = await battery.service('authority-down', authority);
    await expectServes(service, token, keys);
    expect(await authority.stop('SIGKILL')).toBe('SIGKILL');
    for (let i = 0; i < 5; i++) await expectServes(service, token, keys);
    await service.stop('SIGTERM');
  });

  it('going down mid-run: past jwksCacheSeconds, cached keys serve for authority.jwksStaleIfErrorSeconds', { timeout: 45_000 }, async () => {
    const authority = await battery.authority({ keyFile: join(battery.dir, 'stale.jwk') });
    const token = await opTokWithDpop(authority.issuer, 'team-dpop', keys);
    const service = await battery.service('authority-stale', authority, (config) => {
      Object.assign(authorityOf(config), { jwksCacheSeconds: 10, jwksStaleIfErrorSeconds: 300 });
    });
    await expectServes(service, token, keys);
    await authority.stop('SIGKILL');
    await sleep(11_500); // past jwksCacheSeconds
    for (let i = 0; i < 5; i++) await expectServes(service, token, keys);
    expect(service.output()).not.toMatch(/unexpected error/);
    await service.stop('SIGTERM');
  });

  it('slow (SIGSTOP longer than the fetch timeout): clean 503s, no hang, and serves after SIGCONT', { timeout: 60_000 }, async () => {
    const authority = await battery.authority({ keyFile: join(battery.dir, 'slow.jwk') });
    const token = await opTokWithDpop(authority.issuer, 'team-dpop', keys);
    const warm = await battery.service('slow-warm', authority);
    await expectServes(warm, token, keys);
    const cold = await battery.service('slow-cold', authority, (config) => {
      authorityOf(config).jwksCooldownSeconds = 1;
    });
    authority.signal('SIGSTOP');
    try {
      // The client gives up after 15 s: an answer at all means the service did not hang on the fetch.
      const answers = await Promise.all([0, 1, 2].map(() => exchange(cold, token, keys, { timeoutMs: 15_000 })));
      for (const res of answers) expectRefusal(res, unavailable('authority_unavailable'));
      // The warm replica has the keys and does not wait for the Authority at all.
      await expectServes(warm, token, keys);
    } finally {
      authority.signal('SIGCONT');
    }
    await eventually200(() => exchange(cold, token, keys), 30_000);
    await Promise.all([warm.stop('SIGTERM'), cold.stop('SIGTERM'), authority.stop('SIGTERM')]);
  });

  it('rotating its key (restart with a new key): new tokens verify after the refetch, the retired key no longer does', { timeout: 60_000 }, async () => {
    const before = await battery.authority({ keyFile: join(battery.dir, 'rotate-1.jwk') });
    const oldToken = await opTokWithDpop(before.issuer, 'team-dpop', keys);
    const service = await battery.service('rotation', before, (config) => {
      authorityOf(config).jwksCooldownSeconds = 1;
    });
    await expectServes(service, oldToken, keys);
    await before.stop('SIGTERM');
    const after = await battery.authority({ keyFile: join(battery.dir, 'rotate-2.jwk'), port: before.port });
    expect(after.kid).not.toBe(before.kid);
    const newToken = await opTokWithDpop(after.issuer, 'team-dpop', keys);
    await eventually200(() => exchange(service, newToken, keys), 20_000);
    expectRefusal(await exchange(service, oldToken, keys), invalidToken);
    await expectServes(service, newToken, keys);
    await Promise.all([service.stop('SIGTERM'), after.stop('SIGTERM')]);
  });
});

describe('the disk under the ledger is full', () => {
  let authority: AuthorityProcess;
  let token: string;
  beforeAll(async () => {
    authority = await battery.authority({ keyFile: join(battery.dir, 'disk.jwk') });
    token = await opTokWithDpop(authority.issuer, 'team-dpop', keys);
  }, 30_000);

  /** Fills the file system at `dir` up to `leaveBytes` free; returns the filler to delete. */
  function fill(dir: string, leaveBytes: number): string {
    const filler = join(dir, 'filler');
    const { bavail, bsize } = statfsSync(dir);
    const size = Math.max(0, bavail * bsize - leaveBytes);
    writeFileSync(filler, Buffer.alloc(size));
    return filler;
  }

  it('with onUnavailable reject: every 200 has its record; the rest are clean 503 ledger_unavailable; serves again when space returns', { timeout: 60_000 }, async () => {
    const disk = battery.tmpfs('ledger-reject', '4m');
    const service = await battery.service('disk-reject', authority, (config) => {
      config.ledger = { driver: 'file', path: join(disk, 'ledger'), onUnavailable: 'reject' };
    });
    await expectServes(service, token, keys);
    const filler = fill(disk, 12 * 1024);
    const answers: RawResponse[] = [];
    for (let i = 0; i < 40; i++) answers.push(await exchange(service, token, keys, { scope: ['repository:team/app:pull'] }));
    const issued = answers.filter((a) => a.status === 200);
    const refused = answers.filter((a) => a.status !== 200);
    expect(refused.length, 'the disk filled up during the run').toBeGreaterThan(0);
    for (const res of refused) expectRefusal(res, unavailable('ledger_unavailable'));
    rmSync(filler);
    await eventually200(() => exchange(service, token, keys), 20_000);
    const records = new Map(ledgerExport(service.ledgerPath).map((r) => [r.jti, r]));
    for (const res of issued) expect(records.get(jtiOf(res))?.outcome, 'a token without its record').toBe('issued');
    const verify = ledgerVerify(service.ledgerPath);
    expect(verify.status, verify.output).toBe(0);
    expect(service.output()).not.toMatch(/unexpected error/);
    await service.stop('SIGTERM');
  });

  it('with onUnavailable spool: tokens keep coming, and every record arrives exactly once after space returns', { timeout: 60_000 }, async () => {
    const disk = battery.tmpfs('ledger-spool', '4m');
    const spoolPath = join(battery.dir, 'spool'); // the normal disk: larger than the ledger's
    const service = await battery.service('disk-spool', authority, (config) => {
      config.ledger = { driver: 'file', path: join(disk, 'ledger'), onUnavailable: 'spool', spoolPath };
    });
    await expectServes(service, token, keys);
    const filler = fill(disk, 12 * 1024);
    const answers: RawResponse[] = [];
    for (let i = 0; i < 40; i++) answers.push(await exchange(service, token, keys, { scope: ['repository:team/app:pull'] }));
    expect(answers.map((a) => a.status)).toEqual(Array(40).fill(200));
    const jtis = answers.map(jtiOf);
    rmSync(filler);
    // The spool drains into the ledger in the background.
    let counts = new Map<string, number>();
    await waitFor(() => {
      counts = new Map();
      for (const record of ledgerExport(service.ledgerPath)) counts.set(record.jti, (counts.get(record.jti) ?? 0) + 1);
      return jtis.every((jti) => counts.has(jti));
    }, 30_000, 'the spooled records in the ledger');
    for (const jti of jtis) expect(counts.get(jti), `records of ${jti}`).toBe(1);
    await sleep(1_000); // a second drain pass must not write them again
    counts = new Map();
    for (const record of ledgerExport(service.ledgerPath)) counts.set(record.jti, (counts.get(record.jti) ?? 0) + 1);
    for (const jti of jtis) expect(counts.get(jti), `records of ${jti} after another drain`).toBe(1);
    const verify = ledgerVerify(service.ledgerPath);
    expect(verify.status, verify.output).toBe(0);
    await service.stop('SIGTERM');
  });

  it('the spool depth is in /metrics (registry_token_spool_depth) and in /readyz while records wait', { timeout: 60_000 }, async () => {
    const disk = battery.tmpfs('ledger-depth', '4m');
    const service = await battery.service('disk-depth', authority, (config) => {
      config.ledger = { driver: 'file', path: join(disk, 'ledger'), onUnavailable: 'spool', spoolPath: join(battery.dir, 'spool-depth') };
    });
    await expectServes(service, token, keys);
    const filler = fill(disk, 12 * 1024);
    for (let i = 0; i < 40; i++) expect((await exchange(service, token, keys)).status).toBe(200);
    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    const depth = Number(/^registry_token_spool_depth(?:\{[^}]*\})? (\d+)/m.exec(metrics)?.[1] ?? NaN);
    expect(depth, 'registry_token_spool_depth').toBeGreaterThan(0);
    const ready = (await (await fetch(`${service.url}/readyz`)).json()) as { details?: { ledger?: { spoolDepth?: number } } };
    expect(ready.details?.ledger?.spoolDepth, 'readyz details.ledger.spoolDepth').toBeGreaterThan(0);
    rmSync(filler);
    await service.stop('SIGTERM');
  });
});

describe('SIGKILL under load', () => {
  it('after SIGKILL and a restart, ledger verify passes and every token a client received has its record', { timeout: 60_000 }, async () => {
    const authority = await battery.authority({ keyFile: join(battery.dir, 'kill.jwk') });
    const token = await opTokWithDpop(authority.issuer, 'team-dpop', keys);
    const service = await battery.service('sigkill', authority);
    const received: string[] = [];
    let stop = false;
    const worker = async () => {
      while (!stop) {
        try {
          const res = await exchange(service, token, keys, { scope: ['repository:team/app:pull'], timeoutMs: 5_000 });
          if (res.status === 200) received.push(jtiOf(res));
        } catch {
          return; // the process is gone
        }
      }
    };
    const workers = Array.from({ length: 8 }, worker);
    await waitFor(() => received.length >= 150, 30_000, '150 tokens');
    expect(await service.stop('SIGKILL')).toBe('SIGKILL');
    stop = true;
    await Promise.all(workers);

    const verify = ledgerVerify(service.ledgerPath);
    expect(verify.status, verify.output).toBe(0);
    expect(verify.report.ok).toBe(true);
    const restarted = await startServiceProcess(service.configPath, (service.config.server as { port: number }).port);
    battery.track(restarted.child);
    await expectServes(restarted, token, keys);
    await restarted.stop('SIGTERM');
    const after = ledgerVerify(service.ledgerPath);
    expect(after.status, after.output).toBe(0);
    const records = new Map(ledgerExport(service.ledgerPath).map((r) => [r.jti, r.outcome]));
    expect(received.filter((jti) => records.get(jti) !== 'issued')).toEqual([]);
    await authority.stop('SIGTERM');
  });
});

describe('clock skew (tolerance 5 s, proofs valid 60 s)', () => {
  let authority: AuthorityProcess;
  let service: BatteryService;
  beforeAll(async () => {
    authority = await battery.authority({ keyFile: join(battery.dir, 'skew.jwk') });
    service = await battery.service('skew', authority);
  }, 30_000);

  const now = () => Math.floor(Date.now() / 1000);
  const token = (extra: Record<string, unknown>) => signWithAuthorityKey(authority, opTokClaims(authority.issuer, 'team-dpop', jkt, extra));

  it('an OpTok from an Authority whose clock is ahead or behind within the tolerance is accepted', { timeout: 20_000 }, async () => {
    for (const extra of [{ iat: now() + 3 }, { nbf: now() + 3 }, { exp: now() - 3 }]) {
      const res = await exchange(service, await token(extra), keys);
      expect(res.status, `${JSON.stringify(extra)}: ${res.body.slice(0, 300)}`).toBe(200);
    }
  });

  it('an OpTok issued by an Authority whose clock is a minute ahead (iat beyond the tolerance) is refused', { timeout: 20_000 }, async () => {
    // Its exp is a minute later too: only iat shows the skew.
    const body = expectRefusal(await exchange(service, await token({ iat: now() + 60, exp: now() + 360 }), keys), invalidToken);
    expect(body.detail).toMatch(/iat/);
    await expectServes(service, await opTokWithDpop(authority.issuer, 'team-dpop', keys), keys);
  });

  it('an OpTok beyond the tolerance is refused: not yet valid (nbf), expired (exp)', { timeout: 20_000 }, async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ nbf: now() + 60 }, /nbf|not (yet )?valid/],
      [{ iat: now() - 400, exp: now() - 60 }, /expired/],
    ];
    for (const [extra, detail] of cases) {
      const body = expectRefusal(await exchange(service, await token(extra), keys), invalidToken);
      expect(body.detail).toMatch(detail);
    }
    await expectServes(service, await opTokWithDpop(authority.issuer, 'team-dpop', keys), keys);
  });

  it('a proof from a client clock ahead or behind within the tolerance is accepted; beyond it, refused', { timeout: 20_000 }, async () => {
    const tok = await opTokWithDpop(authority.issuer, 'team-dpop', keys);
    for (const iat of [now() + 3, now() - 62]) {
      const res = await exchange(service, tok, keys, { overrides: { iat, jti: randomUUID() } });
      expect(res.status, `proof iat ${iat - now()} s: ${res.body.slice(0, 300)}`).toBe(200);
    }
    for (const iat of [now() + 30, now() - 90]) {
      expectRefusal(await exchange(service, tok, keys, { overrides: { iat } }), invalidProof);
    }
    await expectServes(service, tok, keys);
  });
});
