// `registry-token bundle credentials` as an operator runs it: the real CLI process with the
// service configuration, each credential recorded in the file ledger, the bundle verified
// offline; refusals, usage errors, and the refusal naming the holder while `serve` runs.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleCommand } from '../../src/bundle/cli.ts';
import { loadKeySet } from '../../src/mint/key-set.ts';
import { CLI, freePort, startServiceProcess, writeConfig } from '../support/process.ts';
import { treeText } from '../support/stack.ts';

const SAMPLE_KEY = fileURLToPath(new URL('../../etc/registry-signing-sample.pem', import.meta.url));
const SAMPLE_CERT = fileURLToPath(new URL('../../etc/registry-signing-sample.crt', import.meta.url));
const CREATED = '2026-11-01T00:00:00Z';

let dir: string;
let configPath: string;
let config: Record<string, unknown>;
let jwksPath: string;
const run = (args: string[]) => {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('REGISTRY_TOKEN_') && k !== 'SOURCE_DATE_EPOCH'));
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000, env: clean });
};
/**
 * The same command in this process (no Node start-up per case): exit status and stderr as the
 * CLI's main maps them (a thrown usage or configuration error is 2 with its message).
 */
async function inProcess(args: string[]): Promise<{ status: number; stderr: string }> {
  let stderr = '';
  const io = { stdout: () => {}, stderr: (text: string) => (stderr += text), env: {}, now: () => new Date() };
  try {
    return { status: await bundleCommand(args.slice(1), io), stderr };
  } catch (error) {
    return { status: 2, stderr: `${stderr}registry-token: ${(error as Error).message}\n` };
  }
}
const order = (out: string, ...more: string[]) => [
  'bundle', 'credentials', '--config', configPath, '--out', join(dir, out), '--subject', 'mirror-site-7',
  '--plan', 'team', '--license', 'lic-7', '--scope', 'repository:team/**:pull', '--expires', '90d', '--created', CREATED, ...more,
];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bundle-credentials-cli-'));
  config = {
    server: { host: '127.0.0.1', port: 0 },
    authority: { issuer: 'http://127.0.0.1:1', audiences: ['registry-token'] },
    signing: { issuer: 'registry-token', keys: [{ path: SAMPLE_KEY, certificatePath: SAMPLE_CERT }] },
    registry: { realm: 'https://auth.example/token', allowedServices: ['registry.example'] },
    plans: { team: [{ repository: 'team/**', actions: ['pull', 'push'] }] },
    revokedLicenses: ['lic-gone'],
    ledger: { driver: 'file', path: join(dir, 'ledger') },
    telemetry: { logLevel: 'warn' },
  };
  configPath = writeConfig(join(dir, 'config.yaml'), config);
  jwksPath = join(dir, 'jwks.json');
  writeFileSync(jwksPath, JSON.stringify(loadKeySet({ keyPath: SAMPLE_KEY, certificatePath: SAMPLE_CERT }, {}).jwks));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('registry-token bundle credentials', () => {
  it('issues, records each credential in the ledger, writes 0600 secrets and a bundle verify accepts', () => {
    const result = run(order('kit', '--name', 'mirror-a', '--name', 'mirror-b'));
    expect(result.status, result.stderr).toBe(0);
    const summary = JSON.parse(result.stdout) as { kind: string; credentials: { id: string; file: string; expiresAt: string }[] };
    expect(summary.kind).toBe('credentials');
    expect(summary.credentials).toHaveLength(2);
    for (const c of summary.credentials) {
      expect(statSync(join(dir, 'kit', c.file)).mode & 0o777).toBe(0o600);
      // No secret on stdout: ids, files and times only.
      expect(result.stdout).not.toContain(readFileSync(join(dir, 'kit', c.file), 'ascii').trim());
    }
    expect(statSync(join(dir, 'kit')).mode & 0o777).toBe(0o700);

    const verified = run(['bundle', 'verify', join(dir, 'kit'), '--jwks', jwksPath]);
    expect(verified.status, verified.stderr).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({
      ok: true, kind: 'credentials', created: CREATED, files: 2,
      credentials: summary.credentials.map((c, i) => ({ id: c.id, subject: 'mirror-site-7', name: ['mirror-a', 'mirror-b'][i], expiresAt: c.expiresAt })),
    });

    const exported = run(['ledger', 'export', '--config', configPath]);
    expect(exported.status, exported.stderr).toBe(0);
    const records = exported.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    for (const c of summary.credentials) {
      expect(records.find((r) => r['jti'] === c.id)).toMatchObject({
        outcome: 'issued', operation: 'credential', subject: 'mirror-site-7', plan: 'team', license: 'lic-7',
        requestedScopes: ['repository:team/**:pull'], expiresAt: c.expiresAt.replace('Z', '.000Z'),
        issuedBy: expect.stringMatching(/^cli:/),
      });
    }
    const ledger = treeText(join(dir, 'ledger'));
    for (const c of summary.credentials) expect(ledger).not.toContain(readFileSync(join(dir, 'kit', c.file), 'ascii').trim());
  });

  it('verify exits 1 naming a secret file with one byte changed', () => {
    const result = run(order('tampered', '--count', '1'));
    expect(result.status, result.stderr).toBe(0);
    const [{ file }] = (JSON.parse(result.stdout) as { credentials: { file: string }[] }).credentials as [{ file: string }];
    const path = join(dir, 'tampered', file);
    const bytes = readFileSync(path);
    bytes[40] = bytes[40] === 0x41 ? 0x42 : 0x41;
    writeFileSync(path, bytes);
    const verified = run(['bundle', 'verify', join(dir, 'tampered'), '--jwks', jwksPath]);
    expect(verified.status).toBe(1);
    expect(verified.stderr).toBe(`registry-token: bundle verify: ${file}: its SHA-256 is not the one in the manifest\n`);
  });

  it('refuses (exit 1, recorded) what POST /credentials would refuse: an unknown plan, a revoked licence, a lifetime out of bounds', async () => {
    const cases: [string[], RegExp][] = [
      [['--plan', 'gold'], /refused \(plan_denied\): plan "gold" is not offered by this registry/],
      [['--license', 'lic-gone'], /refused \(license_revoked\)/],
      [['--expires', '1000d'], /refused \(invalid_request\): expires_in must be from 60 to 7776000 seconds \(credentials\.minLifetimeSeconds, credentials\.bundleMaxLifetimeSeconds\)/],
      [['--scope', 'repository:team/app:fly'], /refused \(invalid_scope\)/],
    ];
    for (const [more, message] of cases) {
      const out = `refused-${cases.findIndex(([m]) => m === more)}`;
      const args = order(out);
      for (let i = 0; i < more.length; i += 2) args[args.indexOf(more[i]!) + 1] = more[i + 1]!;
      // The first as a real process, the others in this one.
      const result = more === cases[0]![0] ? run(args) : await inProcess(args);
      expect(result.status, `${more.join(' ')}: ${result.stderr}`).toBe(1);
      expect(result.stderr).toMatch(message);
      expect(() => statSync(join(dir, out))).toThrow();
    }
    const exported = run(['ledger', 'export', '--config', configPath]);
    const reasons = exported.stdout.trim().split('\n').map((line) => JSON.parse(line) as { outcome: string; reason?: string }).filter((r) => r.outcome === 'rejected').map((r) => r.reason);
    expect(reasons).toEqual(expect.arrayContaining(['plan_denied', 'license_revoked', 'invalid_request', 'invalid_scope']));
  });

  it('usage problems exit 2 before anything is issued', async () => {
    const cases: [string[], RegExp][] = [
      [['bundle', 'credentials', '--config', configPath, '--out', join(dir, 'u'), '--subject', 's', '--expires', '1d'], /needs --scope/],
      [['bundle', 'credentials', '--config', configPath, '--out', join(dir, 'u'), '--scope', 'repository:a:pull', '--expires', '1d'], /needs --subject/],
      [order('u').map((a) => (a === '90d' ? 'a fortnight' : a)), /--expires: "a fortnight" is not a duration/],
      [order('kit'), /already exists \(use --force to replace it\)/],
      [order('u', '--count', '2', '--name', 'one'), /--count 2 and 1 --name disagree/],
      [['bundle', 'credentials', '--answer', join(dir, 'nope.json'), '--out', join(dir, 'u')], /--answer: cannot read .*nope\.json \(ENOENT\)/],
      [['bundle', 'credentials', '--answer', configPath, '--out', join(dir, 'u')], /is not an answer of POST \/admin\/bundles\/credentials/],
      [['bundle', 'credentials', '--answer', configPath, '--out', join(dir, 'u'), '--subject', 's'], /--subject does not go with it/],
      [order('u', '--client-id', 'ops'), /--client-id goes with --url/],
      [order('u', '--url', 'http://127.0.0.1:1', '--issuer', 'http://127.0.0.1:1', '--client-id', 'ops', '--client-secret-file', join(dir, 'nope')), /--config does not go with it/],
      [['bundle', 'credentials', '--client-secret', 'hunter2'], /--client-secret is not accepted/],
    ];
    for (const [args, message] of cases) {
      const result = args === cases[0]![0] ? run(args) : await inProcess(args);
      expect(result.status, args.join(' ')).toBe(2);
      expect(result.stderr, args.join(' ')).toMatch(message);
      expect(result.stderr).not.toContain('    at ');
    }
  });

  it('--help prints the usage of every bundle command, exit 0', () => {
    const result = run(['bundle', 'credentials', '--help']);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toContain('registry-token bundle credentials --out DIR --subject S --scope SCOPE... --expires DURATION');
    expect(result.stdout).toContain('registry-token bundle verify DIR --jwks FILE');
  });

  it('while serve holds the ledger, refuses naming the holder and the admin API to use instead', async () => {
    const port = await freePort();
    const served = writeConfig(join(dir, 'served.yaml'), { ...config, server: { host: '127.0.0.1', port } });
    const service = await startServiceProcess(served, port);
    try {
      const args = order('locked');
      args[args.indexOf('--config') + 1] = served;
      const result = run(args);
      expect(result.status, result.stderr).toBe(2);
      expect(result.stderr).toContain(`is in use by pid ${service.child.pid} on host`);
      expect(result.stderr).toContain('POST /admin/bundles/credentials');
    } finally {
      expect(await service.stop()).toBe(0);
    }
  });
});
