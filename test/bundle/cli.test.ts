// `registry-token bundle trust|verify` as an operator runs them: the real CLI process, its exit
// codes and messages.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dump } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../support/process.ts';

const SAMPLE_KEY = fileURLToPath(new URL('../../etc/registry-signing-sample.pem', import.meta.url));
const SAMPLE_CERT = fileURLToPath(new URL('../../etc/registry-signing-sample.crt', import.meta.url));

let dir: string;
let configPath: string;
const run = (args: string[], env: NodeJS.ProcessEnv = {}) => {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('REGISTRY_TOKEN_') && k !== 'SOURCE_DATE_EPOCH'));
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000, env: { ...clean, ...env } });
};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bundle-cli-'));
  configPath = join(dir, 'config.yaml');
  writeFileSync(configPath, dump({
    authority: { issuer: 'http://127.0.0.1:1', audiences: ['registry-token'] },
    signing: { issuer: 'registry-token', keys: [{ path: SAMPLE_KEY, certificatePath: SAMPLE_CERT }] },
    registry: { realm: 'https://auth.example/token', allowedServices: ['registry.example'] },
  }));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const files = (root: string) => readdirSync(root).sort().map((name) => [name, readFileSync(join(root, name), 'base64')]);

describe('registry-token bundle', () => {
  it('trust twice with the same --created (or SOURCE_DATE_EPOCH) writes the same bytes; verify exits 0', () => {
    const a = run(['bundle', 'trust', '--config', configPath, '--out', join(dir, 'a'), '--created', '2026-11-01T00:00:00Z']);
    expect(a.status, a.stderr).toBe(0);
    expect(JSON.parse(a.stdout)).toMatchObject({ kind: 'trust', created: '2026-11-01T00:00:00Z' });
    const b = run(['bundle', 'trust', '--config', configPath, '--out', join(dir, 'b')], { SOURCE_DATE_EPOCH: String(Date.parse('2026-11-01T00:00:00Z') / 1000) });
    expect(b.status, b.stderr).toBe(0);
    expect(files(join(dir, 'b'))).toEqual(files(join(dir, 'a')));
    const verified = run(['bundle', 'verify', join(dir, 'a'), '--jwks', join(dir, 'b', 'jwks.json')]);
    expect(verified.status, verified.stderr).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true, kind: 'trust', files: 4 });
  });

  it('verify exits 1 and names the changed file', () => {
    run(['bundle', 'trust', '--config', configPath, '--out', join(dir, 'c'), '--created', '2026-11-01T00:00:00Z']);
    const pem = join(dir, 'c', 'rootcertbundle.pem');
    writeFileSync(pem, readFileSync(pem, 'utf8').replace('MII', 'MIJ'));
    const verified = run(['bundle', 'verify', join(dir, 'c'), '--jwks', join(dir, 'a', 'jwks.json')]);
    expect(verified.status).toBe(1);
    expect(verified.stderr).toBe('registry-token: bundle verify: rootcertbundle.pem: its SHA-256 is not the one in the manifest\n');
    expect(JSON.parse(verified.stdout)).toEqual({ ok: false, file: 'rootcertbundle.pem', problem: 'its SHA-256 is not the one in the manifest' });
  });

  it('usage problems exit 2 with a message to act on, never a stack trace', () => {
    const cases: [string[], RegExp][] = [
      [['bundle', 'trust', '--config', configPath], /bundle trust needs --out DIR/],
      [['bundle', 'trust', '--config', configPath, '--out', join(dir, 'a')], /already exists \(use --force to replace it\)/],
      [['bundle', 'trust', '--config', configPath, '--out', join(dir, 'd'), '--created', 'yesterday'], /--created: "yesterday" is not an RFC 3339 time with a zone/],
      [['bundle', 'trust', '--config', configPath, '--out', join(dir, 'd'), '--created', '2026-11-01T00:00:00.5Z'], /has a fraction of a second/],
      [['bundle', 'verify', join(dir, 'a')], /bundle verify needs --jwks FILE/],
      [['bundle', 'verify', join(dir, 'a'), '--jwks', join(dir, 'nope.json')], /--jwks: cannot read .*nope\.json \(ENOENT\)/],
      [['bundle', 'pack'], /bundle needs trust, credentials or verify/],
    ];
    for (const [args, message] of cases) {
      const result = run(args);
      expect(result.status, args.join(' ')).toBe(2);
      expect(result.stderr, args.join(' ')).toMatch(message);
      expect(result.stderr).not.toContain('    at ');
    }
    const forced = run(['bundle', 'trust', '--config', configPath, '--out', join(dir, 'a'), '--created', '2026-11-01T00:00:00Z', '--force']);
    expect(forced.status, forced.stderr).toBe(0);
  });
});
