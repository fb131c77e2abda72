#!/usr/bin/env -S node --max-semi-space-size=16
// registry-token: the operator command (src/cli/main.ts holds the subcommand table).
// The V8 flag caps the young generation: the peak RSS under load drops from ~280 to ~160 MiB
// at the same throughput (docs/performance.md).
// Nothing is imported statically, so that an older Node gets one line naming the version
// instead of a failure deep inside a module that needs a newer one.
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(`registry-token needs Node.js 22.18 or newer (this is ${process.versions.node}); install Node.js 24 LTS\n`);
  process.exitCode = 2;
} else {
  // V8's compiled code (and, from src/, Node's stripped TypeScript) kept between runs in the
  // compile cache (NODE_COMPILE_CACHE, or a directory under the system's temporary one): each
  // process of `serve` (the primary and every worker) loads its modules in about half the time,
  // which is most of a cold start (docs/performance.md). A directory that cannot be written only
  // leaves the cache off; NODE_DISABLE_COMPILE_CACHE=1 turns it off. Enabled here, it comes too
  // late for this file, whose TypeScript loads Node's type stripper (~60 ms); the workers of
  // `serve` inherit the environment, so they have the cache from their first module.
  const module = await import('node:module');
  const cache = module.enableCompileCache?.();
  const { ENABLED, ALREADY_ENABLED } = module.constants.compileCacheStatus;
  if (cache?.directory !== undefined && (cache.status === ENABLED || cache.status === ALREADY_ENABLED)) process.env.NODE_COMPILE_CACHE ??= cache.directory;
  const { main } = await import('./cli/main.ts');
  process.exitCode = await main(process.argv.slice(2), {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
  });
}
