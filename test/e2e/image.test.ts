// The container image, built and run as an operator would (docs/operations.md, "Container
// image"): deploy/image/build.sh makes the Debian base with mmdebstrap and builds the Dockerfile
// on it with podman, in storage of this test's own; the image then runs as its non-root user on a
// read-only root filesystem with a mounted configuration and key, and a real exchange goes
// through it: a DPoP-bound OpTok from a real Authority (oidc-provider) in, a registry token out
// whose signature verifies against the JWKS the container serves.
import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthority, type DevAuthority } from '../../src/dev/authority.ts';
import { libtrustKeyId } from '../../src/mint/key-id.ts';
import { dpopGet, newDpopKeys, tokenUrl } from '../support/dpop-client.ts';
import { freePort, waitFor, writeConfig } from '../support/process.ts';
import { AUDIENCE, CLIENTS, SAMPLE_CERT, SAMPLE_KEY, SERVICE, baseConfig } from '../support/stack.ts';
import { requireTool } from '../support/tools.ts';
import { podmanIn, RUN_FLAGS, runCommand, type Podman } from './support/container.ts';

const BUILD = new URL('../../deploy/image/build.sh', import.meta.url).pathname;
const PINNED_NODE = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { devDependencies: Record<string, string> }).devDependencies['node'];
const IMAGE = 'localhost/registry-token:e2e';
const UID = 10001;
const NAME = `registry-token-e2e-${process.pid}`;

describe('the container image: built from Debian packages, run read-only as uid 10001, exchanging a real OpTok', () => {
  let dir: string;
  let podman: Podman;
  let authority: DevAuthority | undefined;
  let container: ChildProcess | undefined;
  let exited: Promise<number | null> | undefined;
  let output = '';
  let url: string;
  let build: { code: number | null; stdout: string; stderr: string };

  beforeAll(async () => {
    // A missing program fails here, naming it and its Debian package.
    requireTool('mmdebstrap');
    requireTool('podman');
    requireTool('runc');
    dir = mkdtempSync(join(tmpdir(), 'registry-token-image-'));
    podman = podmanIn(join(dir, 'storage'));

    // What an operator runs; the base tarball is cached in this run's directory only. A fresh
    // storage has no layer cache to reuse, so no build step's layer is committed (--layers=false).
    build = await runCommand('bash', [BUILD, '--layers=false'], {
      env: { ...process.env, IMAGE, IMAGE_CACHE: join(dir, 'cache'), PODMAN_STORAGE: podman.storage },
      timeoutMs: 420_000,
    });
    if (build.code !== 0) throw new Error(`deploy/image/build.sh exited ${build.code}:\n${build.stderr.slice(-4000)}`);

    authority = await startAuthority({ audience: AUDIENCE, clients: CLIENTS });
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;

    // The configuration directory as a Secret and ConfigMap would provide it: the YAML and a
    // key only the container's user can read. The ledger goes to the one writable volume.
    const conf = join(dir, 'conf');
    mkdirSync(join(conf, 'keys'), { recursive: true });
    copyFileSync(SAMPLE_KEY, join(conf, 'keys', 'signing-key.pem'));
    copyFileSync(SAMPLE_CERT, join(conf, 'keys', 'signing-cert.pem'));
    chownSync(join(conf, 'keys', 'signing-key.pem'), UID, UID);
    chmodSync(join(conf, 'keys', 'signing-key.pem'), 0o600);
    const config = baseConfig(authority, dir, {
      server: { port, publicUrl: url },
      signing: { issuer: 'registry-token', keyPath: '/etc/registry-token/keys/signing-key.pem', certificatePath: '/etc/registry-token/keys/signing-cert.pem', lifetimeSeconds: 300 },
      ledger: { driver: 'file', path: 'var/ledger' },
    });
    writeConfig(join(conf, 'registry-token.yaml'), config);
    const varDir = join(dir, 'var');
    mkdirSync(varDir);
    chownSync(varDir, UID, UID);

    container = podman.start([
      'run', '--rm', '--name', NAME, ...RUN_FLAGS,
      '--read-only',
      // The image listens on 0.0.0.0; on the host's network a test keeps to loopback.
      '--env', 'REGISTRY_TOKEN_SERVER__HOST=127.0.0.1',
      '--volume', `${conf}:/etc/registry-token:ro`,
      '--volume', `${varDir}:/app/var`,
      IMAGE,
    ]);
    container.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    container.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const child = container;
    exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`the container exited (${child.exitCode}) before serving:\n${output}`);
      return fetch(`${url}/readyz`).then((r) => r.ok, () => false);
    }, 30_000);
  }, 540_000);

  afterAll(async () => {
    if (container !== undefined && container.exitCode === null) {
      container.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 15_000))]);
      if (container.exitCode === null) container.kill('SIGKILL');
    }
    await authority?.close();
    if (podman !== undefined) await podman.reset();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('build.sh names the image it built and its size', () => {
    expect(build.stdout.trim()).toBe(IMAGE);
    expect(build.stderr).toMatch(new RegExp(`built ${IMAGE}: \\d+ bytes`));
  });

  it('the image runs the pinned Node 24 as uid 10001, with production dependencies only', async () => {
    const user = await podman.run(['image', 'inspect', '--format', '{{.Config.User}}', IMAGE]);
    expect(user.stdout.trim()).toBe(`${UID}:${UID}`);
    const probe = await podman.run([
      'exec', NAME, 'node', '-p',
      `[process.version, process.getuid(), ['typescript', 'vitest', 'oidc-provider', 'node', 'fastify'].filter((m) => require('fs').existsSync('node_modules/' + m)).join(' ')].join('|')`,
    ]);
    expect(probe.code, probe.stderr).toBe(0);
    expect(probe.stdout.trim()).toBe(`v${PINNED_NODE}|${UID}|fastify`);
  });

  it('the service process is uid 10001 on the host too, and the root filesystem is read-only', async () => {
    const state = await podman.run(['inspect', '--format', '{{.State.Pid}} {{.HostConfig.ReadonlyRootfs}}', NAME]);
    const [pid, readOnly] = state.stdout.trim().split(' ');
    expect(readOnly).toBe('true');
    const uids = /^Uid:\s+(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]?.split(/\s+/);
    expect(uids).toEqual([String(UID), String(UID), String(UID), String(UID)]);
    const write = (path: string) => podman.run(['exec', NAME, 'node', '-e', `try { require('fs').writeFileSync(${JSON.stringify(path)}, 'x'); console.log('written') } catch (e) { console.log(e.code) }`]);
    expect((await write('/app/probe')).stdout.trim()).toBe('EROFS');
    expect((await write('/app/var/probe')).stdout.trim()).toBe('written');
  });

  it('GET /token through the container: a DPoP-bound OpTok in, a registry token out that verifies against the served JWKS', async () => {
    const keys = await newDpopKeys();
    const opTok = await authority!.tokenWithDpop('team-dpop', keys);
    const response = await dpopGet(tokenUrl(url, { service: SERVICE, scope: ['repository:team/app:pull,push'] }), opTok, keys);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { token: string; access_token: string; expires_in: number };
    expect(body.access_token).toBe(body.token);

    const jwks = (await (await fetch(`${url}/.well-known/jwks.json`)).json()) as JSONWebKeySet;
    const kid = libtrustKeyId(new X509Certificate(readFileSync(SAMPLE_CERT)).publicKey);
    expect(jwks.keys.map((key) => key.kid)).toEqual([kid]);
    const { payload, protectedHeader } = await jwtVerify(body.token, createLocalJWKSet(jwks), { issuer: 'registry-token', audience: SERVICE });
    expect(protectedHeader.kid).toBe(kid);
    expect(payload.access).toEqual([{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }]);

    // Durable before the answer: the container's user wrote the record to the mounted volume.
    const ledgerDir = join(dir, 'var', 'ledger');
    // server.workers defaults to one per CPU: each worker writes its own chain, worker-<n>/.
    const files = (readdirSync(ledgerDir, { recursive: true }) as string[]).filter((name) => name.endsWith('.jsonl'));
    expect(files.length).toBeGreaterThan(0);
    expect(statSync(join(ledgerDir, files[0]!)).uid).toBe(UID);
    expect(files.map((name) => readFileSync(join(ledgerDir, name), 'utf8')).join('')).toContain(payload.jti as string);
  });

  it('SIGTERM to podman reaches the service, which shuts down cleanly', async () => {
    container!.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output).toContain('"msg":"stopped"');
  }, 30_000);
});
