// Crash recovery for an append-only JSON Lines file. A crash mid-write can leave the last line
// incomplete, or (on some filesystems) a tail of zeroes. Such bytes were never acknowledged to
// anyone (the fsync that would have acknowledged them did not return), yet they must not be
// silently kept as a record nor silently thrown away: they are moved to `<file>.<offset>.torn`
// beside the file, the file is cut back to its last good line, and the caller logs and reports it.
import { access, open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fsyncDir } from './atomic-file.ts';
import { readLinesBackward } from './lines.ts';

export interface TornTail {
  /** The file that had the torn tail (name only). */
  readonly file: string;
  /** Where the torn bytes started; the file now ends here. */
  readonly offset: number;
  readonly bytes: number;
  /** The `.torn` file now holding those bytes (name only). */
  readonly movedTo: string;
  readonly reason: 'unterminated last line' | 'unparsable last line';
}

export interface RecoveredTail {
  /** The file's size after recovery: just after its last good line. */
  readonly size: number;
  /** The last good line (no newline), when the file has one. */
  readonly lastLine: Buffer | undefined;
  readonly torn: TornTail | undefined;
}

const NEWLINE = 0x0a;

export async function recoverTail(path: string, isGoodLine: (bytes: Buffer) => boolean): Promise<RecoveredTail> {
  const fh = await open(path, 'r+');
  try {
    const size = (await fh.stat()).size;
    let goodEnd = await endOfLastNewline(fh, size);
    let reason: TornTail['reason'] = 'unterminated last line';
    const unterminated = goodEnd < size;
    let lastLine: Buffer | undefined;
    for await (const line of readLinesBackward(path, goodEnd)) {
      if (isGoodLine(line.bytes)) {
        lastLine = line.bytes;
        break;
      }
      goodEnd = line.offset;
      if (!unterminated) reason = 'unparsable last line';
    }
    if (goodEnd === size) return { size, lastLine, torn: undefined };

    const tornBytes = Buffer.alloc(size - goodEnd);
    await fh.read(tornBytes, 0, tornBytes.length, goodEnd);
    const movedTo = await freeName(dirname(path), `${basename(path)}.${goodEnd}`);
    const out = await open(join(dirname(path), movedTo), 'wx', 0o640);
    try {
      await out.writeFile(tornBytes);
      await out.sync();
    } finally {
      await out.close();
    }
    await fsyncDir(dirname(path));
    // Only once the copy is durable is the original cut back.
    await fh.truncate(goodEnd);
    await fh.sync();
    return { size: goodEnd, lastLine, torn: { file: basename(path), offset: goodEnd, bytes: tornBytes.length, movedTo, reason } };
  } finally {
    await fh.close();
  }
}

/** Offset just after the last newline of the file (0 if none). */
async function endOfLastNewline(fh: FileHandle, size: number): Promise<number> {
  const chunk = Buffer.alloc(64 * 1024);
  let pos = size;
  while (pos > 0) {
    const n = Math.min(chunk.length, pos);
    pos -= n;
    await fh.read(chunk, 0, n, pos);
    const i = chunk.subarray(0, n).lastIndexOf(NEWLINE);
    if (i !== -1) return pos + i + 1;
  }
  return 0;
}

async function freeName(dir: string, stem: string): Promise<string> {
  for (let i = 0; ; i++) {
    const name = i === 0 ? `${stem}.torn` : `${stem}.${i}.torn`;
    try {
      await access(join(dir, name));
    } catch {
      return name;
    }
  }
}
