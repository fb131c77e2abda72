// The battery's harness: real processes for the Authority (trusted and untrusted) and the
// service, stopped by PID in afterAll; OpToks from the real Authority over HTTP, and OpToks of
// any shape signed with the trusted Authority's key (the test created that key file itself);
// requests from chosen loopback source addresses; tmpfs mounts for a full disk.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomUUID, type webcrypto } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as oauth from 'oauth4webapi';
import { importJWK, SignJWT, type JWK } from 'jose';
import { parseConfig } from '../../../src/config/loader.ts';
import { AUDIENCE, SERVICE, baseConfig } from '../../support/stack.ts';
import { callWithProof, decodeJwt, makeProof, tokenUrl, type KeyPair, type ProofOverrides, type RawResponse } from '../../support/dpop-client.ts';
import { CLI, freePort, startServiceProcess, writeConfig, type ServiceProcess } from '../../support/process.ts';
import { ISSUE, secretOf } from './clients.ts';

const AUTHORITY_MAIN = new URL('./authority-main.ts', import.meta.url).pathname;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'a condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

// ---------------------------------------------------------------------------------------
// everything a test file started, torn down in its afterAll

/** One per test file: a work directory, and every process and mount to undo. */
export class Battery {
  readonly dir: string;
  readonly #children = new Set<ChildProcess>();
  readonly #mounts: string[] = [];

  constructor(name: string) {
    this.dir = mkdtempSync(join(tmpdir(), `registry-token-battery-${name}-`));
  }

  track(child: ChildProcess): void {
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
  }

  /** Mounts a tmpfs of `size` (e.g. '2m') on a new directory; unmounted by `close`. */
  tmpfs(name: string, size: string): string {
    const path = join(this.dir, name);
    mkdirSync(path, { recursive: true });
    const result = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', path], { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`mount -t tmpfs on ${path} failed (the battery runs as root): ${result.stderr}`);
    this.#mounts.push(path);
    return path;
  }

  async close(): Promise<void> {
    for (const child of this.#children) {
      // Real signals: a SIGSTOPped process first gets SIGCONT so SIGKILL is not left pending.
      try {
        process.kill(child.pid!, 'SIGCONT');
        process.kill(child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await Promise.all([...this.#children].map((child) => new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(undefined) : child.once('exit', resolve)))));
    for (const path of this.#mounts.reverse()) {
      const result = spawnSync('umount', [path], { encoding: 'utf8' });
      if (result.status !== 0) spawnSync('umount', ['-l', path]);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  // -------------------------------------------------------------------------------------
  // the Authority as a process

  /** Starts `authority-main.ts`; the same `keyFile` keeps the keys across restarts. */
  async authority(options: { keyFile: string; port?: number; failJwks?: boolean }): Promise<AuthorityProcess> {
    const args = [AUTHORITY_MAIN, '--key', options.keyFile, '--port', String(options.port ?? 0), ...(options.failJwks === true ? ['--fail-jwks'] : [])];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.track(child);
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
    const started = Date.now();
    let info: { issuer: string; kid: string } | undefined;
    while (info === undefined) {
      const line = /^AUTHORITY (.*)$/m.exec(output)?.[1];
      if (line !== undefined) info = JSON.parse(line) as { issuer: string; kid: string };
      else {
        const early = await Promise.race([exited, sleep(50).then(() => 'waiting' as const)]);
        if (early !== 'waiting') throw new Error(`Authority exited (${String(early)}) before serving:\n${output}`);
        if (Date.now() - started > 20_000) throw new Error(`Authority did not start:\n${output}`);
      }
    }
    const mark = output.length;
    const issuer = info.issuer;
    const authority: AuthorityProcess = {
      issuer,
      port: Number(new URL(issuer).port),
      kid: info.kid,
      keyFile: options.keyFile,
      pid: child.pid!,
      output: () => output,
      hits: (path) => output.slice(mark).split('\n').filter((line) => line === `HIT ${path}`).length,
      signal: (signal) => process.kill(child.pid!, signal),
      async stop(signal = 'SIGTERM') {
        if (child.exitCode !== null || child.signalCode !== null) return exited;
        process.kill(child.pid!, 'SIGCONT');
        process.kill(child.pid!, signal);
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        const result = await exited;
        clearTimeout(timer);
        return result;
      },
      async toggle(signal, expected) {
        const before = output.length;
        process.kill(child.pid!, signal);
        await waitFor(() => output.slice(before).includes(expected), 5_000, `Authority mode ${expected}`);
      },
    };
    return authority;
  }

  // -------------------------------------------------------------------------------------
  // the service as a process

  /**
   * `node src/cli.ts serve` with the integration tests' base configuration (trusting
   * `authority`, file ledger under the work directory) changed by `mutate`.
   */
  async service(name: string, authority: { issuer: string }, mutate: (config: Record<string, unknown>, dir: string) => void = () => {}): Promise<BatteryService> {
    const port = await freePort();
    const dir = join(this.dir, name);
    mkdirSync(dir, { recursive: true });
    const config = baseConfig(authority, dir);
    config.server = { host: '127.0.0.1', workers: 1, port };
    generousLimits(config);
    mutate(config, dir);
    const configPath = writeConfig(join(dir, 'config.yaml'), config);
    const process_ = await startServiceProcess(configPath, port);
    this.track(process_.child);
    const parsed = parseConfig(config);
    return Object.assign(process_, { configPath, config, ledgerPath: parsed.ledger.path, pid: process_.child.pid! });
  }
}

/**
 * Runs `serve` with a configuration that must be refused at start-up: resolves with its exit
 * code and output, or with 'served' (after killing it) if it came up and answered /healthz.
 */
export async function serveExpectingRefusal(battery: Battery, configPath: string, port: number, timeoutMs = 15_000): Promise<{ result: number | string; output: string }> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.toUpperCase().startsWith('REGISTRY_TOKEN_')));
  const child = spawn(process.execPath, [CLI, 'serve', '--config', configPath], { env: clean, stdio: ['ignore', 'pipe', 'pipe'] });
  battery.track(child);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const early = await Promise.race([exited, sleep(100).then(() => 'waiting' as const)]);
    if (early !== 'waiting') return { result: early, output };
    const healthy = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false);
    if (healthy || Date.now() > deadline) {
      child.kill('SIGKILL');
      await exited;
      return { result: healthy ? 'served' : 'hung', output };
    }
  }
}

/**
 * Rate limits and a per-client replay-cache share far above what one battery case sends, where
 * this build has those keys (issue 7, defect 8): a case tests its own attack, not the limits.
 * The abuse battery and the fairness case set their own.
 */
export function generousLimits(config: Record<string, unknown>): void {
  const rateLimits = { enabled: true, perAddress: { max: 100_000, windowSeconds: 60 }, perClient: { max: 100_000, windowSeconds: 60 }, failedAuthPerAddress: { max: 100_000, windowSeconds: 60 } };
  if (schemaAccepts({ issuer: 'http://127.0.0.1:1' }, (c) => (c.rateLimits = rateLimits))) config.rateLimits = rateLimits;
  const dpop = { replayCachePerClient: 100_000 };
  if (schemaAccepts({ issuer: 'http://127.0.0.1:1' }, (c) => ((c.authority as Record<string, unknown>).dpop = dpop))) {
    const authority = config.authority as Record<string, unknown>;
    authority.dpop = { ...(authority.dpop as Record<string, unknown> | undefined), ...dpop };
  }
}

export interface AuthorityProcess {
  readonly issuer: string;
  readonly port: number;
  /** kid of its signing key (the JWK thumbprint). */
  readonly kid: string;
  readonly keyFile: string;
  readonly pid: number;
  output(): string;
  /** How many requests for `path` (/jwks, /.well-known/openid-configuration) it saw since it started serving. */
  hits(path: string): number;
  signal(signal: NodeJS.Signals): void;
  stop(signal?: NodeJS.Signals): Promise<number | string>;
  /** SIGUSR1 (JWKS 503 on/off) or SIGUSR2 (discovery not JSON on/off), waiting for the switch. */
  toggle(signal: 'SIGUSR1' | 'SIGUSR2', expected: string): Promise<void>;
}

export type BatteryService = ServiceProcess & { configPath: string; config: Record<string, unknown>; ledgerPath: string; pid: number };

// ---------------------------------------------------------------------------------------
// OpToks

/** client_credentials at the real Authority, DPoP-bound to `keys` (oauth4webapi, as a client would). */
export async function opTokWithDpop(issuer: string, clientId: string, keys: KeyPair): Promise<string> {
  return tokenRequest(issuer, clientId, { DPoP: oauth.DPoP({}, keys) });
}

/** client_credentials bound to a client certificate (the dev Authority reads it from x-client-cert). */
export async function opTokWithCertificate(issuer: string, clientId: string, certificatePem: string): Promise<string> {
  return tokenRequest(issuer, clientId, { headers: { 'x-client-cert': encodeURIComponent(certificatePem) } });
}

async function tokenRequest(issuer: string, clientId: string, extra: { DPoP?: oauth.DPoPHandle; headers?: Record<string, string> }): Promise<string> {
  const issuerUrl = new URL(issuer);
  const as = await oauth.processDiscoveryResponse(issuerUrl, await oauth.discoveryRequest(issuerUrl, { [oauth.allowInsecureRequests]: true }));
  const client: oauth.Client = { client_id: clientId };
  const params = new URLSearchParams({ scope: ISSUE });
  const response = await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic(secretOf(clientId)), params, {
    [oauth.allowInsecureRequests]: true,
    ...(extra.DPoP === undefined ? {} : { DPoP: extra.DPoP }),
    ...(extra.headers === undefined ? {} : { headers: extra.headers }),
  });
  const result = await oauth.processClientCredentialsResponse(as, client, response);
  return result.access_token;
}

/** Claims of a well-formed DPoP-bound OpTok for `clientId`, as the trusted Authority issues them. */
export function opTokClaims(issuer: string, clientId: string, jkt: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: issuer,
    sub: clientId,
    aud: AUDIENCE,
    client_id: clientId,
    scope: ISSUE,
    iat: now,
    exp: now + 300,
    jti: randomUUID(),
    cnf: { jkt },
    'stellaops:plan': 'team',
    'stellaops:license': 'lic-team',
    tid: 'acme',
    ...extra,
  };
}

/**
 * An OpTok of any shape signed with the Authority's own key (read from the key file this test
 * created): only the claims or header under test are wrong. `header` replaces the defaults
 * (alg ES256, kid, typ at+jwt); a header value `undefined` leaves that member out.
 */
export async function signWithAuthorityKey(authority: AuthorityProcess, claims: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
  const jwk = JSON.parse(readFileSync(authority.keyFile, 'utf8')) as JWK;
  const key = await importJWK(jwk, 'ES256');
  const protectedHeader = Object.fromEntries(
    Object.entries({ alg: 'ES256', kid: authority.kid, typ: 'at+jwt', ...header }).filter(([, value]) => value !== undefined),
  ) as { alg: string };
  return new SignJWT(claims).setProtectedHeader(protectedHeader).sign(key);
}

// ---------------------------------------------------------------------------------------
// requests

export interface ExchangeOptions {
  scope?: string[];
  /** Proof overrides (makeProof); or `proof` to send exactly these. */
  overrides?: ProofOverrides;
  proof?: string | string[] | null;
  scheme?: 'DPoP' | 'Bearer';
  headers?: [string, string][];
  localAddress?: string;
  method?: string;
  params?: Record<string, unknown>;
  timeoutMs?: number;
}

/** GET /token with a DPoP proof made for this request (one field changed with `overrides`). */
export async function exchange(service: { url: string }, token: string | undefined, keys: KeyPair | undefined, options: ExchangeOptions = {}): Promise<RawResponse> {
  const url = tokenUrl(service.url, { service: SERVICE, ...(options.scope === undefined ? {} : { scope: options.scope }), ...options.params });
  let proof: string | string[] | undefined;
  if (options.proof === undefined && token !== undefined && keys !== undefined) proof = await makeProof(keys, options.method ?? 'GET', url, token, options.overrides);
  else if (options.proof !== null && options.proof !== undefined) proof = options.proof;
  return callWithProof(url, {
    ...(token === undefined ? {} : { token }),
    ...(proof === undefined ? {} : { proof }),
    scheme: options.scheme ?? 'DPoP',
    headers: options.headers ?? [],
    ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
    ...(options.method === undefined ? {} : { method: options.method }),
    timeoutMs: options.timeoutMs ?? 15_000,
  });
}

export const sha256 = (text: string) => createHash('sha256').update(text).digest('base64url');

/** The jti of the registry token in a 200 answer. */
export function jtiOf(res: RawResponse): string {
  return decodeJwt(res.json<{ token: string }>().token).payload.jti as string;
}

// ---------------------------------------------------------------------------------------
// the ledger, read with the operator commands

export function ledgerExport(path: string): { jti: string; outcome: string; reason?: string; requestId?: string; [key: string]: unknown }[] {
  const result = spawnSync(process.execPath, [CLI, 'ledger', 'export', '--path', path], { encoding: 'utf8', timeout: 30_000, maxBuffer: 256 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`ledger export failed (${String(result.status)}): ${result.stderr}`);
  return result.stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as { jti: string; outcome: string });
}

export function ledgerVerify(path: string): { status: number | null; report: { ok?: boolean; records?: number }; output: string } {
  const result = spawnSync(process.execPath, [CLI, 'ledger', 'verify', '--path', path, '--json'], { encoding: 'utf8', timeout: 30_000 });
  let report: { ok?: boolean; records?: number } = {};
  try {
    report = JSON.parse(result.stdout) as typeof report;
  } catch {
    // not a report: the status says why
  }
  return { status: result.status, report, output: result.stdout + result.stderr };
}

/** Bytes of every file under `dir`. */
export function treeBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) total += treeBytes(full);
    else if (entry.isFile()) total += statSync(full).size;
  }
  return total;
}

/** VmRSS of a process in MiB. */
export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN) / 1024;
}

/** True when this build's configuration schema accepts `section` (a key added by issue 7). */
export function schemaAccepts(authority: { issuer: string }, mutate: (config: Record<string, unknown>) => void): boolean {
  const config = baseConfig(authority, tmpdir());
  mutate(config);
  try {
    parseConfig(config);
    return true;
  } catch {
    return false;
  }
}

export { SERVICE, AUDIENCE, sleep };
export type { webcrypto };
