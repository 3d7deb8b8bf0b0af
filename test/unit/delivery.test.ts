// The delivery path on its own, with a sink that records what it is given and fails on demand:
// batching, overflow accounting, retry with deduplication, isolation of poisoned rows, spilling.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type DeliveryOptions, DeliveryQueue } from '../../exporters/delivery/DeliveryQueue.js';
import { backoffDelayMs, isConfigurationError, isUnavailable } from '../../exporters/delivery/RetryPolicy.js';
import type { BatchSink, WriteOptions } from '../../exporters/delivery/types.js';
import { advance, advanceUntilSettled, useMockClock } from '../helpers/mockClock.js';

class RecordingSink implements BatchSink {
  readonly table = 'test_table';
  batches: Array<{ lines: string[]; options: WriteOptions }> = [];
  failures: unknown[] = [];
  rejectLine?: string;

  async write(lines: string[], options: WriteOptions): Promise<number> {
    const failure = this.failures.shift();
    if (failure) throw failure;
    if (this.rejectLine && lines.includes(this.rejectLine))
      throw Object.assign(new Error('bad row'), { code: '22P02' });
    this.batches.push({ lines, options });
    return lines.length;
  }

  get rows(): string[] {
    return this.batches.flatMap((b) => b.lines);
  }
}

function queue(sink: BatchSink, overrides: Partial<DeliveryOptions<number>> = {}) {
  const warnings: string[] = [];
  const q = new DeliveryQueue<number>({
    name: 'test',
    sink,
    encode: (n) => `${n}\n`,
    batchSize: 10,
    maxBatchSize: 25,
    flushIntervalMs: 60_000,
    maxQueueSize: 100,
    concurrency: 2,
    retry: { initialDelayMs: 1, maxDelayMs: 5, multiplier: 2, maxElapsedMs: 200 },
    warn: (m) => warnings.push(m),
    ...overrides,
  });
  return { q, warnings };
}

describe('DeliveryQueue', () => {
  it('writes every record once, in batches no larger than maxBatchSize', async () => {
    const sink = new RecordingSink();
    const { q } = queue(sink);
    for (let i = 0; i < 95; i++) q.enqueue(i);
    await q.forceFlush();
    assert.deepEqual(
      sink.rows.map(Number).sort((a, b) => a - b),
      Array.from({ length: 95 }, (_, i) => i),
    );
    assert.ok(sink.batches.every((b) => b.lines.length <= 25));
    assert.deepEqual(q.stats(), { queued: 0, exported: 95, dropped: 0, spooled: 0, failed: 0 });
  });

  it('refuse(): a login refused and reported elsewhere sends batches to the spill, untried and unsaid', async () => {
    const sink = new RecordingSink();
    const spilled: string[] = [];
    const { q, warnings } = queue(sink, {
      spill: { append: async (_t, lines) => void spilled.push(...lines) },
    });
    q.refuse(Object.assign(new Error('password authentication failed'), { code: '28P01' }));
    for (let i = 0; i < 30; i++) q.enqueue(i);
    await q.forceFlush();
    assert.deepEqual(q.stats(), { queued: 0, exported: 0, dropped: 0, spooled: 30, failed: 0 });
    assert.equal(sink.batches.length, 0, 'the server is not dialed again');
    assert.deepEqual(warnings, []);
    assert.equal(q.sinkAvailable, false);
  });

  it('onRefused: a refused login met by a write is handed to the caller instead of warned about', async () => {
    const refusal = Object.assign(new Error('role "x" does not exist'), { code: '28000' });
    const sink = new RecordingSink();
    sink.failures.push(refusal);
    const told: unknown[] = [];
    const { q, warnings } = queue(sink, {
      spill: { append: async () => undefined },
      onRefused: (error) => told.push(error),
    });
    for (let i = 0; i < 20; i++) q.enqueue(i);
    await q.forceFlush();
    assert.deepEqual(told, [refusal]);
    assert.deepEqual(warnings, []);
    assert.equal(q.stats().spooled, 20);
    assert.equal(sink.batches.length, 0);
  });

  it('writesAfter holds every batch until it settles; shutdown before then spools what waits', async () => {
    const settle = () => new Promise((r) => setImmediate(r));
    const sink = new RecordingSink();
    let openGate: () => void = () => undefined;
    const { q } = queue(sink, { writesAfter: new Promise<void>((r) => (openGate = r)) });
    for (let i = 0; i < 30; i++) q.enqueue(i); // three batch triggers
    await settle();
    await settle();
    assert.equal(sink.batches.length, 0, 'nothing written while the gate is closed');
    assert.equal(q.stats().queued, 30);
    openGate();
    await q.forceFlush();
    assert.equal(sink.rows.length, 30);
    // A rejected gate opens it too: the writes then meet whatever the sink has to say.
    const { q: rejected } = queue(sink, { writesAfter: Promise.reject(new Error('setup failed')) });
    rejected.enqueue(1);
    await rejected.forceFlush();
    assert.equal(rejected.stats().exported, 1);
    // Never opened: shutdown spools the records instead of waiting for it.
    const spilled: string[] = [];
    const { q: closed } = queue(new RecordingSink(), {
      writesAfter: new Promise(() => undefined),
      spill: { append: async (_t, lines) => void spilled.push(...lines) },
    });
    for (let i = 0; i < 5; i++) closed.enqueue(i);
    await closed.shutdown(2_000);
    assert.deepEqual(closed.stats(), { queued: 0, exported: 0, dropped: 0, spooled: 5, failed: 0 });
    assert.equal(spilled.length, 5);
  });

  it('a batch_size the queue cannot hold starts a write at half the queue, refusing nothing', async () => {
    const sink = new RecordingSink();
    const { q } = queue(sink, { batchSize: 500, maxQueueSize: 100, maxBatchSize: 1000 });
    const settle = () => new Promise((r) => setImmediate(r));
    for (let i = 0; i < 1000; i++) {
      assert.ok(q.enqueue(i), `record ${i} accepted`);
      if (i % 10 === 9) await settle(); // the writer's turns, as between a pipeline's items
    }
    await q.forceFlush();
    assert.equal(sink.rows.length, 1000);
    assert.ok(sink.batches.length >= 2 && sink.batches[0]!.lines.length <= 100);
    assert.equal(q.stats().dropped, 0);
    // The same through setBatching (the overhead budget's larger batches).
    const { q: grown } = queue(sink);
    grown.setBatching(400, 60_000);
    for (let i = 0; i < 60; i++) grown.enqueue(i);
    await settle();
    assert.ok(sink.rows.length > 1000, 'half of max_queue_size (50) queued started a write');
    await grown.shutdown();
  });

  it('setBatching with the same flush interval keeps the timer: queued records wait at most one interval', async (t) => {
    t.mock.timers.enable({ apis: ['setInterval', 'Date'], now: Date.parse('2026-01-01') });
    const settle = () => new Promise((r) => setImmediate(r));
    const sink = new RecordingSink();
    const { q } = queue(sink, { flushIntervalMs: 50 });
    for (let i = 0; i < 3; i++) q.enqueue(i);
    t.mock.timers.tick(40);
    q.setBatching(50, 50); // a larger batch size, the same interval
    t.mock.timers.tick(10);
    await settle();
    assert.equal(sink.rows.length, 3, 'written at 50 ms, not 90');
    t.mock.timers.reset();
    await q.shutdown();
  });

  it('waits for batch_size records before writing, until the flush interval', async (t) => {
    t.mock.timers.enable({ apis: ['setInterval', 'Date'], now: Date.parse('2026-01-01') });
    const settle = () => new Promise((r) => setImmediate(r));
    const sink = new RecordingSink();
    const { q } = queue(sink, { flushIntervalMs: 50 });
    for (let i = 0; i < 3; i++) q.enqueue(i);
    await settle();
    assert.equal(sink.batches.length, 0, 'a partial batch is not written immediately');
    t.mock.timers.tick(49);
    await settle();
    assert.equal(sink.batches.length, 0, 'nor before the flush interval');
    t.mock.timers.tick(1);
    await settle();
    assert.equal(sink.rows.length, 3, 'the flush interval writes the partial batch');
    t.mock.timers.reset();
    await q.shutdown();
  });

  it('encodeAhead encodes queued records on the next turn, not when their batch is written', async () => {
    const settle = () => new Promise((r) => setImmediate(r));
    const sink = new RecordingSink();
    const encoded: number[] = [];
    const encode = (n: number) => {
      encoded.push(n);
      if (n === 3) throw new Error('cannot encode 3');
      return `${n}-${'x'.repeat(n)}\n`; // built by concatenation, as the row encoders build lines
    };
    const { q, warnings } = queue(sink, { encodeAhead: true, encode, batchSize: 1000 });
    for (let i = 0; i < 5; i++) q.enqueue(i);
    assert.deepEqual(encoded, [], 'enqueue itself stays a push');
    await settle();
    assert.deepEqual(encoded, [0, 1, 2, 3, 4], 'encoded on the next turn');
    assert.equal(sink.batches.length, 0, 'while the batch still waits for batch_size');
    await q.forceFlush();
    assert.deepEqual(encoded, [0, 1, 2, 3, 4], 'each record is encoded once');
    assert.deepEqual(sink.rows, ['0-\n', '1-x\n', '2-xx\n', '4-xxxx\n']);
    assert.deepEqual(q.stats(), { queued: 0, exported: 4, dropped: 0, spooled: 0, failed: 1 });
    assert.equal(warnings.length, 1);
    await q.shutdown();
  });

  it('without encodeAhead a record is encoded when its batch is taken', async () => {
    const settle = () => new Promise((r) => setImmediate(r));
    const encoded: number[] = [];
    const encode = (n: number) => {
      encoded.push(n);
      return `${n}\n`;
    };
    const { q } = queue(new RecordingSink(), { encode, batchSize: 1000 });
    q.enqueue(1);
    await settle();
    assert.deepEqual(encoded, []);
    await q.forceFlush();
    assert.deepEqual(encoded, [1]);
    await q.shutdown();
  });

  it('counts records refused by a full queue and warns', async () => {
    const sink = new RecordingSink();
    const { q, warnings } = queue(sink, { maxQueueSize: 5, batchSize: 1000 });
    let accepted = 0;
    for (let i = 0; i < 8; i++) if (q.enqueue(i)) accepted++;
    assert.equal(accepted, 5);
    assert.equal(q.stats().dropped, 3);
    assert.match(warnings[0]!, /queue full/);
    await q.forceFlush();
    assert.equal(q.stats().exported, 5);
  });

  it('retries a failed write with the idempotent path and loses nothing', async () => {
    const sink = new RecordingSink();
    sink.failures.push(Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' }));
    const { q } = queue(sink);
    for (let i = 0; i < 10; i++) q.enqueue(i);
    await q.forceFlush();
    assert.equal(sink.rows.length, 10);
    assert.equal(sink.batches[0]!.options.idempotent, true, 'a retry may follow a commit whose ack was lost');
    assert.equal(q.stats().exported, 10);
  });

  it('switches to the deduplicating path on a unique violation', async () => {
    const sink = new RecordingSink();
    sink.failures.push(Object.assign(new Error('duplicate key'), { code: '23505' }));
    const { q } = queue(sink);
    for (let i = 0; i < 10; i++) q.enqueue(i);
    await q.forceFlush();
    assert.equal(sink.batches.length, 1);
    assert.equal(sink.batches[0]!.options.idempotent, true);
  });

  it('isolates a row the database rejects and writes the rest of its batch', async () => {
    const sink = new RecordingSink();
    sink.rejectLine = '7\n';
    const { q } = queue(sink);
    for (let i = 0; i < 20; i++) q.enqueue(i);
    await q.forceFlush();
    assert.equal(sink.rows.length, 19);
    assert.ok(!sink.rows.includes('7\n'));
    assert.equal(q.stats().failed, 1);
    assert.equal(q.stats().exported, 19);
  });

  it('spills to the spill target after retries are exhausted, else counts the drop', async (t) => {
    useMockClock(t); // the 200 ms retry budget passes in mock time
    const down = Object.assign(new Error('down'), { code: 'ECONNREFUSED' });
    const failing: BatchSink = { table: 't', write: () => Promise.reject(down) };
    const spilled: string[] = [];
    const { q } = queue(failing, { spill: { append: async (_t, lines) => void spilled.push(...lines) } });
    for (let i = 0; i < 10; i++) q.enqueue(i);
    await advanceUntilSettled(t, q.forceFlush(5000), 5000);
    assert.equal(spilled.length, 10);
    assert.equal(q.stats().spooled, 10);

    const { q: q2, warnings } = queue(failing);
    for (let i = 0; i < 10; i++) q2.enqueue(i);
    await advanceUntilSettled(t, q2.forceFlush(5000), 5000);
    assert.equal(q2.stats().dropped, 10);
    assert.ok(warnings.some((w) => /dropped 10 records/.test(w)));
  });

  it('a refused role, password or database is spooled at once and never written again', async (t) => {
    useMockClock(t); // minutes of mock time: no retry, no probe
    let writes = 0;
    const refused = Object.assign(new Error('password authentication failed for user "etl"'), {
      code: '28P01',
    });
    const sink: BatchSink = {
      table: 't',
      write: () => {
        writes++;
        return Promise.reject(refused);
      },
    };
    const spilled: string[] = [];
    const { q, warnings } = queue(sink, {
      retry: { initialDelayMs: 1, maxDelayMs: 5, multiplier: 2, maxElapsedMs: 600_000 },
      spill: { append: async (_t, lines) => void spilled.push(...lines) },
    });
    for (let i = 0; i < 10; i++) q.enqueue(i);
    await advanceUntilSettled(t, q.forceFlush(5000), 5000);
    await advance(t, 60_000, 1000); // long past the time an outage's probe would be due
    for (let i = 10; i < 30; i++) q.enqueue(i);
    await advanceUntilSettled(t, q.forceFlush(5000), 5000);
    assert.equal(writes, 1, 'one attempt in all: no retry of the batch, no probe of the sink');
    assert.equal(spilled.length, 30);
    assert.deepEqual(q.stats(), { queued: 0, exported: 0, dropped: 0, spooled: 30, failed: 0 });
    assert.equal(q.sinkAvailable, false);
    assert.deepEqual(warnings, [
      'test: the database refused the connection (password authentication failed for user "etl"): a configuration error, not retried; spooling records to disk (replayed once the connection string is fixed)',
    ]);

    // Without a spool the records are dropped and counted, also without a retry.
    writes = 0;
    const { q: q2, warnings: w2 } = queue(sink);
    for (let i = 0; i < 10; i++) q2.enqueue(i);
    await advanceUntilSettled(t, q2.forceFlush(5000), 5000);
    assert.equal(writes, 1);
    assert.equal(q2.stats().dropped, 10);
    assert.ok(w2.some((w) => /records are dropped and counted/.test(w)));
    assert.ok(w2.some((w) => /dropped 10 records: password authentication failed/.test(w)));
  });

  it('classifies class 28 and 3D000 as configuration errors, apart from outages', () => {
    const withState = (code: string) => Object.assign(new Error(code), { code });
    for (const code of ['28000', '28P01', '3D000']) {
      assert.equal(isConfigurationError(withState(code)), true, code);
      assert.equal(isUnavailable(withState(code)), false, code);
    }
    for (const code of ['08006', '57P01', '42P01', '53300', '22P02', 'ECONNREFUSED']) {
      assert.equal(isConfigurationError(withState(code)), false, code);
    }
    assert.equal(isUnavailable(withState('08006')), true);
    assert.equal(isConfigurationError(new Error('no code')), false);
  });

  it('shutdown gives up retrying at its deadline and accounts for every record', async (t) => {
    // On a mock clock, so the bound itself is asserted, not a busy machine's idea of it.
    t.mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: Date.parse('2026-01-01') });
    const down = Object.assign(new Error('down'), { code: 'ECONNREFUSED' });
    const failing: BatchSink = { table: 't', write: () => Promise.reject(down) };
    const { q } = queue(failing, {
      retry: { initialDelayMs: 50, maxDelayMs: 1000, multiplier: 2, maxElapsedMs: 600_000 },
    });
    for (let i = 0; i < 60; i++) q.enqueue(i);
    const started = Date.now();
    let resolvedAt: number | undefined;
    void q.shutdown(500).then(() => {
      resolvedAt = Date.now();
    });
    const TICK = 10;
    while (resolvedAt === undefined && Date.now() - started < 60_000) {
      t.mock.timers.tick(TICK);
      await new Promise((resolve) => setImmediate(resolve)); // let the queue's promises run
    }
    assert.ok(resolvedAt !== undefined, 'shutdown resolved');
    assert.ok(
      resolvedAt - started <= 500 + TICK,
      `resolved at +${resolvedAt - started} ms: the bound is 500 ms`,
    );
    const s = q.stats();
    assert.equal(s.exported + s.dropped + s.spooled + s.failed, 60);
    assert.equal(q.enqueue(1), false, 'closed queues refuse (and count) new records');
  });

  it('backoff grows exponentially with jitter and is capped', () => {
    const policy = { initialDelayMs: 100, maxDelayMs: 1000, multiplier: 2, maxElapsedMs: 10_000 };
    assert.equal(
      backoffDelayMs(policy, 1, () => 1),
      100,
    );
    assert.equal(
      backoffDelayMs(policy, 1, () => 0),
      50,
    );
    assert.equal(
      backoffDelayMs(policy, 3, () => 1),
      400,
    );
    assert.equal(
      backoffDelayMs(policy, 10, () => 1),
      1000,
    );
  });
});
