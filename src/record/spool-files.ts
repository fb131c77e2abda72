// The spool's files under `ledger.spoolPath`: numbered JSON Lines files, one record per line,
// fsynced per group. Appends go to the active file; replay first seals it (later appends start
// a new file), so a file being replayed never changes under the replayer. Progress through a
// sealed file is kept in `<file>.replayed` so a restart resumes where the last run stopped.
import { constants } from 'node:fs';
import { access, open, readdir, readFile, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureDir, fsyncDir, writeFileAtomic } from './atomic-file.ts';
import { acquireLock } from './dir-lock.ts';
import type { Lock } from './dir-lock.ts';
import type { LedgerLogger } from './deps.ts';
import type { IssuanceRecord } from './ledger.ts';
import { readLinesForward } from './lines.ts';
import { fromStored } from './record-shape.ts';
import { listSegments, segmentName } from './segments.ts';
import type { SegmentFile } from './segments.ts';
import { recoverTail } from './torn-tail.ts';

export const SPOOL_PREFIX = 'spool';

export interface SpoolFile {
  readonly segment: SegmentFile;
  /** Records acknowledged to callers: replay reads no further, whatever else the file holds. */
  acknowledged: number;
  replayed: number;
}

interface ActiveFile extends SpoolFile {
  readonly fh: FileHandle;
  size: number;
}

export class SpoolFiles {
  readonly #dir: string;
  readonly #logger: LedgerLogger;
  readonly #maxFileBytes: number;
  readonly #lock: Lock;
  #sealed: SpoolFile[];
  #active: ActiveFile | undefined;
  #next: number;
  #pending: number;
  /** Appends and seals run one at a time. */
  #tail: Promise<unknown> = Promise.resolve();

  private constructor(dir: string, logger: LedgerLogger, maxFileBytes: number, sealed: SpoolFile[], next: number, lock: Lock) {
    this.#dir = dir;
    this.#lock = lock;
    this.#logger = logger;
    this.#maxFileBytes = maxFileBytes;
    this.#sealed = sealed;
    this.#next = next;
    this.#pending = sealed.reduce((n, f) => n + f.acknowledged - f.replayed, 0);
  }

  /** Everything found on disk is treated as sealed: it belongs to an earlier run. */
  static async open(dir: string, logger: LedgerLogger, maxFileBytes = 8 * 1024 * 1024): Promise<SpoolFiles> {
    await ensureDir(dir);
    // Two processes replaying one spool would each deliver its records: one owner at a time.
    const lock = await acquireLock(dir, 'spool', `spool directory ${dir}`);
    try {
      return await SpoolFiles.#openLocked(dir, logger, maxFileBytes, lock);
    } catch (error) {
      await lock.release();
      throw error;
    }
  }

  static async #openLocked(dir: string, logger: LedgerLogger, maxFileBytes: number, lock: Lock): Promise<SpoolFiles> {
    const sealed: SpoolFile[] = [];
    const segments = await listSegments(dir, SPOOL_PREFIX);
    for (const segment of segments) {
      const tail = await recoverTail(segment.path, (bytes) => parseSpoolLine(bytes) !== undefined);
      if (tail.torn !== undefined) {
        logger.warn({ spool: dir, ...tail.torn }, 'ledger spool: torn tail after a crash moved aside (it was never acknowledged)');
      }
      let acknowledged = 0;
      for await (const line of readLinesForward(segment.path)) if (line.terminated) acknowledged++;
      const replayed = Math.min(acknowledged, await readProgress(progressPath(segment)));
      if (acknowledged === replayed) {
        await removeFiles(segment);
        continue;
      }
      sealed.push({ segment, acknowledged, replayed });
    }
    for (const name of await readdir(dir)) {
      // Progress left behind by a crash between removing a data file and its progress file.
      if (name.endsWith('.jsonl.replayed') && !segments.some((s) => `${s.name}.replayed` === name)) {
        await unlink(join(dir, name)).catch(ignoreMissing);
      }
    }
    await fsyncDir(dir);
    return new SpoolFiles(dir, logger, maxFileBytes, sealed, (segments.at(-1)?.number ?? 0) + 1, lock);
  }

  /** Records acknowledged and not yet replayed. */
  get pending(): number {
    return this.#pending;
  }

  append(records: readonly IssuanceRecord[]): Promise<void> {
    return this.#exclusive(async () => {
      const active = this.#active ?? (await this.#startFile());
      const data = Buffer.from(records.map((r) => `${JSON.stringify(r)}\n`).join(''), 'utf8');
      try {
        let done = 0;
        while (done < data.length) done += (await active.fh.write(data, done, data.length - done, active.size + done)).bytesWritten;
        await active.fh.datasync();
      } catch (error) {
        // Whatever reached the file past `acknowledged` lines is never replayed (see readRecords);
        // starting a fresh file keeps later groups clear of the damage.
        await this.#sealActive();
        throw error;
      }
      active.size += data.length;
      active.acknowledged += records.length;
      this.#pending += records.length;
      if (active.size >= this.#maxFileBytes) await this.#sealActive();
    });
  }

  /** Closes the active file for appends, so replay can take it. */
  seal(): Promise<void> {
    return this.#exclusive(() => this.#sealActive());
  }

  /** Sealed files, oldest first. */
  sealed(): readonly SpoolFile[] {
    return [...this.#sealed];
  }

  /** The acknowledged records of `file` not yet replayed, in spool order, with their 0-based line. */
  async readRecords(file: SpoolFile): Promise<{ record: IssuanceRecord; line: number }[]> {
    const out: { record: IssuanceRecord; line: number }[] = [];
    let index = 0;
    for await (const line of readLinesForward(file.segment.path)) {
      if (index >= file.acknowledged || !line.terminated) break;
      if (index++ < file.replayed) continue;
      const record = parseSpoolLine(line.bytes);
      if (record === undefined) {
        // Damaged on disk after it was fsynced: nothing can restore it, so say so loudly.
        this.#logger.error({ spool: this.#dir, file: file.segment.name, line: index }, 'ledger spool: unreadable record skipped');
        continue;
      }
      out.push({ record, line: index - 1 });
    }
    return out;
  }

  async markReplayed(file: SpoolFile, replayed: number): Promise<void> {
    if (replayed <= file.replayed) return;
    await writeFileAtomic(progressPath(file.segment), `${JSON.stringify({ replayed })}\n`);
    this.#pending -= replayed - file.replayed;
    file.replayed = replayed;
  }

  /** A fully replayed file: the data file goes first, so a crash can never leave progress without its file. */
  async remove(file: SpoolFile): Promise<void> {
    this.#pending -= file.acknowledged - file.replayed;
    file.replayed = file.acknowledged;
    this.#sealed = this.#sealed.filter((f) => f !== file);
    await removeFiles(file.segment);
    await fsyncDir(this.#dir);
  }

  async check(): Promise<void> {
    await access(this.#dir, constants.W_OK);
  }

  close(): Promise<void> {
    return this.#exclusive(async () => {
      try {
        await this.#active?.fh.close();
        this.#active = undefined;
      } finally {
        await this.#lock.release();
      }
    });
  }

  async #startFile(): Promise<ActiveFile> {
    const name = segmentName(SPOOL_PREFIX, this.#next++);
    const segment = { number: this.#next - 1, name, path: join(this.#dir, name) };
    const fh = await open(segment.path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, 0o640);
    await fsyncDir(this.#dir);
    this.#active = { segment, fh, size: 0, acknowledged: 0, replayed: 0 };
    return this.#active;
  }

  async #sealActive(): Promise<void> {
    const active = this.#active;
    if (active === undefined) return;
    this.#active = undefined;
    await active.fh.close().catch(() => {});
    if (active.acknowledged > 0) this.#sealed.push({ segment: active.segment, acknowledged: active.acknowledged, replayed: 0 });
    else await removeFiles(active.segment).catch(() => {});
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(fn);
    this.#tail = run.catch(() => {});
    return run;
  }
}

export function parseSpoolLine(bytes: Uint8Array): IssuanceRecord | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return undefined;
  const record = fromStored(doc as Record<string, unknown>);
  const ok = typeof record.jti === 'string' && record.jti !== '' && typeof record.issuedAt === 'string' &&
    (record.outcome === 'issued' || record.outcome === 'rejected');
  return ok ? record : undefined;
}

function progressPath(segment: SegmentFile): string {
  return `${segment.path}.replayed`;
}

async function readProgress(path: string): Promise<number> {
  try {
    const value = (JSON.parse(await readFile(path, 'utf8')) as { replayed?: unknown }).replayed;
    return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : 0;
  } catch {
    // No progress file (or an unreadable one): replay from the start; jti dedup covers repeats.
    return 0;
  }
}

async function removeFiles(segment: SegmentFile): Promise<void> {
  await unlink(segment.path).catch(ignoreMissing);
  await unlink(progressPath(segment)).catch(ignoreMissing);
}

function ignoreMissing(error: unknown): void {
  if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
}
