// A real haproxy (Debian's package) in front of service replicas on loopback: round robin, each
// replica checked on /readyz, and the answering server named in `X-Served-By` so a test can tell
// where a request landed. Foreground (-db), its own directory, stopped by PID.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Balancer {
  readonly port: number;
  readonly url: string;
  /** The configuration it runs, as written (docs/operations.md shows the same). */
  readonly config: string;
  output(): string;
  stop(): Promise<void>;
}

/** The haproxy.cfg for `servers` (name → port), listening on `port`. */
export function haproxyConfig(port: number, servers: Record<string, number>): string {
  return [
    'global',
    '  maxconn 1024',
    'defaults',
    '  mode http',
    '  timeout connect 1s',
    '  timeout client 30s',
    '  timeout server 30s',
    // A check slower than this (a loaded CI machine) counts as failed; `inter` alone would be the bound.
    '  timeout check 2s',
    // Only a connection that was never made is retried elsewhere: a request that reached a
    // replica may have had its DPoP proof remembered, and a second try would be a replay.
    '  retries 2',
    '  retry-on conn-failure',
    '  option redispatch',
    'frontend token',
    `  bind 127.0.0.1:${port}`,
    '  default_backend replicas',
    'backend replicas',
    '  balance roundrobin',
    '  option httpchk GET /readyz',
    '  http-check expect status 200',
    '  default-server inter 250ms fall 3 rise 1',
    '  http-response set-header X-Served-By %s',
    ...Object.entries(servers).map(([name, serverPort]) => `  server ${name} 127.0.0.1:${serverPort} check`),
    '',
  ].join('\n');
}

export async function startHaproxy(port: number, servers: Record<string, number>): Promise<Balancer> {
  const dir = mkdtempSync(join(tmpdir(), 'registry-token-haproxy-'));
  const config = haproxyConfig(port, servers);
  const path = join(dir, 'haproxy.cfg');
  writeFileSync(path, config);
  const checked = spawnSync('haproxy', ['-c', '-f', path], { encoding: 'utf8' });
  if (checked.status !== 0) throw new Error(`haproxy -c refused the configuration:\n${checked.stdout}${checked.stderr}`);
  const child: ChildProcess = spawn('haproxy', ['-db', '-f', path], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(String(code ?? signal))));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const early = await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 50, 'waiting'))]);
    if (early !== 'waiting') throw new Error(`haproxy exited (${String(early)}):\n${output}`);
    // Any HTTP answer (even 503 before a server is up) means it listens.
    if (await fetch(`${url}/healthz`).then(() => true, () => false)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`haproxy did not listen on ${port}:\n${output}`);
    }
  }
  return {
    port,
    url,
    config,
    output: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(child.pid!, 'SIGKILL');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
