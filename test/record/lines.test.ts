import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readLinesBackward, readLinesForward } from '../../src/record/lines.ts';
import { tempDir } from './fixtures.ts';

describe('line readers', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  beforeAll(async () => {
    dir = await tempDir();
  });
  afterAll(async () => {
    await dir.remove();
  });

  it('read the same lines and offsets both ways, across chunk boundaries', async () => {
    // Lengths straddle the 64 KiB read size, including an empty line and multi-byte UTF-8.
    const lengths = [0, 1, 10, 65_535, 65_536, 65_537, 3, 200_000, 7, 1];
    const texts = lengths.map((n, i) => 'é'.repeat(i % 2) + 'x'.repeat(n));
    const path = join(dir.path, 'lines.jsonl');
    await writeFile(path, texts.map((t) => `${t}\n`).join(''));
    const offsets: number[] = [];
    let at = 0;
    for (const t of texts) {
      offsets.push(at);
      at += Buffer.byteLength(t) + 1;
    }

    const forward = [];
    for await (const line of readLinesForward(path)) forward.push({ text: line.bytes.toString('utf8'), offset: line.offset, terminated: line.terminated });
    expect(forward).toEqual(texts.map((text, i) => ({ text, offset: offsets[i], terminated: true })));

    const backward = [];
    for await (const line of readLinesBackward(path, at)) backward.push({ text: line.bytes.toString('utf8'), offset: line.offset });
    expect(backward).toEqual(texts.map((text, i) => ({ text, offset: offsets[i] })).reverse());

    const fromMiddle = [];
    for await (const line of readLinesBackward(path, offsets[5]!)) fromMiddle.push(line.offset);
    expect(fromMiddle).toEqual(offsets.slice(0, 5).reverse());
  });

  it('marks an unterminated last line', async () => {
    const path = join(dir.path, 'torn.jsonl');
    await writeFile(path, 'a\nbc');
    const lines = [];
    for await (const line of readLinesForward(path)) lines.push([line.bytes.toString(), line.terminated]);
    expect(lines).toEqual([['a', true], ['bc', false]]);
  });
});
