// One file's world: the development Authority (oidc-provider) and the token service (startStack),
// Debian's docker-registry protected by it, a small image built by hand as an OCI layout, and
// the operations a test needs around the clients: credentials issued over DPoP, revocations by
// the operator, and the service's ledger, where every exchange a client made is recorded.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dump } from 'js-yaml';
import { expect } from 'vitest';
import { helperOnPath } from '../../support/client-tools.ts';
import type { IssuanceRecord } from '../../../src/record/ledger.ts';
import { callWithProof, makeProof, newDpopKeys, type KeyPair } from '../../support/dpop-client.ts';
import { CLIENTS, SAMPLE_CERT, SERVICE, startStack, type Stack } from '../../support/stack.ts';
import { buildOciImage, type OciImage } from '../../e2e/support/image.ts';
import { startRegistry, type RunningRegistry } from '../../e2e/support/registry.ts';
import { run } from './run.ts';

export type Who = 'team-dpop' | 'operator';

export interface IssuedCredential {
  readonly credential: string;
  readonly id: string;
  readonly username: string;
  readonly expires_at: string;
}

export interface World {
  readonly stack: Stack;
  readonly registry: RunningRegistry;
  readonly image: OciImage;
  /** A directory for this file's clients; removed by stop(). */
  readonly dir: string;
  /** The variables every flow may use: REGISTRY, TOKEN_SERVICE, LAYOUT, SERVICE. */
  readonly vars: Record<string, string>;
  /** `POST /credentials` with a DPoP-bound OpTok of `who` (team plan: team/** pull,push; operator: everything and the catalog). */
  credential(options?: { who?: Who; scope?: string; expiresIn?: number; name?: string }): Promise<IssuedCredential>;
  /** A credential that has already expired (issued for 1 s, then waited for). */
  expiredCredential(): Promise<IssuedCredential>;
  /** `PUT /admin/revocations/credentials/:id` by the operator. */
  revoke(id: string): Promise<void>;
  /** Ledger records of token exchanges made with this credential (newest first). */
  exchangesOf(id: string): Promise<IssuanceRecord[]>;
  /** `skopeo copy` of the hand-built image into a docker-archive / oci-archive tar for daemons that load files. */
  archive(format: 'docker-archive' | 'oci-archive', reference?: string): Promise<string>;
  /** A docker-registry in pull-through cache mode in front of the protected one, logging in with `issued`; stopped by stop(). */
  mirror(issued: IssuedCredential): Promise<RunningRegistry>;
  /** The helper's settings file (team-dpop at the development Authority, this registry over plain HTTP) and a PATH directory with the helper. */
  helperSetup(): { settingsFile: string; pathDir: string };
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function startWorld(name: string): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), `clients-${name}-`));
  const stack = await startStack({
    config: (base) => ({
      ...base,
      // One second of tolerance (the clocks are the same machine's) keeps the expiry test short.
      authority: { ...(base.authority as object), clockToleranceSeconds: 1 },
      credentials: { minLifetimeSeconds: 1 },
      ledger: { ...(base.ledger as object), revocationPollSeconds: 1, revocationMaxStalenessSeconds: 30 },
    }),
  });
  let registry: RunningRegistry;
  try {
    registry = await startRegistry({ realm: `${stack.url}/token`, service: SERVICE, issuer: 'registry-token', rootCertBundlePath: SAMPLE_CERT });
  } catch (error) {
    await stack.close();
    throw error;
  }
  const image = await buildOciImage(join(dir, 'layout'), { tag: '1.0', content: `hello from the ${name} client test\n` });
  const keys = new Map<Who, KeyPair>();
  for (const who of ['team-dpop', 'operator'] as const) keys.set(who, await newDpopKeys());

  async function send(who: Who, method: 'POST' | 'PUT', path: string, body: string, contentType: string) {
    const opTok = await stack.authority.tokenWithDpop(who, keys.get(who)!);
    const url = `${stack.url}${path}`;
    const proof = await makeProof(keys.get(who)!, method, url, opTok);
    return callWithProof(url, { method, token: opTok, proof, headers: [['Content-Type', contentType]], body });
  }

  async function credential(options: { who?: Who; scope?: string; expiresIn?: number; name?: string } = {}): Promise<IssuedCredential> {
    const form = new URLSearchParams();
    if (options.scope !== undefined) form.set('scope', options.scope);
    if (options.expiresIn !== undefined) form.set('expires_in', String(options.expiresIn));
    form.set('name', options.name ?? `${name} client test`);
    const res = await send(options.who ?? 'team-dpop', 'POST', '/credentials', form.toString(), 'application/x-www-form-urlencoded');
    expect(res.status, res.body).toBe(201);
    return res.json<IssuedCredential>();
  }

  let archives = 0;
  const mirrors: RunningRegistry[] = [];
  return {
    stack,
    registry,
    image,
    dir,
    vars: { REGISTRY: registry.host, TOKEN_SERVICE: stack.url, LAYOUT: image.dir, SERVICE },
    credential,
    async expiredCredential() {
      const issued = await credential({ expiresIn: 1, name: 'expires at once' });
      // Expired, plus the service's one second of clock tolerance.
      const wait = Date.parse(issued.expires_at) + 2_100 - Date.now();
      if (wait > 0) await sleep(wait);
      return issued;
    },
    async revoke(id) {
      const res = await send('operator', 'PUT', `/admin/revocations/credentials/${id}`, JSON.stringify({ reason: `${name} client test` }), 'application/json');
      expect(res.status, res.body).toBe(200);
    },
    async exchangesOf(id) {
      const { records } = await stack.service.ledger.query({ operation: 'token', limit: 1000 });
      return records.filter((r) => r.binding?.method === 'credential' && r.binding.id === id);
    },
    async archive(format, reference = 'team/app:1.0') {
      archives += 1;
      const file = join(dir, `image-${archives}.${format}.tar`);
      const target = format === 'docker-archive' ? `docker-archive:${file}:${reference}` : `oci-archive:${file}:${reference.split(':').pop()}`;
      const copied = await run('skopeo', ['--insecure-policy', 'copy', `oci:${image.dir}:1.0`, target], { timeoutMs: 60_000 });
      expect(copied.code, copied.stderr).toBe(0);
      return file;
    },
    async mirror(issued) {
      const started = await startRegistry({
        realm: '', service: SERVICE, issuer: '', rootCertBundlePath: '',
        proxy: { remoteurl: registry.url, username: issued.username, password: issued.credential },
      });
      mirrors.push(started);
      return started;
    },
    helperSetup() {
      const secretFile = join(dir, 'helper-client-secret');
      writeFileSync(secretFile, CLIENTS.find((c) => c.clientId === 'team-dpop')!.clientSecret, { mode: 0o600 });
      const settingsFile = join(dir, 'helper.yaml');
      writeFileSync(
        settingsFile,
        dump({
          authority: { issuer: stack.authority.issuer, clientId: 'team-dpop', clientSecretFile: secretFile },
          credentialLifetimeSeconds: 600,
          registries: { [registry.host]: { tokenService: stack.url, insecure: true, name: `${name} credential helper` } },
        }),
      );
      const pathDir = join(dir, 'bin');
      mkdirSync(pathDir, { recursive: true });
      return { settingsFile, pathDir: helperOnPath(pathDir) };
    },
    async stop() {
      for (const m of mirrors) await m.stop();
      await registry.stop();
      await stack.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Writes `content` as JSON to `dir/name` and returns the path. */
export function writeJson(dir: string, name: string, content: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, `${JSON.stringify(content, null, 2)}\n`, { mode: 0o600 });
  return file;
}
