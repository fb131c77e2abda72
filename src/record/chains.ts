// One ledger written by several processes (server.workers > 1): each worker appends to its own
// locked segment chain `worker-<n>/` under the one `ledger.path` (the same FileLedger, so there is
// one append mechanism), and a single process's chain sits at the top of that path. Readers see
// all of it as one ledger: this file lists the chains and merges them by issuedAt.
import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseLine } from './chain.ts';
import { SEGMENT_PREFIX } from './file.ts';
import type { IssuanceRecord } from './ledger.ts';
import { readLinesBackward, readLinesForward } from './lines.ts';
import { issuedAtMs } from './record-shape.ts';
import { listSegments } from './segments.ts';

const WRITER = /^worker-(\d{1,4})$/;

/** The directory a worker's chain lives in, under the ledger (or spool) path. */
export function writerDir(root: string, writer: string): string {
  return join(root, writer);
}

export function writerName(slot: number): string {
  return `worker-${slot}`;
}

export interface ChainDir {
  /** '' for the chain at the top of the ledger path, else `worker-<n>`. */
  readonly name: string;
  readonly dir: string;
}

/** Every chain under `root` that holds segments: the top one first, then workers by number. */
export async function listChains(root: string): Promise<ChainDir[]> {
  const chains: ChainDir[] = [];
  if ((await listSegments(root, SEGMENT_PREFIX)).length > 0) chains.push({ name: '', dir: root });
  let names: string[];
  try {
    names = await readdir(root);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return chains;
    throw error;
  }
  const writers = names.flatMap((name) => {
    const match = WRITER.exec(name);
    return match === null ? [] : [{ name, number: Number(match[1]) }];
  });
  for (const { name } of writers.sort((a, b) => a.number - b.number)) {
    const dir = join(root, name);
    if ((await listSegments(dir, SEGMENT_PREFIX)).length > 0) chains.push({ name, dir });
  }
  return chains;
}

/** Where a newest-first scan of one chain stands: before byte `o` of segment `s`. */
export interface ChainPosition {
  readonly s: number;
  readonly o: number;
}

const isPosition = (v: unknown): v is ChainPosition =>
  typeof v === 'object' && v !== null &&
  Number.isSafeInteger((v as ChainPosition).s) && (v as ChainPosition).s >= 1 &&
  Number.isSafeInteger((v as ChainPosition).o) && (v as ChainPosition).o >= 0;

/** A merged query's cursor: where each chain's scan stopped, by chain name. */
export function allChainsCursor(value: unknown): value is Record<string, ChainPosition> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  return Object.entries(value).every(([name, position]) => (name === '' || WRITER.test(name)) && isPosition(position));
}

export interface Positioned {
  readonly record: IssuanceRecord;
  readonly position: ChainPosition;
}

/**
 * Records of one chain, newest first, from `from` (exclusive) or from its end. Another process
 * may be writing the newest segment: a line it has not finished does not parse and is skipped.
 */
export async function* chainNewestFirst(dir: string, from: ChainPosition | undefined, prefix?: Buffer): AsyncGenerator<Positioned> {
  const segments = (await listSegments(dir, SEGMENT_PREFIX)).reverse();
  for (const segment of segments) {
    if (from !== undefined && segment.number > from.s) continue;
    try {
      let end = await endOfCompleteLines(segment.path);
      if (from !== undefined && segment.number === from.s) end = Math.min(end, from.o);
      for await (const line of readLinesBackward(segment.path, end)) {
        if (prefix !== undefined && !line.bytes.subarray(0, prefix.length).equals(prefix)) continue;
        const parsed = parseLine(line.bytes);
        if (parsed.ok) yield { record: parsed.record, position: { s: segment.number, o: line.offset } };
      }
    } catch (error) {
      // Removed by retention while we were scanning: its records are gone, the rest are not.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
}

/** Where a scan of the chain starts now: its newest segment's end. */
export async function chainEnd(dir: string): Promise<ChainPosition> {
  const newest = (await listSegments(dir, SEGMENT_PREFIX)).at(-1);
  if (newest === undefined) return { s: 1, o: 0 };
  return { s: newest.number, o: await endOfCompleteLines(newest.path) };
}

/** The size up to the last newline: a writer's unfinished line is not part of the ledger yet. */
async function endOfCompleteLines(path: string): Promise<number> {
  const fh = await open(path, 'r');
  try {
    const chunk = Buffer.alloc(64 * 1024);
    let pos = (await fh.stat()).size;
    while (pos > 0) {
      const n = Math.min(chunk.length, pos);
      pos -= n;
      await fh.read(chunk, 0, n, pos);
      const i = chunk.subarray(0, n).lastIndexOf(0x0a);
      if (i !== -1) return pos + i + 1;
    }
    return 0;
  } finally {
    await fh.close();
  }
}

/** Records of every chain, oldest first, merged by issuedAt (each chain is in append order). */
export async function* allChainsOldestFirst(root: string): AsyncGenerator<{ line: Buffer; terminated: boolean }> {
  const chains = await listChains(root);
  const heads = await Promise.all(chains.map(async (chain) => {
    const lines = forwardLines(chain.dir);
    return { lines, next: await lines.next() };
  }));
  for (;;) {
    let pick: (typeof heads)[number] | undefined;
    let pickAt = Infinity;
    for (const head of heads) {
      if (head.next.done === true) continue;
      const at = head.next.value.at;
      if (pick === undefined || at < pickAt) {
        pick = head;
        pickAt = at;
      }
    }
    if (pick === undefined || pick.next.done === true) return;
    yield pick.next.value;
    pick.next = await pick.lines.next();
  }
}

async function* forwardLines(dir: string): AsyncGenerator<{ line: Buffer; terminated: boolean; at: number }> {
  let last = -Infinity;
  for (const segment of await listSegments(dir, SEGMENT_PREFIX)) {
    for await (const line of readLinesForward(segment.path)) {
      const parsed = parseLine(line.bytes);
      // A damaged line keeps its place in the chain's order.
      if (parsed.ok) last = issuedAtMs(parsed.record);
      yield { line: line.bytes, terminated: line.terminated, at: last };
    }
  }
}
