// Overflow with `overflowToSpill`: records refused by a full queue go to the spill target in small
// batches and are counted as spooled; without the option, or when the spill fails or its buffer is
// full too, they are dropped and counted. Nothing disappears uncounted.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type DeliveryOptions, DeliveryQueue } from '../../exporters/delivery/DeliveryQueue.js';
import type { BatchSink, SpillTarget } from '../../exporters/delivery/types.js';

class RecordingSink implements BatchSink {
  readonly table = 'pipeline_logs';
  rows: string[] = [];
  async write(lines: string[]): Promise<number> {
    this.rows.push(...lines);
    return lines.length;
  }
}

class RecordingSpill implements SpillTarget {
  appends: string[][] = [];
  failWith?: Error;
  /** While set, appends wait for it. */
  gate?: Promise<void>;
  async append(table: string, lines: string[]): Promise<void> {
    assert.equal(table, 'pipeline_logs');
    await this.gate;
    if (this.failWith) throw this.failWith;
    this.appends.push(lines);
  }
  get lines(): string[] {
    return this.appends.flat();
  }
}

function queue(sink: BatchSink, overrides: Partial<DeliveryOptions<number>>) {
  const warnings: string[] = [];
  const q = new DeliveryQueue<number>({
    name: 'logs',
    sink,
    encode: (n) => `${n}\n`,
    batchSize: 1000, // nothing drains on its own: the queue stays full
    maxBatchSize: 1000,
    flushIntervalMs: 60_000,
    maxQueueSize: 10,
    concurrency: 1,
    overflowToSpill: true,
    warn: (m) => warnings.push(m),
    ...overrides,
  });
  return { q, warnings };
}

const numbers = (lines: string[]) => lines.map(Number).sort((a, b) => a - b);

describe('DeliveryQueue overflowToSpill', () => {
  it('spools what a full queue refuses; the queue still writes what it holds', async () => {
    const sink = new RecordingSink();
    const spill = new RecordingSpill();
    const { q, warnings } = queue(sink, { spill });
    const accepted = Array.from({ length: 50 }, (_, i) => q.enqueue(i));
    assert.ok(accepted.every(Boolean), 'spooled records count as accepted');
    await q.forceFlush();
    assert.deepEqual(q.stats(), { queued: 0, exported: 10, dropped: 0, spooled: 40, failed: 0 });
    assert.deepEqual(
      numbers([...sink.rows, ...spill.lines]),
      Array.from({ length: 50 }, (_, i) => i),
    );
    assert.equal(spill.appends.length, 1, 'a burst becomes one append');
    assert.match(warnings.join('\n'), /queue full \(max_queue_size=10\), spooling/);
    await q.shutdown();
  });

  it('appends a large burst in batches of at most 512', async () => {
    const spill = new RecordingSpill();
    const { q } = queue(new RecordingSink(), { spill, maxQueueSize: 2000 });
    for (let i = 0; i < 3000; i++) q.enqueue(i);
    await q.forceFlush();
    assert.equal(q.stats().spooled, 1000);
    assert.ok(spill.appends.every((a) => a.length <= 512));
    await q.shutdown();
  });

  it('drops and counts when the spill fails', async () => {
    const spill = new RecordingSpill();
    spill.failWith = new Error('ENOTDIR: not a directory');
    const { q, warnings } = queue(new RecordingSink(), { spill });
    for (let i = 0; i < 30; i++) q.enqueue(i);
    await q.forceFlush();
    assert.deepEqual(q.stats(), { queued: 0, exported: 10, dropped: 20, spooled: 0, failed: 0 });
    assert.match(warnings.join('\n'), /spool unavailable, 20 records dropped: ENOTDIR/);
    await q.shutdown();
  });

  it('bounds the encoded records waiting for a slow spill by size, dropping beyond that', async () => {
    const spill = new RecordingSpill();
    let open!: () => void;
    spill.gate = new Promise((resolve) => {
      open = resolve;
    });
    const { q } = queue(new RecordingSink(), {
      spill,
      encode: (n) => `${String(n).padStart(4, '0')}\n`, // 5 characters a record
      maxOverflowChars: 1000,
    });
    const accepted = Array.from({ length: 600 }, (_, i) => q.enqueue(i)).filter(Boolean).length;
    assert.equal(accepted, 10 + 200, '10 queued + 1000 characters of encoded records waiting for the spill');
    assert.deepEqual(q.stats(), { queued: 210, exported: 0, dropped: 390, spooled: 0, failed: 0 });
    open();
    await q.forceFlush();
    assert.deepEqual(q.stats(), { queued: 0, exported: 10, dropped: 390, spooled: 200, failed: 0 });
    await q.shutdown();
  });

  it('drops as before without the option, and after shutdown', async () => {
    const spill = new RecordingSpill();
    const { q } = queue(new RecordingSink(), { spill, overflowToSpill: false });
    for (let i = 0; i < 15; i++) q.enqueue(i);
    await q.forceFlush();
    assert.deepEqual(q.stats(), { queued: 0, exported: 10, dropped: 5, spooled: 0, failed: 0 });
    const { q: closing } = queue(new RecordingSink(), { spill });
    await closing.shutdown();
    assert.equal(closing.enqueue(1), false);
    assert.deepEqual(closing.stats(), { queued: 0, exported: 0, dropped: 1, spooled: 0, failed: 0 });
    assert.equal(spill.lines.length, 0);
  });

  it('shutdown waits for the overflow to reach the spill', async () => {
    const spill = new RecordingSpill();
    const { q } = queue(new RecordingSink(), { spill });
    for (let i = 0; i < 25; i++) q.enqueue(i);
    await q.shutdown();
    assert.deepEqual(q.stats(), { queued: 0, exported: 10, dropped: 0, spooled: 15, failed: 0 });
  });
});
