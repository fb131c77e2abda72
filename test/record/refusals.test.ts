// What a refusal may cost the ledger: one record cut to maxRecordBytes, and anonymous refusals
// counted into one summary record per interval, which verify, export and queries handle.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { exportLedger } from '../../src/record/export.ts';
import { openFileLedger } from '../../src/record/file.ts';
import { createLedger } from '../../src/record/index.ts';
import type { IssuanceRecord, Ledger } from '../../src/record/ledger.ts';
import { boundRefusals, SUMMARY_MAX_ADDRESSES } from '../../src/record/refusals.ts';
import { boundRecord } from '../../src/record/refusal-size.ts';
import { verifyLedger } from '../../src/record/verify.ts';
import { record, recordingLogger, tempDir } from './fixtures.ts';

/** A refusal as the pipeline builds it for a caller who sent 64 scopes of 512 characters. */
function refusal(n: number, overrides: Partial<IssuanceRecord> = {}): IssuanceRecord {
  return record(n, {
    outcome: 'rejected',
    reason: 'invalid_token',
    expiresAt: undefined,
    subject: undefined,
    clientId: undefined,
    tenant: undefined,
    plan: undefined,
    license: undefined,
    binding: undefined,
    opTokenId: undefined,
    granted: [],
    requestedScopes: Array.from({ length: 64 }, (_, i) => `repository:${'x'.repeat(480)}-${i}:pull,push`),
    userAgent: 'u'.repeat(256),
    remoteAddress: `198.51.100.${n % 7}`,
    ...overrides,
  });
}

async function segmentLines(dir: string): Promise<string[]> {
  return (await readFile(join(dir, 'ledger-00000001.jsonl'), 'utf8')).split('\n').filter((l) => l !== '');
}

describe('boundRecord', () => {
  it('keeps a record that fits as it is', () => {
    const small = refusal(1, { requestedScopes: ['repository:a/b:pull'], userAgent: 'docker/27' });
    expect(boundRecord(small, 4096)).toEqual(boundRecord(small, 65_536));
    expect(boundRecord(small, 4096).truncated).toBeUndefined();
  });

  it('cuts a large one to the bound, keeping the first scopes, and says so', () => {
    const bounded = boundRecord(refusal(1, { subject: 'alice' }), 4096);
    expect(bounded.truncated).toBe(true);
    expect(bounded.subject).toBe('alice');
    expect(bounded.requestedScopes.length).toBeGreaterThan(0);
    expect(bounded.requestedScopes[0]).toBe(refusal(1).requestedScopes[0]);
    expect(Buffer.byteLength(JSON.stringify({ ...bounded, prev: '0'.repeat(64) })) + 1).toBeLessThanOrEqual(4096);
  });

  it('fits the smallest bound even with long strings everywhere', () => {
    const long = 'z'.repeat(255);
    const bounded = boundRecord(refusal(1, { subject: long, clientId: long, service: long, tenant: long, license: long, plan: long }), 1024);
    expect(Buffer.byteLength(JSON.stringify({ ...bounded, prev: '0'.repeat(64) })) + 1).toBeLessThanOrEqual(1024);
  });
});

describe('refusals through the file ledger', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let ledger: Ledger | undefined;
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    await ledger?.close();
    ledger = undefined;
    await dir.remove();
  });

  it('writes authenticated refusals one by one, each within maxRecordBytes', async () => {
    ledger = await createLedger({ driver: 'file', path: dir.path, maxFileBytes: 1 << 20, onUnavailable: 'reject', spoolPath: join(dir.path, 'spool'), refusals: { maxRecordBytes: 2048, anonymous: 'summary', summaryIntervalSeconds: 3600 } }, { logger: recordingLogger() });
    for (let i = 0; i < 5; i++) await ledger.append(refusal(i, { subject: `user-${i}`, reason: 'plan_denied' }));
    const lines = await segmentLines(dir.path);
    expect(lines).toHaveLength(5);
    for (const line of lines) expect(Buffer.byteLength(line) + 1).toBeLessThanOrEqual(2048);
    expect(JSON.parse(lines[0]!).truncated).toBe(true);
  });

  it('counts anonymous refusals into one summary record, written on close, which verify, export and queries handle', async () => {
    const inner = await openFileLedger({ dir: dir.path });
    ledger = boundRefusals(inner, { maxRecordBytes: 4096, anonymous: 'summary', summaryIntervalSeconds: 3600 });
    await ledger.append(record(0));
    for (let i = 1; i <= 200; i++) await ledger.append(refusal(i, { reason: i % 2 === 0 ? 'invalid_token' : 'invalid_scope' }));
    // Many distinct addresses: only the cap is listed, the rest counted together.
    for (let i = 0; i < SUMMARY_MAX_ADDRESSES + 10; i++) await ledger.append(refusal(1000 + i, { remoteAddress: `2001:db8::${i}` }));
    expect(await segmentLines(dir.path)).toHaveLength(1);
    await ledger.close();
    ledger = undefined;

    const lines = await segmentLines(dir.path);
    expect(lines).toHaveLength(2);
    const summary = JSON.parse(lines[1]!) as IssuanceRecord;
    expect(summary.outcome).toBe('refusals-summary');
    expect(summary.summary!.total).toBe(200 + SUMMARY_MAX_ADDRESSES + 10);
    expect(summary.summary!.byReason).toEqual([
      { reason: 'invalid_token', count: 100 + SUMMARY_MAX_ADDRESSES + 10 },
      { reason: 'invalid_scope', count: 100 },
    ]);
    expect(summary.summary!.byAddress).toHaveLength(SUMMARY_MAX_ADDRESSES);
    expect(summary.summary!.otherAddresses).toBe(17);
    expect(summary.summary!.from).toBe(refusal(1).issuedAt);
    expect(Buffer.byteLength(lines[1]!)).toBeLessThan(8192);

    const report = await verifyLedger(dir.path);
    expect(report).toMatchObject({ ok: true, records: 2 });
    const exported: string[] = [];
    const out = new Writable({ write: (chunk: Buffer, _e, done) => { exported.push(chunk.toString('utf8')); done(); } });
    expect((await exportLedger(dir.path, {}, out)).records).toBe(2);
    expect(JSON.parse(exported.join('').split('\n')[1]!)).toMatchObject({ outcome: 'refusals-summary', summary: { total: summary.summary!.total } });

    const reopened = await openFileLedger({ dir: dir.path });
    ledger = reopened;
    const page = await reopened.query({ outcome: 'refusals-summary', limit: 10 });
    expect(page.records).toHaveLength(1);
    expect(page.records[0]!.summary).toEqual(summary.summary);
  });

  it('orders a summary without locale collation: ties in code-unit order, and no ICU stall mid-flood', async () => {
    // localeCompare's first call loads ICU's collation data (~8 ms on the event loop), which
    // the first summary of a flood used to pay while the flood was being served.
    const collate = vi.spyOn(String.prototype, 'localeCompare');
    try {
      const inner = await openFileLedger({ dir: dir.path });
      ledger = boundRefusals(inner, { maxRecordBytes: 4096, anonymous: 'summary', summaryIntervalSeconds: 3600 });
      for (const address of ['b.example', 'B.example', 'a.example', 'a.example']) await ledger.append(refusal(1, { remoteAddress: address }));
      await (ledger as unknown as { flush(): Promise<void> }).flush();
      expect(collate).not.toHaveBeenCalled();
    } finally {
      collate.mockRestore();
    }
    const summary = JSON.parse((await segmentLines(dir.path))[0]!) as IssuanceRecord;
    expect(summary.summary!.byAddress).toEqual([
      { address: 'a.example', count: 2 },
      { address: 'B.example', count: 1 },
      { address: 'b.example', count: 1 },
    ]);
  });

  it('with anonymous: full, stores each anonymous refusal (bounded)', async () => {
    ledger = boundRefusals(await openFileLedger({ dir: dir.path }), { maxRecordBytes: 4096, anonymous: 'full', summaryIntervalSeconds: 60 });
    for (let i = 0; i < 3; i++) await ledger.append(refusal(i));
    const lines = await segmentLines(dir.path);
    expect(lines).toHaveLength(3);
    for (const line of lines) expect(Buffer.byteLength(line) + 1).toBeLessThanOrEqual(4096);
  });
});
