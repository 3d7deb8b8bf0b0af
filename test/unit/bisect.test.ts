// writeBisecting on its own, with a fake sink that refuses any batch holding a bad row: every
// good row is written exactly once, every bad row reported once, and other errors stop the search.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { writeBisecting } from '../../exporters/delivery/bisect.js';

class RowError extends Error {}

/** Records every attempted batch; batches without a bad row are written. */
function fakeSink(bad: (row: number) => boolean) {
  const attempts: number[][] = [];
  const written: number[] = [];
  const rejected: Array<{ row: number; error: unknown }> = [];
  const run = (rows: number[]) =>
    writeBisecting(rows, {
      write: async (batch) => {
        attempts.push(batch);
        const first = batch.find(bad);
        if (first !== undefined) throw new RowError(`bad row ${first}`);
        written.push(...batch);
      },
      isRowError: (error) => error instanceof RowError,
      onRejected: (row, error) => rejected.push({ row, error }),
    });
  return { attempts, written, rejected, run };
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('writeBisecting', () => {
  it('writes a batch of good rows in one write', async () => {
    const sink = fakeSink(() => false);
    await sink.run(range(100));
    assert.deepEqual(sink.attempts, [range(100)]);
    assert.deepEqual(sink.written, range(100));
    assert.deepEqual(sink.rejected, []);
  });

  it('does not write an empty batch', async () => {
    const sink = fakeSink(() => false);
    await sink.run([]);
    assert.deepEqual(sink.attempts, []);
  });

  it('finds one bad row among many and writes the others, in order, in log2(n) rounds', async () => {
    const sink = fakeSink((row) => row === 37);
    await sink.run(range(100));
    assert.deepEqual(
      sink.written,
      range(100).filter((row) => row !== 37),
    );
    assert.equal(sink.rejected.length, 1);
    assert.equal(sink.rejected[0]!.row, 37);
    assert.match(String(sink.rejected[0]!.error), /bad row 37/); // the error of its own write
    assert.ok(sink.attempts.length <= 1 + 2 * Math.ceil(Math.log2(100)), `${sink.attempts.length} writes`);
  });

  it('finds several bad rows, each reported once', async () => {
    const badRows = new Set([0, 1, 50, 98, 99]);
    const sink = fakeSink((row) => badRows.has(row));
    await sink.run(range(100));
    assert.deepEqual(
      sink.written,
      range(100).filter((row) => !badRows.has(row)),
    );
    assert.deepEqual(
      sink.rejected.map((r) => r.row),
      [...badRows],
    );
    assert.ok(sink.attempts.length <= 1 + 2 * badRows.size * Math.ceil(Math.log2(100)));
  });

  it('reports every row when every row is bad', async () => {
    const sink = fakeSink(() => true);
    await sink.run(range(9));
    assert.deepEqual(sink.written, []);
    assert.deepEqual(
      sink.rejected.map((r) => r.row),
      range(9),
    );
  });

  it('stops splitting at a single row: a bad row is written once on its own, never retried', async () => {
    const sink = fakeSink((row) => row === 2);
    await sink.run(range(5));
    assert.ok(sink.attempts.every((batch) => batch.length > 0));
    const alone = sink.attempts.filter((batch) => batch.length === 1 && batch[0] === 2);
    assert.equal(alone.length, 1);
    // The first half is the smaller one: [0 1] [2 3 4], then [2] [3 4].
    assert.deepEqual(sink.attempts, [range(5), [0, 1], [2, 3, 4], [2], [3, 4]]);

    const single = fakeSink(() => true);
    await single.run([7]);
    assert.deepEqual(single.attempts, [[7]]);
    assert.deepEqual(
      single.rejected.map((r) => r.row),
      [7],
    );
  });

  it('rethrows any other error and writes no more halves', async () => {
    const down = new Error('connection lost');
    const attempts: number[][] = [];
    const rejected: number[] = [];
    const run = writeBisecting(range(8), {
      write: async (batch) => {
        attempts.push(batch);
        if (batch.length === 8) throw new RowError('bad row');
        throw down; // the first half finds the database gone
      },
      isRowError: (error) => error instanceof RowError,
      onRejected: (row) => rejected.push(row),
    });
    await assert.rejects(run, (error) => error === down);
    assert.deepEqual(attempts, [range(8), range(4)]);
    assert.deepEqual(rejected, []);
  });
});
