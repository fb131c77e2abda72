// `registry-token ledger verify`: walks the file ledger's hash chain across every segment and
// reports the first place it breaks. Safe to run beside a live service (it only reads); a line
// being written at that moment shows up as an unterminated tail, a warning and not a break.
import { GENESIS, hashLine, parseLine } from './chain.ts';
import { listChains } from './chains.ts';
import { SEGMENT_PREFIX } from './file.ts';
import { readLinesForward } from './lines.ts';
import { listSegments, listTornFiles, requireDirectory, segmentName } from './segments.ts';

export interface ChainBreak {
  /** Segment file name, e.g. `ledger-00000003.jsonl`. */
  readonly segment: string;
  /** 1-based line number within that segment (0 for a missing segment). */
  readonly line: number;
  /** Byte offset of that line in the segment. */
  readonly offset: number;
  readonly jti: string | undefined;
  readonly problem: string;
  /** The record the broken link points back to: it, or what lies between the two, was altered. */
  readonly previous: { readonly segment: string; readonly line: number; readonly jti: string } | undefined;
}

export interface VerifyWarning {
  readonly kind: 'torn_set_aside' | 'unterminated_tail' | 'pruned_start';
  readonly file: string;
  readonly detail: string;
}

export interface VerifyReport {
  /** True when every record links to the one before it. Warnings do not change it. */
  readonly ok: boolean;
  readonly segments: number;
  /** Records checked (up to the first break). */
  readonly records: number;
  /** SHA-256 of the last good record: record it elsewhere to detect a later rewrite of the tail. */
  readonly head: string | undefined;
  readonly firstBreak: ChainBreak | undefined;
  readonly warnings: VerifyWarning[];
  /**
   * Written by several workers: one entry per chain (`''` the top one, `worker-<n>`), each
   * verified on its own; `ok`, `segments` and `records` above are over all of them and `head`
   * is then undefined (each chain has its own). Absent for a ledger with one chain.
   */
  readonly chains?: readonly ChainReport[];
}

export interface ChainReport {
  readonly name: string;
  readonly ok: boolean;
  readonly segments: number;
  readonly records: number;
  readonly head: string | undefined;
}

export async function verifyLedger(dir: string): Promise<VerifyReport> {
  await requireDirectory(dir, 'ledger directory');
  const chains = await listChains(dir);
  if (chains.length === 0 || (chains.length === 1 && chains[0]!.name === '')) return verifyChain(dir, '');
  const reports = [];
  for (const chain of chains) reports.push({ name: chain.name, report: await verifyChain(chain.dir, chain.name) });
  const broken = reports.find(({ report }) => !report.ok);
  return {
    ok: broken === undefined,
    segments: reports.reduce((sum, { report }) => sum + report.segments, 0),
    records: reports.reduce((sum, { report }) => sum + report.records, 0),
    head: undefined,
    firstBreak: broken?.report.firstBreak,
    warnings: reports.flatMap(({ report }) => report.warnings),
    chains: reports.map(({ name, report }) => ({ name, ok: report.ok, segments: report.segments, records: report.records, head: report.head })),
  };
}

/** One chain; `label` (its directory under the ledger path) prefixes the file names reported. */
async function verifyChain(dir: string, label: string): Promise<VerifyReport> {
  const named = (file: string) => (label === '' ? file : `${label}/${file}`);
  const segments = await listSegments(dir, SEGMENT_PREFIX);
  const warnings: VerifyWarning[] = (await listTornFiles(dir)).map((file) => ({
    kind: 'torn_set_aside',
    file: named(file),
    detail: 'bytes of an unfinished write, set aside after a crash; they were never acknowledged',
  }));
  let records = 0;
  let head: string | undefined;
  const report = (firstBreak?: ChainBreak): VerifyReport => ({
    ok: firstBreak === undefined, segments: segments.length, records, head, firstBreak, warnings,
  });

  const first = segments[0];
  if (first === undefined) return report();
  // Retention removes whole segments from the start; the first remaining link is then taken on trust.
  let prev: string | undefined = GENESIS;
  if (first.number !== 1) {
    prev = undefined;
    warnings.push({ kind: 'pruned_start', file: named(first.name), detail: 'earlier segments were removed (retention); the chain is checked from this segment on' });
  }
  let previous: ChainBreak['previous'];
  let expected = first.number;
  for (const [index, segment] of segments.entries()) {
    if (segment.number !== expected) {
      return report({ segment: named(segmentName(SEGMENT_PREFIX, expected)), line: 0, offset: 0, jti: undefined, problem: 'segment is missing', previous });
    }
    expected++;
    let lineNo = 0;
    for await (const line of readLinesForward(segment.path)) {
      lineNo++;
      const at = { segment: named(segment.name), line: lineNo, offset: line.offset };
      if (!line.terminated) {
        if (index === segments.length - 1) {
          warnings.push({ kind: 'unterminated_tail', file: named(segment.name), detail: `line ${lineNo} has no newline yet: a write in progress, or a torn write the ledger sets aside when it next opens` });
          break;
        }
        return report({ ...at, jti: undefined, problem: 'incomplete line in a closed segment', previous });
      }
      const parsed = parseLine(line.bytes);
      if (!parsed.ok) return report({ ...at, jti: parsed.jti, problem: parsed.problem, previous });
      if (prev !== undefined && parsed.prev !== prev) {
        const problem = previous === undefined
          ? 'the first record does not link to the genesis hash'
          : `prev does not match the hash of the record before it (${previous.segment} line ${previous.line}, jti ${previous.jti}): that record was altered, or records were removed or inserted between the two`;
        return report({ ...at, jti: parsed.record.jti, problem, previous });
      }
      prev = hashLine(line.bytes);
      head = prev;
      records++;
      previous = { segment: named(segment.name), line: lineNo, jti: parsed.record.jti };
    }
  }
  return report();
}
