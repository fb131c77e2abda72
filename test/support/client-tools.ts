// The client tools as their users run them: `registry-token login` and
// `docker-credential-registry-token` as child processes, with their own HOME so nothing reaches
// the real ~/.docker or ~/.config. `helperOnPath` puts the helper on a PATH directory for the
// real clients (docker, podman) that look it up by name.
import { spawn } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const CLI = new URL('../../src/cli.ts', import.meta.url).pathname;
export const HELPER = new URL('../../src/client/helper-bin.ts', import.meta.url).pathname;

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment of the test process without anything that would steer the tools elsewhere. */
export function toolEnv(home: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !/^(REGISTRY_TOKEN_|DOCKER_CONFIG$|REGISTRY_AUTH_FILE$|XDG_)/i.test(key)),
  );
  return { ...clean, HOME: home, ...extra };
}

/** `command` with `args`, stdin given, never blocking this process (the service may run in it). */
export function runCommand(command: string, args: string[], env: NodeJS.ProcessEnv, stdin = ''): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

export const run = (args: string[], env: NodeJS.ProcessEnv, stdin = ''): Promise<Run> => runCommand(process.execPath, args, env, stdin);

export const login = (args: string[], env: NodeJS.ProcessEnv): Promise<Run> => run([CLI, 'login', ...args], env);

export const helper = (action: string, stdin: string, env: NodeJS.ProcessEnv): Promise<Run> => run([HELPER, action], env, stdin);

/** Writes `dir/docker-credential-registry-token` (runs this checkout's helper); returns dir. */
export function helperOnPath(dir: string): string {
  const file = join(dir, 'docker-credential-registry-token');
  writeFileSync(file, `#!/bin/sh\nexec '${process.execPath}' '${HELPER}' "$@"\n`);
  chmodSync(file, 0o755);
  return dir;
}
