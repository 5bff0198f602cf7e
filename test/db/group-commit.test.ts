// Group commit (src/db/group-commit.ts): a lone write goes at once; writes handed in while one is
// in flight go together in the next flush, each caller getting its own answer; a failed flush
// fails the writes it carried and not the next ones, and a batch failed by one bad write is written
// again item by item, so that only the bad write's caller fails.
import { describe, expect, it } from 'vitest';
import { groupCommit } from '../../src/db/group-commit.js';

/** A flush that waits until released, recording the batches it was given. */
function heldFlush() {
  const batches: number[][] = [];
  const releases: Array<(fail?: Error) => void> = [];
  const flush = (items: number[]) => {
    batches.push(items);
    return new Promise<string[]>((resolve, reject) => {
      releases.push((fail) => (fail ? reject(fail) : resolve(items.map((item) => `done ${item}`))));
    });
  };
  return { batches, flush, release: (index: number, fail?: Error) => releases[index]!(fail) };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('groupCommit', () => {
  it('writes a lone item at once, and the items that arrive meanwhile together in the next flush', async () => {
    const held = heldFlush();
    const write = groupCommit(held.flush);
    const first = write(1);
    await tick();
    expect(held.batches).toEqual([[1]]);
    const later = [write(2), write(3), write(4)];
    await tick();
    expect(held.batches).toEqual([[1]]);
    held.release(0);
    expect(await first).toBe('done 1');
    await tick();
    expect(held.batches).toEqual([[1], [2, 3, 4]]);
    held.release(1);
    expect(await Promise.all(later)).toEqual(['done 2', 'done 3', 'done 4']);
  });

  it('fails the items of a failed flush, and writes the next ones', async () => {
    const held = heldFlush();
    const write = groupCommit(held.flush);
    const first = write(1);
    const second = write(2);
    await tick();
    held.release(0, new Error('database gone'));
    await expect(first).rejects.toThrow('database gone');
    await tick();
    held.release(1);
    expect(await second).toBe('done 2');
    const third = write(3);
    await tick();
    held.release(2);
    expect(await third).toBe('done 3');
    expect(held.batches).toEqual([[1], [2], [3]]);
  });

  it('writes the batch-mates of a bad write again alone, so only the bad write fails', async () => {
    const batches: string[][] = [];
    let release!: () => void;
    const first = new Promise<void>((resolve) => (release = resolve));
    const write = groupCommit(async (items: string[]) => {
      batches.push(items);
      if (batches.length === 1) await first;
      // As a statement with one bad row: the whole batch fails and nothing is written.
      if (items.includes('bad')) throw new Error('invalid input syntax');
      return items.map((item) => `done ${item}`);
    });
    const lone = write('a');
    await tick();
    const grouped = [write('b'), write('bad'), write('c')].map((answer) => answer.then((value) => ({ value }), (error: Error) => ({ error: error.message })));
    release();
    expect(await lone).toBe('done a');
    expect(await Promise.all(grouped)).toEqual([{ value: 'done b' }, { error: 'invalid input syntax' }, { value: 'done c' }]);
    expect(batches).toEqual([['a'], ['b', 'bad', 'c'], ['b'], ['bad'], ['c']]);
  });
});
