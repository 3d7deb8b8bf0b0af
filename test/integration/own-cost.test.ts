// pipetel's estimate of its own cost (issue 7, the seed's MonitoringProfiler): tel.profile() over a
// window, stats().overhead, and the pipetel.overhead.cpu_ratio / pipetel.buffer.bytes self-metrics
// in pipeline_metrics — through register() against a real PostgreSQL.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { metrics } from '@opentelemetry/api';
import { register } from '../../src/index.js';
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
      config: { ...quiet, monitoring: { enable_resource_tracking: false, metrics_interval: 1 } },
    });
    const log = tel.getLogger('etl');
    const counter = metrics.getMeter('etl').createCounter('rows');
    tel.profile(); // starts a window

    // A window of pure application work: pipetel did nothing in it.
    let x = 0;
    for (let i = 0; i < 3e6; i++) x += Math.sqrt(i);
    const idle = tel.profile();
    assert.ok(idle.processCpuMs > 0 && x > 0);
    assert.ok(idle.ownCpuMs < 1, `no pipetel work in an idle window, got ${idle.ownCpuMs} ms`);

    // The same work with a log call and a counter add per 100 items.
    for (let i = 0; i < 3e6; i++) {
      x += Math.sqrt(i);
      if (i % 100 === 0) {
        log.info('item %d', i, { batch: 1 });
        counter.add(1, { stage: 'load' });
      }
    }
    const busy = tel.profile();
    assert.ok(busy.ownCpuMs > 10, `30k log records and 30k adds are estimated, got ${busy.ownCpuMs} ms`);
    assert.ok(busy.cpuOverheadPercent > idle.cpuOverheadPercent);
    assert.ok(busy.cpuOverheadPercent < 100, 'a share of the rest of the process, not a multiple of it');
    assert.ok(busy.memoryOverheadMb > 0, 'records waiting in the queue hold memory');

    const stats = tel.stats();
    assert.ok(stats.overhead.cpuRatio > 0 && stats.overhead.cpuRatio < 1);
    assert.ok(stats.overhead.bufferBytes >= 0);

    await tel.forceFlush();
    assert.equal(tel.stats().overhead.bufferBytes, 0, 'nothing buffered once flushed');
    await tel.shutdown();

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
});
