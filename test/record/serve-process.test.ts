// The record stage in a real `serve` process. Two processes on one file-ledger directory: the
// second refuses to start and names the first; once the first is SIGKILLed, a new one starts on
// the same directory. Anonymous refusals are summarised, and SIGTERM writes the last summary.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthority, type DevAuthority } from '../../src/dev/authority.ts';
import { openFileLedger } from '../../src/record/file.ts';
import { verifyLedger } from '../../src/record/verify.ts';
import { AUDIENCE, CLIENTS, baseConfig } from '../support/stack.ts';
import { CLI, freePort, startServiceProcess, writeConfig } from '../support/process.ts';

let authority: DevAuthority;
let dir: string;

beforeAll(async () => {
  authority = await startAuthority({ audience: AUDIENCE, clients: CLIENTS });
  dir = mkdtempSync(join(tmpdir(), 'registry-token-serve-lock-'));
});

afterAll(async () => {
  await authority?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

async function configFor(name: string, mutate: (config: Record<string, unknown>) => void = () => {}) {
  const port = await freePort();
  const config = baseConfig(authority, dir);
  config.server = { host: '127.0.0.1', workers: 1, port };
  mutate(config);
  return { port, path: writeConfig(join(dir, `${name}.yaml`), config) };
}

describe('serve on a ledger directory another process holds', () => {
  it('refuses to start, naming the holder, until the holder is gone', async () => {
    const a = await configFor('a');
    const first = await startServiceProcess(a.path, a.port);
    try {
      const b = await configFor('b');
      const second = spawnSync(process.execPath, [CLI, 'serve', '--config', b.path], { encoding: 'utf8', timeout: 20_000 });
      expect(second.status).toBe(1);
      expect(second.stderr).toContain(`ledger directory ${join(dir, 'ledger')} is in use by pid ${first.child.pid} on host`);
      expect(second.stderr).not.toMatch(/\n\s+at /);
    } finally {
      expect(await first.stop('SIGKILL')).toBe('SIGKILL');
    }
    const c = await configFor('c');
    const third = await startServiceProcess(c.path, c.port);
    expect((await fetch(`${third.url}/readyz`)).status).toBe(200);
    expect(await third.stop()).toBe(0);
    expect((await verifyLedger(join(dir, 'ledger'))).ok).toBe(true);
  });

  it('refuses a second process on the same spool directory', async () => {
    const spool = (name: string) => (config: Record<string, unknown>) => {
      config.ledger = { driver: 'file', path: join(dir, `ledger-${name}`), onUnavailable: 'spool', spoolPath: join(dir, 'spool') };
    };
    const a = await configFor('spool-a', spool('a'));
    const first = await startServiceProcess(a.path, a.port);
    try {
      const b = await configFor('spool-b', spool('b'));
      const second = spawnSync(process.execPath, [CLI, 'serve', '--config', b.path], { encoding: 'utf8', timeout: 20_000 });
      expect(second.status).toBe(1);
      expect(second.stderr).toContain(`spool directory ${join(dir, 'spool')} is in use by pid ${first.child.pid}`);
    } finally {
      await first.stop();
    }
  });
});

describe('anonymous refusals in a serve process', () => {
  it('are counted, and the summary is written on SIGTERM, once, chained and verifiable', async () => {
    const path = join(dir, 'ledger-summary');
    const a = await configFor('summary', (config) => {
      // The default refusal handling (the shared test config stores each refusal in full).
      config.ledger = { driver: 'file', path, refusals: { anonymous: 'summary', summaryIntervalSeconds: 3600 } };
    });
    const service = await startServiceProcess(a.path, a.port);
    const scope = 'repository:team/app:pull';
    for (let i = 0; i < 7; i++) {
      const res = await fetch(`${service.url}/token?service=registry.localhost&scope=${scope}`, { headers: { authorization: 'Bearer not-a-jwt' } });
      expect(res.status).toBe(401);
    }
    expect(await service.stop()).toBe(0);
    const report = await verifyLedger(path);
    expect(report).toMatchObject({ ok: true, records: 1 });
    const ledger = await openFileLedger({ dir: path });
    try {
      const { records } = await ledger.query({ limit: 10 });
      expect(records).toHaveLength(1);
      expect(records[0]).toMatchObject({ outcome: 'refusals-summary', summary: { total: 7, byReason: [{ reason: 'invalid_token', count: 7 }], byAddress: [{ address: '127.0.0.1', count: 7 }], otherAddresses: 0 } });
    } finally {
      await ledger.close();
    }
  });
});
