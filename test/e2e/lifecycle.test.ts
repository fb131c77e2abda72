// The service as a real process: bad configuration, SIGTERM with exchanges in flight,
// SIGHUP reload, and SIGKILL under load (no token the clients received lacks its record).
import { spawnSync } from 'node:child_process';
import { Agent, request as httpRequest } from 'node:http';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthority, type DevAuthority } from '../../src/dev/authority.ts';
import { createLedger } from '../../src/record/index.ts';
import { parseConfig } from '../../src/config/loader.ts';
import { AUDIENCE, CLIENTS, SERVICE, baseConfig } from '../support/stack.ts';
import { decodeJwt, dpopGet, makeProof, newDpopKeys, tokenUrl, type KeyPair } from '../support/dpop-client.ts';
import { CLI, freePort, startServiceProcess, waitFor, writeConfig, type ServiceProcess } from '../support/process.ts';

let authority: DevAuthority;
let dir: string;
let keys: KeyPair;
let opTok: string;

beforeAll(async () => {
  authority = await startAuthority({ audience: AUDIENCE, clients: CLIENTS });
  dir = mkdtempSync(join(tmpdir(), 'registry-token-lifecycle-'));
  keys = await newDpopKeys();
  opTok = await authority.tokenWithDpop('team-dpop', keys);
});

afterAll(async () => {
  await authority?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

async function start(name: string, mutate: (config: Record<string, unknown>) => void = () => {}): Promise<{ service: ServiceProcess; configPath: string; config: Record<string, unknown> }> {
  const port = await freePort();
  const config = baseConfig(authority, join(dir, name));
  config.server = { host: '127.0.0.1', workers: 1, port };
  mutate(config);
  const configPath = writeConfig(join(dir, `${name}.yaml`), config);
  return { service: await startServiceProcess(configPath, port), configPath, config };
}

const exchange = (service: ServiceProcess, scope = 'repository:team/app:pull') =>
  dpopGet(tokenUrl(service.url, { service: SERVICE, scope: [scope] }), opTok, keys);

describe('configuration errors', () => {
  it('stops with exit 2 and a message naming the key, never a stack trace', () => {
    const path = join(dir, 'bad.yaml');
    writeFileSync(path, 'authority:\n  issuer: http://127.0.0.1:1\n  audiences: [x]\nsigning:\n  issuer: t\n  keyPath: k.pem\n  lifetimeSeconds: 7200\nregistry:\n  realm: http://x/token\n');
    const result = spawnSync(process.execPath, [CLI, 'serve', '--config', path], { encoding: 'utf8', timeout: 15_000 });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('signing.lifetimeSeconds');
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('names an environment override that cannot be used', () => {
    const path = join(dir, 'env.yaml');
    writeConfig(path, baseConfig(authority, join(dir, 'env')));
    const result = spawnSync(process.execPath, [CLI, 'check-config', '--config', path], {
      encoding: 'utf8',
      timeout: 15_000,
      env: { ...process.env, REGISTRY_TOKEN_SERVER__PORT: 'eighty' },
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('REGISTRY_TOKEN_SERVER__PORT');
  });
});

describe('signals', () => {
  it('SIGTERM finishes in-flight exchanges, flushes the ledger and exits 0', async () => {
    const { service, config } = await start('sigterm');
    const url = tokenUrl(service.url, { service: SERVICE, scope: ['repository:team/app:pull'] });
    const proofs = await Promise.all(Array.from({ length: 40 }, () => makeProof(keys, 'GET', url, opTok)));
    // Twenty open keep-alive connections, so the next twenty requests are written to sockets
    // the server has already accepted: they are really in flight when SIGTERM arrives.
    const agent = new Agent({ keepAlive: true, maxSockets: 20 });
    const send = (proof: string) => {
      let written!: () => void;
      const sent = new Promise<void>((resolve) => (written = resolve));
      const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest(url, { agent, headers: { authorization: `DPoP ${opTok}`, dpop: proof } }, (res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          res.on('error', reject);
        });
        req.on('error', reject);
        req.on('finish', written);
        req.end();
      });
      return { sent, answer };
    };
    const warm = proofs.slice(0, 20).map(send);
    expect((await Promise.all(warm.map((r) => r.answer))).map((r) => r.status)).toEqual(Array(20).fill(200));
    const inFlight = proofs.slice(20).map(send);
    await Promise.all(inFlight.map((r) => r.sent));
    await new Promise((resolve) => setTimeout(resolve, 20));
    const code = await service.stop('SIGTERM');
    // Every answer arrives whole: 200 for an exchange under way, 503 only for one the server had
    // not begun when it started closing; never a reset connection.
    const answers = await Promise.all(inFlight.map((r) => r.answer));
    agent.destroy();
    expect(code).toBe(0);
    const issued = answers.filter((a) => a.status === 200);
    expect(answers.filter((a) => a.status !== 200 && a.status !== 503)).toEqual([]);
    expect(issued.length).toBeGreaterThan(0);
    const ledger = await createLedger(parseConfig(config).ledger, { logger: { info() {}, warn() {}, error() {} } });
    for (const { body } of issued) {
      const token = (JSON.parse(body) as { token: string }).token;
      expect(await ledger.get(decodeJwt(token).payload.jti as string)).toBeDefined();
    }
    await ledger.close();
    expect(service.output()).toContain('stopped');
  });

  it('SIGHUP swaps plans; a bad file is refused and the old plans stay', async () => {
    const { service, configPath, config } = await start('sighup');
    expect((await exchange(service, 'repository:extra/app:pull')).status).toBe(403);

    const plans = config.plans as Record<string, unknown[]>;
    plans.team = [...(plans.team ?? []), { repository: 'extra/**' }];
    writeConfig(configPath, config);
    service.child.kill('SIGHUP');
    await waitFor(() => service.output().includes('configuration reloaded'));
    expect((await exchange(service, 'repository:extra/app:pull')).status).toBe(200);

    writeFileSync(configPath, 'plans: [this is: not valid');
    service.child.kill('SIGHUP');
    await waitFor(() => service.output().includes('configuration reload refused'));
    expect((await exchange(service, 'repository:extra/app:pull')).status).toBe(200);
    expect(await service.stop('SIGTERM')).toBe(0);
  });
});

describe('operator commands', () => {
  it('keygen writes the key set, refuses to overwrite, and check-config accepts the new key', () => {
    const out = join(dir, 'keys');
    const run = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000 });
    const made = run(['keygen', '--out', out, '--alg', 'ES256', '--service', SERVICE, '--json']);
    expect(made.status, made.stderr).toBe(0);
    const result = JSON.parse(made.stdout) as { kid: string; paths: Record<string, string> };
    expect(result.kid).toMatch(/^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
    expect(run(['keygen', '--out', out]).status).not.toBe(0);

    const config = baseConfig(authority, join(dir, 'keys-ledger'));
    config.signing = { issuer: 'registry-token', keyPath: result.paths.key, certificatePath: result.paths.certificate };
    const checked = run(['check-config', '--config', writeConfig(join(dir, 'keys.yaml'), config)]);
    expect(checked.status, checked.stderr).toBe(0);
    expect(checked.stderr).toContain(`ES256 kid ${result.kid}`);
  });

  it('explain names the rule that grants each scope', () => {
    const path = writeConfig(join(dir, 'explain.yaml'), baseConfig(authority, join(dir, 'explain')));
    const result = spawnSync(process.execPath, [CLI, 'explain', '--config', path, '--plan', 'team', '--scope', 'repository:team/app:pull,push,delete', '--scope', 'repository:secret/x:pull'], { encoding: 'utf8', timeout: 30_000 });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toContain('repository:team/app:pull,push,delete -> pull,push  (rule team[1] repository:team/**)');
    expect(result.stdout).toContain('repository:secret/x:pull -> nothing  (no rule matches)');
  });
});

describe('telemetry.metricsPort', () => {
  it('serves /metrics on its own port and not on the main one', async () => {
    const metricsPort = await freePort();
    const { service } = await start('metrics-port', (config) => {
      config.telemetry = { logLevel: 'info', metricsPort };
    });
    expect((await exchange(service)).status).toBe(200);
    const scraped = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(scraped).toMatch(/^registry_token_issued_total\{service="registry.localhost",plan="team",tenant="[a-z]+"\} 1$/m);
    expect((await fetch(`${service.url}/metrics`)).status).toBe(404);
    expect(await service.stop('SIGTERM')).toBe(0);
  });
});

describe('serve --watch', () => {
  it('reloads when the file is replaced (rename over it, as editors and ConfigMaps do), twice', async () => {
    const port = await freePort();
    const config = baseConfig(authority, join(dir, 'watch'));
    config.server = { host: '127.0.0.1', workers: 1, port };
    const configPath = writeConfig(join(dir, 'watch.yaml'), config);
    const service = await startServiceProcess(configPath, port, {}, ['--watch']);
    const plans = config.plans as Record<string, unknown[]>;
    for (const [round, repository] of [[1, 'first/**'], [2, 'second/**']] as const) {
      plans.team = [...(plans.team ?? []), { repository }];
      writeConfig(`${configPath}.new`, config);
      renameSync(`${configPath}.new`, configPath);
      await waitFor(() => service.output().split('configuration reloaded').length > round);
      expect((await exchange(service, `repository:${repository.replace('**', 'app')}:pull`)).status).toBe(200);
    }
    expect(await service.stop('SIGTERM')).toBe(0);
  });
});

describe('serve --watch on a Kubernetes ConfigMap volume', () => {
  it('reloads when the kubelet swaps the ..data link', async () => {
    // The layout the kubelet writes: the file is a link through ..data to a timestamped directory,
    // and an update makes a new directory and renames a new ..data link over the old one.
    const volume = join(dir, 'configmap');
    const config = baseConfig(authority, join(dir, 'configmap-ledger'));
    const port = await freePort();
    config.server = { host: '127.0.0.1', workers: 1, port };
    const publish = (version: number) => {
      const data = join(volume, `..2026_12_0${version}`);
      mkdirSync(data, { recursive: true });
      writeConfig(join(data, 'registry-token.yaml'), config);
      symlinkSync(`..2026_12_0${version}`, join(volume, '..data_tmp'));
      renameSync(join(volume, '..data_tmp'), join(volume, '..data'));
    };
    mkdirSync(volume);
    publish(1);
    symlinkSync('..data/registry-token.yaml', join(volume, 'registry-token.yaml'));
    const service = await startServiceProcess(join(volume, 'registry-token.yaml'), port, {}, ['--watch']);
    expect((await exchange(service, 'repository:mapped/app:pull')).status).toBe(403);
    const plans = config.plans as Record<string, unknown[]>;
    plans.team = [...(plans.team ?? []), { repository: 'mapped/**' }];
    publish(2);
    await waitFor(() => service.output().includes('configuration reloaded'));
    expect((await exchange(service, 'repository:mapped/app:pull')).status).toBe(200);
    expect(await service.stop('SIGTERM')).toBe(0);
  });
});

describe('crash safety', () => {
  it('after SIGKILL under load, every token a client received has its record and the chain verifies', async () => {
    const { service, config } = await start('crash');
    const received: string[] = [];
    let stop = false;
    const worker = async () => {
      while (!stop) {
        try {
          const response = await exchange(service);
          if (response.status === 200) received.push(((await response.json()) as { token: string }).token);
        } catch {
          return; // the process is gone
        }
      }
    };
    const workers = Array.from({ length: 16 }, worker);
    await waitFor(() => received.length >= 200, 20_000);
    expect(await service.stop('SIGKILL')).toBe('SIGKILL');
    stop = true;
    await Promise.all(workers);
    expect(received.length).toBeGreaterThanOrEqual(200);

    const ledgerDir = parseConfig(config).ledger.path;
    const verify = spawnSync(process.execPath, [CLI, 'ledger', 'verify', '--path', ledgerDir, '--json'], { encoding: 'utf8', timeout: 30_000 });
    expect(verify.status, verify.stdout + verify.stderr).toBe(0);
    expect(JSON.parse(verify.stdout).ok).toBe(true);

    const ledger = await createLedger(parseConfig(config).ledger, { logger: { info() {}, warn() {}, error() {} } });
    const missing: string[] = [];
    for (const token of received) {
      const jti = decodeJwt(token).payload.jti as string;
      const record = await ledger.get(jti);
      if (record?.outcome !== 'issued') missing.push(jti);
    }
    await ledger.close();
    expect(missing).toEqual([]);

    const exported = spawnSync(process.execPath, [CLI, 'ledger', 'export', '--path', ledgerDir], { encoding: 'utf8', timeout: 30_000 });
    expect(exported.status, exported.stderr).toBe(0);
    const lines = exported.stdout.trim().split('\n').map((line) => JSON.parse(line) as { jti: string; outcome: string });
    const exportedJtis = new Set(lines.map((line) => line.jti));
    for (const token of received) expect(exportedJtis.has(decodeJwt(token).payload.jti as string)).toBe(true);
    expect(exported.stderr).toContain(`exported ${lines.length} records`);
  });
});

