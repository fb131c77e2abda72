// Records, loggers and temporary directories for the ledger tests.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LedgerLogger } from '../../src/record/deps.ts';
import type { IssuanceRecord } from '../../src/record/ledger.ts';

const BASE = Date.parse('2025-03-01T12:00:00.000Z');

/** A full record; `n` spaces issuedAt one second apart so newest-first order is known. */
export function record(n: number, overrides: Partial<IssuanceRecord> = {}): IssuanceRecord {
  return {
    jti: `jti-${String(n).padStart(6, '0')}-${randomUUID()}`,
    outcome: 'issued',
    issuedAt: new Date(BASE + n * 1000).toISOString(),
    expiresAt: new Date(BASE + n * 1000 + 300_000).toISOString(),
    subject: `user-${n % 3}`,
    clientId: 'cli',
    tenant: `tenant-${n % 2}`,
    plan: 'pro',
    license: `lic-${n % 4}`,
    service: 'registry.example',
    requestedScopes: [`repository:team/app-${n % 5}:pull`],
    granted: [{ type: 'repository', name: `team/app-${n % 5}`, actions: ['pull'] }],
    binding: { method: 'dpop', jkt: 'jkt-thumbprint' },
    opTokenId: `op-${n}`,
    remoteAddress: '192.0.2.10',
    userAgent: 'docker/27',
    requestId: `req-${n}`,
    ...overrides,
  };
}

export interface LogEntry {
  readonly level: 'info' | 'warn' | 'error';
  readonly obj: object;
  readonly msg: string | undefined;
}

export function recordingLogger(): LedgerLogger & { entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  return {
    entries,
    info: (obj, msg) => void entries.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => void entries.push({ level: 'warn', obj, msg }),
    error: (obj, msg) => void entries.push({ level: 'error', obj, msg }),
  };
}

export async function tempDir(): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), 'ledger-test-'));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}
