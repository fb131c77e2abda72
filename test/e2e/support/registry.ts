// A real Docker registry (Debian's `docker-registry`, distribution 2.8.2) for end-to-end
// tests: token auth against a root-certificate bundle, filesystem storage in a temp dir,
// bound to 127.0.0.1 on a port picked at run time.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.ts';

export const REGISTRY_BINARY = process.env['REGISTRY_BINARY_PATH'] ?? '/usr/bin/docker-registry';

export interface RegistryOptions {
  /** `auth.token.realm`: where clients are sent for a token (our service's /token URL). */
  realm: string;
  /** `auth.token.service`: tokens must carry exactly this string as `aud`. */
  service: string;
  /** `auth.token.issuer`: tokens must carry exactly this string as `iss`. */
  issuer: string;
  /** PEM file of the certificates whose keys may sign tokens. */
  rootCertBundlePath: string;
  /** Storage root; a temp dir (removed by stop()) when absent. A given one is kept. */
  storageDir?: string;
  /** `log.level`; default 'info'. */
  logLevel?: 'error' | 'warn' | 'info' | 'debug';
  /** How long to wait for `GET /v2/` to answer 401; default 15 s. */
  startTimeoutMs?: number;
  /**
   * Pull-through cache mode (`proxy:`): this registry serves what it fetches from `remoteurl`,
   * logging in there with `username`/`password`, and asks its own clients for nothing (no
   * `auth:` section), as a mirror in front of a protected registry is usually run.
   */
  proxy?: { remoteurl: string; username: string; password: string };
}

export interface RunningRegistry {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** `127.0.0.1:PORT`, the form image references use (`docker://127.0.0.1:PORT/team/app:tag`). */
  host: string;
  port: number;
  configPath: string;
  storageDir: string;
  /** SIGTERM, then SIGKILL after 5 s; removes the temp dirs this harness created. Idempotent. */
  stop(): Promise<void>;
  /** Everything the registry printed so far (stdout and stderr interleaved). */
  logs(): string;
}

export interface RegistryConfigInput {
  port: number;
  storageDir: string;
  realm: string;
  service: string;
  issuer: string;
  rootCertBundlePath: string;
  logLevel: string;
  httpSecret: string;
  proxy?: RegistryOptions['proxy'];
}

// JSON strings are valid YAML double-quoted scalars, so every value goes through JSON.stringify.
const q = (value: string): string => JSON.stringify(value);

/** The distribution configuration file this harness writes. */
export function registryConfigYaml(c: RegistryConfigInput): string {
  return [
    'version: 0.1',
    'log:',
    `  level: ${q(c.logLevel)}`,
    '  formatter: text',
    '  fields:',
    '    service: registry',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${q(c.storageDir)}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: ${q(`127.0.0.1:${c.port}`)}`,
    `  secret: ${q(c.httpSecret)}`,
    '  headers:',
    '    X-Content-Type-Options: [nosniff]',
    ...(c.proxy === undefined
      ? [
          'auth:',
          '  token:',
          `    realm: ${q(c.realm)}`,
          `    service: ${q(c.service)}`,
          `    issuer: ${q(c.issuer)}`,
          `    rootcertbundle: ${q(c.rootCertBundlePath)}`,
        ]
      : ['proxy:', `  remoteurl: ${q(c.proxy.remoteurl)}`, `  username: ${q(c.proxy.username)}`, `  password: ${q(c.proxy.password)}`]),
    '',
  ].join('\n');
}

const MAX_LOG_CHARS = 4 * 1024 * 1024;

// Children still alive when this process exits (a crashed worker, a missed stop()).
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;
function trackChild(child: ChildProcess): void {
  liveChildren.add(child);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of liveChildren) c.kill('SIGKILL');
    });
  }
}

/** Status code of `GET url`, or undefined when nothing answered. */
function probeStatus(url: string, timeoutMs: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'GET', agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, timeoutMs);
    const onExit = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

async function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  if (await waitForExit(child, 5_000)) return;
  child.kill('SIGKILL');
  await waitForExit(child, 5_000);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function startOnce(options: RegistryOptions, workDir: string, storageDir: string): Promise<RunningRegistry | 'port-in-use'> {
  const port = await freePort();
  const configPath = join(workDir, `config-${port}.yml`);
  await writeFile(
    configPath,
    registryConfigYaml({
      port,
      storageDir,
      realm: options.realm,
      service: options.service,
      issuer: options.issuer,
      rootCertBundlePath: options.rootCertBundlePath,
      logLevel: options.logLevel ?? 'info',
      httpSecret: randomBytes(16).toString('hex'),
      ...(options.proxy === undefined ? {} : { proxy: options.proxy }),
    }),
  );

  // distribution lets REGISTRY_* variables override the file: keep the file authoritative.
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('REGISTRY_')) env[k] = v;

  const child = spawn(REGISTRY_BINARY, ['serve', configPath], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  trackChild(child);
  let output = '';
  const append = (chunk: Buffer): void => {
    if (output.length < MAX_LOG_CHARS) output += chunk.toString('utf8');
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  let spawnError: Error | undefined;
  child.on('error', (err) => {
    spawnError = err;
  });
  child.once('exit', () => liveChildren.delete(child));

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (options.startTimeoutMs ?? 15_000);
  let lastStatus: number | undefined;
  for (;;) {
    if (spawnError) throw new Error(`cannot start ${REGISTRY_BINARY}: ${spawnError.message}`);
    if (child.exitCode !== null || child.signalCode !== null) {
      if (/address already in use/i.test(output)) return 'port-in-use';
      throw new Error(`docker-registry exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${output}`);
    }
    lastStatus = await probeStatus(`${url}/v2/`, 1_000);
    // Token auth answers 401 at once; a mirror asks its clients for nothing.
    if (lastStatus === (options.proxy === undefined ? 401 : 200)) break;
    if (Date.now() > deadline) {
      await killChild(child);
      throw new Error(`docker-registry not ready after ${options.startTimeoutMs ?? 15_000} ms (last GET /v2/ status: ${lastStatus ?? 'no answer'}):\n${output}`);
    }
    await sleep(lastStatus === undefined ? 50 : 200);
  }

  let stopped: Promise<void> | undefined;
  return {
    url,
    host: `127.0.0.1:${port}`,
    port,
    configPath,
    storageDir,
    logs: () => output,
    stop: () => {
      stopped ??= (async () => {
        await killChild(child);
        await rm(workDir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}

/** Starts the registry and resolves once `GET /v2/` answers 401 (token auth active). */
export async function startRegistry(options: RegistryOptions): Promise<RunningRegistry> {
  const workDir = await mkdtemp(join(tmpdir(), 'e2e-registry-'));
  try {
    let storageDir = options.storageDir;
    if (storageDir === undefined) {
      storageDir = join(workDir, 'storage');
      await mkdir(storageDir);
    }
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const result = await startOnce(options, workDir, storageDir);
      if (result !== 'port-in-use') return result;
    }
    throw new Error('docker-registry lost the race for a free port three times');
  } catch (err) {
    await rm(workDir, { recursive: true, force: true });
    throw err;
  }
}
