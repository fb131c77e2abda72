// A real stack for integration tests: the development Authority (oidc-provider) and the
// token service built from a real configuration, listening on 127.0.0.1.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { startAuthority, type DevAuthority, type DevClient } from '../../src/dev/authority.ts';
import { parseConfig } from '../../src/config/loader.ts';
import type { Config } from '../../src/config/schema.ts';
import { createService, type Service } from '../../src/service.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import type { SharedStore } from '../../src/store/store.ts';

export const AUDIENCE = 'registry-token';
export const SERVICE = 'registry.localhost';
export const SAMPLE_KEY = new URL('../../etc/registry-signing-sample.pem', import.meta.url).pathname;
export const SAMPLE_CERT = new URL('../../etc/registry-signing-sample.crt', import.meta.url).pathname;

const ISSUE = 'registry.token.issue';
const ADMIN = 'registry.token.admin';
const PLATFORM = 'registry.admin.platform';
const claims = (plan: string | undefined, license: string, tid = 'acme') => ({
  ...(plan === undefined ? {} : { 'stellaops:plan': plan }),
  'stellaops:license': license,
  tid,
});

/** The clients every integration test can use, by purpose. */
export const CLIENTS: DevClient[] = [
  { clientId: 'team-dpop', clientSecret: 'secret-team-dpop-000000', binding: 'dpop', scope: ISSUE, claims: claims('team', 'lic-team') },
  { clientId: 'team-mtls', clientSecret: 'secret-team-mtls-000000', binding: 'mtls', scope: ISSUE, claims: claims('team', 'lic-team') },
  { clientId: 'unbound', clientSecret: 'secret-unbound-00000000', binding: 'none', scope: ISSUE, claims: claims('team', 'lic-team') },
  { clientId: 'no-scope', clientSecret: 'secret-no-scope-0000000', binding: 'dpop', scope: 'profile.read', claims: claims('team', 'lic-team') },
  { clientId: 'revoked', clientSecret: 'secret-revoked-00000000', binding: 'dpop', scope: ISSUE, claims: claims('team', 'lic-revoked') },
  { clientId: 'platinum', clientSecret: 'secret-platinum-0000000', binding: 'dpop', scope: ISSUE, claims: claims('platinum', 'lic-p') },
  { clientId: 'no-plan', clientSecret: 'secret-no-plan-00000000', binding: 'dpop', scope: ISSUE, claims: claims(undefined, 'lic-free') },
  { clientId: 'tenant-a', clientSecret: 'secret-tenant-a-0000000', binding: 'dpop', scope: ISSUE, claims: claims('tenant', 'lic-a', 'alpha') },
  // A platform admin: sees and revokes across tenants (tenant admins: test/http/tenant-admin.test.ts).
  { clientId: 'operator', clientSecret: 'secret-operator-0000000', binding: 'dpop', scope: `${ISSUE} ${ADMIN} ${PLATFORM}`, claims: claims('operator', 'lic-op') },
];

export function baseConfig(authority: { issuer: string }, dir: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    // One process: tests of the workers set server.workers themselves (test/workers/).
    server: { host: '127.0.0.1', port: 0, workers: 1 },
    authority: { issuer: authority.issuer, audiences: [AUDIENCE], clockToleranceSeconds: 5 },
    signing: { issuer: 'registry-token', keyPath: SAMPLE_KEY, certificatePath: SAMPLE_CERT, lifetimeSeconds: 300 },
    registry: { realm: 'http://127.0.0.1/token', allowedServices: [SERVICE] },
    plans: {
      community: [{ repository: 'library/**' }],
      team: [{ repository: 'library/**' }, { repository: 'team/**', actions: ['pull', 'push'] }],
      tenant: [{ repository: 'tenants/{tenant}/**', actions: ['pull', 'push', 'delete'] }],
      operator: [{ repository: '**', actions: ['*'] }, { registry: 'catalog', actions: ['*'] }],
    },
    defaultPlan: 'community',
    revokedLicenses: ['lic-revoked'],
    // Each refusal stored in full, so tests can find the record of every request they make;
    // the default (anonymous refusals summarised) is tested in test/record/refusals.test.ts.
    ledger: { driver: 'file', path: join(dir, 'ledger'), refusals: { anonymous: 'full' } },
    telemetry: { logLevel: 'info' },
    ...overrides,
  };
}

export interface Stack {
  readonly authority: DevAuthority;
  readonly service: Service;
  readonly config: Config;
  /** http(s)://127.0.0.1:PORT */
  readonly url: string;
  readonly dir: string;
  /** Every log line the service wrote, as text. */
  logs(): string;
  close(): Promise<void>;
}

export interface StackOptions {
  /** Replaces whole top-level sections of the base configuration. */
  config?: (base: Record<string, unknown>, dir: string) => Record<string, unknown>;
  authority?: { accessTokenTtlSeconds?: number; signingAlg?: 'RS256' | 'ES256' };
  /** Reuse an Authority (several stacks, one Authority). */
  existingAuthority?: DevAuthority;
  /** A shared store of the test's own (one to watch what the service asks of it). */
  store?: SharedStore;
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const dir = mkdtempSync(join(tmpdir(), 'registry-token-test-'));
  const authority =
    options.existingAuthority ?? (await startAuthority({ audience: AUDIENCE, clients: CLIENTS, ...options.authority }));
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  const raw = baseConfig(authority, dir);
  const config = parseConfig(options.config === undefined ? raw : options.config(raw, dir));
  let service: Service;
  try {
    service = await createService(config, { logger: createLogger({ level: 'info', destination: sink }), ...(options.store === undefined ? {} : { store: options.store }) });
    await service.app.listen({ host: '127.0.0.1', port: 0 });
  } catch (error) {
    if (options.existingAuthority === undefined) await authority.close();
    throw error;
  }
  const address = service.app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    authority,
    service,
    config,
    url: `${config.server.tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`,
    dir,
    logs: () => lines.join(''),
    async close() {
      await service.close();
      if (options.existingAuthority === undefined) await authority.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Every file under `dir` (recursively) as one text: to grep a ledger or spool for secrets. */
export function treeText(dir: string): string {
  const parts: string[] = [];
  const walk = (path: string) => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      const full = join(path, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile()) parts.push(readFileSync(full, 'utf8'));
    }
  };
  walk(dir);
  return parts.join('\n');
}

/**
 * A `StackOptions.config` that serves HTTPS with `server` (chain and key PEM) and checks client
 * certificates against `clientCaPem` (mTLS-bound OpToks).
 */
export function withTls(server: { chainPem: string; keyPem: string }, clientCaPem: string): NonNullable<StackOptions['config']> {
  return (base, dir) => {
    const certPath = join(dir, 'server.crt');
    const keyPath = join(dir, 'server.key');
    const clientCaPath = join(dir, 'client-ca.crt');
    writeFileSync(certPath, server.chainPem);
    writeFileSync(keyPath, server.keyPem, { mode: 0o600 });
    writeFileSync(clientCaPath, clientCaPem);
    return { ...base, server: { ...(base.server as object), tls: { certPath, keyPath, clientCaPath } } };
  };
}
