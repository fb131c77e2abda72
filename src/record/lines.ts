// Byte-exact line readers for JSON Lines files. The hash chain is over the bytes on disk, so
// lines are handled as Buffers (a UTF-8 round trip could hide a tampered byte), and each line
// carries its file offset so cursors and reports can point at it.
import { open } from 'node:fs/promises';

export interface Line {
  /** The line without its terminating newline. */
  readonly bytes: Buffer;
  /** Byte offset of the line's first byte. */
  readonly offset: number;
  /** False only for a last line with no newline after it (a write in progress or a torn write). */
  readonly terminated: boolean;
}

const NEWLINE = 0x0a;
const CHUNK = 64 * 1024;

/** Lines of `path` from `start` to `end` (default: the current size), first to last. */
export async function* readLinesForward(path: string, start = 0, end?: number): AsyncGenerator<Line> {
  const fh = await open(path, 'r');
  try {
    const limit = end ?? (await fh.stat()).size;
    let pos = start;
    let carry = Buffer.alloc(0);
    let carryOffset = start;
    while (pos < limit) {
      const size = Math.min(CHUNK, limit - pos);
      const chunk = Buffer.allocUnsafe(size);
      const { bytesRead } = await fh.read(chunk, 0, size, pos);
      if (bytesRead === 0) break;
      pos += bytesRead;
      const data = carry.length === 0 ? chunk.subarray(0, bytesRead) : Buffer.concat([carry, chunk.subarray(0, bytesRead)]);
      let lineStart = 0;
      for (let i = data.indexOf(NEWLINE); i !== -1; i = data.indexOf(NEWLINE, lineStart)) {
        yield { bytes: Buffer.from(data.subarray(lineStart, i)), offset: carryOffset + lineStart, terminated: true };
        lineStart = i + 1;
      }
      carry = Buffer.from(data.subarray(lineStart));
      carryOffset += lineStart;
    }
    if (carry.length > 0) yield { bytes: carry, offset: carryOffset, terminated: false };
  } finally {
    await fh.close();
  }
}

/**
 * Complete lines of `path` before `end`, last to first. `end` must sit just after a newline
 * (or be 0): callers pass a committed size or a line's offset, never a point mid-line.
 */
export async function* readLinesBackward(path: string, end: number): AsyncGenerator<Line> {
  if (end <= 0) return;
  const fh = await open(path, 'r');
  try {
    let pos = end;
    // Bytes from `pos` up to and including the newline of the earliest line whose start is not yet known.
    let carry = Buffer.alloc(0);
    while (pos > 0) {
      const size = Math.min(CHUNK, pos);
      pos -= size;
      const chunk = Buffer.allocUnsafe(size);
      const { bytesRead } = await fh.read(chunk, 0, size, pos);
      if (bytesRead !== size) throw new Error(`${path}: file shrank while being read`);
      const data = carry.length === 0 ? chunk : Buffer.concat([chunk, carry]);
      let lineEnd = data.length - 1;
      for (let i = lineEnd - 1; i >= 0; i--) {
        if (data[i] === NEWLINE) {
          yield { bytes: Buffer.from(data.subarray(i + 1, lineEnd)), offset: pos + i + 1, terminated: true };
          lineEnd = i;
        }
      }
      carry = Buffer.from(data.subarray(0, lineEnd + 1));
    }
    if (carry.length > 0) yield { bytes: carry.subarray(0, carry.length - 1), offset: 0, terminated: true };
  } finally {
    await fh.close();
  }
}
