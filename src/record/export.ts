// `registry-token ledger export`: records as JSON Lines (the record schema, without the file
// driver's `prev`), for auditors and for moving between drivers.
import type { Writable } from 'node:stream';
import { once } from 'node:events';
import { parseLine } from './chain.ts';
import { allChainsOldestFirst } from './chains.ts';
import type { IssuanceRecord, Ledger } from './ledger.ts';
import { MAX_QUERY_LIMIT } from './query-filter.ts';
import { issuedAtMs } from './record-shape.ts';
import { requireDirectory } from './segments.ts';

export interface ExportRange {
  /** Inclusive, on issuedAt. */
  readonly since?: Date | undefined;
  /** Exclusive, on issuedAt. */
  readonly until?: Date | undefined;
}

export interface ExportResult {
  readonly records: number;
  /** Lines that are not records (damage `ledger verify` reports); left out of the export. */
  readonly skipped: number;
}

/** Oldest first, straight from the file ledger's segments (all chains, merged). Does not end `out`. */
export async function exportLedger(dir: string, range: ExportRange, out: Writable): Promise<ExportResult> {
  await requireDirectory(dir, 'ledger directory');
  let records = 0;
  let skipped = 0;
  // Every chain (one per worker that wrote it), merged by issuedAt.
  for await (const line of allChainsOldestFirst(dir)) {
    if (!line.terminated) continue;
    const parsed = parseLine(line.line);
    if (!parsed.ok) {
      skipped++;
      continue;
    }
    if (!inRange(parsed.record, range)) continue;
    await writeLine(out, parsed.record);
    records++;
  }
  return { records, skipped };
}

/** Newest first, through any driver's `query` (the way to export from MongoDB). Does not end `out`. */
export async function exportFromLedger(ledger: Ledger, range: ExportRange, out: Writable): Promise<ExportResult> {
  let records = 0;
  let cursor: string | undefined;
  do {
    const page = await ledger.query({
      limit: MAX_QUERY_LIMIT,
      ...(range.since === undefined ? {} : { since: range.since }),
      ...(range.until === undefined ? {} : { until: range.until }),
      ...(cursor === undefined ? {} : { cursor }),
    });
    for (const record of page.records) {
      await writeLine(out, record);
      records++;
    }
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return { records, skipped: 0 };
}

function inRange(record: IssuanceRecord, range: ExportRange): boolean {
  const at = issuedAtMs(record);
  return (range.since === undefined || at >= range.since.getTime()) && (range.until === undefined || at < range.until.getTime());
}

async function writeLine(out: Writable, record: IssuanceRecord): Promise<void> {
  if (!out.write(`${JSON.stringify(record)}\n`)) await once(out, 'drain');
}
