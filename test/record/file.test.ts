import { appendFile, readdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GENESIS, hashLine } from '../../src/record/chain.ts';
import { exportLedger } from '../../src/record/export.ts';
import { openFileLedger } from '../../src/record/file.ts';
import type { FileLedger, FileLedgerOptions } from '../../src/record/file.ts';
import { createLedger } from '../../src/record/index.ts';
import type { Ledger } from '../../src/record/ledger.ts';
import { verifyLedger } from '../../src/record/verify.ts';
import { ledgerContract } from './contract.ts';
import { record, recordingLogger, tempDir } from './fixtures.ts';

ledgerContract('file', async () => {
  const dir = await tempDir();
  let ledger: Ledger = await openFileLedger({ dir: dir.path });
  return {
    get ledger() {
      return ledger;
    },
    async reopen() {
      await ledger.close();
      ledger = await openFileLedger({ dir: dir.path });
      return ledger;
    },
    async dispose() {
      await ledger.close();
      await dir.remove();
    },
  };
});

describe('file ledger', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let open: FileLedger[];
  const openLedger = async (options: Partial<FileLedgerOptions> = {}) => {
    const ledger = await openFileLedger({ dir: dir.path, ...options });
    open.push(ledger);
    return ledger;
  };
  const segmentPath = (n: number) => join(dir.path, `ledger-${String(n).padStart(8, '0')}.jsonl`);
  const lines = async (n = 1) => (await readFile(segmentPath(n), 'utf8')).split('\n').filter((l) => l !== '');

  beforeEach(async () => {
    dir = await tempDir();
    open = [];
  });
  afterEach(async () => {
    for (const ledger of open) await ledger.close();
    await dir.remove();
  });

  it('chains every line to the previous one, from the genesis hash', async () => {
    const ledger = await openLedger();
    for (let i = 0; i < 5; i++) await ledger.append(record(i));
    const stored = await lines();
    expect(JSON.parse(stored[0]!).prev).toBe(GENESIS);
    for (let i = 1; i < stored.length; i++) expect(JSON.parse(stored[i]!).prev).toBe(hashLine(Buffer.from(stored[i - 1]!)));
    const report = await verifyLedger(dir.path);
    expect(report).toMatchObject({ ok: true, segments: 1, records: 5, firstBreak: undefined, warnings: [] });
    expect(report.head).toBe(hashLine(Buffer.from(stored[4]!)));
  });

  it('reports a tampered middle record with its position', async () => {
    const ledger = await openLedger();
    const records = Array.from({ length: 10 }, (_, i) => record(i));
    for (const r of records) await ledger.append(r);
    await ledger.close();
    const stored = await lines();
    stored[4] = stored[4]!.replace('"subject":"user-1"', '"subject":"user-2"');
    await writeFile(segmentPath(1), `${stored.join('\n')}\n`);

    const report = await verifyLedger(dir.path);
    expect(report.ok).toBe(false);
    expect(report.records).toBe(5);
    expect(report.firstBreak).toMatchObject({
      segment: 'ledger-00000001.jsonl',
      line: 6,
      jti: records[5]!.jti,
      previous: { segment: 'ledger-00000001.jsonl', line: 5, jti: records[4]!.jti },
    });
    expect(report.firstBreak?.problem).toContain('altered');
  });

  it('reports a removed record and an unparsable line', async () => {
    const ledger = await openLedger();
    for (let i = 0; i < 6; i++) await ledger.append(record(i));
    await ledger.close();
    const stored = await lines();
    await writeFile(segmentPath(1), `${[...stored.slice(0, 2), ...stored.slice(3)].join('\n')}\n`);
    expect((await verifyLedger(dir.path)).firstBreak).toMatchObject({ line: 3 });
    await writeFile(segmentPath(1), `${[...stored.slice(0, 3), 'garbage', ...stored.slice(3)].join('\n')}\n`);
    expect((await verifyLedger(dir.path)).firstBreak).toMatchObject({ line: 4, problem: 'not valid JSON' });
  });

  it('sets a torn last line aside on reopen, reports it, and continues the chain cleanly', async () => {
    const first = await openLedger();
    const records = Array.from({ length: 10 }, (_, i) => record(i));
    for (const r of records) await first.append(r);
    await first.close();
    const torn = JSON.stringify({ ...record(99), prev: GENESIS }).slice(0, 57);
    await appendFile(segmentPath(1), torn);

    // Before the ledger reopens, verify sees an unfinished line and says so.
    const before = await verifyLedger(dir.path);
    expect(before.ok).toBe(true);
    expect(before.warnings).toEqual([expect.objectContaining({ kind: 'unterminated_tail', file: 'ledger-00000001.jsonl' })]);

    const logger = recordingLogger();
    const ledger = await openLedger({ logger });
    const sizeAfter = (await stat(segmentPath(1))).size;
    expect(ledger.recovered).toEqual([
      { file: 'ledger-00000001.jsonl', offset: sizeAfter, bytes: Buffer.byteLength(torn), movedTo: `ledger-00000001.jsonl.${sizeAfter}.torn`, reason: 'unterminated last line' },
    ]);
    expect(logger.entries).toEqual([expect.objectContaining({ level: 'warn', obj: expect.objectContaining({ movedTo: `ledger-00000001.jsonl.${sizeAfter}.torn` }) })]);
    expect(await readFile(join(dir.path, `ledger-00000001.jsonl.${sizeAfter}.torn`), 'utf8')).toBe(torn);

    const more = Array.from({ length: 5 }, (_, i) => record(10 + i));
    for (const r of more) await ledger.append(r);
    const report = await verifyLedger(dir.path);
    expect(report).toMatchObject({ ok: true, records: 15 });
    expect(report.warnings).toEqual([expect.objectContaining({ kind: 'torn_set_aside', file: `ledger-00000001.jsonl.${sizeAfter}.torn` })]);
    for (const r of [...records, ...more]) expect(await ledger.get(r.jti)).toEqual(r);
    expect((await ledger.query({ limit: 100 })).records).toHaveLength(15);
  });

  it('sets aside a complete but unparsable last line (zeroes after a crash)', async () => {
    const first = await openLedger();
    for (let i = 0; i < 3; i++) await first.append(record(i));
    await first.close();
    await appendFile(segmentPath(1), Buffer.concat([Buffer.alloc(40), Buffer.from('\n')]));
    const ledger = await openLedger();
    expect(ledger.recovered).toEqual([expect.objectContaining({ bytes: 41, reason: 'unparsable last line' })]);
    await ledger.append(record(3));
    expect(await verifyLedger(dir.path)).toMatchObject({ ok: true, records: 4 });
  });

  it('rotates into numbered segments by size and verifies across them', async () => {
    const ledger = await openLedger({ maxFileBytes: 4096 });
    const records = Array.from({ length: 60 }, (_, i) => record(i));
    for (const r of records) await ledger.append(r);
    await Promise.all(Array.from({ length: 40 }, (_, i) => ledger.append(record(60 + i))));
    const segments = (await readdir(dir.path)).filter((n) => n.endsWith('.jsonl')).sort();
    expect(segments.length).toBeGreaterThan(10);
    expect(segments[0]).toBe('ledger-00000001.jsonl');
    for (const name of segments.slice(0, -1)) expect((await stat(join(dir.path, name))).size).toBeLessThanOrEqual(4096 + 2048);
    // A segment's first line links to the last line of the segment before it.
    const second = await lines(2);
    expect(JSON.parse(second[0]!).prev).toBe(hashLine(Buffer.from((await lines(1)).at(-1)!)));
    expect(await verifyLedger(dir.path)).toMatchObject({ ok: true, segments: segments.length, records: 100 });

    // Pagination crosses segment boundaries.
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await ledger.query({ limit: 7, ...(cursor === undefined ? {} : { cursor }) });
      seen.push(...page.records.map((r) => r.jti));
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    expect(seen).toHaveLength(100);
    expect(seen.slice(40)).toEqual(records.map((r) => r.jti).reverse());

    // Reopening continues in the last segment and keeps the chain.
    await ledger.close();
    const again = await openLedger({ maxFileBytes: 4096 });
    await again.append(record(100));
    expect(await verifyLedger(dir.path)).toMatchObject({ ok: true, records: 101 });
  });

  it('reports a missing segment as a break in the chain', async () => {
    const ledger = await openLedger({ maxFileBytes: 4096 });
    for (let i = 0; i < 40; i++) await ledger.append(record(i));
    await ledger.close();
    await unlink(segmentPath(2));
    expect((await verifyLedger(dir.path)).firstBreak).toMatchObject({ segment: 'ledger-00000002.jsonl', line: 0, problem: 'segment is missing' });
  });

  it('groups concurrent appends into few writes', async () => {
    let syncs = 0;
    const ledger = await openLedger({ onSync: () => void syncs++ });
    await Promise.all(Array.from({ length: 200 }, (_, i) => ledger.append(record(i))));
    expect(syncs).toBeLessThan(10);
    // Appends arriving while a write is in flight share the next one.
    syncs = 0;
    const waves = Array.from({ length: 5 }, (_, w) =>
      new Promise<void>((resolve) => setImmediate(() => void Promise.all(Array.from({ length: 40 }, (_, i) => ledger.append(record(1000 + w * 40 + i)))).then(() => resolve()))),
    );
    await Promise.all(waves);
    expect(syncs).toBeLessThanOrEqual(10);
    expect(await verifyLedger(dir.path)).toMatchObject({ ok: true, records: 400 });
  });

  it('removes whole segments past retention and verifies from the first one kept', async () => {
    const now = Date.parse('2025-03-01T12:00:00.000Z');
    const ledger = await openLedger({ maxFileBytes: 4096 });
    for (let i = 0; i < 30; i++) await ledger.append(record(i, { issuedAt: new Date(now - 90 * 86_400_000 + i).toISOString() }));
    for (let i = 0; i < 30; i++) await ledger.append(record(100 + i, { issuedAt: new Date(now - 86_400_000 + i).toISOString() }));
    await ledger.close();
    const before = (await readdir(dir.path)).filter((n) => n.endsWith('.jsonl')).length;

    const kept = await openLedger({ maxFileBytes: 4096, retentionDays: 30, clock: () => new Date(now) });
    const after = (await readdir(dir.path)).filter((n) => n.endsWith('.jsonl')).sort();
    expect(after.length).toBeLessThan(before);
    expect(after[0]).not.toBe('ledger-00000001.jsonl');
    const remaining = (await kept.query({ limit: 1000 })).records;
    expect(remaining.filter((r) => Date.parse(r.issuedAt) >= now - 86_400_000)).toHaveLength(30);
    const report = await verifyLedger(dir.path);
    expect(report.ok).toBe(true);
    expect(report.warnings).toEqual([expect.objectContaining({ kind: 'pruned_start', file: after[0] })]);
  });

  it('exports a time range as JSON Lines records, oldest first, without chain fields', async () => {
    const ledger = await openLedger({ maxFileBytes: 4096 });
    const records = Array.from({ length: 30 }, (_, i) => record(i));
    for (const r of records) await ledger.append(r);
    const chunks: string[] = [];
    const out = new Writable({ write: (chunk, _enc, done) => void (chunks.push(String(chunk)), done()) });
    const result = await exportLedger(dir.path, { since: new Date(records[10]!.issuedAt), until: new Date(records[20]!.issuedAt) }, out);
    expect(result).toEqual({ records: 10, skipped: 0 });
    const exported = chunks.join('').trim().split('\n').map((l) => JSON.parse(l));
    expect(exported).toEqual(records.slice(10, 20));
  });

  it('is chosen by createLedger for driver "file"', async () => {
    const ledger = await createLedger(
      { driver: 'file', path: join(dir.path, 'nested', 'ledger'), maxFileBytes: 4096, onUnavailable: 'reject', spoolPath: join(dir.path, 'spool'), revocationPollSeconds: 2 },
      { logger: recordingLogger() },
    );
    try {
      expect(ledger.name).toBe('file');
      await ledger.append(record(1));
      expect(await verifyLedger(join(dir.path, 'nested', 'ledger'))).toMatchObject({ ok: true, records: 1 });
    } finally {
      await ledger.close();
    }
  });
});
