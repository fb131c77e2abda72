// The README's commands on a machine whose own Node is older than the project's: npm ci brings
// Node 24 (the pinned `node` devDependency) and every npm script runs on it, or a script stops
// with one line naming the version it needs.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../../', import.meta.url).pathname;
const GUARD = join(ROOT, 'scripts/require-node.cjs');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  engines: { node: string };
  scripts: Record<string, string>;
  devDependencies: Record<string, string>;
};

/** Runs the guard as if Node `version` ran it. */
function guardAs(version: string) {
  const dir = mkdtempSync(join(tmpdir(), 'node-guard-'));
  const fake = join(dir, 'fake.cjs');
  writeFileSync(fake, `Object.defineProperty(process.versions, 'node', { value: ${JSON.stringify(version)} });\n`);
  return spawnSync(process.execPath, ['-r', fake, GUARD], { encoding: 'utf8' });
}

describe('Node bootstrap', () => {
  it('pins Node 24 exactly as a devDependency, which satisfies engines', () => {
    const pinned = pkg.devDependencies['node'];
    expect(pinned).toMatch(/^24\.\d+\.\d+$/);
    const need = pkg.engines.node.replace(/^>=\s*/, '').split('.').map(Number);
    const have = pinned!.split('.').map(Number);
    expect(have[0]! > need[0]! || (have[0] === need[0] && have[1]! >= need[1]!)).toBe(true);
  });

  it('the npm scripts run on that Node', () => {
    expect(process.versions.node).toBe(pkg.devDependencies['node']);
  });

  it('every script a new user runs checks the version first', () => {
    for (const name of ['start', 'demo', 'test', 'bench']) expect(pkg.scripts[`pre${name}`], name).toBe('node scripts/require-node.cjs');
  });

  it('stops an older Node with one line naming the version it needs', () => {
    const old = guardAs('20.20.2');
    expect(old.status).toBe(1);
    expect(old.stdout).toBe('');
    expect(old.stderr.trim().split('\n')).toEqual([
      `registry-token needs Node.js ${pkg.engines.node.replace(/^>=\s*/, '')} or newer, this is 20.20.2: run \`npm ci\` (it installs Node 24 for the npm scripts) or install Node.js 24 LTS`,
    ]);
    expect(guardAs('22.17.9').status).toBe(1);
  });

  it('lets the required version and newer ones through', () => {
    for (const version of ['22.18.0', '22.20.1', '24.0.0', '26.1.0']) expect(guardAs(version).status, version).toBe(0);
  });
});
