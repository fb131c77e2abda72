// The registry-token examples in the docs run as written, from the repository root, and print
// what the docs say they print.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CLI } from '../support/process.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const doc = (name: string) => readFileSync(new URL(`../../docs/${name}`, import.meta.url), 'utf8');

/** Runs a documented command line in bash, `registry-token` being this checkout's CLI. */
function shell(commandLine: string) {
  const script = `registry-token() { "$NODE" "$CLI" "$@"; }\n${commandLine}\n`;
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.toUpperCase().startsWith('REGISTRY_TOKEN_')));
  return spawnSync('bash', ['-c', script], { cwd: ROOT, encoding: 'utf8', timeout: 30_000, env: { ...env, NODE: process.execPath, CLI } });
}

/** Fenced blocks of one language. */
function blocks(markdown: string, language: string): string[] {
  return [...markdown.matchAll(new RegExp(`\`\`\`${language}\\n([\\s\\S]*?)\`\`\``, 'g'))].map((m) => m[1]!);
}

describe('documented registry-token explain examples', () => {
  const commands = blocks(doc('operations.md'), 'sh')
    .flatMap((block) => block.split('\n'))
    .filter((line) => line.startsWith('registry-token explain '));

  it('operations.md has one, and it runs as written', () => {
    expect(commands.length).toBeGreaterThan(0);
    for (const command of commands) {
      const result = shell(command);
      expect(result.status, `${command}\n${result.stderr}`).toBe(0);
      expect(result.stdout).toMatch(/^plan: /);
    }
  });

  it('configuration.md prints exactly what it shows', () => {
    const examples = blocks(doc('configuration.md'), 'text').filter((block) => block.startsWith('$ registry-token explain'));
    expect(examples.length).toBeGreaterThan(0);
    for (const example of examples) {
      const lines = example.trimEnd().split('\n');
      let end = 0;
      while (lines[end]!.endsWith('\\')) end++;
      const command = lines.slice(0, end + 1).join('\n').replace(/^\$ /, '');
      const result = shell(command);
      expect(result.status, result.stderr).toBe(0);
      expect(result.stdout.trimEnd()).toBe(lines.slice(end + 1).join('\n'));
    }
  });
});
