// What `npm install -g` of the packed tarball gets: the bins are the compiled files of sources
// that exist and start with a shebang, and every package the shipped code imports is a
// run-time dependency (a devDependency is absent in an installed package).
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../../', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  bin: Record<string, string>;
  files: string[];
  dependencies: Record<string, string>;
};
const build = JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8')) as { compilerOptions: { outDir: string; rootDir: string }; exclude: string[] };

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return build.exclude.includes(relative(ROOT, path)) ? [] : sources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

describe('the package', () => {
  it('has both commands as bins, each compiled from a source with a shebang', () => {
    expect(Object.keys(pkg.bin).sort()).toEqual(['docker-credential-registry-token', 'registry-token']);
    for (const [name, target] of Object.entries(pkg.bin)) {
      expect(target.startsWith(`${build.compilerOptions.outDir}/`), name).toBe(true);
      expect(pkg.files).toContain(build.compilerOptions.outDir);
      const source = join(ROOT, build.compilerOptions.rootDir, target.slice(build.compilerOptions.outDir.length + 1).replace(/\.js$/, '.ts'));
      expect(existsSync(source), `${name}: ${source}`).toBe(true);
      expect(readFileSync(source, 'utf8').startsWith('#!/usr/bin/env '), name).toBe(true);
    }
  });

  it('every package the shipped code imports is a run-time dependency', () => {
    const missing = new Set<string>();
    for (const file of sources(join(ROOT, build.compilerOptions.rootDir))) {
      for (const match of readFileSync(file, 'utf8').matchAll(/^\s*(?:import|export)\s(?!type\b)[^'"]*?from\s+'([^'.][^']*)'/gm)) {
        const specifier = match[1]!;
        if (specifier.startsWith('node:')) continue;
        const name = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!;
        if (pkg.dependencies[name] === undefined) missing.add(`${name} (${relative(ROOT, file)})`);
      }
    }
    expect([...missing]).toEqual([]);
  });
});
