// The service as a real child process (`node src/cli.ts serve`), for tests that need real
// signals, real restarts and a real registry talking to it.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dump } from 'js-yaml';

export const CLI = new URL('../../src/cli.ts', import.meta.url).pathname;

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

export interface ServiceProcess {
  readonly url: string;
  readonly child: ChildProcess;
  output(): string;
  /** Sends the signal and resolves with the exit code (or the signal name). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | string>;
}

export function writeConfig(path: string, config: Record<string, unknown>): string {
  writeFileSync(path, dump(config));
  return path;
}

/** Which program `serve` is: this checkout's src/cli.ts by default, or an installed `registry-token`. */
export interface Launch {
  readonly file: string;
  readonly args: readonly string[];
  readonly cwd?: string;
}

/** Runs the CLI and resolves once /healthz answers. */
export async function startServiceProcess(
  configPath: string,
  port: number,
  env: NodeJS.ProcessEnv = {},
  args: string[] = [],
  launch: Launch = { file: process.execPath, args: [CLI] },
): Promise<ServiceProcess> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.toUpperCase().startsWith('REGISTRY_TOKEN_')));
  const child = spawn(launch.file, [...launch.args, 'serve', '--config', configPath, ...args], {
    env: { ...clean, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(launch.cwd === undefined ? {} : { cwd: launch.cwd }),
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    const early = await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 100, 'waiting'))]);
    if (early !== 'waiting') throw new Error(`service exited (${String(early)}) before serving:\n${output}`);
    try {
      const response = await fetch(`${url}/healthz`);
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`service did not become healthy:\n${output}`);
    }
  }
  return {
    url,
    child,
    output: () => output,
    async stop(signal = 'SIGTERM', timeoutMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };
}
