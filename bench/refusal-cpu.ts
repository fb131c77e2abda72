// `node bench/refusal-cpu.ts`: the service's CPU per refused request, through real HTTP.
//
// Starts the development Authority and the service as a real child process (one process, rate
// limits and refusal bounds as in the abuse battery, docs/reliability.md) and sends each kind of
// request the abuse flood is made of from an address of its own, 8 at a time on keep-alive
// connections, reading the service's CPU from /proc around each run: GET /healthz (the floor of
// any request), then an anonymous /token refused 429 once its address is over
// `failedAuthPerAddress`, with one scope and with 64 long scopes. What the abuse flood
// costs the service per request, apart from its valid share (`npm run bench -- --abuse`).
//
// With `--workers N` the service runs N workers (the memory store in the primary, reached over
// IPC) and the CPU is the whole process tree's.
//
//   node bench/refusal-cpu.ts [--requests 8000] [--concurrency 8] [--workers 1]
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startAuthority } from '../src/dev/authority.ts';
import { cpuSecondsOf, treeOf } from './support/proc.ts';
import { BATTERY_CLIENTS } from '../test/battery/support/clients.ts';
import { applyAbuseConfig, longScopes } from '../test/battery/support/flood.ts';
import { CLI, freePort, startServiceProcess, writeConfig } from '../test/support/process.ts';
import { SHIPPED_NODE_FLAG } from './support/service.ts';
import { AUDIENCE, SERVICE, baseConfig } from '../test/support/stack.ts';

const { values } = parseArgs({ options: { requests: { type: 'string', default: '8000' }, concurrency: { type: 'string', default: '8' }, workers: { type: 'string', default: '1' } } });
const REQUESTS = Math.max(100, Number(values.requests) || 8000);
const CONCURRENCY = Math.max(1, Number(values.concurrency) || 8);
const WORKERS = Math.max(1, Number(values.workers) || 1);

const dir = mkdtempSync(join(tmpdir(), 'registry-token-refusal-cpu-'));
const authority = await startAuthority({ audience: AUDIENCE, clients: BATTERY_CLIENTS, accessTokenTtlSeconds: 600 });
const port = await freePort();
const config = baseConfig(authority, dir);
config.server = { host: '127.0.0.1', workers: WORKERS, port };
config.telemetry = { logLevel: 'warn' };
applyAbuseConfig(config);
// Only failed authentications block an address here: the runs are far longer than the flood.
(config.rateLimits as { perAddress: unknown }).perAddress = { max: 1_000_000_000, windowSeconds: 600 };
// As it ships: src/cli.ts's own first line carries the flag, which `node src/cli.ts` skips.
const service = await startServiceProcess(writeConfig(join(dir, 'config.yaml'), config), port, {}, [], { file: process.execPath, args: [SHIPPED_NODE_FLAG, CLI] });

/** The service's CPU so far, in ms: every process of its tree (the primary and its workers). */
const cpuMs = (): number => treeOf(service.child.pid!).reduce((sum, pid) => sum + cpuSecondsOf(pid) * 1000, 0);
const tokenUrl = (scopes: readonly string[]) => {
  const url = new URL('/token', service.url);
  url.searchParams.set('service', SERVICE);
  for (const scope of scopes) url.searchParams.append('scope', scope);
  return url.toString();
};

async function run(name: string, url: string, address: string, count: number): Promise<string> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY, localAddress: address });
  const one = () =>
    new Promise<number>((resolve, reject) => {
      const req = request(url, { agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end();
    });
  const statuses: Record<number, number> = {};
  const before = cpuMs();
  const started = performance.now();
  let left = count;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (left-- > 0) {
      const status = await one();
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
  }));
  const used = cpuMs() - before;
  agent.destroy();
  return `| ${name} | ${count} | ${JSON.stringify(statuses)} | ${Math.round((1000 * used) / count)} | ${Math.round(count / ((performance.now() - started) / 1000))} |`;
}

try {
  const rows: string[] = [];
  await run('warm-up', `${service.url}/healthz`, '127.0.0.9', 500);
  rows.push(await run('GET /healthz (the floor)', `${service.url}/healthz`, '127.0.0.9', REQUESTS));
  // 40 anonymous requests put an address over failedAuthPerAddress (20 in the abuse configuration).
  await run('refusing 127.0.0.3', tokenUrl(['repository:team/app:pull']), '127.0.0.3', 40);
  rows.push(await run('anonymous /token from a refused address: 429', tokenUrl(['repository:team/app:pull']), '127.0.0.3', REQUESTS));
  await run('refusing 127.0.0.2', tokenUrl(['repository:team/app:pull']), '127.0.0.2', 40);
  rows.push(await run('the same with 64 long scopes: 429', tokenUrl(longScopes()), '127.0.0.2', REQUESTS));
  process.stdout.write(
    [
      '',
      `## registry-token CPU per refused request (${new Date().toISOString()}, node ${process.version}, ${CONCURRENCY} at a time, ${WORKERS} worker${WORKERS === 1 ? '' : 's'})`,
      '',
      '| request | sent | answers | service CPU µs / request | requests/s |',
      '|---|---:|---|---:|---:|',
      ...rows,
      '',
    ].join('\n'),
  );
} finally {
  await service.stop();
  await authority.close();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
