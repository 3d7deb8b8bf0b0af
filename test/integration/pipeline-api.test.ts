// The pipeline author's API through register() against a real PostgreSQL: stages as nested
// spans carrying their resource use, the stage and trace ids on logs inside them, progress rows,
// host-metric samples at their interval, metric aggregation windows, self-monitoring metrics,
// and withMonitoringDisabled recording nothing.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { metrics, trace } from '@opentelemetry/api';
import { migrate } from '../../exporters/postgres/index.js';
import { experimentSummary } from '../../src/db/queries.js';
import { getLogger, register } from '../../src/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { tempDir } from '../helpers/tempDir.js';

const quiet = { logging: { console: { enabled: false as const }, file: { enabled: false } } };

describe('pipeline API', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => db?.drop());

  it('stages nest as spans, carry resources, and tag the logs inside them', async () => {
    const moduleLogger = getLogger('etl.module'); // created before register(), as at import time
    const tel = await register({
      experimentId: 'exp-stages',
      databaseUrl: db.url,
      config: { ...quiet, monitoring: { enable_resource_tracking: false } },
    });
    const log = tel.getLogger('etl.extract');
    await tel.stage('extract', async () => {
      log.info('outer');
      await tel.stage('parse', async () => {
        moduleLogger.warning('inner %s', 'msg');
        let x = 0;
        for (let i = 0; i < 2e6; i++) x += Math.sqrt(i);
        return x;
      });
    });
    log.info('outside');
    await tel.shutdown();

    const spans = await db.query(
      // A child can start in its parent's millisecond (OTel JS starts spans at Date.now()): then
      // the parent, which ends last, comes first.
      "SELECT * FROM pipeline_spans WHERE experiment_id = 'exp-stages' ORDER BY start_time, end_time DESC",
    );
    assert.deepEqual(
      spans.map((s) => s.name),
      ['extract', 'parse'],
    );
    const [extract, parse] = spans;
    assert.equal(parse.parent_span_id, extract.span_id);
    assert.equal(parse.stage, 'parse');
    assert.ok(parse.attributes['pipetel.cpu.user_ms'] > 0, 'CPU time is attributed to the stage');
    assert.ok(
      parse.attributes['pipetel.memory.rss_peak_bytes'] >= parse.attributes['pipetel.memory.rss_start_bytes'],
    );

    const logs = await db.query(
      "SELECT message, stage, trace_id, span_id, logger_name FROM pipeline_logs WHERE experiment_id = 'exp-stages' ORDER BY timestamp",
    );
    const byMessage = Object.fromEntries(logs.map((l) => [l.message, l]));
    assert.equal(byMessage.outer.stage, 'extract');
    assert.equal(byMessage.outer.span_id, extract.span_id);
    assert.equal(byMessage['inner msg'].stage, 'parse');
    assert.equal(
      byMessage['inner msg'].span_id,
      parse.span_id,
      'a module-level logger is bound by register()',
    );
    assert.equal(byMessage['inner msg'].trace_id, extract.trace_id);
    assert.equal(byMessage.outside.stage, null);
    assert.equal(byMessage.outside.span_id, null);
  });

  it('the stage tree keeps stages that started in the same millisecond in the order they ran', async () => {
    // OTel JS starts a span at Date.now(): quick stages in a row share a start; pipetel show and
    // the demo order them by their ends. Rows as the exporter writes them, under one root.
    await migrate(db.url); // also when run alone
    const at = '2026-12-01T10:00:00.123Z';
    const span = (id: string, name: string, parent: string | null, end: string) =>
      db.query(
        `INSERT INTO pipeline_spans (trace_id, span_id, parent_span_id, experiment_id, name, kind, start_time, end_time,
                                     duration_ms, status_code, stage)
         VALUES ('t1', $1, $2, 'exp-same-ms', $3, 'INTERNAL', $4, $5, 1, 'OK', $3)`,
        [id, parent, name, at, end],
      );
    await span('a', 'load', null, '2026-12-01T10:00:00.140Z');
    await span('c', 'second', 'a', '2026-12-01T10:00:00.123900Z');
    await span('b', 'first', 'a', '2026-12-01T10:00:00.123400Z');
    const summary = await experimentSummary(db.url, 'exp-same-ms');
    assert.deepEqual(
      summary.stages.map((s) => [s.name, s.depth]),
      [
        ['load', 0],
        ['first', 1],
        ['second', 1],
      ],
    );
  });

  it('logging.file writes the same records as JSON lines under PIPETEL_HOME', async () => {
    const dir = tempDir('pipetel-file-');
    const path = join(dir, 'run.log');
    const tel = await register({
      experimentId: 'exp-file',
      databaseUrl: db.url,
      config: {
        logging: { console: { enabled: false }, file: { enabled: true, path } },
        monitoring: { enable_resource_tracking: false },
      },
    });
    await tel.stage('write', async () => tel.getLogger('file.test').error('to the file', { rows: 3 }));
    await tel.shutdown();
    const lines = readFileSync(path, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const line = lines.find((l) => l.message === 'to the file');
    assert.equal(line.level, 'ERROR');
    assert.equal(line.experiment_id, 'exp-file');
    assert.equal(line.stage, 'write');
    assert.equal(line.attributes.rows, 3);
  });

  it('wait_for_flush: a stage resolves only once what it recorded is stored', async () => {
    const tel = await register({
      experimentId: 'exp-wait',
      databaseUrl: db.url,
      config: {
        ...quiet,
        logging: {
          ...quiet.logging,
          database: { wait_for_flush: true, flush_interval: 600, batch_size: 100000 },
        },
        monitoring: { enable_resource_tracking: false },
      },
    });
    await tel.ready; // the schema exists: a flush before it would go to the spool, not the table
    await tel.stage('produce', async () => {
      for (let i = 0; i < 50; i++) tel.getLogger('wait').info('row %d', i);
    });
    const [{ n }] = await db.query(
      "SELECT count(*)::int AS n FROM pipeline_logs WHERE experiment_id = 'exp-wait'",
    );
    assert.equal(n, 50, 'stored before shutdown despite a 600 s flush interval');
    await tel.shutdown();
  });

  it('withMonitoringDisabled records no spans, logs or metrics', async () => {
    const tel = await register({
      experimentId: 'exp-disabled-ctx',
      databaseUrl: db.url,
      config: { ...quiet, monitoring: { enable_resource_tracking: false, aggregate_metrics: false } },
    });
    const counter = metrics.getMeter('app').createCounter('app.items');
    const log = tel.getLogger('app');
    await tel.withMonitoringDisabled(async () => {
      await tel.stage('hidden', async () => {
        log.error('hidden log');
        counter.add(100);
        trace.getTracer('app').startSpan('hidden-span').end();
        tel.progress('hidden-node', { total: 10 }).advance(5);
      });
    });
    counter.add(1);
    log.info('visible log');
    await tel.shutdown();
    const spans = await db.query("SELECT name FROM pipeline_spans WHERE experiment_id = 'exp-disabled-ctx'");
    assert.deepEqual(spans, []);
    const logs = await db.query("SELECT message FROM pipeline_logs WHERE experiment_id = 'exp-disabled-ctx'");
    assert.deepEqual(
      logs.map((l) => l.message),
      ['visible log'],
    );
    const [counted] = await db.query(
      "SELECT max(value) AS v FROM pipeline_metrics WHERE experiment_id = 'exp-disabled-ctx' AND name = 'app.items'",
    );
    assert.equal(counted.v, 1);
    const progress = await db.query(
      "SELECT * FROM pipeline_progress WHERE experiment_id = 'exp-disabled-ctx'",
    );
    assert.deepEqual(progress, []);
  });

  it('samples host metrics at resource_sample_interval and writes self-monitoring metrics', async () => {
    const tel = await register({
      experimentId: 'exp-resources',
      databaseUrl: db.url,
      config: {
        ...quiet,
        monitoring: {
          resource_sample_interval: 0.5,
          metrics_interval: 0.5,
          aggregate_metrics: false,
          detailed_metrics: true,
        },
      },
    });
    tel.getLogger('x').info('some work');
    const until = Date.now() + 2600;
    while (Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    await tel.shutdown();
    const samples = await db.query(
      "SELECT \"timestamp\" FROM pipeline_metrics WHERE experiment_id = 'exp-resources' AND name = 'process.memory.usage' ORDER BY 1",
    );
    assert.ok(samples.length >= 3, `expected ≥ 3 memory samples in ~2.6 s at 0.5 s, got ${samples.length}`);
    const names = new Set(
      (
        await db.query("SELECT DISTINCT name FROM pipeline_metrics WHERE experiment_id = 'exp-resources'")
      ).map((r) => r.name),
    );
    for (const name of [
      'process.cpu.utilization',
      'system.memory.usage',
      'pipetel.queue.depth',
      'pipetel.records.exported',
      'pipetel.export.batch_size',
      'pipetel.runtime.event_loop.delay',
      'pipetel.runtime.heap.used',
    ]) {
      assert.ok(names.has(name), `metric ${name} recorded`);
    }
  });

  it('aggregates metrics into one row per instrument, attribute set and window', async () => {
    const tel = await register({
      experimentId: 'exp-aggregate',
      databaseUrl: db.url,
      config: {
        ...quiet,
        monitoring: {
          enable_resource_tracking: false,
          metrics_interval: 0.2,
          aggregate_metrics: true,
          aggregation_window: 600,
        },
      },
    });
    const counter = metrics.getMeter('app').createCounter('app.events');
    const gauge = metrics.getMeter('app').createGauge('app.temperature');
    for (let i = 1; i <= 10; i++) {
      counter.add(1, { kind: i % 2 ? 'odd' : 'even' });
      gauge.record(i);
      await new Promise((r) => setTimeout(r, 150));
    }
    await tel.shutdown();
    const rows = await db.query(
      "SELECT name, attributes, value, count, min, max FROM pipeline_metrics WHERE experiment_id = 'exp-aggregate' AND name LIKE 'app.%' ORDER BY name, attributes::text",
    );
    assert.equal(rows.length, 3, 'one row per series for the whole window despite ~7 collections');
    const [even, odd, temperature] = rows;
    assert.deepEqual([even.attributes.kind, even.value], ['even', 5]);
    assert.deepEqual([odd.attributes.kind, odd.value], ['odd', 5]);
    assert.equal(temperature.value, 10);
    assert.ok(Number(temperature.count) >= 3, 'gauge samples in the window are counted');
    assert.ok(temperature.max === 10 && temperature.min < 10);
  });
});
