// `npm run bench`: load test of GET /token against the service as a real child process.
//
// Starts the development Authority (oidc-provider) in this process, gets DPoP-bound OpToks
// for a few clients, then for each scenario starts `node src/cli.ts serve` with a fresh file
// ledger, pre-generates one unique DPoP proof per request (the service refuses a replayed
// jti, and a proof is only good for ~60 s, so proofs are made just before each run and each
// run is kept short), and drives it with autocannon. Everything goes to 127.0.0.1, every run
// is bounded by a request count and a wall-clock guard, and the whole bench takes about 80 s.
//
//   npm run bench                      all scenarios, markdown table at the end
//   npm run bench -- --abuse           a bounded flood from attacker addresses while a valid client
//                                      exchanges: exits 1 unless its p99 < 50 ms (bench/abuse.ts)
//   npm run bench -- --profile         one RS256 c=64 run under `node --cpu-prof`, summarised
//   npm run bench -- --json FILE       also write the raw figures as JSON
//   npm run bench -- --seconds N       target length of each measured run (default 8, max 25)
//   npm run bench -- --only 'RS256 c64,ES256 c64' --skip-stages   a subset, without the in-process stage costs
//   npm run bench -- --keep            keep the work directory (configs, service logs, ledgers)
//   npm run bench -- --node-arg=--max-semi-space-size=4   extra node flags for the service process
//   npm run bench -- --only 'RS256 c64' --connections 128   override the concurrency of the chosen scenarios
//   npm run bench -- --log-level warn  telemetry.logLevel of the service (default info: one line per decision)
//   npm run bench -- --dist            compile src/ with tsc into the work dir and run `node dist/cli.js`
//                                      (what the container runs) instead of `node src/cli.ts`
// The service inherits this process's environment (REGISTRY_TOKEN_* removed), so e.g.
// `MALLOC_ARENA_MAX=2 npm run bench` or `NODE_OPTIONS=...` reach it.
//
// The load generator (autocannon, one thread) and the service share the machine's cores.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomUUID, type webcrypto } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon, { type Result } from 'autocannon';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { dump } from 'js-yaml';
import { startAuthority, type DevAuthority, type DevClient } from '../src/dev/authority.ts';
import { createAccessTokenVerifier } from '../src/authenticate/access-token.ts';
import { createDpopVerifier } from '../src/authenticate/dpop.ts';
import { MemoryReplayCache } from '../src/authenticate/replay-cache.ts';
import { systemClock } from '../src/domain/types.ts';
import { createMinter } from '../src/mint/mint.ts';
import { loadSigningKey } from '../src/mint/signing-key.ts';
import { openFileLedger } from '../src/record/file.ts';
import type { IssuanceRecord } from '../src/record/ledger.ts';
import { formatSummary, summariseFile } from './cpu-profile.ts';
import { runAbuseBench } from './abuse.ts';
import { freePort } from '../test/support/process.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const CLI = new URL('../src/cli.ts', import.meta.url).pathname;
/** The CLI the service runs from: src/cli.ts, or the compiled one with --dist. */
let serviceCli = CLI;
const SAMPLE_KEY = new URL('../etc/registry-signing-sample.pem', import.meta.url).pathname;
const SAMPLE_CERT = new URL('../etc/registry-signing-sample.crt', import.meta.url).pathname;
const AUDIENCE = 'registry-token';
const SERVICE = 'registry.localhost';
const ISSUE = 'registry.token.issue';
const CLIENT_COUNT = 4;
/** The V8 flag the service ships with (docs/performance.md, "Memory"). */
const SHIPPED_NODE_FLAG = '--max-semi-space-size=16';

/** Hard wall-clock cap on one autocannon run: proofs are only good for ~60 s. */
const MAX_RUN_MS = 30_000;

const { values: args } = parseArgs({
  options: {
    profile: { type: 'boolean', default: false },
    abuse: { type: 'boolean', default: false },
    json: { type: 'string' },
    seconds: { type: 'string', default: '8' },
    only: { type: 'string' },
    'skip-stages': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    'node-arg': { type: 'string', multiple: true, default: [] },
    dist: { type: 'boolean', default: false },
    'log-level': { type: 'string', default: 'info' },
    connections: { type: 'string' },
  },
});
const RUN_SECONDS = Math.min(25, Math.max(2, Number(args.seconds) || 8));

// ---------------------------------------------------------------------------------------
// small helpers

const log = (message: string) => process.stderr.write(`[bench] ${message}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const round = (value: number, digits = 0) => Math.round(value * 10 ** digits) / 10 ** digits;
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;


/** VmHWM (peak RSS) and VmRSS of a process, in MiB. */
function memoryOf(pid: number): { peakMiB: number; rssMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { peakMiB: kb('VmHWM') / 1024, rssMiB: kb('VmRSS') / 1024 };
}

/** user+system CPU seconds a process (or, with `tid`, one of its threads) has used so far. */
function cpuSecondsOf(pid: number, tid?: number): number {
  const stat = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** A thread's scheduler statistics: seconds on a CPU, and seconds runnable but waiting for one. */
function schedOf(pid: number, tid: number): { run: number; wait: number } {
  const [run = 0, wait = 0] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').trim().split(/\s+/).map(Number);
  return { run: run / 1e9, wait: wait / 1e9 };
}

/** Machine-wide busy and steal CPU seconds so far (all cores), from /proc/stat. */
function machineCpu(): { busy: number; steal: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).slice(1).map(Number);
  return { busy: (user + nice + system + irq + softirq) / CLK_TCK, steal: steal / CLK_TCK };
}

/**
 * The machine is shared (2 cores): wait, up to `maxMs`, for a second in which other processes
 * use less than `limitPercent` CPU, so a run does not start in the middle of someone's build.
 * Returns the last second's figure; the run itself measures again.
 */
async function waitForQuiet(limitPercent = 20, maxMs = 20_000): Promise<number> {
  const deadline = Date.now() + maxMs;
  for (;;) {
    const before = machineCpu();
    const self = process.cpuUsage();
    await sleep(1000);
    const used = process.cpuUsage(self);
    const other = Math.max(0, machineCpu().busy - before.busy - (used.user + used.system) / 1e6) * 100;
    if (other < limitPercent || Date.now() > deadline) {
      if (other >= limitPercent) log(`machine still busy (${round(other)} % CPU used by other processes); running anyway`);
      return other;
    }
    log(`waiting for a quieter machine (${round(other)} % CPU used by other processes)`);
  }
}

/** A fresh directory on tmpfs (/dev/shm), where fdatasync is free; undefined when there is none. */
function tmpfsDir(): string | undefined {
  try {
    return mkdtempSync('/dev/shm/registry-token-bench-');
  } catch {
    return undefined;
  }
}

/** Service-independent cost of one operation, sequentially awaited: microseconds per call. */
async function perCall(count: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  for (let i = 0; i < Math.min(200, count); i++) await fn(i); // warm-up
  const started = performance.now();
  for (let i = 0; i < count; i++) await fn(i);
  return ((performance.now() - started) * 1000) / count;
}

// ---------------------------------------------------------------------------------------
// Prometheus text: the two histograms the service exports

interface Histogram {
  readonly buckets: { le: number; count: number }[];
  readonly sum: number;
  readonly count: number;
}

function histogram(text: string, name: string, labels = ''): Histogram {
  const buckets: { le: number; count: number }[] = [];
  let sum = 0;
  let count = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^(\S+?)(?:\{([^}]*)\})?\s+(\S+)$/.exec(line);
    if (match === null) continue;
    const [, metric, labelText = '', value] = match;
    if (labels !== '' && !labelText.includes(labels)) continue;
    if (metric === `${name}_bucket`) {
      const le = /le="([^"]+)"/.exec(labelText)?.[1];
      buckets.push({ le: le === '+Inf' ? Infinity : Number(le), count: Number(value) });
    } else if (metric === `${name}_sum`) sum = Number(value);
    else if (metric === `${name}_count`) count = Number(value);
  }
  return { buckets: buckets.sort((a, b) => a.le - b.le), sum, count };
}

function minus(after: Histogram, before: Histogram): Histogram {
  return {
    buckets: after.buckets.map((b) => ({ le: b.le, count: b.count - (before.buckets.find((x) => x.le === b.le)?.count ?? 0) })),
    sum: after.sum - before.sum,
    count: after.count - before.count,
  };
}

/** Quantile by linear interpolation inside the bucket, as Prometheus's histogram_quantile does. */
function quantile(h: Histogram, q: number): number {
  if (h.count === 0) return NaN;
  const rank = q * h.count;
  let lower = 0;
  let below = 0;
  for (const b of h.buckets) {
    if (b.count >= rank) {
      if (b.le === Infinity) return lower;
      return lower + ((b.le - lower) * (rank - below)) / Math.max(b.count - below, 1);
    }
    lower = b.le;
    below = b.count;
  }
  return lower;
}

async function scrape(url: string): Promise<string> {
  const response = await fetch(`${url}/metrics`);
  return response.text();
}

// ---------------------------------------------------------------------------------------
// the service as a child process

interface ServiceProcess {
  readonly url: string;
  readonly child: ChildProcess;
  readonly pid: number;
  stop(): Promise<number | string>;
}

async function startService(configPath: string, port: number, logPath: string, nodeArgs: string[] = []): Promise<ServiceProcess> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.toUpperCase().startsWith('REGISTRY_TOKEN_')));
  const out = openSync(logPath, 'a');
  const child = spawn(process.execPath, [...nodeArgs, serviceCli, 'serve', '--config', configPath], { env, stdio: ['ignore', out, out] });
  closeSync(out);
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    const early = await Promise.race([exited, sleep(100).then(() => 'waiting' as const)]);
    if (early !== 'waiting') throw new Error(`service exited (${String(early)}) before serving:\n${readFileSync(logPath, 'utf8')}`);
    try {
      if ((await fetch(`${url}/readyz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`service did not become ready:\n${readFileSync(logPath, 'utf8')}`);
    }
  }
  return {
    url,
    child,
    pid: child.pid!,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };
}

function serviceConfig(authority: DevAuthority, port: number, signing: { keyPath: string; certificatePath: string }, ledgerPath: string, logLevel: string): Record<string, unknown> {
  return {
    server: { host: '127.0.0.1', port, publicUrl: `http://127.0.0.1:${port}` },
    authority: { issuer: authority.issuer, audiences: [AUDIENCE], clockToleranceSeconds: 5 },
    signing: { issuer: 'registry-token', keyPath: signing.keyPath, certificatePath: signing.certificatePath, lifetimeSeconds: 300 },
    registry: { realm: `http://127.0.0.1:${port}/token`, allowedServices: [SERVICE] },
    plans: {
      community: [{ repository: 'library/**' }],
      team: [{ repository: 'library/**' }, { repository: 'team/**', actions: ['pull', 'push'] }],
    },
    defaultPlan: 'community',
    ledger: { driver: 'file', path: ledgerPath },
    // info, the production default, writes one decision line per exchange.
    telemetry: { logLevel },
  };
}

/** Lines in the ledger segments, and how many of them are issuances. */
function ledgerLines(dir: string): { lines: number; issued: number } {
  let lines = 0;
  let issued = 0;
  for (const name of readdirSync(dir)) {
    if (!/^ledger-\d+\.jsonl$/.test(name)) continue;
    const text = readFileSync(join(dir, name), 'utf8');
    for (const line of text.split('\n')) {
      if (line === '') continue;
      lines++;
      if (line.includes('"outcome":"issued"')) issued++;
    }
  }
  return { lines, issued };
}

function verifyChain(dir: string): { ok: boolean; records: number } {
  let out: string;
  try {
    out = execFileSync(process.execPath, [CLI, 'ledger', 'verify', '--path', dir], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  } catch (error) {
    out = String((error as { stdout?: Buffer }).stdout ?? '{}');
  }
  const report = JSON.parse(out) as { ok?: boolean; records?: number };
  return { ok: report.ok === true, records: report.records ?? -1 };
}

// ---------------------------------------------------------------------------------------
// clients, proofs and the load

interface BenchClient {
  readonly clientId: string;
  readonly keys: webcrypto.CryptoKeyPair;
  readonly jwk: JWK;
  readonly token: string;
  readonly path: string;
}

interface Item {
  readonly path: string;
  readonly headers: Record<string, string>;
}

async function makeProof(client: BenchClient, htu: string): Promise<string> {
  return new SignJWT({ htm: 'GET', htu, jti: randomUUID(), iat: Math.floor(Date.now() / 1000), ath: createHash('sha256').update(client.token).digest('base64url') })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: client.jwk })
    .sign(client.keys.privateKey);
}

/** `count` requests, each with its own fresh proof, round-robin over the clients. */
async function makeItems(clients: readonly BenchClient[], htu: string, count: number): Promise<Item[]> {
  const items: Item[] = [];
  const BATCH = 512;
  for (let start = 0; start < count; start += BATCH) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(BATCH, count - start) }, async (_, k) => {
        const client = clients[(start + k) % clients.length]!;
        const proof = await makeProof(client, htu);
        return { path: client.path, headers: { authorization: `DPoP ${client.token}`, dpop: proof } };
      }),
    );
    items.push(...batch);
  }
  return items;
}

interface Run {
  readonly result: Result;
  /** Responses counted here (any status). */
  readonly responses: number;
  /**
   * First request to last response, in seconds. autocannon's own `duration` ends at the next
   * 1 s sampling tick after the last response when `amount` is used, which would understate
   * short runs' rate by up to a second's worth.
   */
  readonly seconds: number;
}

function drive(url: string, connections: number, amount: number, items: readonly Item[]): Promise<Run> {
  let next = 0;
  let responses = 0;
  let last = 0;
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url,
        connections,
        amount,
        timeout: 10,
        requests: [
          {
            method: 'GET',
            setupRequest(request) {
              // autocannon builds a connection's next request ahead of time, so a few more
              // items than `amount` are made; running out would mean replays (and 401s).
              const item = items[Math.min(next++, items.length - 1)]!;
              return { ...request, path: item.path, headers: item.headers };
            },
          },
        ],
      },
      (error, result) => {
        clearTimeout(guard);
        if (error) reject(error);
        else resolve({ result, responses, seconds: (last - started) / 1000 });
      },
    );
    instance.on('response', () => {
      responses++;
      last = performance.now();
    });
    const guard = setTimeout(() => {
      log(`run hit the ${MAX_RUN_MS / 1000} s cap; stopping it`);
      instance.stop();
    }, MAX_RUN_MS);
  });
}

// ---------------------------------------------------------------------------------------
// scenarios

interface Scenario {
  readonly name: string;
  readonly alg: 'RS256' | 'ES256';
  readonly connections: number;
  /** 'disk': the temp dir (same filesystem as a real deployment's var/); 'tmpfs': /dev/shm, where fdatasync costs nothing. */
  readonly ledger: 'disk' | 'tmpfs';
  readonly profile?: boolean;
  /** telemetry.logLevel for this scenario; default --log-level (info). */
  readonly logLevel?: string;
}

interface ScenarioResult {
  readonly scenario: Scenario;
  readonly requests: number;
  readonly seconds: number;
  readonly rps: number;
  readonly latency: { p50: number; p97_5: number; p99: number; max: number; mean: number };
  readonly errors: number;
  readonly timeouts: number;
  readonly non2xx: number;
  readonly ok2xx: number;
  /** 200s over the service's whole life (warm-up + measured run). */
  readonly ok2xxTotal: number;
  readonly ledger: { lines: number; issued: number; chainOk: boolean; chainRecords: number };
  readonly peakRssMiB: number;
  readonly rssMiB: number;
  readonly serviceCpuPercent: number;
  /** The JavaScript (event loop) thread alone. */
  readonly mainThreadCpuPercent: number;
  readonly mainThreadMsPerToken: number;
  /** Time the main thread was ready to run but had no core (the cores were busy with other threads). */
  readonly mainThreadRunQueuePercent: number;
  readonly cpuMsPerToken: number;
  readonly loadGenCpuPercent: number;
  /** CPU used by everything else on the machine during the run (other sessions' tests, the kernel's flush threads...). */
  readonly otherCpuPercent: number;
  readonly stealCpuPercent: number;
  /** RSS right after start-up, before any request. */
  readonly startRssMiB: number;
  readonly ledgerWait: { meanMs: number; p50Ms: number; p99Ms: number };
  readonly serverDuration: { meanMs: number; p50Ms: number; p99Ms: number };
  readonly proofsPerSecond: number;
  readonly profile?: string;
}

interface Keys {
  readonly RS256: { keyPath: string; certificatePath: string };
  readonly ES256: { keyPath: string; certificatePath: string };
}

async function runScenario(base: string, authority: DevAuthority, clients: readonly BenchClient[], keys: Keys, scenario: Scenario): Promise<ScenarioResult> {
  const dir = join(base, scenario.name.replace(/[^a-z0-9]+/gi, '-'));
  mkdirSync(dir, { recursive: true });
  const ledgerDir = scenario.ledger === 'tmpfs' ? tmpfsDir()! : join(dir, 'ledger');
  const port = await freePort();
  const configPath = join(dir, 'config.yaml');
  writeFileSync(configPath, dump(serviceConfig(authority, port, keys[scenario.alg], ledgerDir, scenario.logLevel ?? args['log-level'] ?? 'info')));
  const profileDir = join(dir, 'profile');
  const service = await startService(configPath, port, join(dir, 'service.log'), [
    // What ships (Dockerfile NODE_OPTIONS, npm start, the registry-token bin); --node-arg may override.
    ...(args['node-arg']?.some((arg) => arg.startsWith('--max-semi-space-size')) ? [] : [SHIPPED_NODE_FLAG]),
    ...(args['node-arg'] ?? []),
    ...(scenario.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
  ]);
  const htu = `${service.url}/token`;
  const startMemory = memoryOf(service.pid);
  try {
    // Warm-up at the same concurrency: JIT, Authority JWKS fetch, socket set-up; calibrates the run length.
    const warmCount = scenario.connections === 1 ? 400 : 2000;
    const warmItems = await makeItems(clients, htu, warmCount + 2 * scenario.connections + 8);
    const { result: warm, seconds: warmSeconds } = await drive(service.url, scenario.connections, warmCount, warmItems);
    if (warm.errors + warm.timeouts + warm.non2xx > 0) log(`${scenario.name}: warm-up had ${warm.errors} errors, ${warm.timeouts} timeouts, ${warm.non2xx} non-2xx`);
    const warmRate = warm['2xx'] / Math.max(warmSeconds, 0.001);
    let amount = Math.round((warmRate * RUN_SECONDS) / scenario.connections) * scenario.connections;
    amount = Math.max(scenario.connections * 10, Math.min(amount, 45_000));

    // Before the proofs are made: they are good for ~60 s, and the run is capped at 30 s.
    await waitForQuiet();
    const madeAt = performance.now();
    const items = await makeItems(clients, htu, amount + 2 * scenario.connections + 8);
    const proofsPerSecond = items.length / ((performance.now() - madeAt) / 1000);

    const metricsBefore = await scrape(service.url);
    const cpuBefore = cpuSecondsOf(service.pid);
    // The main thread's id is the process id: the JavaScript thread, where all but the
    // thread-pool crypto and fs work runs.
    const mainBefore = cpuSecondsOf(service.pid, service.pid);
    const schedBefore = schedOf(service.pid, service.pid);
    const loadBefore = process.cpuUsage();
    const machineBefore = machineCpu();
    const started = performance.now();
    log(`${scenario.name}: ${amount} requests at concurrency ${scenario.connections} (warm-up ran ${round(warmRate)} req/s)`);
    const { result, seconds, responses } = await drive(service.url, scenario.connections, amount, items);
    const wall = (performance.now() - started) / 1000;
    const load = process.cpuUsage(loadBefore);
    const cpu = cpuSecondsOf(service.pid) - cpuBefore;
    const mainCpu = cpuSecondsOf(service.pid, service.pid) - mainBefore;
    const schedAfter = schedOf(service.pid, service.pid);
    const machineAfter = machineCpu();
    const loadSeconds = (load.user + load.system) / 1e6;
    const otherSeconds = Math.max(0, machineAfter.busy - machineBefore.busy - cpu - loadSeconds);
    const memory = memoryOf(service.pid);
    const metricsAfter = await scrape(service.url);
    // Every 200 has been answered, so every issuance must already be durable in the ledger.
    const counted = ledgerLines(ledgerDir);

    const ledgerWait = minus(
      histogram(metricsAfter, 'registry_token_ledger_write_duration_seconds'),
      histogram(metricsBefore, 'registry_token_ledger_write_duration_seconds'),
    );
    const duration = minus(
      histogram(metricsAfter, 'registry_token_request_duration_seconds', 'outcome="issued"'),
      histogram(metricsBefore, 'registry_token_request_duration_seconds', 'outcome="issued"'),
    );
    const exit = await service.stop();
    if (exit !== 0) log(`${scenario.name}: service exited with ${String(exit)}`);
    const chain = verifyChain(ledgerDir);

    let profile: string | undefined;
    if (scenario.profile) {
      const file = readdirSync(profileDir).find((name) => name.endsWith('.cpuprofile'));
      profile = file === undefined ? '(no profile written)' : formatSummary(summariseFile(join(profileDir, file), 20));
      if (file !== undefined) log(`CPU profile: ${join(profileDir, file)}`);
    }

    const ms = (seconds: number) => round(seconds * 1000, 2);
    return {
      scenario,
      requests: responses,
      seconds: round(seconds, 2),
      rps: round(responses / Math.max(seconds, 0.001)),
      latency: { p50: result.latency.p50, p97_5: result.latency.p97_5, p99: result.latency.p99, max: result.latency.max, mean: result.latency.mean },
      errors: result.errors,
      timeouts: result.timeouts,
      non2xx: result.non2xx,
      ok2xx: result['2xx'],
      ok2xxTotal: warm['2xx'] + result['2xx'],
      ledger: { ...counted, chainOk: chain.ok, chainRecords: chain.records },
      peakRssMiB: round(memory.peakMiB, 1),
      rssMiB: round(memory.rssMiB, 1),
      // Over the active window: neither process does anything in autocannon's idle tail.
      serviceCpuPercent: round((100 * cpu) / Math.max(seconds, 0.001)),
      mainThreadCpuPercent: round((100 * mainCpu) / Math.max(seconds, 0.001)),
      mainThreadMsPerToken: round((1000 * mainCpu) / Math.max(result['2xx'], 1), 3),
      mainThreadRunQueuePercent: round((100 * (schedAfter.wait - schedBefore.wait)) / Math.max(seconds, 0.001)),
      cpuMsPerToken: round((1000 * cpu) / Math.max(result['2xx'], 1), 3),
      loadGenCpuPercent: round((100 * loadSeconds) / Math.max(seconds, 0.001)),
      otherCpuPercent: round((100 * otherSeconds) / wall),
      stealCpuPercent: round((100 * (machineAfter.steal - machineBefore.steal)) / wall),
      startRssMiB: round(startMemory.rssMiB, 1),
      ledgerWait: { meanMs: ms(ledgerWait.sum / Math.max(ledgerWait.count, 1)), p50Ms: ms(quantile(ledgerWait, 0.5)), p99Ms: ms(quantile(ledgerWait, 0.99)) },
      serverDuration: { meanMs: ms(duration.sum / Math.max(duration.count, 1)), p50Ms: ms(quantile(duration, 0.5)), p99Ms: ms(quantile(duration, 0.99)) },
      proofsPerSecond: round(proofsPerSecond),
      ...(profile === undefined ? {} : { profile }),
    };
  } finally {
    await service.stop();
    if (scenario.ledger === 'tmpfs') rmSync(ledgerDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------
// stage costs, measured in this process with the service's own modules

interface StageCosts {
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

async function stageCosts(base: string, authority: DevAuthority, client: BenchClient, keys: Keys): Promise<StageCosts> {
  const access = [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }];
  const minter = (k: { keyPath: string; certificatePath: string }) => {
    const key = loadSigningKey(k);
    return createMinter({ signingKey: () => key, issuer: 'registry-token', lifetimeSeconds: 300, clock: systemClock });
  };
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

// ---------------------------------------------------------------------------------------
// report

function table(results: readonly ScenarioResult[]): string {
  const header = [
    '| scenario | signing | conc. | ledger | requests / s | req/s | p50 ms | p97.5 ms | p99 ms | errors / non-2xx | ledger lines (issued) = 200s | chain | service CPU (main thread on CPU / waiting for a CPU) | CPU ms/token (main thread) | RSS start → peak MiB | ledger wait mean / p99 ms (server) | autocannon CPU | other CPU (steal) |',
    '|---|---|---:|---|---:|---:|---:|---:|---:|---|---|---|---:|---:|---:|---|---:|---:|',
  ];
  const rows = results.map((r) =>
    [
      r.scenario.name,
      r.scenario.alg,
      r.scenario.connections,
      `${r.scenario.ledger === 'disk' ? 'ext4 + fdatasync' : 'tmpfs'}${(r.scenario.logLevel ?? args['log-level']) === 'info' ? '' : `, log ${r.scenario.logLevel ?? args['log-level']}`}`,
      `${r.requests} / ${r.seconds}`,
      r.rps,
      r.latency.p50,
      r.latency.p97_5,
      r.latency.p99,
      `${r.errors + r.timeouts} / ${r.non2xx}`,
      `${r.ledger.lines} (${r.ledger.issued}) ${r.ledger.issued === r.ok2xxTotal && r.ledger.lines === r.ok2xxTotal ? '=' : '≠'} ${r.ok2xxTotal}`,
      r.ledger.chainOk ? `ok (${r.ledger.chainRecords})` : 'BROKEN',
      `${r.serviceCpuPercent} % (${r.mainThreadCpuPercent} % / ${r.mainThreadRunQueuePercent} %)`,
      `${r.cpuMsPerToken} (${r.mainThreadMsPerToken})`,
      `${r.startRssMiB} → ${r.peakRssMiB}`,
      `${r.ledgerWait.meanMs} / ${r.ledgerWait.p99Ms}`,
      `${r.loadGenCpuPercent} %`,
      `${r.otherCpuPercent} % (${r.stealCpuPercent} %)`,
    ].join(' | '),
  );
  return [...header, ...rows.map((row) => `| ${row} |`)].join('\n');
}

function stageTable(costs: StageCosts): string {
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

// ---------------------------------------------------------------------------------------
// main

async function main(): Promise<number> {
  if (args.abuse) return runAbuseBench();
  const wallStarted = performance.now();
  const base = mkdtempSync(join(tmpdir(), 'registry-token-bench-'));
  log(`node ${process.version}, ${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown cpu'}), work dir ${base}`);

  // The ES256 signing key and certificate for the second algorithm, made with openssl.
  const esKey = join(base, 'es256.pem');
  const esCert = join(base, 'es256.crt');
  execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', esKey], { stdio: 'ignore' });
  execFileSync('openssl', ['req', '-new', '-x509', '-key', esKey, '-subj', '/CN=registry-token-bench', '-days', '2', '-out', esCert], { stdio: 'ignore' });
  if (args.dist) {
    // What the container image runs: tsc's output, no type stripping at start-up.
    const out = join(base, 'dist');
    log('compiling src/ with tsc -p tsconfig.build.json');
    try {
      execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', out, '--sourceMap', 'false'], { cwd: ROOT, stdio: 'ignore' });
    } catch {
      // tsc still emits on type errors; only a missing cli.js is fatal.
    }
    symlinkSync(join(ROOT, 'node_modules'), join(base, 'node_modules'));
    serviceCli = join(out, 'cli.js');
    readFileSync(serviceCli);
  }
  const keys: Keys = { RS256: { keyPath: SAMPLE_KEY, certificatePath: SAMPLE_CERT }, ES256: { keyPath: esKey, certificatePath: esCert } };

  const devClients: DevClient[] = Array.from({ length: CLIENT_COUNT }, (_, i) => ({
    clientId: `bench-${i + 1}`,
    clientSecret: `secret-bench-${i + 1}-0000000000`,
    binding: 'dpop',
    scope: ISSUE,
    claims: { 'stellaops:plan': 'team', 'stellaops:license': 'lic-bench', tid: 'acme' },
  }));
  const authority = await startAuthority({ audience: AUDIENCE, clients: devClients, accessTokenTtlSeconds: 1800 });
  try {
    const clients: BenchClient[] = [];
    for (const [i, dev] of devClients.entries()) {
      const pair = (await generateKeyPair('ES256', { extractable: true })) as webcrypto.CryptoKeyPair;
      const token = await authority.tokenWithDpop(dev.clientId, pair);
      const query = new URLSearchParams({ service: SERVICE, scope: `repository:team/app-${i + 1}:pull,push` });
      clients.push({ clientId: dev.clientId, keys: pair, jwk: await exportJWK(pair.publicKey), token, path: `/token?${query.toString()}` });
    }
    log(`Authority ${authority.issuer}: ${clients.length} DPoP-bound OpToks`);

    if (args.profile) {
      const result = await runScenario(base, authority, clients, keys, { name: 'profile RS256 c64', alg: 'RS256', connections: 64, ledger: 'disk', profile: true });
      process.stdout.write(`\n${table([result])}\n\n${result.profile ?? ''}\n`);
      return result.errors + result.timeouts + result.non2xx === 0 ? 0 : 1;
    }

    let costs: StageCosts | undefined;
    let stageOtherPercent = 0;
    if (!args['skip-stages']) {
      log('measuring stage costs in-process');
      const stageMachine = machineCpu();
      const stageSelf = process.cpuUsage();
      const stageStarted = performance.now();
      costs = await stageCosts(base, authority, clients[0]!, keys);
      const used = process.cpuUsage(stageSelf);
      const stageSelfSeconds = (used.user + used.system) / 1e6;
      stageOtherPercent = round((100 * Math.max(0, machineCpu().busy - stageMachine.busy - stageSelfSeconds)) / ((performance.now() - stageStarted) / 1000));
    }

    const all: Scenario[] = [
      { name: 'RS256 c1', alg: 'RS256', connections: 1, ledger: 'disk' },
      { name: 'RS256 c16', alg: 'RS256', connections: 16, ledger: 'disk' },
      { name: 'RS256 c64', alg: 'RS256', connections: 64, ledger: 'disk' },
      { name: 'ES256 c64', alg: 'ES256', connections: 64, ledger: 'disk' },
      { name: 'RS256 c64 tmpfs', alg: 'RS256', connections: 64, ledger: 'tmpfs' },
      // The cost of the per-decision log line (pino with ~140 redaction paths).
      { name: 'RS256 c64 no log', alg: 'RS256', connections: 64, ledger: 'disk', logLevel: 'warn' },
    ];
    const only = args.only?.split(',').map((name) => name.trim());
    const probe = tmpfsDir();
    if (probe === undefined) log('no writable /dev/shm: the tmpfs scenario is skipped');
    else rmSync(probe, { recursive: true, force: true });
    const available = all.filter((s) => s.ledger !== 'tmpfs' || probe !== undefined);
    const chosen = only === undefined ? available : available.filter((s) => only.includes(s.name));
    const connections = args.connections === undefined ? undefined : Number(args.connections);
    if (connections !== undefined && !(Number.isInteger(connections) && connections >= 1 && connections <= 512)) throw new Error('--connections must be 1..512');
    const scenarios = connections === undefined ? chosen : chosen.map((s) => ({ ...s, name: `${s.name} (c=${connections})`, connections }));
    if (chosen.length === 0) throw new Error(`--only matches none of: ${all.map((s) => s.name).join(', ')}`);
    const results: ScenarioResult[] = [];
    for (const scenario of scenarios) results.push(await runScenario(base, authority, clients, keys, scenario));

    const failures = results.filter(
      (r) => r.errors + r.timeouts + r.non2xx > 0 || r.ledger.lines !== r.ok2xxTotal || r.ledger.issued !== r.ok2xxTotal || !r.ledger.chainOk,
    );
    const machine = `Node ${process.version}, ${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown'}), service ${args.dist ? 'node dist/cli.js (tsc output)' : 'node src/cli.ts'}, ${new Date().toISOString()}`;
    const report = [
      '',
      `## registry-token GET /token benchmark (${machine})`,
      '',
      table(results),
      '',
      'req/s: responses / (first request -> last response). Latency: autocannon, client side, ms.',
      'Service CPU: user+system of the whole process over the run (200 % = both cores); in brackets',
      'its main (JavaScript) thread on a CPU / ready but waiting for a core (/proc/PID/task/PID/schedstat).',
      'CPU ms/token: service CPU seconds / 200s (main thread alone in brackets). RSS: VmRSS after start-up',
      '-> VmHWM after the run. "ledger wait": the service\'s `registry_token_ledger_write_duration_seconds`',
      'over the run (append called -> record durable, queueing included), bucket-interpolated.',
      'autocannon CPU: this process during the run. Other CPU: the rest of the machine (/proc/stat).',
      `Proof generation in the bench process: ~${results[0]?.proofsPerSecond ?? '?'} ES256 proofs/s (before each run, not during it).`,
      '',
      ...(costs === undefined
        ? []
        : [stageTable(costs), '', `Other processes used ${stageOtherPercent} % CPU (of ${availableParallelism() * 100} %) while the stage costs were measured.`, '']),
      `bench wall time: ${round((performance.now() - wallStarted) / 1000)} s`,
      failures.length === 0 ? 'all runs: 0 errors, 0 non-2xx, ledger lines == 200s, chain verified' : `FAILED: ${failures.map((f) => f.scenario.name).join(', ')}`,
      '',
    ].join('\n');
    process.stdout.write(report);
    if (args.json !== undefined) writeFileSync(args.json, JSON.stringify({ machine, costs, results }, null, 2));
    return failures.length === 0 ? 0 : 1;
  } finally {
    await authority.close();
    // The profile run keeps its directory: the .cpuprofile opens in Chrome DevTools.
    if (args.profile || args.keep) log(`kept ${base}`);
    else rmSync(base, { recursive: true, force: true });
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
