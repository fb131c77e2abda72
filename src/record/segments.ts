// Naming of the numbered JSON Lines files the file ledger and the spool keep. Numbers only
// grow, are zero-padded so a directory listing sorts in order, and a gap means a file is missing.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

export interface SegmentFile {
  readonly number: number;
  readonly name: string;
  readonly path: string;
}

export function segmentName(prefix: string, number: number): string {
  return `${prefix}-${String(number).padStart(8, '0')}.jsonl`;
}

/** The `prefix-NNNNNNNN.jsonl` files of `dir`, oldest first; [] when `dir` does not exist. */
export async function listSegments(dir: string, prefix: string): Promise<SegmentFile[]> {
  const pattern = new RegExp(`^${prefix}-(\\d{8,})\\.jsonl$`);
  const out: SegmentFile[] = [];
  for (const name of await readdirOrEmpty(dir)) {
    const match = pattern.exec(name);
    if (match?.[1] !== undefined) out.push({ number: Number(match[1]), name, path: join(dir, name) });
  }
  return out.sort((a, b) => a.number - b.number);
}

/** Torn tails set aside by recovery (see torn-tail.ts). */
export async function listTornFiles(dir: string): Promise<string[]> {
  return (await readdirOrEmpty(dir)).filter((name) => name.endsWith('.torn')).sort();
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/**
 * For the read-only tools (verify, export): a mistyped path must not read as an empty, intact
 * ledger.
 */
export async function requireDirectory(dir: string, what: string): Promise<void> {
  let isDir: boolean;
  try {
    isDir = (await stat(dir)).isDirectory();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${what} ${dir} does not exist`);
    throw error;
  }
  if (!isDir) throw new Error(`${what} ${dir} is not a directory`);
}
