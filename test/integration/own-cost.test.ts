// pipetel's estimate of its own cost (issue 7, the seed's MonitoringProfiler): tel.profile() over a
// window, stats().overhead, and the pipetel.overhead.cpu_ratio / pipetel.buffer.bytes self-metrics
// in pipeline_metrics — through register() against a real PostgreSQL.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { metrics } from '@opentelemetry/api';
import { register } from '../../src/index.js';
import { CALL_COST_NS } from '../../src/pipeline/SelfCost.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

const quiet = { logging: { console: { enabled: false as const }, file: { enabled: false } } };

describe("pipetel's own cost", () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => db?.drop());

  it('profile() windows grow with the calls made in them; buffers are counted while queued', async () => {
    const tel = await register({
      experimentId: 'exp-own-cost',
      databaseUrl: db.url,
      config: {
        logging: { ...quiet.logging, database: { max_queue_size: 100_000 } },
        // No periodic collection inside the measured windows; the final one at shutdown writes the self-metrics.
        monitoring: { enable_resource_tracking: false, metrics_interval: 60, overhead_budget_percent: null },
      },
    });
    // Shut down whatever an assertion does, so a failure here cannot leak into the next test.
    const measured = await (async () => {
      try {
        const log = tel.getLogger('etl');
        const counter = metrics.getMeter('etl').createCounter('rows');
        tel.profile(); // starts a window

        // A window of pure application work: pipetel was asked to do nothing in it.
        let x = 0;
        for (let i = 0; i < 3e6; i++) x += Math.sqrt(i);
        const idle = tel.profile();

        // The same work with a log call and a counter add per 100 items.
        for (let i = 0; i < 3e6; i++) {
          x += Math.sqrt(i);
          if (i % 100 === 0) {
            log.info('item %d', i, { batch: 1 });
            counter.add(1, { stage: 'load' });
          }
        }
        const busy = tel.profile();
        const stats = tel.stats();
        await tel.forceFlush();
        return { x, idle, busy, stats, bufferedAfterFlush: tel.stats().overhead.bufferBytes };
      } finally {
        await tel.shutdown();
      }
    })();
    const { idle, busy, stats } = measured;
    assert.ok(idle.processCpuMs > 0 && measured.x > 0);
    assert.ok(busy.ownCpuMs > 10, `30k log records and 30k adds are estimated, got ${busy.ownCpuMs} ms`);
    // Nothing of pipetel runs in the idle window (no collection is due, nothing is queued).
    assert.ok(
      idle.ownCpuMs < busy.ownCpuMs / 3,
      `idle window ${idle.ownCpuMs} ms against busy ${busy.ownCpuMs} ms`,
    );
    assert.ok(busy.cpuOverheadPercent > idle.cpuOverheadPercent);
    // Cold log calls can cost pipetel more than the app's own work: the share may pass 100 %, but
    // pipetel's time never exceeds the process's.
    assert.ok(busy.ownCpuMs <= busy.processCpuMs);
    assert.ok(busy.memoryOverheadMb > 0, 'records waiting in the queue hold memory');
    assert.ok(stats.overhead.cpuRatio > 0);
    assert.ok(stats.overhead.bufferBytes > 0);
    assert.equal(measured.bufferedAfterFlush, 0, 'nothing buffered once flushed');

    const rows = await db.query(
      `SELECT name, max(value) AS max FROM pipeline_metrics
        WHERE experiment_id = 'exp-own-cost' AND name IN ('pipetel.overhead.cpu_ratio', 'pipetel.buffer.bytes')
        GROUP BY name ORDER BY name`,
    );
    assert.deepEqual(
      rows.map((r) => r.name),
      ['pipetel.buffer.bytes', 'pipetel.overhead.cpu_ratio'],
    );
    const ratio = rows.find((r) => r.name === 'pipetel.overhead.cpu_ratio')!;
    assert.ok(Number(ratio.max) > 0, 'the self-metric saw pipetel at work');
  });

  it('batch writes count in the estimate: a window that only flushes queued records is not near zero', async () => {
    const tel = await register({
      experimentId: 'exp-own-cost-batches',
      databaseUrl: db.url,
      config: {
        ...quiet,
        logging: { ...quiet.logging, database: { batch_size: 10, max_queue_size: 100_000 } },
        monitoring: {
          enable_resource_tracking: false,
          metrics_interval: 60,
          overhead_budget_percent: null,
          database: { max_batch_size: 10 },
        },
      },
    });
    let window: ReturnType<typeof tel.profile>;
    try {
      const log = tel.getLogger('etl');
      // Queued in one synchronous burst: no batch can be written before the window starts.
      for (let i = 0; i < 500; i++) log.info('row %d', i, { batch: 7 });
      tel.profile(); // starts the window
      await tel.forceFlush(); // fifty batches of 10 (and the metrics' one)
      window = tel.profile();
    } finally {
      await tel.shutdown();
    }
    const [{ n }] = await db.query(
      "SELECT count(*)::int AS n FROM pipeline_logs WHERE experiment_id = 'exp-own-cost-batches'",
    );
    assert.equal(n, 500);
    // Each batch is ~1 ms of CPU here (CALL_COST_NS.batchWrite); encoding alone, the only part timed
    // before batches were counted, is a few µs a record. The estimate never exceeds the process's time.
    const batchesMs = (50 * CALL_COST_NS.batchWrite) / 1e6;
    const floor = Math.min(batchesMs, 0.9 * window.processCpuMs);
    assert.ok(window.ownCpuMs >= floor, `estimate ${window.ownCpuMs} ms, process ${window.processCpuMs} ms`);
  });

  it('over its overhead budget pipetel sheds DEBUG first, never WARNING, and records that it did', async () => {
    const tel = await register({
      experimentId: 'exp-overhead-budget',
      databaseUrl: db.url,
      config: {
        ...quiet,
        logging: { ...quiet.logging, level: 'DEBUG', database: { max_queue_size: 1_000_000 } },
        monitoring: {
          // On, so the last shed step slows a real host-metrics reader.
          enable_resource_tracking: true,
          resource_sample_interval: 0.5,
          metrics_interval: 0.3,
          aggregation_window: 1,
          overhead_budget_percent: 0.001,
          overhead_check_interval: 0.1,
        },
      },
    });
    const log = tel.getLogger('etl');
    let debugEmitted = 0;
    let warningsEmitted = 0;
    let x = 0;
    const until = Date.now() + 2500;
    try {
      while (Date.now() < until) {
        for (let i = 0; i < 200; i++) {
          x += Math.sqrt(i);
          log.debug('item %d', i);
          debugEmitted++;
        }
        log.warning('batch done');
        warningsEmitted++;
        await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      await tel.shutdown();
    }
    assert.ok(x > 0);

    const counts = await db.query(
      `SELECT level, count(*)::int AS n FROM pipeline_logs
        WHERE experiment_id = 'exp-overhead-budget' GROUP BY level`,
    );
    const stored = Object.fromEntries(counts.map((r) => [r.level, r.n]));
    assert.equal(stored.WARNING, warningsEmitted, 'WARNING is never shed');
    assert.ok(stored.DEBUG < debugEmitted / 2, `DEBUG was shed: ${stored.DEBUG} of ${debugEmitted} stored`);
    assert.ok(stored.DEBUG > 0, 'DEBUG records from before the first check are kept');

    const [experiment] = await db.query(
      "SELECT attributes FROM pipeline_experiments WHERE experiment_id = 'exp-overhead-budget'",
    );
    // Two checks over budget per step, 0.1 s apart: every step, down to the slower resource
    // sampling, is applied within the 2.5 s of load, with room for a slow machine.
    assert.equal(
      experiment.attributes['pipetel.overhead.max_shed_step'],
      5,
      'the run row says how far it shed',
    );
    const [shed] = await db.query(
      `SELECT max(value) AS max FROM pipeline_metrics
        WHERE experiment_id = 'exp-overhead-budget' AND name = 'pipetel.overhead.shed_step'`,
    );
    assert.ok(Number(shed.max) >= 1, 'pipetel.overhead.shed_step recorded the shedding');
  });
});
