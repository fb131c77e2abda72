// `serve` with server.workers: 2 and the memory store, as a real process tree: one port, two
// worker processes (node:cluster), the store in the primary. Each answer names its worker
// (X-Worker), so the test sees where a request landed. DPoP nonces are required, so every
// proof carries a nonce one worker handed out and the other must accept.
import { readFileSync, writeFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { calculateJwkThumbprint, exportJWK } from 'jose';
import { dump, load } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callWithProof, decodeJwt, makeProof, newDpopKeys, tokenUrl, type KeyPair, type RawResponse } from '../support/dpop-client.ts';
import { expectRefusal } from '../battery/support/expect.ts';
import { Battery, SERVICE, jtiOf, ledgerExport, ledgerVerify, opTokClaims, opTokWithDpop, signWithAuthorityKey, sleep, waitFor } from '../battery/support/harness.ts';
import type { AuthorityProcess, BatteryService } from '../battery/support/harness.ts';

const PER_CLIENT = 40;
/** Requests per client of the SIGKILL case. */
const UNDER_LOAD = 16;
const WORKERS = ['1', '2'];

const battery = new Battery('workers');
let authority: AuthorityProcess;
let service: BatteryService;

beforeAll(async () => {
  authority = await battery.authority({ keyFile: `${battery.dir}/authority.jwk` });
  service = await battery.service('w', authority, (config) => {
    (config.server as Record<string, unknown>).workers = 2;
    ((config.authority as Record<string, unknown>).dpop as Record<string, unknown> | undefined) ?? ((config.authority as Record<string, unknown>).dpop = {});
    ((config.authority as Record<string, unknown>).dpop as Record<string, unknown>).requireNonce = true;
    (config.ledger as Record<string, unknown>).revocationPollSeconds = 1;
    (config.rateLimits as Record<string, unknown>).perClient = { max: PER_CLIENT, windowSeconds: 600 };
    Object.assign(config.plans as Record<string, unknown>, { platinum: [{ repository: '**' }], ci: [{ repository: 'library/**' }] });
  });
  // The second worker starts once the first serves: wait until both do.
  await waitFor(() => service.output().includes('registry-token serving with workers'), 15_000, 'both workers serving');
  expect(await workerPids()).toHaveLength(2);
}, 60_000);

afterAll(async () => {
  await battery.close();
}, 30_000);

/** The primary's children: the workers. */
async function workerPids(): Promise<number[]> {
  try {
    return readFileSync(`/proc/${service.pid}/task/${service.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

interface Client {
  readonly id: string;
  readonly keys: KeyPair;
  token: string;
}

async function client(id: string): Promise<Client> {
  const keys = await newDpopKeys();
  return { id, keys, token: await opTokWithDpop(authority.issuer, id, keys) };
}

async function operatorClient(): Promise<Client> {
  const keys = await newDpopKeys();
  const jkt = await calculateJwkThumbprint(await exportJWK(keys.publicKey));
  const claims = opTokClaims(authority.issuer, 'operator', jkt, { scope: 'registry.token.issue registry.token.admin registry.admin.platform', 'stellaops:plan': 'operator', 'stellaops:license': 'lic-op' });
  return { id: 'operator', keys, token: await signWithAuthorityKey(authority, claims) };
}

const url = () => tokenUrl(service.url, { service: SERVICE, scope: ['repository:library/app:pull'] });
/** The last nonce any worker handed out: the other worker must accept it too. */
let nonce: string | undefined;

async function proofFor(who: Client, method = 'GET', target = url()): Promise<string> {
  return makeProof(who.keys, method, target, who.token, nonce === undefined ? {} : { nonce });
}

/** One call; a use_dpop_nonce answer is retried once with the nonce it carries. */
async function call(who: Client, options: { proof?: string; method?: 'GET' | 'PUT' | 'DELETE'; path?: string; body?: unknown } = {}): Promise<RawResponse> {
  const method = options.method ?? 'GET';
  const target = options.path === undefined ? url() : `${service.url}${options.path}`;
  const send = async (proof: string) => {
    const res = await callWithProof(target, {
      token: who.token,
      proof,
      method,
      timeoutMs: 10_000,
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body), headers: [['content-type', 'application/json']] }),
    });
    const given = res.headers['dpop-nonce'];
    if (typeof given === 'string') nonce = given;
    return res;
  };
  const first = await send(options.proof ?? (await proofFor(who, method, target)));
  if (first.status !== 401 || !String(first.headers['www-authenticate']).includes('use_dpop_nonce') || options.proof !== undefined) return first;
  return send(await proofFor(who, method, target));
}

const workerOf = (res: RawResponse) => String(res.headers['x-worker']);

describe('two workers on one port, the memory store in the primary', () => {
  it('the second worker is started once the first serves (workers starting together share the cores)', () => {
    const lines = service.output().split('\n').flatMap((line) => {
      try {
        return [JSON.parse(line) as { msg?: string; worker?: number; pid?: number; time?: number }];
      } catch {
        return [];
      }
    });
    const serving = (slot: number) => lines.find((line) => line.msg === 'registry-token serving' && line.worker === slot)!;
    const [first, second] = [serving(1), serving(2)];
    expect(first?.time, 'worker 1 serving').toBeTypeOf('number');
    expect(second?.pid, 'worker 2 serving').toBeTypeOf('number');
    // When worker 2's process started, in ms since the epoch: /proc/<pid>/stat field 22 counts
    // clock ticks (USER_HZ, 100 on Linux) since boot; /proc/uptime says how long ago that was.
    const bootedAt = Date.now() - Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * 1000;
    const startTicks = Number(readFileSync(`/proc/${second.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[19]);
    const secondStartedAt = bootedAt + startTicks * 10;
    // Started together, worker 2 would predate worker 1's first line by its whole start-up
    // (~0.5 s or more); the margin covers the 10 ms ticks and the two clocks' rounding.
    expect(secondStartedAt).toBeGreaterThanOrEqual(first.time! - 60);
    expect(second.time!).toBeGreaterThan(first.time!);
  });

  it('a proof replayed to the other worker is refused there; the nonce one worker issued is accepted by the other', { timeout: 30_000 }, async () => {
    const team = await client('team-dpop');
    // The first answer (no nonce yet) hands one out; the retry proves with it.
    const warm = await call(team);
    expect(warm.status, warm.body).toBe(200);
    const proof = await proofFor(team);
    const first = await call(team, { proof });
    expect(first.status, first.body).toBe(200);
    const noncesAcceptedBy = new Set([workerOf(warm), workerOf(first)]);
    const landed = new Set<string>();
    for (let i = 0; i < 40 && landed.size < 2; i++) {
      const again = await call(team, { proof });
      expectRefusal(again, { status: 401, code: 'invalid_dpop_proof', error: 'invalid_dpop_proof', challenge: 'DPoP' });
      expect(again.json<{ detail: string }>().detail).toContain('used before');
      landed.add(workerOf(again));
    }
    expect([...landed].sort()).toEqual(WORKERS);
    // Fresh proofs with the current nonce are accepted by both workers.
    for (let i = 0; i < 12 && noncesAcceptedBy.size < 2; i++) {
      const res = await call(team, { proof: await proofFor(team) });
      expect(res.status, res.body).toBe(200);
      noncesAcceptedBy.add(workerOf(res));
    }
    expect([...noncesAcceptedBy].sort()).toEqual(WORKERS);
  });

  it('a revocation made through one worker is enforced by both, and so is lifting it', { timeout: 30_000 }, async () => {
    const platinum = await client('platinum');
    const operator = await operatorClient();
    expect((await call(platinum)).status).toBe(200);
    const put = await call(operator, { method: 'PUT', path: '/admin/revocations/subjects/platinum', body: { reason: 'leaked credentials' } });
    expect(put.status, put.body).toBe(200);
    const refusedBy = new Set<string>();
    await waitFor(async () => {
      const res = await call(platinum);
      if (res.status === 403 && res.json<{ code: string }>().code === 'subject_revoked') refusedBy.add(workerOf(res));
      else await sleep(200);
      return refusedBy.size === 2;
    }, 10_000, 'both workers to refuse the revoked subject');

    const lifted = await call(operator, { method: 'DELETE', path: '/admin/revocations/subjects/platinum' });
    expect(lifted.status, lifted.body).toBe(204);
    const servedBy = new Set<string>();
    await waitFor(async () => {
      const res = await call(platinum);
      if (res.status === 200) servedBy.add(workerOf(res));
      else await sleep(200);
      return servedBy.size === 2;
    }, 10_000, 'both workers to serve the subject again');
  });

  it('rate limits count across workers: perClient is one budget', { timeout: 30_000 }, async () => {
    const run = await client('run');
    const answers: { status: number; by: string }[] = [];
    for (let i = 0; i < PER_CLIENT + 4; i++) {
      const res = await call(run);
      answers.push({ status: res.status, by: workerOf(res) });
    }
    expect(answers.slice(0, PER_CLIENT).map((a) => a.status)).toEqual(Array(PER_CLIENT).fill(200));
    expect(new Set(answers.slice(0, PER_CLIENT).map((a) => a.by)).size).toBe(2);
    expect(answers.slice(PER_CLIENT).map((a) => a.status)).toEqual([429, 429, 429, 429]);
    expect(new Set(answers.slice(PER_CLIENT).map((a) => a.by)).size).toBe(2);
  });

  it('the workers have the compile cache from their first module (NODE_COMPILE_CACHE inherited from the primary)', async () => {
    const pids = await workerPids();
    expect(pids).toHaveLength(2);
    for (const pid of pids) {
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      expect(environ.some((entry) => /^NODE_COMPILE_CACHE=.+/.test(entry)), `worker ${pid}`).toBe(true);
    }
  });

  it('one scrape of /metrics returns both workers\' metrics', async () => {
    const res = await fetch(`${service.url}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    for (const worker of WORKERS) expect(text).toMatch(new RegExp(`^registry_token_issued_total\\{worker="${worker}",`, 'm'));
    // HELP and TYPE once per family, however many workers report it.
    expect(text.match(/^# TYPE registry_token_issued_total /gm)).toHaveLength(1);
  });

  it('SIGHUP on the primary reloads both workers (a licence revoked in the file)', { timeout: 30_000 }, async () => {
    const tenant = await client('bystander');
    expect((await call(tenant)).status).toBe(200);
    const config = load(readFileSync(service.configPath, 'utf8')) as Record<string, unknown>;
    const licence = 'lic-team';
    writeFileSync(service.configPath, dump({ ...config, revokedLicenses: [licence] }));
    process.kill(service.pid, 'SIGHUP');
    const refusedBy = new Set<string>();
    await waitFor(async () => {
      const res = await call(tenant);
      if (res.status === 403 && res.json<{ code: string }>().code === 'license_revoked') refusedBy.add(workerOf(res));
      else await sleep(200);
      return refusedBy.size === 2;
    }, 10_000, 'both workers to refuse the licence revoked by the reload');
    writeFileSync(service.configPath, dump(config));
    process.kill(service.pid, 'SIGHUP');
    await waitFor(async () => (await call(tenant)).status === 200 && (await call(tenant)).status === 200, 10_000, 'the licence restored');
  });

  it('a worker SIGKILLed under load is replaced; no acknowledged record is lost and the ledger verifies', { timeout: 40_000 }, async () => {
    const [victim] = await workerPids();
    expect(victim).toBeDefined();
    const clients = await Promise.all(['bystander', 'runner', 'no-plan'].map((id) => client(id)));
    const issued: string[] = [];
    let sent = 0;
    let killed = false;
    const load = async (who: Client) => {
      for (let i = 0; i < UNDER_LOAD; i++) {
        sent++;
        if (!killed && sent >= 12) {
          killed = true;
          process.kill(victim!, 'SIGKILL');
        }
        const res = await call(who).catch(() => undefined);
        if (res?.status === 200) issued.push(jtiOf(res));
      }
    };
    await Promise.all(clients.map((who) => load(who)));
    expect(killed).toBe(true);
    expect(issued.length).toBeGreaterThan((clients.length * UNDER_LOAD) / 2);
    // Replaced: two workers again, one of them new, and both answer.
    await waitFor(async () => {
      const pids = await workerPids();
      return pids.length === 2 && !pids.includes(victim!);
    }, 15_000, 'the killed worker to be replaced');
    const servedBy = new Set<string>();
    const after = await client('operator');
    await waitFor(async () => {
      const res = await call(after);
      if (res.status === 200) servedBy.add(workerOf(res));
      return servedBy.size === 2;
    }, 10_000, 'both workers to serve after the replacement');

    const verified = ledgerVerify(service.ledgerPath);
    expect(verified.report.ok, verified.output).toBe(true);
    expect(verified.output).toContain('worker-1');
    expect(verified.output).toContain('worker-2');
    const recorded = new Set(ledgerExport(service.ledgerPath).map((record) => record.jti));
    expect(issued.filter((jti) => !recorded.has(jti))).toEqual([]);
    // The audit API, on whichever worker, sees records of both chains.
    const operator = await operatorClient();
    const page = await call(operator, { path: '/admin/issuances?limit=500' });
    expect(page.status, page.body).toBe(200);
    const listed = new Set(page.json<{ issuances: { jti: string }[] }>().issuances.map((r) => r.jti));
    expect(issued.filter((jti) => !listed.has(jti))).toEqual([]);
  });

  it('SIGTERM drains both workers: in-flight exchanges are answered, then all exit 0', { timeout: 30_000 }, async () => {
    const pids = await workerPids();
    const who = await client('platinum');
    const proofs = await Promise.all(Array.from({ length: 32 }, () => proofFor(who)));
    // Sixteen open keep-alive connections (spread over both workers), so the next sixteen
    // requests go to sockets a worker has already accepted: really in flight at SIGTERM.
    const agent = new Agent({ keepAlive: true, maxSockets: 16 });
    const send = (proof: string) => {
      let written!: () => void;
      const sent = new Promise<void>((resolve) => (written = resolve));
      const answer = new Promise<{ status: number; body: string; worker: string }>((resolve, reject) => {
        const req = httpRequest(url(), { agent, headers: { authorization: `DPoP ${who.token}`, dpop: proof } }, (res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body, worker: String(res.headers['x-worker']) }));
          res.on('error', reject);
        });
        req.on('error', reject);
        req.on('finish', written);
        req.end();
      });
      return { sent, answer };
    };
    const warm = proofs.slice(0, 16).map(send);
    const warmed = await Promise.all(warm.map((r) => r.answer));
    expect(warmed.map((r) => r.status)).toEqual(Array(16).fill(200));
    expect(new Set(warmed.map((r) => r.worker)).size).toBe(2);
    const inFlight = proofs.slice(16).map(send);
    await Promise.all(inFlight.map((r) => r.sent));
    await sleep(10);
    const code = await service.stop('SIGTERM', 20_000);
    // Every answer arrives whole: 200 for an exchange under way, 503 only for one a worker had
    // not begun when it started closing; never a reset connection.
    const answers = await Promise.all(inFlight.map((r) => r.answer));
    agent.destroy();
    expect(code).toBe(0);
    expect(answers.filter((a) => a.status !== 200 && a.status !== 503)).toEqual([]);
    const issued = answers.filter((a) => a.status === 200);
    expect(issued.length).toBeGreaterThan(0);
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
    expect(ledgerVerify(service.ledgerPath).report.ok).toBe(true);
    const recorded = new Set(ledgerExport(service.ledgerPath).map((record) => record.jti));
    const jtis = [...warmed, ...issued].map(({ body }) => decodeJwt((JSON.parse(body) as { token: string }).token).payload.jti as string);
    expect(jtis.filter((jti) => !recorded.has(jti))).toEqual([]);
  });
});
