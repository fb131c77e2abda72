// `npm run bench`: the full exchange (ES256 OpTok + ES256 DPoP proof verified, registry token
// signed, file ledger durable before the answer) against the service as a real child process,
// measured against issue 9's targets. The load generator is a third process (bench/load/), so
// the service's (the primary and every worker), the generator's and everyone else's CPU are each
// read apart from /proc.
//
// Per store (memory, then redis: a real redis-server the bench starts), signing algorithm (RS256,
// then ES256) and worker count (server.workers; default one per core, as shipped):
//   1. cold start: process spawned -> first 200 from GET /token
//   2. closed loop, 64 connections (autocannon): the saturated throughput, CPU per token, cores used
//   3. open loop at half that rate (bench/load/open-loop.ts): p50, p99, p99.9 from each request's due time
//   4. soak at half load, proofs made as they fall due: RSS sampled every second
// then every 200 must have its ledger line and the chain must verify. Before all that the bench
// runs `openssl speed -seconds 5 rsa2048` and `-multi <cores>` itself: the floor of the targets.
//
//   npm run bench                         everything (~2 min); the soak is --soak-seconds (default 20)
//   npm run bench -- --soak-seconds 300   the 5-minute soak of the RSS target
//   npm run bench -- --smoke              seconds-long run that checks the bench works, asserts no timing (.ci/run)
//   npm run bench -- --baseline REV       the same steps against `git archive REV` too: before/after rows of one run
//   npm run bench -- --floor              the same steps against bench/floor/server.ts first: the least the exchange costs in Node here
//   npm run bench -- --alg RS256          one signing algorithm
//   npm run bench -- --workers 1,2        server.workers of each row (default: the number of cores)
//   npm run bench -- --store memory       store.driver of each row (default memory,redis)
//   npm run bench -- --quiet-wait S       wait up to S s (default 20) for a quiet machine before each step
//   npm run bench -- --abuse              a valid client under a flood (bench/abuse.ts): exit 1 unless its p99 < 50 ms
//   npm run bench -- --abuse --runs N     N floods, each against a fresh service, and every run's p99
//   npm run bench -- --micro              the per-operation costs behind the hot path (bench/micro.ts)
//   npm run bench -- --profile            the closed-loop step under `node --cpu-prof`, summarised (RS256)
//   npm run bench -- --cold-starts N      only the cold start, N times per build, signing algorithm and worker count: median, min, max
//   npm run bench -- --seconds N          length of the closed-loop and open-loop runs (default 8)
//   npm run bench -- --connections N      closed-loop connections (default 64)
//   npm run bench -- --rate N             open-loop rate (default: half the closed-loop throughput)
//   npm run bench -- --skip-stages        without the in-process stage costs
//   npm run bench -- --ledger tmpfs       the ledger on /dev/shm, where fdatasync is free
//   npm run bench -- --log-level warn     telemetry.logLevel of the service (default info: a line per decision)
//   npm run bench -- --node-arg=FLAG      extra node flag for the service process (repeatable)
//   npm run bench -- --dist               run tsc's output (what the image runs) instead of src/
//   npm run bench -- --keep / --json FILE keep the work directory / write the raw figures
// The service inherits this process's environment (REGISTRY_TOKEN_* removed): UV_THREADPOOL_SIZE,
// MALLOC_ARENA_MAX and NODE_OPTIONS reach it.
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import type { JsonWebKey } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { dump } from 'js-yaml';
import { exportJWK, generateKeyPair } from 'jose';
import type { webcrypto } from 'node:crypto';
import { startAuthority, type DevAuthority, type DevClient } from '../src/dev/authority.ts';
import { runAbuseBench } from './abuse.ts';
import { runMicroBench } from './micro.ts';
import { formatSummary, summariseFile } from './cpu-profile.ts';
import type { GeneratorCommand, LoadSummary } from './load/generator.ts';
import { proofMaker, type LoadClient } from './load/proofs.ts';
import { rsaSpeed } from './support/openssl.ts';
import { between, round, sleep, snapshot, treeMemoryOf, waitForQuiet, type CpuWindow } from './support/proc.ts';
import { AUDIENCE, SERVICE, SHIPPED_NODE_FLAG, ledgerLines, serviceConfig, startService, verifyChain, type ServiceProcess } from './support/service.ts';
import { stageCosts, stageTable, tmpfsDir, type Keys, type StageCosts } from './stages.ts';
import { freePort } from '../test/support/process.ts';
import { startRedis } from '../test/support/redis.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const SAMPLE_KEY = join(ROOT, 'etc/registry-signing-sample.pem');
const SAMPLE_CERT = join(ROOT, 'etc/registry-signing-sample.crt');
const ISSUE = 'registry.token.issue';
/** Enough clients that no one's share of the replay cache (a tenth by default) is reached at load. */
const CLIENT_COUNT = 16;
/** authority.dpop.maxAgeSeconds + clockToleranceSeconds of the bench config: the replay cache's window. */
const PROOF_WINDOW_SECONDS = 65;

const { values: args } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    abuse: { type: 'boolean', default: false },
    micro: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    baseline: { type: 'string' },
    floor: { type: 'boolean', default: false },
    alg: { type: 'string', default: 'RS256,ES256' },
    workers: { type: 'string' },
    store: { type: 'string', default: 'memory,redis' },
    seconds: { type: 'string', default: '8' },
    'soak-seconds': { type: 'string', default: '20' },
    connections: { type: 'string', default: '64' },
    rate: { type: 'string' },
    'open-connections': { type: 'string', default: '256' },
    'skip-stages': { type: 'boolean', default: false },
    ledger: { type: 'string', default: 'disk' },
    'log-level': { type: 'string', default: 'info' },
    'node-arg': { type: 'string', multiple: true, default: [] },
    dist: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    'quiet-wait': { type: 'string', default: '20' },
    'cold-starts': { type: 'string' },
    runs: { type: 'string', default: '1' },
    json: { type: 'string' },
  },
});
const SMOKE = args.smoke;
const RUN_SECONDS = SMOKE ? 1.5 : Math.min(25, Math.max(2, Number(args.seconds) || 8));
const SOAK_SECONDS = SMOKE ? 3 : Math.max(3, Number(args['soak-seconds']) || 20);
const CONNECTIONS = Number(args.connections);
const CORES = availableParallelism();

const log = (message: string) => process.stderr.write(`[bench] ${message}\n`);
/** How long each step waits for a quiet machine (seconds) before running anyway. */
const QUIET_WAIT_MS = Math.max(0, Number(args['quiet-wait']) || 0) * 1000;
const quiet = () => waitForQuiet(log, 20, QUIET_WAIT_MS);

// ---------------------------------------------------------------------------------------
// the generator process

interface Generator {
  readonly pid: number;
  /** Sends the command, waits until its proofs are made, then runs it between two snapshots. */
  run(command: GeneratorCommand, servicePid: number): Promise<{ summary: LoadSummary; cpu: CpuWindow }>;
  close(): void;
}

function startGenerator(): Generator {
  const child: ChildProcess = fork(join(ROOT, 'bench/load/generator.ts'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const next = () =>
    new Promise<{ op: string; summary?: LoadSummary; error?: string }>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`load generator exited (${code})`));
      child.once('exit', onExit);
      child.once('message', (message: { op: string }) => {
        child.off('exit', onExit);
        resolve(message);
      });
    });
  return {
    pid: child.pid!,
    async run(command, servicePid) {
      const ready = next();
      child.send(command);
      const first = await ready;
      if (first.op === 'failed') throw new Error(`load generator: ${first.error}`);
      const before = snapshot(servicePid, child.pid!);
      const done = next();
      child.send({ op: 'go' });
      const message = await done;
      const after = snapshot(servicePid, child.pid!);
      if (message.op !== 'done') throw new Error(`load generator: ${message.error}`);
      return { summary: message.summary!, cpu: between(before, after) };
    },
    close() {
      if (child.connected) child.send({ op: 'exit' });
    },
  };
}

// ---------------------------------------------------------------------------------------
// one signing algorithm, one build of the service

interface Phase {
  readonly summary: LoadSummary;
  readonly cpu: CpuWindow;
  readonly ok: number;
  readonly tokensPerSecond: number;
  readonly cpuMsPerToken: number;
  readonly mainMsPerToken: number;
}

interface AlgResult {
  readonly alg: 'RS256' | 'ES256';
  readonly build: string;
  readonly workers: number;
  readonly store: 'memory' | 'redis';
  readonly coldStartMs: number;
  readonly closed: Phase;
  readonly open: Phase & { readonly rate: number };
  readonly soak: Phase & { readonly rate: number; readonly rssMiB: number[]; readonly steadyFrom: number };
  readonly startRssMiB: number;
  readonly peakRssMiB: number;
  readonly ledger: { lines: number; issued: number; ok2xx: number; chainOk: boolean };
  readonly failures: string[];
  readonly profile?: string;
}

function phase(summary: LoadSummary, cpu: CpuWindow): Phase {
  const ok = summary.statuses['200'] ?? 0;
  return {
    summary,
    cpu,
    ok,
    tokensPerSecond: round(ok / Math.max(summary.seconds, 0.001)),
    cpuMsPerToken: round((1000 * cpu.service) / Math.max(ok, 1), 3),
    mainMsPerToken: round((1000 * cpu.main) / Math.max(ok, 1), 3),
  };
}

/** The service's node flags: what ships (Dockerfile NODE_OPTIONS, npm start, the bin), which --node-arg may override. */
function serviceNodeArgs(): string[] {
  return [...(args['node-arg'].some((arg) => arg.startsWith('--max-semi-space-size')) ? [] : [SHIPPED_NODE_FLAG]), ...args['node-arg']];
}

/** Spawned -> first 200 from GET /token, polling every 5 ms with a fresh proof each time. */
async function coldStart(cli: string, configPath: string, port: number, logPath: string, clients: LoadClient[], nodeArgs: string[]): Promise<{ service: ServiceProcess; ms: number }> {
  const maker = proofMaker(clients, `http://127.0.0.1:${port}/token`);
  let firstOkAt = 0;
  const service = await startService({
    cli,
    configPath,
    port,
    logPath,
    nodeArgs,
    pollMs: 5,
    async ready(url) {
      const { path, headers } = maker.next();
      const response = await fetch(url + path, { headers });
      await response.arrayBuffer();
      if (response.status !== 200) return false;
      firstOkAt = performance.now();
      return true;
    },
  });
  return { service, ms: round(firstOkAt - service.spawnedAt, 1) };
}

/**
 * `--cold-starts N`: one cold start is a single noisy sample, so each variant starts N times
 * (builds interleaved, so that a machine that drifts does not favour one), memory store.
 */
async function coldStartTable(options: {
  base: string;
  builds: readonly { name: string; cli: string; knowsWorkers: boolean }[];
  algs: readonly ('RS256' | 'ES256')[];
  workerCounts: readonly number[];
  keys: Keys;
  issuer: string;
  clients: LoadClient[];
  runs: number;
  machine: string;
}): Promise<string> {
  const rows: string[] = [];
  for (const alg of options.algs) {
    for (const workers of options.workerCounts) {
      const samples = new Map<string, number[]>(options.builds.map((b) => [b.name, []]));
      for (let run = 0; run < options.runs; run++) {
        for (const [i, build] of options.builds.entries()) {
          const dir = join(options.base, `cold-${alg}-${workers}-${i}-${run}`);
          mkdirSync(dir, { recursive: true });
          const port = await freePort();
          const configPath = join(dir, 'config.yaml');
          writeFileSync(configPath, dump(serviceConfig({ issuer: options.issuer, port, signing: options.keys[alg], ledgerPath: join(dir, 'ledger'), logLevel: args['log-level'], workers: build.knowsWorkers ? workers : undefined })));
          if (!SMOKE) await quiet();
          const { service, ms } = await coldStart(build.cli, configPath, port, join(dir, 'service.log'), options.clients, serviceNodeArgs());
          await service.stop();
          samples.get(build.name)!.push(ms);
          log(`cold start ${build.name} ${alg} ${workers}w: ${ms} ms`);
        }
      }
      for (const [name, ms] of samples) {
        const sorted = [...ms].sort((a, b) => a - b);
        rows.push(`| ${name} | ${alg} | ${workers} | ${sorted.length} | **${round(sorted[Math.floor((sorted.length - 1) / 2)]!, 1)}** | ${round(sorted[0]!, 1)} | ${round(sorted.at(-1)!, 1)} |`);
      }
    }
  }
  return [
    '',
    `## registry-token cold start: spawn -> first 200 from GET /token (${options.machine})`,
    '',
    '| build | signing | workers | runs | median ms | min ms | max ms |',
    '|---|---|---:|---:|---:|---:|---:|',
    ...rows,
    '',
  ].join('\n');
}

async function runAlg(options: {
  base: string;
  build: string;
  cli: string;
  authority: DevAuthority;
  clients: LoadClient[];
  keys: Keys;
  alg: 'RS256' | 'ES256';
  generator: Generator;
  workers: number;
  /** False for a baseline older than server.workers: its configuration must not name it. */
  knowsWorkers: boolean;
  store: 'memory' | 'redis';
  redisUrl: string | undefined;
}): Promise<AlgResult> {
  const { alg, clients, generator, workers, store } = options;
  const name = `${options.build}-${alg}-w${workers}-${store}`.replace(/[^a-z0-9]+/gi, '-');
  const dir = join(options.base, name);
  mkdirSync(dir, { recursive: true });
  const shm = args.ledger === 'tmpfs' ? tmpfsDir() : undefined;
  if (args.ledger === 'tmpfs' && shm === undefined) throw new Error('--ledger tmpfs: no writable /dev/shm');
  const ledgerDir = shm ?? join(dir, 'ledger');
  const port = await freePort();
  const configPath = join(dir, 'config.yaml');
  writeFileSync(configPath, dump(serviceConfig({
    issuer: options.authority.issuer,
    port,
    signing: options.keys[alg],
    ledgerPath: ledgerDir,
    logLevel: args['log-level'],
    workers: options.knowsWorkers ? workers : undefined,
    redis: store === 'redis' ? { url: options.redisUrl!, keyPrefix: `${name}:` } : undefined,
  })));
  const profileDir = join(dir, 'profile');
  const nodeArgs = [...serviceNodeArgs(), ...(args.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [])];
  const failures: string[] = [];
  if (!SMOKE) await quiet();
  const { service, ms: coldStartMs } = await coldStart(options.cli, configPath, port, join(dir, 'service.log'), clients, nodeArgs);
  const url = service.url;
  const htu = `${url}/token`;
  let ok2xx = 1;
  const count = (p: Phase, what: string) => {
    ok2xx += p.ok;
    const bad = p.summary.responses - p.ok + p.summary.errors;
    if (bad > 0) failures.push(`${alg} ${what}: ${bad} answers other than 200 (${JSON.stringify(p.summary.statuses)}, ${p.summary.errors} errors)`);
  };
  try {
    const startRssMiB = treeMemoryOf(service.pid).rssMiB;
    // Warm-up at the closed-loop concurrency: JIT, the Authority's JWKS, sockets; it sets the run's length.
    const warm = phase(...Object.values(await generator.run({ op: 'closed', url, htu, clients, connections: CONNECTIONS, amount: SMOKE ? 200 : 2000 }, service.pid)) as [LoadSummary, CpuWindow]);
    count(warm, 'warm-up');
    const amount = Math.max(CONNECTIONS * 5, Math.min(60_000, Math.round((warm.tokensPerSecond * RUN_SECONDS) / CONNECTIONS) * CONNECTIONS));

    if (!SMOKE) await quiet();
    const label = `${options.build} ${alg} ${workers}w ${store}`;
    log(`${label}: closed loop, ${amount} requests at ${CONNECTIONS} connections`);
    const closedRun = await generator.run({ op: 'closed', url, htu, clients, connections: CONNECTIONS, amount }, service.pid);
    const closed = phase(closedRun.summary, closedRun.cpu);
    count(closed, 'closed loop');

    const rate = args.rate !== undefined ? Number(args.rate) : Math.max(10, Math.round(closed.tokensPerSecond / 2));
    if (!SMOKE) await quiet();
    log(`${label}: open loop, ${rate} req/s for ${RUN_SECONDS} s`);
    const openRun = await generator.run({ op: 'open', url, htu, clients, rate, seconds: RUN_SECONDS, connections: Number(args['open-connections']), premake: true }, service.pid);
    const open = { ...phase(openRun.summary, openRun.cpu), rate };
    count(open, 'open loop');

    log(`${label}: soak, ${rate} req/s for ${SOAK_SECONDS} s, RSS every second`);
    const rssMiB: number[] = [treeMemoryOf(service.pid).rssMiB];
    const sampler = setInterval(() => rssMiB.push(treeMemoryOf(service.pid).rssMiB), 1000);
    const soakRun = await generator.run({ op: 'open', url, htu, clients, rate, seconds: SOAK_SECONDS, connections: Number(args['open-connections']), premake: false }, service.pid).finally(() => clearInterval(sampler));
    rssMiB.push(treeMemoryOf(service.pid).rssMiB);
    // The replay cache fills for one proof window before it is steady: RSS is judged after that.
    const steadyFrom = Math.min(PROOF_WINDOW_SECONDS, Math.floor(SOAK_SECONDS / 2));
    const soak = { ...phase(soakRun.summary, soakRun.cpu), rate, rssMiB, steadyFrom };
    count(soak, 'soak');

    const peakRssMiB = treeMemoryOf(service.pid).peakMiB;
    const exit = await service.stop();
    if (exit !== 0) failures.push(`${alg}: service exited with ${String(exit)}`);
    const lines = ledgerLines(ledgerDir);
    const chain = verifyChain(options.cli, ledgerDir);
    if (lines.lines !== ok2xx || lines.issued !== ok2xx) failures.push(`${alg}: ${lines.lines} ledger lines (${lines.issued} issued) for ${ok2xx} answers 200`);
    if (!chain.ok) failures.push(`${alg}: the ledger chain does not verify`);
    let profile: string | undefined;
    if (args.profile) {
      const file = readdirSync(profileDir).find((name) => name.endsWith('.cpuprofile'));
      profile = file === undefined ? '(no profile written)' : formatSummary(summariseFile(join(profileDir, file), 25));
      if (file !== undefined) log(`CPU profile: ${join(profileDir, file)}`);
    }
    return {
      alg,
      build: options.build,
      workers,
      store,
      coldStartMs,
      closed,
      open,
      soak,
      startRssMiB: round(startRssMiB, 1),
      peakRssMiB: round(peakRssMiB, 1),
      ledger: { lines: lines.lines, issued: lines.issued, ok2xx, chainOk: chain.ok },
      failures,
      ...(profile === undefined ? {} : { profile }),
    };
  } finally {
    await service.stop();
    if (shm !== undefined) rmSync(shm, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------
// report

interface Floor {
  readonly singleSignMs: number;
  readonly singlePerSecond: number;
  readonly multiPerSecond: number;
}

const labelOf = (r: AlgResult) => `${r.build}, ${r.alg} signing, ${r.workers} worker${r.workers === 1 ? '' : 's'}, store ${r.store}`;

const pct = (part: number, whole: number) => round((100 * part) / Math.max(whole, 1e-9));

function rssSteady(r: AlgResult): { from: number; to: number; max: number; min: number; growthPercent: number } {
  const samples = r.soak.rssMiB.slice(r.soak.steadyFrom);
  const from = samples[0] ?? NaN;
  const to = samples.at(-1) ?? NaN;
  const max = Math.max(...samples);
  const min = Math.min(...samples);
  return { from: round(from, 1), to: round(to, 1), max: round(max, 1), min: round(min, 1), growthPercent: round((100 * (max - min)) / min, 1) };
}

function targetsTable(r: AlgResult, floor: Floor): string {
  const ratio = r.closed.cpuMsPerToken / floor.singleSignMs;
  const cores = r.closed.cpu.service / r.closed.cpu.wall;
  const floorRate = 0.6 * floor.multiPerSecond;
  const rss = rssSteady(r);
  const mark = (met: boolean) => (SMOKE ? '(smoke: not judged)' : met ? '**met**' : 'not met');
  const gen = `generator ${pct(r.closed.cpu.generator, r.closed.cpu.wall)} % CPU, others ${pct(r.closed.cpu.other, r.closed.cpu.wall)} %`;
  // With workers the primary answers their store questions (memory store): its share is what asking costs there.
  const primary = r.workers > 1 ? `; the primary ${round((1000 * r.closed.cpu.root) / Math.max(r.closed.ok, 1), 3)} ms of it` : '';
  return [
    `| target (${labelOf(r)}) | measured | met? |`,
    '|---|---|---|',
    `| CPU per token ≤ 1.6 × one RSA-2048 signature | ${r.closed.cpuMsPerToken} ms / ${round(floor.singleSignMs, 3)} ms = **${round(ratio, 2)} ×** (main thread ${r.closed.mainMsPerToken} ms${primary}) | ${mark(ratio <= 1.6)} |`,
    `| service uses ≥ 95 % of the cores at saturation | ${round(cores, 2)} of ${CORES} cores (${pct(cores, CORES)} %); main thread waited for a core ${pct(r.closed.cpu.mainWait, r.closed.cpu.wall)} % of the time; ${gen} | ${mark(cores >= 0.95 * CORES)} |`,
    `| tokens/s ≥ 0.6 × openssl -multi ${CORES} (${round(floorRate)}/s) | ${r.closed.tokensPerSecond}/s at ${CONNECTIONS} connections = ${round(r.closed.tokensPerSecond / floor.multiPerSecond, 2)} × | ${mark(r.closed.tokensPerSecond >= floorRate)} |`,
    `| open loop at ${r.open.rate}/s (half): p99 ≤ 5 ms, p99.9 ≤ 20 ms | p50 ${round(r.open.summary.latencyMs.p50, 2)}, p99 **${round(r.open.summary.latencyMs.p99, 2)}**, p99.9 **${round(r.open.summary.latencyMs.p99_9, 2)}**, max ${round(r.open.summary.latencyMs.max, 1)} ms (generator sent ≤ ${round(r.open.summary.sendLagP99Ms ?? NaN, 2)} ms late at p99) | ${mark(r.open.summary.latencyMs.p99 <= 5 && r.open.summary.latencyMs.p99_9 <= 20)} |`,
    `| closed loop, ${CONNECTIONS} connections (reported, no target) | p50 ${r.closed.summary.latencyMs.p50}, p99 ${r.closed.summary.latencyMs.p99}, p99.9 ${r.closed.summary.latencyMs.p99_9} ms | |`,
    `| RSS within 10 % over the soak at half load (${SOAK_SECONDS} s; judged after the first ${r.soak.steadyFrom} s, when the replay cache is full) | ${rss.from} → ${rss.to} MiB, range ${rss.min}–${rss.max} (${rss.growthPercent} %); start-up ${r.startRssMiB}, peak ${r.peakRssMiB} MiB | ${SOAK_SECONDS < 300 ? `${mark(rss.growthPercent <= 10)} (soak < 5 min)` : mark(rss.growthPercent <= 10)} |`,
    `| cold start < 1 s (spawn → first 200) | ${r.coldStartMs} ms | ${mark(r.coldStartMs < 1000)} |`,
  ].join('\n');
}

function detailTable(results: readonly AlgResult[]): string {
  const row = (r: AlgResult, name: string, p: Phase, conc: string) =>
    `| ${r.build} | ${r.alg} | ${r.workers} | ${r.store} | ${name} | ${conc} | ${p.summary.responses} / ${round(p.summary.seconds, 2)} s | ${p.tokensPerSecond} | ${round(p.summary.latencyMs.p50, 2)} | ${round(p.summary.latencyMs.p99, 2)} | ${round(p.summary.latencyMs.p99_9, 2)} | ${p.cpuMsPerToken} (${p.mainMsPerToken}) | ${pct(p.cpu.service, p.cpu.wall)} % (${pct(p.cpu.main, p.cpu.wall)} % / ${pct(p.cpu.mainWait, p.cpu.wall)} %) | ${pct(p.cpu.generator, p.cpu.wall)} % | ${pct(p.cpu.other, p.cpu.wall)} % (${pct(p.cpu.steal, p.cpu.wall)} %) |`;
  return [
    '| build | signing | workers | store | step | load | answers / time | tokens/s | p50 ms | p99 ms | p99.9 ms | CPU ms/token (main thread) | service CPU (main thread on CPU / waiting) | generator CPU | other CPU (steal) |',
    '|---|---|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...results.flatMap((r) => [
      row(r, 'closed loop', r.closed, `${CONNECTIONS} conn.`),
      row(r, 'open loop', r.open, `${r.open.rate}/s`),
      row(r, 'soak', r.soak, `${r.soak.rate}/s, ${SOAK_SECONDS} s`),
    ]),
  ].join('\n');
}

// ---------------------------------------------------------------------------------------
// main

/** `git archive REV` of this repository into `dir`, with this checkout's node_modules. */
function checkout(rev: string, dir: string): { cli: string; knowsWorkers: boolean } {
  mkdirSync(dir, { recursive: true });
  execFileSync('bash', ['-c', `git -C "$1" archive "$2" | tar -x -C "$3"`, 'archive', ROOT, rev, dir], { stdio: ['ignore', 'ignore', 'inherit'] });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  return { cli: join(dir, 'src/cli.ts'), knowsWorkers: /\bworkers:/.test(readFileSync(join(dir, 'src/config/schema.ts'), 'utf8')) };
}

function compileDist(base: string): string {
  const out = join(base, 'dist');
  log('compiling src/ with tsc -p tsconfig.build.json');
  try {
    execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', out, '--sourceMap', 'false'], { cwd: ROOT, stdio: 'ignore' });
  } catch {
    // tsc still emits on type errors; only a missing cli.js is fatal.
  }
  symlinkSync(join(ROOT, 'node_modules'), join(base, 'node_modules'));
  readFileSync(join(out, 'cli.js'));
  return join(out, 'cli.js');
}

async function main(): Promise<number> {
  if (args.abuse) return runAbuseBench(Math.max(1, Number(args.runs) || 1));
  if (args.micro) return runMicroBench(tmpdir());
  const wallStarted = performance.now();
  const base = mkdtempSync(join(tmpdir(), 'registry-token-bench-'));
  const machine = `Node ${process.version}, ${CORES} cores (${cpus()[0]?.model ?? 'unknown'}), ${new Date().toISOString()}`;
  log(`${machine}, work dir ${base}`);
  const algs = args.profile ? (['RS256'] as const) : (args.alg.split(',').map((a) => a.trim()) as ('RS256' | 'ES256')[]);
  if (algs.some((a) => a !== 'RS256' && a !== 'ES256')) throw new Error('--alg: RS256 and/or ES256');

  // The ES256 signing key and certificate, made with openssl.
  const esKey = join(base, 'es256.pem');
  const esCert = join(base, 'es256.crt');
  execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', esKey], { stdio: 'ignore' });
  execFileSync('openssl', ['req', '-new', '-x509', '-key', esKey, '-subj', '/CN=registry-token-bench', '-days', '2', '-out', esCert], { stdio: 'ignore' });
  const keys: Keys = { RS256: { keyPath: SAMPLE_KEY, certificatePath: SAMPLE_CERT }, ES256: { keyPath: esKey, certificatePath: esCert } };
  const builds: { name: string; cli: string; knowsWorkers: boolean }[] = [{ name: args.dist ? 'dist' : 'this tree', cli: args.dist ? compileDist(base) : join(ROOT, 'src/cli.ts'), knowsWorkers: true }];
  // Before the rows it is the floor of, as a baseline comes before this tree.
  if (args.floor) builds.unshift({ name: 'node floor', cli: join(ROOT, 'bench/floor/server.ts'), knowsWorkers: true });
  if (args.baseline !== undefined) builds.unshift({ name: `before (${args.baseline})`, ...checkout(args.baseline, join(base, 'baseline')) });
  // server.workers: what ships (one per core) unless told; a list (`1,2`) gives before/after rows.
  const workerCounts = (args.workers ?? String(CORES)).split(',').map((w) => Number(w.trim()));
  if (workerCounts.some((w) => !Number.isInteger(w) || w < 1)) throw new Error('--workers: positive integers, comma-separated');
  const stores = args.store.split(',').map((s) => s.trim()) as ('memory' | 'redis')[];
  if (stores.some((s) => s !== 'memory' && s !== 'redis')) throw new Error('--store: memory and/or redis');
  // A real redis-server (as the tests start it), when a store: redis row is asked for.
  const redis = stores.includes('redis') ? await startRedis() : undefined;

  // The floor of the targets (--cold-starts judges none of them).
  const coldOnly = args['cold-starts'] !== undefined;
  if (!SMOKE && !coldOnly) await quiet();
  const opensslSeconds = SMOKE || coldOnly ? 1 : 5;
  if (!coldOnly) log(`openssl speed -seconds ${opensslSeconds} rsa2048, and -multi ${CORES}`);
  const speed = coldOnly ? { single: { signPerSecond: NaN, command: '' }, multi: { signPerSecond: NaN, command: '' } } : await rsaSpeed(opensslSeconds, CORES);
  const floor: Floor = { singleSignMs: 1000 / speed.single.signPerSecond, singlePerSecond: speed.single.signPerSecond, multiPerSecond: speed.multi.signPerSecond };

  const devClients: DevClient[] = Array.from({ length: CLIENT_COUNT }, (_, i) => ({
    clientId: `bench-${i + 1}`,
    clientSecret: `secret-bench-${i + 1}-0000000000`,
    binding: 'dpop',
    scope: ISSUE,
    claims: { 'stellaops:plan': 'team', 'stellaops:license': 'lic-bench', tid: 'acme' },
  }));
  const authority = await startAuthority({ audience: AUDIENCE, clients: devClients, accessTokenTtlSeconds: 1800 });
  const generator = startGenerator();
  try {
    const clients: LoadClient[] = [];
    let stageClient: { keys: webcrypto.CryptoKeyPair; jwk: Awaited<ReturnType<typeof exportJWK>>; token: string } | undefined;
    for (const [i, dev] of devClients.entries()) {
      const pair = (await generateKeyPair('ES256', { extractable: true })) as webcrypto.CryptoKeyPair;
      const token = await authority.tokenWithDpop(dev.clientId, pair);
      const query = new URLSearchParams({ service: SERVICE, scope: `repository:team/app-${i + 1}:pull,push` });
      clients.push({ token, privateJwk: (await exportJWK(pair.privateKey)) as JsonWebKey, path: `/token?${query.toString()}` });
      stageClient ??= { keys: pair, jwk: await exportJWK(pair.publicKey), token };
    }
    log(`Authority ${authority.issuer}: ${clients.length} DPoP-bound OpToks; load generator pid ${generator.pid}`);

    if (args['cold-starts'] !== undefined) {
      process.stdout.write(await coldStartTable({ base, builds, algs, workerCounts, keys, issuer: authority.issuer, clients, runs: Math.max(1, Number(args['cold-starts']) || 1), machine }));
      return 0;
    }

    let costs: StageCosts | undefined;
    if (!args['skip-stages'] && !SMOKE && !args.profile) {
      log('measuring stage costs in-process');
      costs = await stageCosts(base, authority, stageClient!, keys);
    }

    const results: AlgResult[] = [];
    const lost: string[] = [];
    for (const store of stores) {
      for (const alg of algs) {
        for (const workers of workerCounts) {
          for (const build of builds) {
            // A baseline without server.workers runs one process: one row is enough.
            if (!build.knowsWorkers && workers !== workerCounts[0]) continue;
            try {
              results.push(await runAlg({ base, build: build.name, cli: build.cli, knowsWorkers: build.knowsWorkers, authority, clients, keys, alg, generator, workers: build.knowsWorkers ? workers : 1, store, redisUrl: redis?.url }));
            } catch (error) {
              // One variant that cannot run (a service that never served) must not lose the others' rows.
              lost.push(`${build.name} ${alg} ${workers}w ${store}: ${(error as Error).message.split('\n')[0]}`);
              log(`variant failed: ${lost.at(-1)}`);
            }
          }
        }
      }
    }
    const failures = [...lost, ...results.flatMap((r) => r.failures)];

    const out: string[] = [];
    if (SMOKE) {
      for (const r of results) {
        out.push(
          `bench smoke ${labelOf(r)}: cold start ${r.coldStartMs} ms; closed ${r.closed.tokensPerSecond}/s, ${r.closed.cpuMsPerToken} ms CPU/token (${round(r.closed.cpuMsPerToken / floor.singleSignMs, 2)} × openssl); open ${r.open.rate}/s p99 ${round(r.open.summary.latencyMs.p99, 1)} ms; soak RSS ${round(r.soak.rssMiB[0] ?? NaN)} → ${round(r.soak.rssMiB.at(-1) ?? NaN)} MiB; ledger ${r.ledger.lines} = ${r.ledger.ok2xx}, chain ${r.ledger.chainOk ? 'ok' : 'BROKEN'}`,
        );
      }
      out.push(failures.length === 0 ? 'bench smoke: ok (timings not judged)' : `bench smoke FAILED: ${failures.join('; ')}`);
      process.stdout.write(`${out.join('\n')}\n`);
    } else {
      out.push(
        '',
        `## registry-token GET /token benchmark (${machine}, service ${builds.map((b) => b.name).join(' / ')}, ledger ${args.ledger === 'tmpfs' ? 'tmpfs' : `ext4 + fdatasync`}, log ${args['log-level']})`,
        '',
        `Floor: \`${speed.single.command}\` ${round(floor.singlePerSecond)} signatures/s = ${round(floor.singleSignMs, 3)} ms each; \`${speed.multi.command}\` ${round(floor.multiPerSecond)}/s.`,
        '',
      );
      for (const r of results) out.push(targetsTable(r, floor), '');
      out.push(detailTable(results), '');
      out.push(
        'tokens/s: answers 200 / (first request -> last answer). Latency: client side, ms; open loop from each request\'s due time.',
        'CPU ms/token: service CPU seconds (all threads; main thread in brackets) / answers 200 in the step.',
        'Service CPU: 100 % = one core. Main thread waiting: runnable without a core (schedstat). Generator CPU: the',
        'load generator process (proofs for the soak are made during it; for the other steps before it). Other CPU:',
        'the rest of the machine, this bench process excluded (/proc/stat).',
        '',
      );
      if (costs !== undefined) out.push(stageTable(costs), '');
      if (args.profile) for (const r of results) out.push(r.profile ?? '', '');
      out.push(`bench wall time: ${round((performance.now() - wallStarted) / 1000)} s`);
      out.push(failures.length === 0 ? 'all steps: every answer 200, ledger lines == 200s, chain verified' : `FAILED: ${failures.join('; ')}`, '');
      process.stdout.write(out.join('\n'));
    }
    if (args.json !== undefined) writeFileSync(args.json, JSON.stringify({ machine, floor, costs, results }, null, 2));
    return failures.length === 0 ? 0 : 1;
  } finally {
    generator.close();
    await authority.close();
    await redis?.stop();
    if (args.keep || args.profile) log(`kept ${base}`);
    else rmSync(base, { recursive: true, force: true });
    await sleep(0);
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
