// `npm run bench -- --smoke` in CI: the benchmark still runs end to end (cold start, closed and
// open loop, a seconds-long soak, ledger and chain checked) with the shipped default of one
// worker per core, on the memory store and on a real redis-server. Timings are printed, never
// judged: they belong to `npm run bench`.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { requireTool } from '../support/tools.ts';

const BENCH = new URL('../../bench/token.ts', import.meta.url).pathname;

describe('npm run bench -- --smoke', () => {
  it('runs every step with workers, on the memory store and on Redis, and every answer is 200 with its ledger line', { timeout: 240_000 }, () => {
    requireTool('openssl', ['version']);
    requireTool('redis-server');
    const result = spawnSync(process.execPath, [BENCH, '--smoke', '--alg', 'RS256', '--store', 'memory,redis'], { encoding: 'utf8', timeout: 230_000 });
    expect(result.status, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(result.stdout).toContain('bench smoke: ok (timings not judged)');
    expect(result.stdout).toMatch(/RS256 signing, \d+ workers?, store memory: cold start/);
    expect(result.stdout).toMatch(/RS256 signing, \d+ workers?, store redis: cold start/);
  });

  it('runs the floor of the stack (bench/floor/server.ts) through the same steps and checks, with workers', { timeout: 240_000 }, () => {
    requireTool('openssl', ['version']);
    const result = spawnSync(process.execPath, [BENCH, '--smoke', '--floor', '--alg', 'RS256', '--store', 'memory'], { encoding: 'utf8', timeout: 230_000 });
    expect(result.status, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(result.stdout).toContain('bench smoke: ok (timings not judged)');
    expect(result.stdout).toMatch(/bench smoke node floor, RS256 signing, \d+ workers?, store memory: cold start [\d.]+ ms; closed \d+\/s.*ledger (\d+) = \1, chain ok/);
    expect(result.stdout).toMatch(/bench smoke this tree, RS256 signing, \d+ workers?, store memory: cold start/);
  });
});
