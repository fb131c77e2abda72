// `npm pack` makes the package a user installs, and `npm install -g <tarball>` puts a working
// `registry-token` on PATH: run here for real, into a temporary prefix.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { freePort, startServiceProcess } from '../support/process.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const dir = mkdtempSync(join(tmpdir(), 'package-'));
const prefix = join(dir, 'prefix');
const bin = join(prefix, 'bin', 'registry-token');
const installed = join(prefix, 'lib', 'node_modules', 'registry-token');
// The command's shebang finds `node` on PATH: the one running this test (Node 24).
const env = { ...process.env, PATH: [join(prefix, 'bin'), dirname(process.execPath), process.env.PATH].join(delimiter) };
let files: string[] = [];

const npm = (args: string[], cwd = ROOT) => {
  const result = spawnSync('npm', args, { cwd, encoding: 'utf8', timeout: 180_000, env: { ...env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' } });
  if (result.status !== 0) throw new Error(`npm ${args.join(' ')} exited ${result.status}:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
};
const registryToken = (args: string[], cwd = dir) => spawnSync('registry-token', args, { cwd, env, encoding: 'utf8', timeout: 30_000 });

beforeAll(() => {
  // npm pack runs `prepare` (tsc), as a publish would.
  const packed = JSON.parse(npm(['pack', '--json', '--pack-destination', dir])) as { filename: string; files: { path: string }[] }[];
  files = packed[0]!.files.map((f) => f.path);
  npm(['install', '--global', '--prefix', prefix, '--prefer-offline', join(dir, packed[0]!.filename)], dir);
}, 240_000);

describe('the packed and globally installed package', () => {
  it('holds the compiled command and the sample configuration, not the sources or tests', () => {
    expect(files).toContain('dist/cli.js');
    expect(files).toContain('dist/cli/main.js');
    expect(files).toContain('etc/registry-token.yaml');
    // The operator's monitoring files travel with the package.
    expect(files).toContain('deploy/monitoring/registry-token.dashboard.json');
    expect(files).toContain('deploy/monitoring/registry-token.rules.yml');
    expect(files.filter((f) => f.startsWith('src/') || f.startsWith('test/') || f.startsWith('dist/dev/'))).toEqual([]);
  });

  it('puts registry-token on PATH, answering --version and --help', () => {
    expect(existsSync(bin)).toBe(true);
    expect(realpathSync(bin)).toBe(join(installed, 'dist', 'cli.js'));
    const version = registryToken(['--version']);
    expect({ status: version.status, stdout: version.stdout, stderr: version.stderr }).toEqual({ status: 0, stdout: `${VERSION}\n`, stderr: '' });
    const help = registryToken(['ledger', 'verify', '--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('usage: registry-token ledger verify');
  });

  it('explain and check-config work on the shipped sample configuration', () => {
    const explained = registryToken(['explain', '--config', 'etc/registry-token.yaml', '--plan', 'team', '--scope', 'repository:team/app:pull,push'], installed);
    expect(explained.status, explained.stderr).toBe(0);
    expect(explained.stdout).toContain('repository:team/app:pull,push -> pull,push');
    const checked = registryToken(['check-config', '--config', 'etc/registry-token.yaml', '--json'], installed);
    expect(checked.status, checked.stderr).toBe(0);
    expect(JSON.parse(checked.stdout)).toMatchObject({ server: { port: 8085 } });
    expect(checked.stderr).toMatch(/^configuration is valid; signing key RS256 kid /);
  });

  it('serves, and stops on SIGTERM with exit 0', async () => {
    const port = await freePort();
    const service = await startServiceProcess(
      'etc/registry-token.yaml',
      port,
      { PATH: env.PATH, REGISTRY_TOKEN_SERVER__PORT: String(port), REGISTRY_TOKEN_LEDGER__PATH: join(dir, 'ledger') },
      [],
      { file: bin, args: [], cwd: installed },
    );
    expect((await (await fetch(`${service.url}/healthz`)).json())).toEqual({ status: 'ok' });
    expect(await service.stop('SIGTERM')).toBe(0);
  });
});
