// The client daemons, each started by the test on 127.0.0.1 / a unix socket in a directory of
// its own (data, state, socket), as ../shared/docs/registry-facts.md says they run on these
// machines, and stopped by PID: SIGTERM, then SIGKILL; its directory is removed.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
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

async function start(binary: string, args: string[], dir: string, socket: string, ready: () => Promise<boolean>): Promise<Daemon> {
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: false });
  let output = '';
  const keep = (chunk: Buffer) => {
    if (output.length < 4 * 1024 * 1024) output += chunk.toString('utf8');
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const failed = new Promise<Error>((resolve) => child.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ENOENT' ? missing(binary) : error)));
  alive.add(child);
  child.once('exit', () => alive.delete(child));
  const stop = async () => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      process.kill(child.pid, 'SIGTERM');
      if (!(await exited(child, 15_000))) {
        process.kill(child.pid, 'SIGKILL');
        await exited(child, 5_000);
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    const early = await Promise.race([failed, exited(child, 200).then((gone) => (gone ? 'exited' : 'running'))]);
    if (early instanceof Error) throw early;
    if (early === 'exited') throw new Error(`${binary} exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${output.slice(-4000)}`);
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
  return start('dockerd', args, dir, socket, async () => (await run('/usr/bin/docker', ['version', '--format', '{{.Server.Version}}'], { env: { ...process.env, DOCKER_HOST: `unix://${socket}` }, timeoutMs: 5_000 })).code === 0);
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
