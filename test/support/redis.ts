// A real redis-server (Debian's package) for tests: its own directory and loopback port, no
// persistence, stopped by PID. `kill` and `restart` (same port, same options) let a test take
// Redis away and bring it back under a running service.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../e2e/support/ports.ts';
import { createCa, issueCertificate, type CertificateAuthority } from './pki.ts';

export interface RedisOptions {
  /** requirepass: clients must AUTH with it. */
  password?: string;
  /**
   * Serve TLS only (on `port`), with a server certificate from a test CA: a new one, or `ca`,
   * which servers that talk to each other (a replica, a Sentinel) must share.
   */
  tls?: { clientCertificates?: boolean; ca?: CertificateAuthority };
  /** Extra `--name value` arguments, e.g. maxmemory or replicaof. */
  args?: string[];
  /**
   * Run as a Sentinel (`--sentinel`) watching the primary on `port` as master group `name`,
   * quorum 1, with `auth` the primary's password; `password` is then the Sentinel's own.
   */
  sentinel?: { name: string; port: number; auth?: string };
}

export interface TlsMaterial {
  readonly caPath: string;
  /** A client certificate of the same CA (for tls-auth-clients). */
  readonly clientCertPath: string;
  readonly clientKeyPath: string;
  readonly ca: CertificateAuthority;
}

export interface RedisServer {
  readonly port: number;
  /** redis:// or rediss://127.0.0.1:PORT, without credentials. */
  readonly url: string;
  readonly dir: string;
  readonly tls: TlsMaterial | undefined;
  pid(): number | undefined;
  /** SIGKILL, and waits for the exit. */
  kill(): Promise<void>;
  /** Starts again on the same port with the same options (after kill). */
  restart(): Promise<void>;
  /** Runs one command with redis-cli (auth and TLS as configured) and returns its output. */
  cli(...args: string[]): Promise<string>;
  output(): string;
  stop(): Promise<void>;
}

export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'registry-token-redis-'));
  const data = join(dir, 'data');
  mkdirSync(data);
  const port = await freePort();
  let tls: TlsMaterial | undefined;
  if (options.tls !== undefined) {
    const ca = options.tls.ca ?? (await createCa('redis test CA'));
    const server = await issueCertificate(ca, { commonName: 'redis', serverAltNames: ['127.0.0.1', 'localhost'] });
    const client = await issueCertificate(ca, { commonName: 'registry-token', clientAuth: true });
    const write = (name: string, text: string) => {
      const path = join(dir, name);
      writeFileSync(path, text, { mode: 0o600 });
      return path;
    };
    write('server.crt', server.certPem);
    write('server.key', server.keyPem);
    tls = {
      ca,
      caPath: write('ca.crt', ca.certPem),
      clientCertPath: write('client.crt', client.certPem),
      clientKeyPath: write('client.key', client.keyPem),
    };
  }
  // A Sentinel rewrites its configuration file, so it gets one of its own; failover in seconds.
  const sentinelConf = join(dir, 'sentinel.conf');
  if (options.sentinel !== undefined) {
    const { name, port: watched, auth } = options.sentinel;
    writeFileSync(sentinelConf, [
      `sentinel monitor ${name} 127.0.0.1 ${watched} 1`,
      ...(auth === undefined ? [] : [`sentinel auth-pass ${name} ${auth}`]),
      ...(options.password === undefined ? [] : [`requirepass ${options.password}`]),
      `sentinel down-after-milliseconds ${name} 1000`,
      `sentinel failover-timeout ${name} 10000`,
      '',
    ].join('\n'));
  }
  // With TLS, replicas and Sentinels reach the servers over TLS too (tls-replication).
  const listen = tls === undefined
    ? ['--port', String(port)]
    : [
        '--port', '0',
        '--tls-port', String(port),
        '--tls-cert-file', join(dir, 'server.crt'),
        '--tls-key-file', join(dir, 'server.key'),
        '--tls-ca-cert-file', tls.caPath,
        '--tls-auth-clients', options.tls?.clientCertificates === true ? 'yes' : 'no',
        '--tls-replication', 'yes',
      ];
  const args = options.sentinel !== undefined ? [
    sentinelConf, '--sentinel',
    ...listen,
    '--bind', '127.0.0.1',
    '--dir', data,
    '--daemonize', 'no',
    '--protected-mode', 'no',
    '--loglevel', 'warning',
  ] : [
    '--bind', '127.0.0.1',
    '--dir', data,
    '--save', '',
    '--appendonly', 'no',
    '--daemonize', 'no',
    '--protected-mode', 'no',
    '--maxmemory-policy', 'noeviction',
    '--loglevel', 'warning',
    ...(options.password === undefined ? [] : ['--requirepass', options.password]),
    ...listen,
    ...(options.args ?? []),
  ];

  let child: ChildProcess | undefined;
  let output = '';
  const launch = async () => {
    const started = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = started;
    started.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    started.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const exited = new Promise<string>((resolve) => started.once('exit', (code, signal) => resolve(String(code ?? signal))));
    started.once('error', (error) => (output += `spawn: ${error.message}\n`));
    const deadline = Date.now() + 10_000;
    for (;;) {
      const early = await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 50, 'waiting'))]);
      if (early !== 'waiting') throw new Error(`redis-server exited (${String(early)}):\n${output}`);
      if ((await cliRun(['PING']).catch(() => '')).trim() === 'PONG') return;
      if (Date.now() > deadline) {
        started.kill('SIGKILL');
        throw new Error(`redis-server did not answer on ${port}:\n${output}`);
      }
    }
  };

  const cliRun = (command: string[]) =>
    new Promise<string>((resolve, reject) => {
      const cliArgs = [
        '-h', '127.0.0.1', '-p', String(port),
        ...(options.password === undefined ? [] : ['--no-auth-warning', '-a', options.password]),
        ...(tls === undefined ? [] : ['--tls', '--cacert', tls.caPath, '--cert', tls.clientCertPath, '--key', tls.clientKeyPath]),
        ...command,
      ];
      const cli = spawn('redis-cli', cliArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
      let text = '';
      cli.stdout.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      cli.stderr.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      cli.once('error', reject);
      // redis-cli exits 0 on an error reply too: its text is the only sign.
      cli.once('exit', (code) => (code === 0 && !/^(ERR|WRONGPASS|NOPERM|NOAUTH|WRONGTYPE|OOM)\b/.test(text) ? resolve(text) : reject(new Error(`redis-cli ${command.join(' ')}: ${text}`))));
    });

  const kill = async () => {
    const running = child;
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    process.kill(running.pid!, 'SIGKILL');
    await exited;
  };

  try {
    await launch();
  } catch (error) {
    await kill();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    port,
    url: `${tls === undefined ? 'redis' : 'rediss'}://127.0.0.1:${port}`,
    dir,
    tls,
    pid: () => child?.pid,
    kill,
    restart: launch,
    cli: (...command) => cliRun(command),
    output: () => output,
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
