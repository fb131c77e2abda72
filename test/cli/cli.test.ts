// The registry-token command as a user meets it: --help and --version on every command and
// subcommand, the documented exit statuses, text by default and --json where scripts want it,
// and `explain` on a file that holds nothing but plans.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMMANDS, main } from '../../src/cli/main.ts';
import type { Command } from '../../src/cli/command.ts';
import { CLI } from '../support/process.ts';

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const dir = mkdtempSync(join(tmpdir(), 'cli-'));

async function call(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t) });
  return { code, stdout, stderr };
}

const run = (args: string[], env: NodeJS.ProcessEnv = process.env) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000, env });

/** Every runnable command with the words that name it: `serve`, `ledger verify`, ... */
const leaves: [string[], Command][] = COMMANDS.flatMap((c) => (c.subcommands === undefined ? [[[c.name], c]] : c.subcommands.map((s) => [[c.name, s.name], s]))) as [string[], Command][];

describe('registry-token --help and --version', () => {
  it('the top level lists every command and exits 0; no command at all is a usage error (2)', async () => {
    for (const flag of ['--help', '-h', 'help']) {
      const { code, stdout } = await call(flag);
      expect(code).toBe(0);
      for (const [words] of leaves) expect(stdout).toContain(`  ${words.join(' ')}`);
    }
    const bare = await call();
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(/^usage: registry-token <command>/);
  });

  it.each(leaves.map(([words, command]) => [words.join(' '), words, command] as const))('%s --help shows its synopsis and every option; --version the version', async (_name, words, command) => {
    for (const flag of ['--help', '-h']) {
      const { code, stdout, stderr } = await call(...words, flag);
      expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
      expect(stdout.startsWith(`usage: registry-token ${command.synopsis}\n`)).toBe(true);
      for (const name of Object.keys(command.flags)) expect(stdout).toContain(`--${name}`);
      if (command.json) expect(stdout).toContain('--json');
      expect(stdout).toMatch(/Exit 0 /);
    }
    for (const flag of ['--version', '-V']) expect(await call(...words, flag)).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
    expect(await call('help', ...words)).toMatchObject({ code: 0, stdout: expect.stringContaining(`usage: registry-token ${command.synopsis}`) });
  });

  it('a command with subcommands lists them', async () => {
    for (const command of COMMANDS.filter((c) => c.subcommands !== undefined)) {
      const { code, stdout } = await call(command.name, '--help');
      expect(code).toBe(0);
      for (const sub of command.subcommands!) expect(stdout).toContain(sub.synopsis);
      expect((await call(command.name)).code).toBe(2);
    }
  });

  it('the installed form answers too (a real process)', () => {
    const version = run(['--version']);
    expect({ status: version.status, stdout: version.stdout }).toEqual({ status: 0, stdout: `${VERSION}\n` });
    const help = run(['explain', '--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('usage: registry-token explain');
  });
});

describe('exit statuses', () => {
  it('an unknown command, subcommand, flag or argument is 2 with the message and the usage, never a stack trace', async () => {
    for (const argv of [['bogus'], ['ledger', 'bogus'], ['serve', '--nope'], ['explain', 'stray'], ['keygen']]) {
      const { code, stdout, stderr } = await call(...argv);
      expect(code, argv.join(' ')).toBe(2);
      expect(stdout).toBe('');
      expect(stderr).toMatch(/^registry-token: .+\n/);
      expect(stderr).toContain('usage: registry-token');
      expect(stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('a Node older than 22.18 gets one line naming the version, exit 2', () => {
    const fake = join(dir, 'old-node.cjs');
    writeFileSync(fake, "Object.defineProperty(process.versions, 'node', { value: '20.20.2' });\n");
    const result = spawnSync(process.execPath, ['-r', fake, CLI, '--version'], { encoding: 'utf8' });
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe('registry-token needs Node.js 22.18 or newer (this is 20.20.2); install Node.js 24 LTS\n');
  });

  it('ledger verify: 2 for a directory that does not exist, 0 for an intact (empty) ledger, text or --json', async () => {
    const missing = await call('ledger', 'verify', '--path', join(dir, 'missing'));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(`registry-token: ledger directory ${join(dir, 'missing')} does not exist\n`);
    const empty = mkdtempSync(join(dir, 'ledger-'));
    const text = await call('ledger', 'verify', '--path', empty);
    expect(text).toEqual({ code: 0, stdout: `${empty}: chain ok, 0 records in 0 segments\n`, stderr: '' });
    const json = await call('ledger', 'verify', '--path', empty, '--json');
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, records: 0, segments: 0 });
  });
});

describe('explain without a complete service configuration', () => {
  // No authority, signing, registry or ledger section: only what explain reads.
  const plansOnly = join(dir, 'plans.yaml');
  writeFileSync(plansOnly, [
    'plans:',
    '  team:',
    '    - repository: library/**',
    '    - repository: team/**',
    '      actions: [pull, push]',
    'defaultPlan: team',
    'revokedLicenses: [lic-gone]',
    '',
  ].join('\n'));

  it('grants from a file with plans alone (exit 0), in text and in JSON', async () => {
    const text = await call('explain', '--config', plansOnly, '--scope', 'repository:team/app:pull,push,delete');
    expect(text).toEqual({
      code: 0,
      stdout: [
        'plan: team (defaultPlan)',
        'repository:team/app:pull,push,delete -> pull,push  (rule team[1] repository:team/**)',
        'access: [{"type":"repository","name":"team/app","actions":["pull","push"]}]',
        '',
      ].join('\n'),
      stderr: '',
    });
    const json = await call('explain', '--config', plansOnly, '--plan', 'team', '--scope', 'repository:library/alpine:pull', '--json');
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({
      granted: true,
      plan: 'team',
      defaultPlan: false,
      reasons: [{ scope: 'repository:library/alpine:pull', rule: 'team[0] repository:library/**', granted: ['pull'] }],
      access: [{ type: 'repository', name: 'library/alpine', actions: ['pull'] }],
    });
  });

  it('a refusal exits 1 and says why', async () => {
    const denied = await call('explain', '--config', plansOnly, '--scope', 'repository:other/x:pull');
    expect(denied).toEqual({ code: 1, stdout: 'refused (403 plan_denied): plan "team" grants none of the requested access\n', stderr: '' });
    const revoked = await call('explain', '--config', plansOnly, '--license', 'lic-gone', '--scope', 'repository:team/app:pull', '--json');
    expect(revoked.code).toBe(1);
    expect(JSON.parse(revoked.stdout)).toMatchObject({ granted: false, status: 403, reason: 'license_revoked' });
  });

  it('still validates the plans it reads, naming the key (exit 2)', async () => {
    const bad = join(dir, 'bad-plans.yaml');
    writeFileSync(bad, 'plans:\n  team:\n    - repository: "***"\ndefaultPlan: gold\n');
    const result = await call('explain', '--config', bad, '--scope', 'repository:team/app:pull');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('plans.team[0].repository: "***" is not a pattern');
    expect(result.stderr).toContain('defaultPlan: names plan "gold"');
  });

  it('without any configuration it says what it needs (exit 2)', () => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.toUpperCase().startsWith('REGISTRY_TOKEN_')));
    const result = run(['explain', '--scope', 'repository:team/app:pull'], env);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('registry-token: explain reads the plans from a configuration: give --config FILE (or set REGISTRY_TOKEN_CONFIG)');
  });
});

describe('human output by default, --json on request', () => {
  it('keygen prints the files it wrote, or their JSON description', async () => {
    const text = await call('keygen', '--out', join(dir, 'k1'), '--alg', 'ES256');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^ES256 signing key written, kid ([A-Z2-7]{4}:){11}[A-Z2-7]{4}\n/);
    expect(text.stdout).toContain(`rootcertbundle   ${join(dir, 'k1')}`);
    const json = await call('keygen', '--out', join(dir, 'k2'), '--alg', 'ES256', '--json');
    expect(JSON.parse(json.stdout)).toMatchObject({ alg: 'ES256', paths: { key: join(dir, 'k2', 'signing-key.pem') } });
  });
});
