// podman as the image test drives it: storage of its own under the test's directory (nothing
// shared with the machine's podman or another test), and the run flags these machines need
// (../shared/docs/containers.md): runc, rlimits within the hard limits, host networking.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * `command args`; never throws on a failed command, only when it cannot start. The command runs
 * in a process group of its own, so a timeout stops what it started too (a build's podman).
 */
export function runCommand(command: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    let timedOut = false;
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    }, options.timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr: timedOut ? `${stderr}\n(killed after ${options.timeoutMs} ms)` : stderr });
    });
  });
}

export const RUNC = '/usr/sbin/runc';

/** What `podman run` needs here besides the image's own settings. */
export const RUN_FLAGS = [
  '--runtime', RUNC, // crun cannot start containers on hybrid cgroups
  '--ulimit', 'nofile=16384:16384', // podman's defaults exceed the hard limits, which cannot be raised
  '--ulimit', 'nproc=4096:4096',
  '--network', 'host', // leaves no iptables chains behind
  '--no-healthcheck', // podman would schedule it with systemd timers, which these machines lack
] as const;

export interface Podman {
  /** The directory the storage lives in (the PODMAN_STORAGE of deploy/image/build.sh). */
  readonly storage: string;
  readonly flags: readonly string[];
  run(args: readonly string[], timeoutMs?: number): Promise<Run>;
  /** A long-running `podman ...` (e.g. `run` in the foreground), stopped by its PID. */
  start(args: readonly string[]): ChildProcess;
  /** Removes every container, image and mount of this storage, so the directory can be deleted. */
  reset(): Promise<void>;
}

export function podmanIn(storage: string): Podman {
  for (const sub of ['root', 'runroot', 'tmp']) mkdirSync(join(storage, sub), { recursive: true });
  const flags = [
    '--root', join(storage, 'root'),
    '--runroot', join(storage, 'runroot'),
    '--tmpdir', join(storage, 'tmp'),
    '--storage-driver', 'overlay',
    '--cgroup-manager', 'cgroupfs',
    '--events-backend', 'none',
  ];
  const env = { ...process.env, TMPDIR: join(storage, 'tmp') };
  return {
    storage,
    flags,
    run: (args, timeoutMs = 60_000) => runCommand('podman', [...flags, ...args], { env, timeoutMs }),
    start: (args) => spawn('podman', [...flags, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] }),
    async reset() {
      if (!existsSync(join(storage, 'root'))) return;
      const result = await runCommand('podman', [...flags, 'system', 'reset', '--force'], { env, timeoutMs: 60_000 });
      if (result.code !== 0) throw new Error(`podman system reset failed (${result.code}): ${result.stderr}`);
    },
  };
}
