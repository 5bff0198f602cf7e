// Group commit (src/db/group-commit.ts): a lone write goes at once; writes handed in while one is
// in flight go together in the next flush, each caller getting its own answer; a failed flush
// fails the writes it carried and not the next ones, and a batch failed by one bad write is written
// again item by item, so that only the bad write's caller fails; a batch whose answer was lost
// (it may have committed) is not written again (decision 063).
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

/** An error as pg reports PostgreSQL's answer: the SQLSTATE in `code`. */
const databaseError = (message: string, code: string) => Object.assign(new Error(message), { code, severity: 'ERROR' });

/**
 * Holds a lone write ('a') in flight while `later` arrive, so that they go to `flushBatch` as one
 * batch (the second; a write again alone is the third on): answers each later write's value or
 * error message, and the batches flushed.
 */
async function batchBehindALoneWrite(later: string[], flushBatch: (items: string[], batch: number) => Promise<string[]>) {
  const batches: string[][] = [];
  let release!: () => void;
  const first = new Promise<void>((resolve) => (release = resolve));
  const write = groupCommit(async (items: string[]) => {
    batches.push(items);
    if (batches.length > 1) return flushBatch(items, batches.length);
    await first;
    return items.map((item) => `done ${item}`);
  });
  const lone = write('a');
  await tick();
  const answers = later.map((item) => write(item).then((value) => ({ value }), (error: Error) => ({ error: error.message })));
  release();
  expect(await lone).toBe('done a');
  return { answers: await Promise.all(answers), batches };
}

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
    const { answers, batches } = await batchBehindALoneWrite(['b', 'bad', 'c'], (items) =>
      // As a statement with one bad row: the whole batch fails and nothing is written.
      items.includes('bad') ? Promise.reject(databaseError('invalid input syntax for type uuid', '22P02')) : Promise.resolve(items.map((item) => `done ${item}`)),
    );
    expect(answers).toEqual([{ value: 'done b' }, { error: 'invalid input syntax for type uuid' }, { value: 'done c' }]);
    expect(batches).toEqual([['a'], ['b', 'bad', 'c'], ['b'], ['bad'], ['c']]);
  });

  it('does not write again a batch whose answer was lost, which may have committed: each of its callers gets the error', async () => {
    const written: string[] = [];
    const { answers, batches } = await batchBehindALoneWrite(['b', 'c'], (items, batch) => {
      written.push(...items);
      // Committed, then the connection dropped before the answer came (pg's words for it).
      return batch === 2 ? Promise.reject(new Error('Connection terminated unexpectedly')) : Promise.resolve(items.map((item) => `done ${item}`));
    });
    expect(answers).toEqual([{ error: 'Connection terminated unexpectedly' }, { error: 'Connection terminated unexpectedly' }]);
    expect(batches).toEqual([['a'], ['b', 'c']]);
    expect(written).toEqual(['b', 'c']);
  });

  it('writes the batch-mates again after a rollback PostgreSQL asks to retry, and not after a shutdown', async () => {
    const failing = (error: Error) => (items: string[], batch: number) => {
      return batch === 2 ? Promise.reject(error) : Promise.resolve(items.map((item) => `done ${item}`));
    };
    const serialization = await batchBehindALoneWrite(['b', 'c'], failing(databaseError('could not serialize access due to concurrent update', '40001')));
    expect(serialization.answers).toEqual([{ value: 'done b' }, { value: 'done c' }]);
    expect(serialization.batches).toEqual([['a'], ['b', 'c'], ['b'], ['c']]);
    // 57P01 ends the connection, before or after a commit.
    const shutdown = Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01', severity: 'FATAL' });
    const shutDown = await batchBehindALoneWrite(['b', 'c'], failing(shutdown));
    expect(shutDown.answers).toEqual([{ error: shutdown.message }, { error: shutdown.message }]);
    expect(shutDown.batches).toEqual([['a'], ['b', 'c']]);
    // 40003 is in the rollback class but says the statement's completion is unknown.
    const unknown = await batchBehindALoneWrite(['b', 'c'], failing(databaseError('statement completion unknown', '40003')));
    expect(unknown.batches).toEqual([['a'], ['b', 'c']]);
  });
});
