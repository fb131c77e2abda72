// The service under test as a real child process: its configuration, start-up, and the checks
// after a run (every 200 has its ledger line, the chain verifies).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sleep } from './proc.ts';

export const AUDIENCE = 'registry-token';
/** The V8 flag the service ships with (src/cli.ts's first line, `npm start`, the Dockerfile; docs/performance.md, "Memory"). */
export const SHIPPED_NODE_FLAG = '--max-semi-space-size=16';
export const SERVICE = 'registry.localhost';

export interface ServiceProcess {
  readonly url: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** performance.now() when the process was spawned. */
  readonly spawnedAt: number;
  stop(): Promise<number | string>;
}

/**
 * Spawns `node [nodeArgs] CLI serve --config FILE`; resolves once `ready()` says so (called every
 * `pollMs`), so the caller decides what "up" means: /readyz, or a first 200 from /token.
 */
export async function startService(options: {
  cli: string;
  configPath: string;
  port: number;
  logPath: string;
  nodeArgs?: readonly string[];
  ready: (url: string) => Promise<boolean>;
  pollMs?: number;
}): Promise<ServiceProcess> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.toUpperCase().startsWith('REGISTRY_TOKEN_')));
  const out = openSync(options.logPath, 'a');
  const spawnedAt = performance.now();
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), options.cli, 'serve', '--config', options.configPath], { env, stdio: ['ignore', out, out] });
  closeSync(out);
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const url = `http://127.0.0.1:${options.port}`;
  // Generous: on a loaded machine several workers compiling the sources take a while to serve.
  const deadline = Date.now() + 60_000;
  for (;;) {
    const early = await Promise.race([exited, sleep(options.pollMs ?? 100).then(() => 'waiting' as const)]);
    if (early !== 'waiting') throw new Error(`service exited (${String(early)}) before serving:\n${readFileSync(options.logPath, 'utf8')}`);
    try {
      if (await options.ready(url)) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`service did not become ready:\n${readFileSync(options.logPath, 'utf8')}`);
    }
  }
  return {
    url,
    child,
    pid: child.pid!,
    spawnedAt,
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

export function serviceConfig(options: {
  issuer: string;
  port: number;
  signing: { keyPath: string; certificatePath: string };
  ledgerPath: string;
  logLevel: string;
  /** server.workers; undefined leaves the key out (a baseline that predates it). */
  workers?: number | undefined;
  /** A Redis URL for store.driver redis; undefined: the memory store. */
  redis?: { url: string; keyPrefix: string } | undefined;
}): Record<string, unknown> {
  const { port } = options;
  return {
    server: { host: '127.0.0.1', port, publicUrl: `http://127.0.0.1:${port}`, ...(options.workers === undefined ? {} : { workers: options.workers }) },
    ...(options.redis === undefined ? {} : { store: { driver: 'redis', redis: options.redis } }),
    authority: { issuer: options.issuer, audiences: [AUDIENCE], clockToleranceSeconds: 5 },
    signing: { issuer: 'registry-token', keyPath: options.signing.keyPath, certificatePath: options.signing.certificatePath, lifetimeSeconds: 300 },
    registry: { realm: `http://127.0.0.1:${port}/token`, allowedServices: [SERVICE] },
    plans: {
      community: [{ repository: 'library/**' }],
      team: [{ repository: 'library/**' }, { repository: 'team/**', actions: ['pull', 'push'] }],
    },
    defaultPlan: 'community',
    ledger: { driver: 'file', path: options.ledgerPath },
    // info, the production default, writes one decision line per exchange.
    telemetry: { logLevel: options.logLevel },
    // The limits run (their cost is part of the exchange) but never refuse the bench's one address.
    rateLimits: { perAddress: { max: 1_000_000_000, windowSeconds: 60 }, perClient: { max: 1_000_000_000, windowSeconds: 60 } },
  };
}

/** Lines in the ledger segments (every worker's chain too), and how many of them are issuances. */
export function ledgerLines(dir: string): { lines: number; issued: number } {
  let lines = 0;
  let issued = 0;
  const files = readdirSync(dir).flatMap((name) => {
    if (/^ledger-\d+\.jsonl$/.test(name)) return [join(dir, name)];
    if (!/^worker-\d+$/.test(name)) return [];
    return readdirSync(join(dir, name)).filter((inner) => /^ledger-\d+\.jsonl$/.test(inner)).map((inner) => join(dir, name, inner));
  });
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    for (const line of text.split('\n')) {
      if (line === '') continue;
      lines++;
      if (line.includes('"outcome":"issued"')) issued++;
    }
  }
  return { lines, issued };
}

export function verifyChain(cli: string, dir: string): { ok: boolean; records: number } {
  let out: string;
  try {
    out = execFileSync(process.execPath, [cli, 'ledger', 'verify', '--path', dir, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  } catch (error) {
    out = String((error as { stdout?: Buffer }).stdout ?? '{}');
  }
  const report = JSON.parse(out) as { ok?: boolean; records?: number };
  return { ok: report.ok === true, records: report.records ?? -1 };
}
