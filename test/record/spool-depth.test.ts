// The spool's depth (records waiting for the store) in /readyz, ready or not, and as the
// registry_token_spool_depth gauge.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthority, type DevAuthority } from '../../src/dev/authority.ts';
import { parseConfig } from '../../src/config/loader.ts';
import { UnavailableError } from '../../src/domain/errors.ts';
import { openFileLedger } from '../../src/record/file.ts';
import type { Ledger } from '../../src/record/ledger.ts';
import { openSpoolingLedger } from '../../src/record/spool.ts';
import { createService, type Service } from '../../src/service.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { AUDIENCE, CLIENTS, baseConfig } from '../support/stack.ts';
import { record } from './fixtures.ts';

let authority: DevAuthority;
let dir: string;
let service: Service;
let storeDown = false;

/** A file ledger that refuses writes while `storeDown` is set; revocations stay readable. */
function switchable(inner: Ledger): Ledger {
  const refuse = () => Promise.reject(new UnavailableError('ledger_unavailable', 'store switched off'));
  return {
    name: 'switchable',
    append: (r) => (storeDown ? refuse() : inner.append(r)),
    query: (q) => (storeDown ? refuse() : inner.query(q)),
    get: (jti) => inner.get(jti),
    listRevocations: () => inner.listRevocations(),
    putRevocation: (r) => inner.putRevocation(r),
    deleteRevocation: (k, v) => inner.deleteRevocation(k, v),
    check: () => (storeDown ? refuse() : inner.check()),
    close: () => inner.close(),
  };
}

beforeAll(async () => {
  authority = await startAuthority({ audience: AUDIENCE, clients: CLIENTS });
  dir = mkdtempSync(join(tmpdir(), 'registry-token-spool-depth-'));
  const config = parseConfig(baseConfig(authority, dir));
  const store = switchable(await openFileLedger({ dir: join(dir, 'ledger') }));
  // Replay retried only after an hour: the depth stays put while the test looks at it.
  const ledger = await openSpoolingLedger(store, { dir: join(dir, 'spool'), retryMinMs: 3_600_000, retryMaxMs: 3_600_000 });
  service = await createService(config, { logger: createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, done) => done() }) }), ledger });
});

afterAll(async () => {
  await service?.close();
  await authority?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

const readyz = async () => {
  const res = await service.app.inject({ method: 'GET', url: '/readyz' });
  return { status: res.statusCode, body: res.json<{ checks: Record<string, string>; details?: { ledger?: { spoolDepth: number } } }>() };
};
const gauge = async () => Number(/^registry_token_spool_depth (\S+)$/m.exec((await service.telemetry.scrape()).body)?.[1]);

describe('spool depth', () => {
  it('is 0 with a healthy store', async () => {
    const { body } = await readyz();
    expect(body.details?.ledger?.spoolDepth).toBe(0);
    expect(await gauge()).toBe(0);
  });

  it('counts the records waiting while the store is down, and readiness still names it', async () => {
    storeDown = true;
    for (let i = 0; i < 3; i++) await service.ledger.append(record(i));
    const { status, body } = await readyz();
    expect(body.details?.ledger?.spoolDepth).toBe(3);
    expect(body.checks['ledger']).toBe('ok');
    expect(status).toBe(200);
    expect(await gauge()).toBe(3);
  });
});
