// `ledger.driver: file`, the embedded default: append-only JSON Lines segments in one
// directory, hash-chained (chain.ts), fsynced once per group (group-commit.ts), rotated by size.
// One process owns a directory at a time (dir-lock.ts): a second writer would overwrite records.
import { constants, ftruncateSync, writeSync } from 'node:fs';
import { access, open, stat, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../domain/types.ts';
import { systemClock } from '../domain/types.ts';
import { ensureDir, fsyncDir } from './atomic-file.ts';
import { encodeLine, GENESIS, hashLine, parseLine } from './chain.ts';
import { ledgerUnavailable, silentLogger } from './deps.ts';
import { acquireLock } from './dir-lock.ts';
import type { Lock } from './dir-lock.ts';
import type { LedgerLogger } from './deps.ts';
import { GroupCommitter } from './group-commit.ts';
import type { IssuancePage, IssuanceQuery, IssuanceRecord, Ledger, Revocation, RevocationKind } from './ledger.ts';
import { readLinesBackward, readLinesForward } from './lines.ts';
import { checkLimit, decodeCursor, encodeCursor, matchesQuery } from './query-filter.ts';
import { submitRecord } from './record-shape.ts';
import { RevocationFile } from './revocation-store.ts';
import { listSegments, segmentName } from './segments.ts';
import type { SegmentFile } from './segments.ts';
import { recoverTail } from './torn-tail.ts';
import type { TornTail } from './torn-tail.ts';

export const SEGMENT_PREFIX = 'ledger';
export const REVOCATIONS_FILE = 'revocations.json';

export interface FileLedgerOptions {
  /** `ledger.path`; created when missing. */
  readonly dir: string;
  /** `ledger.maxFileBytes`: a segment that would grow past this is closed and the next one started. */
  readonly maxFileBytes?: number;
  /** `ledger.retentionDays`: whole segments whose newest record is older are removed. */
  readonly retentionDays?: number | undefined;
  readonly logger?: LedgerLogger;
  readonly clock?: Clock;
  /** Records per write (and per fsync) at most. */
  readonly maxBatch?: number;
  /** Called after each durable write with the number of records it carried (metrics, tests). */
  readonly onSync?: (records: number) => void;
}

interface Active {
  readonly segment: SegmentFile;
  readonly fh: FileHandle;
  /** Bytes known durable; readers never look past this, writers write here. */
  size: number;
  /** issuedAt (ms) of the segment's first record; undefined while it is empty. */
  startedAt: number | undefined;
}

interface Position {
  /** Segment number. */
  readonly s: number;
  /** Byte offset of the last record returned; the next page starts just before it. */
  readonly o: number;
}

const isPosition = (v: unknown): v is Position =>
  typeof v === 'object' && v !== null &&
  Number.isSafeInteger((v as Position).s) && (v as Position).s >= 1 &&
  Number.isSafeInteger((v as Position).o) && (v as Position).o >= 0;

const NEWLINE = Buffer.from('\n');
const DAY_MS = 86_400_000;

export async function openFileLedger(options: FileLedgerOptions): Promise<FileLedger> {
  await ensureDir(options.dir);
  const lock = await acquireLock(options.dir, 'ledger', `ledger directory ${options.dir}`);
  try {
    return await openLocked(options, lock);
  } catch (error) {
    await lock.release();
    throw error;
  }
}

async function openLocked(options: FileLedgerOptions, lock: Lock): Promise<FileLedger> {
  const logger = options.logger ?? silentLogger;
  const segments = await listSegments(options.dir, SEGMENT_PREFIX);

  // Recover the newest segment's tail, then find the chain head: the newest good line,
  // which may sit in an older segment when the newest one is empty.
  const recovered: TornTail[] = [];
  let head = GENESIS;
  let lastSize = 0;
  const last = segments.at(-1);
  if (last !== undefined) {
    const tail = await recoverTail(last.path, (bytes) => parseLine(bytes).ok);
    lastSize = tail.size;
    if (tail.torn !== undefined) {
      recovered.push(tail.torn);
      logger.warn({ ledger: options.dir, ...tail.torn }, 'ledger: torn tail after a crash moved aside; the chain continues from the last good record');
    }
    if (tail.lastLine !== undefined) head = hashLine(tail.lastLine);
    else head = await headBefore(segments.slice(0, -1));
  }

  const segment = last ?? { number: 1, name: segmentName(SEGMENT_PREFIX, 1), path: join(options.dir, segmentName(SEGMENT_PREFIX, 1)) };
  const fh = await openSegment(segment.path);
  if (last === undefined) await fsyncDir(options.dir);
  let revocations: RevocationFile;
  try {
    revocations = await RevocationFile.open(join(options.dir, REVOCATIONS_FILE));
  } catch (error) {
    await fh.close();
    throw error;
  }
  const startedAt = last === undefined ? undefined : await oldestIssuedAt(segment.path, lastSize);
  const active = { segment, fh, size: lastSize, startedAt };
  const ledger = new FileLedger(options, logger, segments.length > 0 ? segments : [segment], active, head, revocations, recovered, lock);
  await ledger.prune();
  return ledger;
}

export class FileLedger implements Ledger {
  readonly name = 'file';
  /** Torn tails found and set aside when this ledger was opened. */
  readonly recovered: readonly TornTail[];
  readonly #dir: string;
  readonly #maxFileBytes: number;
  readonly #retentionDays: number | undefined;
  readonly #logger: LedgerLogger;
  readonly #clock: Clock;
  readonly #onSync: ((records: number) => void) | undefined;
  readonly #committer: GroupCommitter<IssuanceRecord>;
  readonly #revocations: RevocationFile;
  /** Oldest first; the last one is the active segment. */
  #segments: SegmentFile[];
  #active: Active;
  /** SHA-256 of the last durable line. */
  #head: string;
  /** Set when a failed fsync left the file in an unknown state: only a restart (and recovery) clears it. */
  #broken: unknown;
  readonly #lock: Lock;
  #closed = false;

  /** @internal Use openFileLedger, which recovers the directory first. */
  constructor(
    options: FileLedgerOptions,
    logger: LedgerLogger,
    segments: SegmentFile[],
    active: Active,
    head: string,
    revocations: RevocationFile,
    recovered: TornTail[],
    lock: Lock,
  ) {
    this.#lock = lock;
    this.#dir = options.dir;
    this.#maxFileBytes = options.maxFileBytes ?? 64 * 1024 * 1024;
    this.#retentionDays = options.retentionDays;
    this.#logger = logger;
    this.#clock = options.clock ?? systemClock;
    this.#onSync = options.onSync;
    this.#segments = segments;
    this.#active = active;
    this.#head = head;
    this.#revocations = revocations;
    this.recovered = recovered;
    this.#committer = new GroupCommitter({ maxBatch: options.maxBatch ?? 512, write: (batch) => this.#write(batch) });
  }

  get directory(): string {
    return this.#dir;
  }

  append(record: IssuanceRecord): Promise<void> {
    return submitRecord(this.#committer, this.#closed, record);
  }

  async #write(batch: readonly IssuanceRecord[]): Promise<void> {
    if (this.#broken !== undefined) throw ledgerUnavailable('ledger file is in an unknown state after a failed fsync; restart to recover', this.#broken);
    let prev = this.#head;
    const parts: Buffer[] = [];
    for (const record of batch) {
      const line = encodeLine(record, prev);
      prev = hashLine(line);
      parts.push(line, NEWLINE);
    }
    const data = Buffer.concat(parts);
    try {
      if (this.#active.size > 0 && (this.#active.size + data.length > this.#maxFileBytes || this.#dayOld(this.#active))) await this.#rotate();
    } catch (error) {
      throw ledgerUnavailable('cannot start a new ledger segment', error);
    }
    const active = this.#active;
    try {
      // Written on this thread, synchronously, once per group (once per turn of the event loop
      // under load): the segment is open with O_DSYNC, so the write returns once the group is
      // durable, and the answers go out in the same turn instead of waiting for the thread
      // pool's write and fdatasync to come back through two more turns, each as long as every
      // request read meanwhile (docs/performance.md). The thread is blocked for the disk's
      // latency per group, not per record.
      writeAllSync(active.fh.fd, data, active.size);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EIO') {
        // A failed synchronous write is a failed fsync: the kernel may have dropped the dirty
        // pages, so what is on disk is unknown.
        this.#broken = error;
        this.#logger.error({ ledger: this.#dir, err: error }, 'ledger: durable write failed; refusing further appends until restart');
        throw ledgerUnavailable('cannot make the ledger durable', error);
      }
      // Nothing was acknowledged: cut back whatever part of the group reached the file, so
      // the next group continues the chain from the last durable line.
      try {
        ftruncateSync(active.fh.fd, active.size);
      } catch (truncateError) {
        this.#broken = truncateError;
      }
      throw ledgerUnavailable('cannot write to the ledger', error);
    }
    active.size += data.length;
    active.startedAt ??= Date.parse(batch[0]!.issuedAt);
    this.#head = prev;
    this.#onSync?.(batch.length);
  }

  /**
   * With retention on, a segment is also closed once its first record is a day old: retention
   * removes whole closed segments, so a quiet ledger that never reaches maxFileBytes must still
   * close one now and then, or nothing in it would ever expire.
   */
  #dayOld(active: Active): boolean {
    return this.#retentionDays !== undefined && active.startedAt !== undefined && this.#clock().getTime() - active.startedAt >= DAY_MS;
  }

  async #rotate(): Promise<void> {
    const number = this.#active.segment.number + 1;
    const name = segmentName(SEGMENT_PREFIX, number);
    const segment = { number, name, path: join(this.#dir, name) };
    const fh = await openSegment(segment.path);
    await fsyncDir(this.#dir);
    const old = this.#active;
    this.#active = { segment, fh, size: 0, startedAt: undefined };
    this.#segments = [...this.#segments, segment];
    await old.fh.close();
    this.#logger.info({ ledger: this.#dir, segment: name }, 'ledger: new segment');
    // The group is about to be written either way; a failed clean-up must not fail it.
    await this.prune().catch((error: unknown) => this.#logger.error({ ledger: this.#dir, err: error }, 'ledger: retention clean-up failed'));
  }

  /** Removes whole segments past retention (never the active one). Runs on open and on rotation. */
  async prune(): Promise<void> {
    if (this.#retentionDays === undefined) return;
    const cutoff = this.#clock().getTime() - this.#retentionDays * DAY_MS;
    while (this.#segments.length > 1) {
      const oldest = this.#segments[0]!;
      const newest = await newestIssuedAt(oldest.path);
      if (newest !== undefined && newest >= cutoff) return;
      await unlink(oldest.path);
      await fsyncDir(this.#dir);
      this.#segments = this.#segments.slice(1);
      this.#logger.info({ ledger: this.#dir, segment: oldest.name, retentionDays: this.#retentionDays }, 'ledger: segment past retention removed');
    }
  }

  /**
   * Scans segments newest first, line by line from the end. Linear in what is skipped: fine for
   * an embedded ledger queried by an operator, and why large fleets use the MongoDB driver.
   */
  async query(query: IssuanceQuery): Promise<IssuancePage> {
    const limit = checkLimit(query.limit);
    const from = query.cursor === undefined ? undefined : decodeCursor(query.cursor, isPosition);
    const records: IssuanceRecord[] = [];
    let last: Position | undefined;
    for await (const { record, position } of this.#newestFirst(from)) {
      if (!matchesQuery(record, query)) continue;
      if (records.length === limit) return { records, nextCursor: encodeCursor(last!) };
      records.push(record);
      last = position;
    }
    return { records, nextCursor: undefined };
  }

  async get(jti: string): Promise<IssuanceRecord | undefined> {
    // Every stored line starts with its jti (record-shape.ts puts it first), so most lines are
    // rejected by a byte comparison without parsing.
    const prefix = Buffer.from(`{"jti":${JSON.stringify(jti)},`, 'utf8');
    for await (const { record } of this.#newestFirst(undefined, prefix)) return record;
    return undefined;
  }

  async *#newestFirst(from: Position | undefined, prefix?: Buffer): AsyncGenerator<{ record: IssuanceRecord; position: Position }> {
    const segments = [...this.#segments].reverse();
    const active = this.#active;
    for (const segment of segments) {
      if (from !== undefined && segment.number > from.s) continue;
      let end = segment.number === active.segment.number ? active.size : await sizeOrZero(segment.path);
      if (from !== undefined && segment.number === from.s) end = Math.min(end, from.o);
      try {
        for await (const line of readLinesBackward(segment.path, end)) {
          if (prefix !== undefined && !line.bytes.subarray(0, prefix.length).equals(prefix)) continue;
          const parsed = parseLine(line.bytes);
          // A damaged line is verify's to report; a query just cannot show it.
          if (parsed.ok) yield { record: parsed.record, position: { s: segment.number, o: line.offset } };
        }
      } catch (error) {
        // Removed by retention while we were scanning: its records are gone, the rest are not.
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
  }

  async listRevocations(): Promise<Revocation[]> {
    return this.#revocations.list();
  }

  async putRevocation(revocation: Revocation): Promise<void> {
    try {
      await this.#revocations.put(revocation);
    } catch (error) {
      throw ledgerUnavailable('cannot write the revocations file', error);
    }
  }

  async deleteRevocation(kind: RevocationKind, value: string, tenant?: string): Promise<boolean> {
    try {
      return await this.#revocations.delete(kind, value, tenant);
    } catch (error) {
      throw ledgerUnavailable('cannot write the revocations file', error);
    }
  }

  async check(): Promise<void> {
    if (this.#closed) throw ledgerUnavailable('ledger is closed');
    if (this.#broken !== undefined) throw ledgerUnavailable('ledger file is in an unknown state after a failed fsync', this.#broken);
    try {
      await access(this.#dir, constants.W_OK);
    } catch (error) {
      throw ledgerUnavailable('ledger directory is not writable', error);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#committer.close();
      await this.#active.fh.close();
      await this.#revocations.close();
    } finally {
      await this.#lock.release();
    }
  }
}

async function openSegment(path: string): Promise<FileHandle> {
  // Read-write with explicit positions rather than O_APPEND: a failed write is undone by
  // truncating back to the durable size, which needs the position under our control.
  // O_DSYNC: every write is durable when it returns (as write + fdatasync).
  return open(path, constants.O_RDWR | constants.O_CREAT | constants.O_DSYNC, 0o640);
}

function writeAllSync(fd: number, data: Buffer, position: number): void {
  let done = 0;
  while (done < data.length) done += writeSync(fd, data, done, data.length - done, position + done);
}

async function sizeOrZero(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
}

/** Hash of the newest good line in `segments` (oldest first), or GENESIS. */
async function headBefore(segments: readonly SegmentFile[]): Promise<string> {
  for (const segment of [...segments].reverse()) {
    for await (const line of readLinesBackward(segment.path, await sizeOrZero(segment.path))) {
      if (parseLine(line.bytes).ok) return hashLine(line.bytes);
    }
  }
  return GENESIS;
}

/** issuedAt (ms) of the segment's last good record: records go in roughly in time order. */
async function newestIssuedAt(path: string): Promise<number | undefined> {
  for await (const line of readLinesBackward(path, await sizeOrZero(path))) {
    const parsed = parseLine(line.bytes);
    if (parsed.ok) return Date.parse(parsed.record.issuedAt);
  }
  return undefined;
}

/** issuedAt (ms) of the segment's first good record within its first `end` bytes. */
async function oldestIssuedAt(path: string, end: number): Promise<number | undefined> {
  for await (const line of readLinesForward(path, 0, end)) {
    const parsed = parseLine(line.bytes);
    if (parsed.ok) return Date.parse(parsed.record.issuedAt);
  }
  return undefined;
}
