// The real consumer of /metrics: Debian's prometheus scrapes the running service and its
// query API must return the counters with exactly the values this test caused.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack, SERVICE } from '../support/stack.ts';
import { dpopGet, newDpopKeys, tokenUrl } from '../support/dpop-client.ts';
import { freePort } from '../support/process.ts';
import { requireTool } from '../support/tools.ts';

async function query(base: string, expression: string): Promise<number | undefined> {
  const response = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(expression)}`);
  const body = (await response.json()) as { data?: { result?: { value: [number, string] }[] } };
  const value = body.data?.result?.[0]?.value[1];
  return value === undefined ? undefined : Number(value);
}

describe('prometheus scrapes the service', () => {
  let stack: Stack;
  let prometheus: ChildProcess;
  let prometheusUrl: string;
  let log = '';

  beforeAll(async () => {
    requireTool('prometheus');
    requireTool('promtool');
    stack = await startStack();
    const keys = await newDpopKeys();
    const team = await stack.authority.tokenWithDpop('team-dpop', keys);
    for (let i = 0; i < 3; i++) {
      expect((await dpopGet(tokenUrl(stack.url, { service: SERVICE, scope: ['repository:team/app:pull'] }), team, keys)).status).toBe(200);
    }
    const revokedKeys = await newDpopKeys();
    const revoked = await stack.authority.tokenWithDpop('revoked', revokedKeys);
    for (let i = 0; i < 2; i++) {
      expect((await dpopGet(tokenUrl(stack.url, { service: SERVICE, scope: ['repository:team/app:pull'] }), revoked, revokedKeys)).status).toBe(403);
    }

    const port = await freePort();
    prometheusUrl = `http://127.0.0.1:${port}`;
    const target = new URL(stack.url).host;
    const config = join(stack.dir, 'prometheus.yml');
    writeFileSync(config, `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: registry-token\n    static_configs:\n      - targets: ['${target}']\n`);
    prometheus = spawn('prometheus', [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(stack.dir, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    prometheus.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
  });

  afterAll(async () => {
    prometheus?.kill('SIGTERM');
    await stack?.close();
  });

  it('returns both counters with the values the test caused', async () => {
    const deadline = Date.now() + 45_000;
    let issued: number | undefined;
    let rejected: number | undefined;
    while (Date.now() < deadline) {
      try {
        issued = await query(prometheusUrl, 'sum(registry_token_issued_total{service="registry.localhost",plan="team"})');
        rejected = await query(prometheusUrl, 'sum(registry_token_rejected_total{reason="license_revoked"})');
        if (issued === 3 && rejected === 2) break;
      } catch {
        // prometheus still starting
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    expect({ issued, rejected }, log).toEqual({ issued: 3, rejected: 2 });
    const up = await query(prometheusUrl, 'up{job="registry-token"}');
    expect(up).toBe(1);
  });

  it('promtool accepts the live exposition', async () => {
    const body = await (await fetch(`${stack.url}/metrics`)).text();
    const result = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' });
    expect(result.status, result.stdout + result.stderr).toBe(0);
  });
});
