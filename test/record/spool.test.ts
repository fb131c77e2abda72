// The spool with real stores: the MongoDB driver pointed where nothing listens, and the file
// ledger behind a switch that makes it fail on demand (a test of the spool's own logic).
import { appendFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { UnavailableError } from '../../src/domain/errors.ts';
import { openFileLedger } from '../../src/record/file.ts';
import type { FileLedger } from '../../src/record/file.ts';
import { createLedger } from '../../src/record/index.ts';
import type { IssuanceRecord, Ledger } from '../../src/record/ledger.ts';
import { openMongoLedger } from '../../src/record/mongodb.ts';
import { openSpoolingLedger } from '../../src/record/spool.ts';
import type { SpoolingLedger, SpoolOptions } from '../../src/record/spool.ts';
import { verifyLedger } from '../../src/record/verify.ts';
import { ledgerContract } from './contract.ts';
import { record, recordingLogger, tempDir } from './fixtures.ts';

const UNREACHABLE = 'mongodb://127.0.0.1:1/?directConnection=true';

/** The file ledger behind a switch: down, or failing every nth append. */
function switchable(inner: Ledger) {
  let down = false;
  let failEvery = 0;
  let calls = 0;
  const refuse = () => Promise.reject(new UnavailableError('ledger_unavailable', 'store switched off'));
  const ledger: Ledger = {
    name: 'switchable',
    append: (r) => {
      calls++;
      return down || (failEvery > 0 && calls % failEvery === 0) ? refuse() : inner.append(r);
    },
    query: (q) => (down ? refuse() : inner.query(q)),
    get: (jti) => inner.get(jti),
    listRevocations: () => inner.listRevocations(),
    putRevocation: (r) => inner.putRevocation(r),
    deleteRevocation: (k, v) => inner.deleteRevocation(k, v),
    check: () => (down ? refuse() : inner.check()),
    close: () => inner.close(),
  };
  return {
    ledger,
    setDown: (value: boolean) => void (down = value),
    setFailEvery: (n: number) => void (failEvery = n),
  };
}

/** Every record in the store, oldest first. */
async function storeContents(ledger: Ledger): Promise<string[]> {
  return (await ledger.query({ limit: 1000 })).records.map((r) => r.jti).reverse();
}

// With a healthy store the spool is invisible: the wrapper meets the same contract.
ledgerContract('file behind the spool', async () => {
  const dir = await tempDir();
  const open = async () => openSpoolingLedger(await openFileLedger({ dir: join(dir.path, 'ledger') }), { dir: join(dir.path, 'spool') });
  let ledger: Ledger = await open();
  return {
    get ledger() {
      return ledger;
    },
    async reopen() {
      await ledger.close();
      ledger = await open();
      return ledger;
    },
    async dispose() {
      await ledger.close();
      await dir.remove();
    },
  };
});

const spoolFiles = async (dir: string) => (await readdir(dir)).filter((n) => n.endsWith('.jsonl'));

describe('spool', () => {
  let dirs: { path: string; remove: () => Promise<void> };
  let storeDir: string;
  let spoolDir: string;
  let toClose: Ledger[];
  const fast: Partial<SpoolOptions> = { retryMinMs: 10, retryMaxMs: 50 };

  beforeEach(async () => {
    dirs = await tempDir();
    storeDir = join(dirs.path, 'ledger');
    spoolDir = join(dirs.path, 'spool');
    toClose = [];
  });
  afterEach(async () => {
    for (const ledger of toClose.reverse()) await ledger.close();
    await dirs.remove();
  });

  async function fileStore(): Promise<FileLedger> {
    return openFileLedger({ dir: storeDir });
  }
  async function spooling(inner: Ledger, options: Partial<SpoolOptions> = {}): Promise<SpoolingLedger> {
    const ledger = await openSpoolingLedger(inner, { dir: spoolDir, ...fast, ...options });
    toClose.push(ledger);
    return ledger;
  }

  describe('with the MongoDB driver and no server listening', () => {
    it('resolves appends once they are durable in the spool, and only the first group waits for the store', async () => {
      const logger = recordingLogger();
      const mongo = await openMongoLedger({ uri: UNREACHABLE, database: 'x', collection: 'issuances', serverSelectionTimeoutMS: 300 });
      const ledger = await spooling(mongo, { logger, retryMinMs: 60_000 });
      const first = Array.from({ length: 20 }, (_, i) => record(i));
      await Promise.all(first.map((r) => ledger.append(r)));
      expect(ledger.status()).toEqual({ spooled: 20, storeAvailable: false });
      expect(logger.entries.filter((e) => e.msg?.includes('spooling'))).toHaveLength(1);

      const started = Date.now();
      await Promise.all(Array.from({ length: 30 }, (_, i) => ledger.append(record(20 + i))));
      expect(Date.now() - started).toBeLessThan(250);
      expect(ledger.status().spooled).toBe(50);
      // Ready: records can still be made durable.
      await expect(ledger.check()).resolves.toBeUndefined();
      await ledger.close();
      toClose.length = 0;

      // Nothing acknowledged is lost: the next run replays the spool into whatever store is there.
      const store = await fileStore();
      const next = await spooling(store);
      expect(next.status()).toEqual({ spooled: 0, storeAvailable: true });
      const stored = await storeContents(store);
      expect(stored).toHaveLength(50);
      expect(stored.slice(0, 20).sort()).toEqual(first.map((r) => r.jti).sort());
      expect(await spoolFiles(spoolDir)).toEqual([]);
    });

    it('is what createLedger builds for onUnavailable: spool', async () => {
      const ledger = await createLedger(
        { driver: 'mongodb', path: storeDir, maxFileBytes: 4096, mongodb: { uri: UNREACHABLE, database: 'x', collection: 'issuances' }, onUnavailable: 'spool', spoolPath: spoolDir, revocationPollSeconds: 2 },
        { logger: recordingLogger() },
      );
      toClose.push(ledger);
      expect(ledger.name).toBe('mongodb+spool');
      await expect(ledger.append(record(1))).resolves.toBeUndefined();
      expect(await spoolFiles(spoolDir)).toHaveLength(1);
    });
  });

  it('replays in order, exactly once, when the store comes back; new records queue behind the spool', async () => {
    const store = await fileStore();
    const sw = switchable(store);
    const ledger = await spooling(sw.ledger);
    sw.setDown(true);
    const during = Array.from({ length: 40 }, (_, i) => record(i));
    for (const r of during) await ledger.append(r);
    expect(ledger.status()).toEqual({ spooled: 40, storeAvailable: false });
    expect(await storeContents(store)).toEqual([]);

    sw.setDown(false);
    // Arriving while the spool is not yet drained: they must land after the spooled ones.
    const after = Array.from({ length: 10 }, (_, i) => record(40 + i));
    await Promise.all(after.map((r) => ledger.append(r)));
    await vi.waitFor(() => expect(ledger.status()).toEqual({ spooled: 0, storeAvailable: true }), { timeout: 5000, interval: 10 });

    const stored = await storeContents(store);
    expect(stored.slice(0, 40)).toEqual(during.map((r) => r.jti));
    expect(stored.slice(40).sort()).toEqual(after.map((r) => r.jti).sort());
    expect(await verifyLedger(storeDir)).toMatchObject({ ok: true, records: 50 });
    expect(await spoolFiles(spoolDir)).toEqual([]);

    // Drained: appends go straight to the store again.
    await ledger.append(record(50));
    expect(await spoolFiles(spoolDir)).toEqual([]);
    expect(await storeContents(store)).toHaveLength(51);
  });

  it('keeps exactly one copy per jti when replay batches partly fail', async () => {
    const store = await fileStore();
    const sw = switchable(store);
    const ledger = await spooling(sw.ledger, { replayBatch: 7 });
    sw.setDown(true);
    const records = Array.from({ length: 60 }, (_, i) => record(i));
    await Promise.all(records.map((r) => ledger.append(r)));
    sw.setDown(false);
    sw.setFailEvery(3);
    await vi.waitFor(() => expect(ledger.status().spooled).toBe(0), { timeout: 5000, interval: 10 });
    const stored = await storeContents(store);
    expect(stored).toHaveLength(60);
    expect(new Set(stored)).toEqual(new Set(records.map((r) => r.jti)));
  });

  it('replays a spool left by an earlier run before it returns', async () => {
    const sw = switchable(await fileStore());
    const first = await spooling(sw.ledger);
    sw.setDown(true);
    const records = Array.from({ length: 25 }, (_, i) => record(i));
    for (const r of records) await first.append(r);
    await first.close();
    toClose.length = 0;

    const store = await fileStore();
    const logger = recordingLogger();
    const second = await spooling(store, { logger });
    expect(await storeContents(store)).toEqual(records.map((r) => r.jti));
    expect(second.status().spooled).toBe(0);
    expect(logger.entries.some((e) => e.msg?.includes('earlier run'))).toBe(true);
  });

  it('does not repeat records a crashed run had already handed to the store', async () => {
    const sw = switchable(await fileStore());
    const first = await spooling(sw.ledger);
    sw.setDown(true);
    const records: IssuanceRecord[] = Array.from({ length: 20 }, (_, i) => record(i));
    for (const r of records) await first.append(r);
    await first.close();
    toClose.length = 0;

    // The crash: the store took the first 6, the spool's progress never said so.
    const store = await fileStore();
    for (const r of records.slice(0, 6)) await store.append(r);
    await spooling(store, { replayBatch: 8 });
    expect(await storeContents(store)).toEqual(records.map((r) => r.jti));
  });

  it('sets a torn spool line aside, and replays every acknowledged record', async () => {
    const sw = switchable(await fileStore());
    const first = await spooling(sw.ledger);
    sw.setDown(true);
    const records = Array.from({ length: 10 }, (_, i) => record(i));
    for (const r of records) await first.append(r);
    await first.close();
    toClose.length = 0;
    const [file] = await spoolFiles(spoolDir);
    await appendFile(join(spoolDir, file!), '{"jti":"half-writ');

    const logger = recordingLogger();
    const store = await fileStore();
    await spooling(store, { logger });
    expect(logger.entries.some((e) => e.level === 'warn' && e.msg?.includes('torn'))).toBe(true);
    expect((await readdir(spoolDir)).filter((n) => n.endsWith('.torn'))).toHaveLength(1);
    expect(await storeContents(store)).toEqual(records.map((r) => r.jti));
  });

  it('fails with UnavailableError when neither the store nor the spool can take the record', async () => {
    const sw = switchable(await fileStore());
    const ledger = await spooling(sw.ledger);
    sw.setDown(true);
    await rm(spoolDir, { recursive: true });
    await expect(ledger.append(record(1))).rejects.toBeInstanceOf(UnavailableError);
    await expect(ledger.check()).rejects.toBeInstanceOf(UnavailableError);
  });
});
