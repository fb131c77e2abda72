// The client daemons, each started by the test on 127.0.0.1 / a unix socket in a directory of
// its own (data, state, socket), as ../shared/docs/registry-facts.md says they run on these
// machines, and stopped by PID: SIGTERM, then SIGKILL; its directory is removed.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { missing, run } from './run.ts';

export interface Daemon {
  readonly pid: number;
  /** The unix socket clients talk to. */
  readonly socket: string;
  logs(): string;
  stop(): Promise<void>;
}

const alive = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of alive) if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
});

function exited(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Mount points at or below `dir`, deepest first. */
function mountsUnder(dir: string): string[] {
  const points = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1] ?? '')
    .filter((point) => point === dir || point.startsWith(`${dir}/`));
  return points.sort((a, b) => b.length - a.length);
}

/** The PID in `file`, if that process still runs. */
function livePid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    if (!Number.isSafeInteger(pid) || pid <= 1) return undefined;
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

async function start(
  binary: string,
  args: string[],
  dir: string,
  socket: string,
  ready: () => Promise<boolean>,
  /** Pid files of children the daemon starts itself (dockerd's containerd), killed if they outlive it. */
  childPidFiles: readonly string[] = [],
): Promise<Daemon> {
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer) => {
    if (output.length < 4 * 1024 * 1024) output += chunk.toString('utf8');
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  alive.add(child);
  // One outcome for the start: the program is missing, or it exited before it was ready.
  const ended = new Promise<Error>((resolve) => {
    child.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ENOENT' ? missing(binary) : error));
    child.once('exit', (code, signal) => {
      alive.delete(child);
      resolve(new Error(`${binary} exited (${code ?? signal}) before it was ready:\n${output.slice(-4000)}`));
    });
  });
  const stop = async () => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      process.kill(child.pid, 'SIGTERM');
      if (!(await exited(child, 15_000))) {
        process.kill(child.pid, 'SIGKILL');
        await exited(child, 5_000);
      }
    }
    for (const file of childPidFiles) {
      const pid = livePid(file);
      if (pid !== undefined) process.kill(pid, 'SIGKILL');
    }
    // dockerd bind-mounts its data root onto itself and undoes it only on a clean exit.
    for (const point of mountsUnder(dir)) await run('umount', ['--lazy', point], { timeoutMs: 10_000 });
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    const early = await Promise.race([ended, new Promise<'waiting'>((resolve) => setTimeout(resolve, 200, 'waiting'))]);
    if (early instanceof Error) {
      rmSync(dir, { recursive: true, force: true });
      throw early;
    }
    if (await ready()) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${binary} not ready after 30 s:\n${output.slice(-4000)}`);
    }
  }
  return { pid: child.pid!, socket, logs: () => output, stop };
}

/**
 * dockerd with vfs storage, no networking of its own (no iptables, no bridge), its data, exec
 * root, pid file and API socket under `dir`, trusting the plain-HTTP registries given. It
 * starts a containerd of its own, under the exec root.
 */
export async function startDockerd(dir: string, insecureRegistries: readonly string[]): Promise<Daemon> {
  for (const sub of ['data', 'exec']) mkdirSync(join(dir, sub), { recursive: true });
  const socket = join(dir, 'docker.sock');
  const args = [
    '--iptables=false', '--ip-masq=false', '--bridge=none', '--storage-driver=vfs',
    `--data-root=${join(dir, 'data')}`, `--exec-root=${join(dir, 'exec')}`, `--pidfile=${join(dir, 'docker.pid')}`,
    '--config-file', writeEmpty(join(dir, 'daemon.json')), '-H', `unix://${socket}`,
    ...insecureRegistries.map((host) => `--insecure-registry=${host}`),
  ];
  const answers = async () => (await run('/usr/bin/docker', ['version', '--format', '{{.Server.Version}}'], { env: { ...process.env, DOCKER_HOST: `unix://${socket}` }, timeoutMs: 5_000 })).code === 0;
  return start('dockerd', args, dir, socket, answers, [join(dir, 'exec', 'containerd', 'containerd.pid')]);
}

function writeEmpty(file: string): string {
  writeFileSync(file, '{}\n');
  return file;
}

/** containerd with its own root, state and gRPC socket under `dir`, the CRI plugin disabled. */
export async function startContainerd(dir: string): Promise<Daemon> {
  for (const sub of ['root', 'state']) mkdirSync(join(dir, sub), { recursive: true });
  const socket = join(dir, 'containerd.sock');
  const config = join(dir, 'config.toml');
  writeFileSync(
    config,
    [
      'version = 2',
      `root = ${JSON.stringify(join(dir, 'root'))}`,
      `state = ${JSON.stringify(join(dir, 'state'))}`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = ${JSON.stringify(socket)}`,
      '[ttrpc]',
      `  address = ${JSON.stringify(`${socket}.ttrpc`)}`,
      '[debug]',
      '  address = ""',
      '[metrics]',
      '  address = ""',
      '',
    ].join('\n'),
  );
  return start('containerd', ['--config', config], dir, socket, async () => (await run('ctr', ['--address', socket, 'version'], { timeoutMs: 5_000 })).code === 0);
}
