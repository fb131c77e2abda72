// ledger.retentionDays on the file ledger: a quiet ledger that never reaches maxFileBytes still
// closes a segment once a day, so old records do expire; whole segments past retention go.
import { readdir } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openFileLedger } from '../../src/record/file.ts';
import type { FileLedger } from '../../src/record/file.ts';
import { verifyLedger } from '../../src/record/verify.ts';
import { record, tempDir } from './fixtures.ts';

const DAY = 86_400_000;
const T0 = Date.parse('2026-01-10T08:00:00.000Z');

describe('file ledger retention', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let ledger: FileLedger | undefined;
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    await ledger?.close();
    await dir.remove();
  });

  const segments = async () => (await readdir(dir.path)).filter((n) => n.endsWith('.jsonl')).sort();

  it('closes a day-old segment and removes segments whose newest record is past retention', async () => {
    let now = T0;
    ledger = await openFileLedger({ dir: dir.path, retentionDays: 2, clock: () => new Date(now) });
    const at = (n: number) => record(n, { issuedAt: new Date(now).toISOString() });
    await ledger.append(at(1));
    now = T0 + DAY / 2;
    await ledger.append(at(2));
    expect(await segments()).toEqual(['ledger-00000001.jsonl']);
    now = T0 + DAY + 1000;
    await ledger.append(at(3));
    expect(await segments()).toEqual(['ledger-00000001.jsonl', 'ledger-00000002.jsonl']);
    now = T0 + 3 * DAY;
    await ledger.append(at(4));
    // Segment 1's newest record (T0 + 12 h) is older than 2 days; segment 2's (T0 + 1 d) is not.
    expect(await segments()).toEqual(['ledger-00000002.jsonl', 'ledger-00000003.jsonl']);
    const report = await verifyLedger(dir.path);
    expect(report).toMatchObject({ ok: true, records: 2 });
    expect(report.warnings.map((w) => w.kind)).toContain('pruned_start');
  });

  it('keeps one segment growing without retention', async () => {
    let now = T0;
    ledger = await openFileLedger({ dir: dir.path, clock: () => new Date(now) });
    await ledger.append(record(1, { issuedAt: new Date(now).toISOString() }));
    now = T0 + 10 * DAY;
    await ledger.append(record(2, { issuedAt: new Date(now).toISOString() }));
    expect(await segments()).toEqual(['ledger-00000001.jsonl']);
  });

  it('remembers when the active segment started across a restart', async () => {
    let now = T0;
    ledger = await openFileLedger({ dir: dir.path, retentionDays: 1, clock: () => new Date(now) });
    await ledger.append(record(1, { issuedAt: new Date(now).toISOString() }));
    await ledger.close();
    now = T0 + DAY + 1;
    ledger = await openFileLedger({ dir: dir.path, retentionDays: 1, clock: () => new Date(now) });
    await ledger.append(record(2, { issuedAt: new Date(now).toISOString() }));
    expect(await segments()).toEqual(['ledger-00000002.jsonl']);
  });
});
