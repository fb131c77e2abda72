// Two `serve` processes on one file-ledger directory: the second refuses to start and names the
// first; once the first is SIGKILLed, a new one starts on the same directory.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthority, type DevAuthority } from '../../src/dev/authority.ts';
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
  config.server = { host: '127.0.0.1', port };
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
