// ProgressTracker with a fake clock, mocked interval timer and a writer that records every call:
// what is written, how often, and the rate/ETA arithmetic — with no database and no real waiting.

import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import { type Attributes, context, type Meter, type ObservableGauge } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { withMonitoringDisabledContext, withStage } from '../../src/pipeline/context.js';
import {
  type ProgressRow,
  ProgressTracker,
  type ProgressTrackerOptions,
  type ProgressWriter,
} from '../../src/pipeline/Progress.js';

const INTERVAL_MS = 1000;

class CapturingWriter implements ProgressWriter {
  readonly writes: ProgressRow[][] = [];
  failNext = 0;
  private waiters: (() => void)[] = [];

  async write(rows: ProgressRow[]): Promise<void> {
    this.writes.push(rows);
    for (const wake of this.waiters.splice(0)) wake();
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('database unreachable');
    }
  }

  /** Resolves at the next write call (the test's own timeout guards a write that never comes). */
  nextWrite(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  rowsFor(nodeId: string): ProgressRow[] {
    return this.writes.flat().filter((row) => row.nodeId === nodeId);
  }
}

/** Equal within floating-point noise, so an equivalent form of the EMA formula passes too. */
function assertClose(actual: (number | null)[], expected: number[]): void {
  assert.equal(actual.length, expected.length, `values ${actual.join(', ')}`);
  actual.forEach((rate, i) => {
    assert.ok(rate !== null && Math.abs(rate - expected[i]) < 1e-9, `#${i}: ${rate} ≠ ${expected[i]}`);
  });
}

/** Lets pending promise callbacks and immediates run (the writer's promise settling). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

interface Harness {
  tracker: ProgressTracker;
  writer: CapturingWriter;
  warnings: string[];
  /** Moves the fake clock and the mocked interval timer forward together, one interval at a time. */
  elapse(ms: number): Promise<void>;
}

function harness(t: TestContext, options: Partial<ProgressTrackerOptions> = {}): Harness {
  t.mock.timers.enable({ apis: ['setInterval'] });
  let clockMs = 1_700_000_000_000;
  const writer = new CapturingWriter();
  const warnings: string[] = [];
  const tracker = new ProgressTracker({
    experimentId: 'exp-1',
    writer,
    updateIntervalMs: INTERVAL_MS,
    now: () => clockMs,
    warn: (message) => warnings.push(message),
    ...options,
  });
  t.after(() => tracker.shutdown());
  return {
    tracker,
    writer,
    warnings,
    async elapse(ms) {
      clockMs += ms;
      t.mock.timers.tick(ms);
      await settle();
    },
  };
}

describe('Progress.advance', () => {
  test('only counts: no write happens until the interval ticks', async (t) => {
    const { tracker, writer, elapse } = harness(t);
    const progress = tracker.progress('extract', { total: 100 });
    for (let i = 0; i < 50; i++) progress.advance();
    progress.advance(5);
    await settle();
    assert.equal(writer.writes.length, 0);
    assert.equal(progress.completed, 55);

    await elapse(INTERVAL_MS);
    assert.equal(writer.writes.length, 1);
    assert.equal(writer.writes[0][0].completed, 55);
  });

  test('10k advances across 3 ticks give at most one row per node per tick, in one write per tick', async (t) => {
    const { tracker, writer, elapse } = harness(t);
    const nodes = ['load', 'transform', 'save'].map((id) => tracker.progress(id, { total: 10_000 }));
    for (let tick = 0; tick < 3; tick++) {
      for (let i = 0; i < 10_000 / 3; i++) nodes[i % 3].advance();
      await elapse(INTERVAL_MS);
    }
    assert.equal(writer.writes.length, 3);
    for (const rows of writer.writes) {
      const ids = rows.map((row) => row.nodeId);
      assert.equal(new Set(ids).size, ids.length, 'a node appears once per write');
      assert.ok(rows.length <= 3);
    }
    const total = nodes.reduce((sum, node) => sum + node.completed, 0);
    assert.equal(total, 3 * Math.ceil(10_000 / 3));
  });

  test('a node with no progress since the last write is not written again', async (t) => {
    const { tracker, writer, elapse } = harness(t);
    const busy = tracker.progress('busy');
    tracker.progress('idle').advance(3);
    await elapse(INTERVAL_MS);
    busy.advance();
    await elapse(INTERVAL_MS);
    await elapse(INTERVAL_MS);
    assert.deepEqual(
      writer.writes.map((rows) => rows.map((row) => row.nodeId).sort()),
      [['busy', 'idle'], ['busy']],
    );
  });
});

describe('rate and ETA', () => {
  test('rate is an EMA (0.3) of the per-interval rate; ETA is what is left over the rate', async (t) => {
    const { tracker, writer, elapse } = harness(t);
    const progress = tracker.progress('train', { total: 1000 });
    const perInterval = [100, 200, 50];
    for (const items of perInterval) {
      progress.advance(items);
      await elapse(INTERVAL_MS);
    }
    // Instant rates 100, 200, 50 items/s: 100 → 0.3·200 + 0.7·100 = 130 → 0.3·50 + 0.7·130 = 106.
    const rows = writer.rowsFor('train');
    assertClose(
      rows.map((row) => row.rate),
      [100, 130, 106],
    );
    assert.equal(rows[2].completed, 350);
    assertClose(
      [rows[2].etaSeconds, progress.rate, progress.etaSeconds],
      [(1000 - 350) / 106, 106, (1000 - 350) / 106],
    );
  });

  test('progress spread over idle intervals is averaged over the whole gap', async (t) => {
    const { tracker, writer, elapse } = harness(t);
    const progress = tracker.progress('fetch');
    progress.advance(10);
    await elapse(INTERVAL_MS);
    await elapse(INTERVAL_MS);
    await elapse(INTERVAL_MS);
    progress.advance(40);
    await elapse(INTERVAL_MS);
    // 10 items in the first second, then 40 over the next three: 0.3·(40/3) + 0.7·10 = 11.
    assertClose(
      writer.rowsFor('fetch').map((row) => row.rate),
      [10, 11],
    );
  });

  test('ETA is null without a total, and while nothing has been completed', async (t) => {
    const { tracker, writer, elapse } = harness(t);
    tracker.progress('no-total').advance(10);
    tracker.progress('stalled', { total: 10 }).set(0);
    await elapse(INTERVAL_MS);
    const [noTotal] = writer.rowsFor('no-total');
    const [stalled] = writer.rowsFor('stalled');
    assert.equal(noTotal.rate, 10);
    assert.equal(noTotal.etaSeconds, null);
    assert.equal(stalled.rate, 0);
    assert.equal(stalled.etaSeconds, null);
  });

  test('set() moving the count backwards reads as no progress, not a negative rate', async (t) => {
    const { tracker, writer, elapse } = harness(t);
    const progress = tracker.progress('retry', { total: 100 });
    progress.set(40);
    await elapse(INTERVAL_MS);
    progress.set(10);
    await elapse(INTERVAL_MS);
    assertClose(
      writer.rowsFor('retry').map((row) => row.rate),
      [40, 28],
    );
  });
});

describe('done and fail', () => {
  test('done() is written without waiting for the interval, completed = total, overall average rate', async (t) => {
    const { tracker, writer, elapse } = harness(t);
    const progress = tracker.progress('load', { total: 300 });
    progress.advance(100);
    await elapse(INTERVAL_MS);
    progress.advance(150);
    await elapse(INTERVAL_MS / 2);
    const written = writer.nextWrite();
    progress.done();
    await written;
    const last = writer.writes.at(-1)!;
    assert.equal(last.length, 1);
    assert.equal(last[0].status, 'done');
    assert.equal(last[0].completed, 300);
    assert.equal(last[0].rate, 300 / 1.5);
    assert.equal(last[0].etaSeconds, 0);
    assert.equal(last[0].error, null);
  });

  test('fail() is written promptly with the error message; other nodes keep their interval', async (t) => {
    const { tracker, writer } = harness(t);
    const running = tracker.progress('other');
    running.advance(5);
    const progress = tracker.progress('parse', { total: 10 });
    progress.advance(3);
    const written = writer.nextWrite();
    progress.fail(new Error('bad row 4'));
    await written;
    assert.equal(writer.writes.length, 1);
    assert.deepEqual(
      writer.writes[0].map((row) => [row.nodeId, row.status, row.completed, row.error, row.etaSeconds]),
      [['parse', 'failed', 3, 'bad row 4', null]],
    );
  });

  test('finishing many nodes in one turn produces one write', async (t) => {
    const { tracker, writer } = harness(t);
    const nodes = ['a', 'b', 'c'].map((id) => tracker.progress(id, { total: 1 }));
    const written = writer.nextWrite();
    for (const node of nodes) node.done();
    await written;
    await settle();
    assert.equal(writer.writes.length, 1);
    assert.deepEqual(writer.writes[0].map((row) => row.nodeId).sort(), ['a', 'b', 'c']);
  });

  test('the first of done()/fail() wins; the node id then starts a fresh handle', async (t) => {
    const { tracker } = harness(t);
    const first = tracker.progress('step', { total: 2 });
    assert.equal(tracker.progress('step'), first, 'same handle while running');
    first.done();
    first.fail(new Error('late'));
    assert.equal(first.status, 'done');
    const second = tracker.progress('step');
    assert.notEqual(second, first);
    assert.equal(second.status, 'running');
    assert.equal(second.completed, 0);
  });
});

describe('writer trouble', () => {
  test('a failed write warns and the rows are written again at the next tick', async (t) => {
    const { tracker, writer, warnings, elapse } = harness(t);
    tracker.progress('n').advance(7);
    writer.failNext = 1;
    await elapse(INTERVAL_MS);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /database unreachable/);
    await elapse(INTERVAL_MS);
    assert.equal(writer.writes.length, 2);
    assert.equal(writer.writes[1][0].completed, 7);
  });

  test('a writer that throws synchronously does not escape', async (t) => {
    const warnings: string[] = [];
    const { tracker } = harness(t, {
      writer: {
        write() {
          throw new Error('sync boom');
        },
      },
      warn: (message) => warnings.push(message),
    });
    tracker.progress('n').advance();
    await tracker.flush();
    assert.match(warnings[0], /sync boom/);
  });

  test('no second write starts while one is in flight', async (t) => {
    let release: () => void = () => undefined;
    const calls: ProgressRow[][] = [];
    const slowWriter: ProgressWriter = {
      write(rows) {
        calls.push(rows);
        return new Promise((resolve) => {
          release = resolve;
        });
      },
    };
    const { tracker, elapse } = harness(t, { writer: slowWriter });
    const progress = tracker.progress('slow');
    progress.advance();
    await elapse(INTERVAL_MS);
    progress.advance();
    await elapse(INTERVAL_MS);
    progress.done();
    await settle();
    const flushed = tracker.flush();
    await settle();
    assert.equal(calls.length, 1, 'ticks, done() and flush() wait for the write in flight');
    release();
    await settle();
    assert.equal(calls.length, 2);
    release();
    await flushed;
    assert.equal(calls.at(-1)![0].status, 'done');
    assert.equal(calls.at(-1)![0].completed, 2);
  });
});

describe('flush and shutdown', () => {
  test('flush() writes every changed node in one call; shutdown() leaves status alone', async (t) => {
    const { tracker, writer } = harness(t);
    tracker.progress('a').advance();
    tracker.progress('b', { total: 4, stage: 'extract' }).advance(2);
    await tracker.flush();
    assert.equal(writer.writes.length, 1);
    const b = writer.rowsFor('b')[0];
    assert.equal(b.experimentId, 'exp-1');
    assert.equal(b.stage, 'extract');
    assert.equal(b.total, 4);
    assert.ok(b.startedAt instanceof Date && b.updatedAt instanceof Date);

    tracker.progress('a').advance();
    await tracker.shutdown();
    assert.equal(writer.writes.length, 2);
    assert.deepEqual(
      writer.writes[1].map((row) => [row.nodeId, row.status, row.completed]),
      [['a', 'running', 2]],
    );
    assert.equal(tracker.progress('late'), ProgressTracker.noop(), 'no handles after shutdown');
  });
});

describe('monitoring disabled', () => {
  test('handles created while disabled are one shared no-op and write nothing', async (t) => {
    let disabled = true;
    const { tracker, writer, elapse } = harness(t, { isDisabled: () => disabled });
    const a = tracker.progress('a', { total: 10 });
    const b = tracker.progress('b');
    assert.equal(a, b);
    a.advance(5);
    a.set(3);
    a.setTotal(9);
    a.done();
    a.fail(new Error('x'));
    assert.equal(a.completed, 0);
    await elapse(INTERVAL_MS);
    await tracker.flush();
    assert.equal(writer.writes.length, 0);

    disabled = false;
    const live = tracker.progress('a');
    assert.notEqual(live, a);
    live.advance();
    await tracker.flush();
    assert.equal(writer.writes.length, 1);
  });
});

describe('context', () => {
  test('a handle takes the active stage, and is a no-op inside withMonitoringDisabled, by default', async (t) => {
    const contextManager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(contextManager);
    t.after(() => context.disable());
    const { tracker, writer } = harness(t);

    const staged = context.with(withStage(context.active(), 'transform'), () => tracker.progress('join'));
    const explicit = context.with(withStage(context.active(), 'transform'), () =>
      tracker.progress('split', { stage: 'load' }),
    );
    const silenced = context.with(withMonitoringDisabledContext(context.active()), () =>
      tracker.progress('quiet'),
    );
    staged.advance();
    explicit.advance();
    silenced.advance();
    await tracker.flush();
    assert.deepEqual(
      writer.writes.flat().map((row) => [row.nodeId, row.stage]),
      [
        ['join', 'transform'],
        ['split', 'load'],
      ],
    );
  });
});

describe('metrics', () => {
  test('observable gauges report completed and rate per node with node_id and stage', async (t) => {
    const gauges = new Map<ObservableGauge, string>();
    let collect:
      | ((result: { observe(g: ObservableGauge, v: number, a?: Attributes): void }) => void)
      | undefined;
    const meter = {
      createObservableGauge(name: string) {
        const gauge = {} as ObservableGauge;
        gauges.set(gauge, name);
        return gauge;
      },
      addBatchObservableCallback(callback: typeof collect) {
        collect = callback;
      },
    } as unknown as Meter;
    const { tracker, elapse } = harness(t, { meter });
    assert.deepEqual([...gauges.values()].sort(), ['pipetel.progress.completed', 'pipetel.progress.rate']);

    const progress = tracker.progress('embed', { stage: 'train' });
    progress.advance(20);
    await elapse(INTERVAL_MS);
    const observed: [string, number, Attributes | undefined][] = [];
    collect!({
      observe: (gauge, value, attributes) => observed.push([gauges.get(gauge)!, value, attributes]),
    });
    assert.deepEqual(observed, [
      ['pipetel.progress.completed', 20, { node_id: 'embed', stage: 'train' }],
      ['pipetel.progress.rate', 20, { node_id: 'embed', stage: 'train' }],
    ]);
  });
});
