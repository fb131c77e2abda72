// One file ledger written by several workers: a chain per worker under the one path (and a
// single process's chain at its top), read as one by the audit query, verify and export.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLedger, exportLedger, verifyLedger, type IssuanceRecord, type Ledger } from '../../src/record/index.ts';
import { record } from './fixtures.ts';

const silent = { info() {}, warn() {}, error() {} };
let root: string;
const open: Ledger[] = [];

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'all-chains-'));
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((ledger) => ledger.close()));
  await rm(root, { recursive: true, force: true });
});

async function ledger(writer?: string): Promise<Ledger> {
  const config = { driver: 'file' as const, path: root, maxFileBytes: 2048, onUnavailable: 'reject' as const, spoolPath: join(root, 'spool') };
  const opened = await createLedger(config, { logger: silent, writer });
  open.push(opened);
  return opened;
}

/** Records 1..n spread over the three chains, out of order within none of them. */
async function spread(n: number): Promise<{ all: IssuanceRecord[]; writers: Ledger[] }> {
  const top = await ledger();
  // A single process wrote the first records, then the service went to two workers.
  const firstThird = Math.floor(n / 3);
  const all: IssuanceRecord[] = [];
  for (let i = 1; i <= firstThird; i++) {
    const r = record(i);
    all.push(r);
    await top.append(r);
  }
  await top.close();
  open.splice(open.indexOf(top), 1);
  const writers = [await ledger('worker-1'), await ledger('worker-2')];
  for (let i = firstThird + 1; i <= n; i++) {
    const r = record(i);
    all.push(r);
    await writers[i % 2]!.append(r);
  }
  return { all, writers };
}

describe('a ledger of several chains', () => {
  it('the audit query on any worker pages through every chain, newest first, each record once', async () => {
    const { all, writers } = await spread(30);
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await writers[0]!.query({ limit: 4, ...(cursor === undefined ? {} : { cursor }) });
      seen.push(...page.records.map((r) => r.jti));
      cursor = page.nextCursor;
      pages++;
    } while (cursor !== undefined && pages < 20);
    expect(seen).toEqual([...all].reverse().map((r) => r.jti));
    // Filters apply across chains too.
    const subject = await writers[1]!.query({ limit: 100, subject: 'user-1' });
    expect(subject.records.map((r) => r.jti)).toEqual([...all].reverse().filter((r) => r.subject === 'user-1').map((r) => r.jti));
    // A record written by the other worker, and one of the single process, are found by id.
    expect((await writers[0]!.get(all.at(-2)!.jti))?.jti).toBe(all.at(-2)!.jti);
    expect((await writers[1]!.get(all[0]!.jti))?.jti).toBe(all[0]!.jti);
  });

  it('a page cut mid-way does not show records written after it was asked for', async () => {
    const { all, writers } = await spread(12);
    const first = await writers[0]!.query({ limit: 3 });
    await writers[1]!.append(record(99));
    const rest = await writers[0]!.query({ limit: 100, cursor: first.nextCursor! });
    expect([...first.records, ...rest.records].map((r) => r.jti)).toEqual([...all].reverse().map((r) => r.jti));
  });

  it('refuses a cursor naming something that is not a chain', async () => {
    const { writers } = await spread(6);
    const forged = Buffer.from(JSON.stringify({ '../etc': { s: 1, o: 0 } })).toString('base64url');
    await expect(writers[0]!.query({ limit: 1, cursor: forged })).rejects.toMatchObject({ status: 400 });
  });

  it('ledger verify checks each chain and reports a break with the chain it is in; export merges them oldest first', async () => {
    const { all } = await spread(30);
    await Promise.all(open.splice(0).map((l) => l.close()));
    const report = await verifyLedger(root);
    expect(report.ok).toBe(true);
    expect(report.records).toBe(30);
    expect(report.chains?.map((c) => c.name)).toEqual(['', 'worker-1', 'worker-2']);
    expect(report.chains?.every((c) => c.ok && c.head !== undefined)).toBe(true);

    let text = '';
    const out = new Writable({ write(chunk: Buffer, _enc, done) { text += chunk.toString(); done(); } });
    const exported = await exportLedger(root, {}, out);
    expect(exported.records).toBe(30);
    expect(text.trim().split('\n').map((line) => (JSON.parse(line) as { jti: string }).jti)).toEqual(all.map((r) => r.jti));

    const segment = join(root, 'worker-2', 'ledger-00000001.jsonl');
    const lines = (await readFile(segment, 'utf8')).split('\n');
    lines[1] = lines[1]!.replace('"plan":"pro"', '"plan":"max"');
    await writeFile(segment, lines.join('\n'));
    const broken = await verifyLedger(root);
    expect(broken.ok).toBe(false);
    expect(broken.firstBreak?.segment).toBe('worker-2/ledger-00000001.jsonl');
    expect(broken.chains?.find((c) => c.name === 'worker-2')?.ok).toBe(false);
    expect(broken.chains?.find((c) => c.name === 'worker-1')?.ok).toBe(true);
  });
});
