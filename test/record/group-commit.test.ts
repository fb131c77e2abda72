import { describe, expect, it } from 'vitest';
import { GroupCommitter } from '../../src/record/group-commit.ts';

/** A write whose completion the test controls. */
function gatedWriter() {
  const batches: number[][] = [];
  const gates: (() => void)[] = [];
  const failures: (Error | undefined)[] = [];
  return {
    batches,
    failNext(error: Error) {
      failures.push(error);
    },
    release() {
      gates.shift()?.();
    },
    write: (batch: readonly number[]) =>
      new Promise<void>((resolve, reject) => {
        batches.push([...batch]);
        const failure = failures.shift();
        gates.push(() => (failure === undefined ? resolve() : reject(failure)));
      }),
  };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('group commit', () => {
  it('puts same-tick submissions in one write, and those arriving mid-write in the next one', async () => {
    const w = gatedWriter();
    const gc = new GroupCommitter<number>({ write: w.write, maxBatch: 100 });
    const settled: number[] = [];
    const first = [1, 2, 3].map((n) => gc.submit(n).then(() => void settled.push(n)));
    await tick();
    expect(w.batches).toEqual([[1, 2, 3]]);
    const second = [4, 5].map((n) => gc.submit(n).then(() => void settled.push(n)));
    await tick();
    expect(w.batches).toHaveLength(1);
    expect(settled).toEqual([]);
    w.release();
    await Promise.all(first);
    await tick();
    expect(settled).toEqual([1, 2, 3]);
    expect(w.batches).toEqual([[1, 2, 3], [4, 5]]);
    w.release();
    await Promise.all(second);
    expect(settled).toEqual([1, 2, 3, 4, 5]);
  });

  it('rejects exactly the callers of a failed batch', async () => {
    const w = gatedWriter();
    const gc = new GroupCommitter<number>({ write: w.write, maxBatch: 100 });
    w.failNext(new Error('disk full'));
    const a = gc.submit(1);
    await tick();
    const b = gc.submit(2);
    w.release();
    await expect(a).rejects.toThrow('disk full');
    await tick();
    w.release();
    await expect(b).resolves.toBeUndefined();
  });

  it('caps a batch at maxBatch', async () => {
    const sizes: number[] = [];
    const gc = new GroupCommitter<number>({ write: async (batch) => void sizes.push(batch.length), maxBatch: 64 });
    await Promise.all(Array.from({ length: 200 }, (_, i) => gc.submit(i)));
    expect(sizes).toEqual([64, 64, 64, 8]);
  });

  it('flushes what was accepted and refuses more once closed', async () => {
    const w = gatedWriter();
    const gc = new GroupCommitter<number>({ write: w.write, maxBatch: 10 });
    const p = gc.submit(1);
    const closed = gc.close();
    await expect(gc.submit(2)).rejects.toThrow('closed');
    await tick();
    w.release();
    await p;
    await closed;
    expect(gc.pending).toBe(0);
  });
});
