// `check-config` prints the effective configuration: the Redis password, given as a key or
// inside the URL, must not be in it.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { CLI, writeConfig } from '../support/process.ts';
import { baseConfig } from '../support/stack.ts';

const dir = mkdtempSync(join(tmpdir(), 'registry-token-check-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('masks store.redis.password and the password of store.redis.url', () => {
  const config = baseConfig({ issuer: 'http://127.0.0.1:1' }, dir);
  config.store = { driver: 'redis', redis: { url: 'rediss://svc:url-secret-1234@cache.internal:6380/2', password: 'key-secret-5678' } };
  const path = writeConfig(join(dir, 'config.yaml'), config);
  const result = spawnSync(process.execPath, [CLI, 'check-config', '--json', '--config', path], { encoding: 'utf8', timeout: 30_000 });
  expect(result.status, result.stderr).toBe(0);
  expect(result.stdout).not.toContain('url-secret-1234');
  expect(result.stdout).not.toContain('key-secret-5678');
  const printed = JSON.parse(result.stdout) as { store: { redis: { url: string; password: string } } };
  expect(printed.store.redis.url).toBe('rediss://svc:***@cache.internal:6380/2');
  expect(printed.store.redis.password).toBe('***');
});
