// The public exporters plugged into a user's own OTel SDK (the bring-your-own-SDK form), against
// a real PostgreSQL: every signal lands in its table with the documented column mapping, the SDK's
// flush paths work with both constructor forms, replays never duplicate, migrations are safe to
// run concurrently.

import assert from 'node:assert/strict';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import {
  migrate,
  PostgresLogRecordExporter,
  PostgresMetricExporter,
  PostgresSpanExporter,
} from '../../exporters/postgres/index.js';
import { LOGS_TABLE } from '../../exporters/postgres/logRows.js';
import { migrationStatus } from '../../exporters/postgres/migrate.js';
import { PostgresTableWriter } from '../../exporters/postgres/TableWriter.js';
import { uuidv7 } from '../../exporters/postgres/uuidv7.js';
import { createTestDatabase, type TestDatabase, testPool } from '../helpers/database.js';

describe('Postgres exporters in a user-built SDK', () => {
  let db: TestDatabase;
  const resource = resourceFromAttributes({ 'service.name': 'byo', 'pipetel.experiment_id': 'exp-byo' });

  before(async () => {
    db = await createTestDatabase();
    await migrate(db.url);
  });
  after(async () => db?.drop());

  it('writes spans through BatchSpanProcessor (positional constructor) with the documented columns', async () => {
    const exporter = new PostgresSpanExporter({ connectionString: db.url });
    const provider = new BasicTracerProvider({
      resource,
      spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 50 })],
    });
    const tracer = provider.getTracer('byo-tracer');
    const parent = tracer.startSpan('parent', {
      kind: SpanKind.SERVER,
      attributes: { 'pipetel.stage': 'load', rows: 3 },
    });
    parent.addEvent('checkpoint', { step: 1 });
    parent.setStatus({ code: SpanStatusCode.ERROR, message: 'boom' });
    const child = tracer.startSpan(
      'child',
      {},
      (await import('@opentelemetry/api')).trace.setSpan(
        (await import('@opentelemetry/api')).context.active(),
        parent,
      ),
    );
    child.end();
    parent.end();
    await provider.forceFlush();
    await exporter.forceFlush();
    await provider.shutdown();

    const rows = await db.query('SELECT * FROM pipeline_spans ORDER BY name DESC');
    assert.equal(rows.length, 2);
    const [p, c] = rows;
    assert.equal(p.name, 'parent');
    assert.equal(p.experiment_id, 'exp-byo');
    assert.equal(p.kind, 'SERVER');
    assert.equal(p.status_code, 'ERROR');
    assert.equal(p.status_message, 'boom');
    assert.equal(p.stage, 'load');
    assert.equal(p.attributes.rows, 3);
    assert.equal(p.events[0].name, 'checkpoint');
    assert.equal(p.events[0].attributes.step, 1);
    assert.equal(p.resource['service.name'], 'byo');
    assert.equal(p.scope, 'byo-tracer');
    assert.match(p.trace_id, /^[0-9a-f]{32}$/);
    assert.match(p.span_id, /^[0-9a-f]{16}$/);
    assert.equal(p.parent_span_id, null);
    assert.equal(c.parent_span_id, p.span_id);
    assert.equal(c.trace_id, p.trace_id);
    assert.ok(p.duration_ms >= 0);
    assert.ok(p.end_time >= p.start_time);
  });

  it('writes logs through BatchLogRecordProcessor (options-object constructor)', async () => {
    const exporter = new PostgresLogRecordExporter({ connectionString: db.url, experimentId: 'exp-logs' });
    const provider = new LoggerProvider({
      resource,
      processors: [new BatchLogRecordProcessor({ exporter, scheduledDelayMillis: 50 })],
    });
    const logger = provider.getLogger('byo.logger');
    const levels = [
      SeverityNumber.DEBUG,
      SeverityNumber.INFO,
      SeverityNumber.WARN,
      SeverityNumber.ERROR,
      SeverityNumber.FATAL,
    ];
    for (const severityNumber of levels) {
      logger.emit({
        severityNumber,
        body: `message at ${severityNumber}`,
        attributes: { k: 'v', 'pipetel.stage': 's1' },
      });
    }
    logger.emit({
      severityNumber: SeverityNumber.ERROR,
      body: 'with stack',
      attributes: { 'exception.stacktrace': 'Error: x\n    at y' },
    });
    await provider.forceFlush();
    await exporter.forceFlush();
    await provider.shutdown();

    const rows = await db.query(
      "SELECT level, severity_number, logger_name, message, traceback, attributes, stage, experiment_id, id FROM pipeline_logs WHERE experiment_id = 'exp-logs' ORDER BY severity_number, message DESC",
    );
    assert.deepEqual(
      rows.map((r) => r.level),
      ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'ERROR', 'CRITICAL'],
    );
    assert.deepEqual(
      rows.map((r) => r.severity_number),
      [5, 9, 13, 17, 17, 21],
    );
    assert.equal(rows[0].logger_name, 'byo.logger');
    assert.equal(rows[0].stage, 's1');
    assert.deepEqual(rows[0].attributes, { k: 'v' }, 'stage is lifted out of the attributes');
    assert.equal(rows[3].message, 'with stack');
    assert.equal(rows[3].traceback, 'Error: x\n    at y');
    assert.equal(new Set(rows.map((r) => r.id)).size, rows.length);
  });

  it('records that share a timestamp read back in the order they were written (by timestamp, then id)', async () => {
    const exporter = new PostgresLogRecordExporter({ connectionString: db.url, experimentId: 'exp-order' });
    const provider = new LoggerProvider({
      resource,
      processors: [new BatchLogRecordProcessor({ exporter, scheduledDelayMillis: 50 })],
    });
    const logger = provider.getLogger('byo.order');
    const at = new Date('2026-11-30T12:00:00.123Z'); // one millisecond for all of them
    for (let i = 0; i < 300; i++)
      logger.emit({ severityNumber: SeverityNumber.INFO, body: `line ${i}`, timestamp: at });
    await provider.forceFlush();
    await provider.shutdown();
    const rows = await db.query<{ message: string }>(
      "SELECT message FROM pipeline_logs WHERE experiment_id = 'exp-order' ORDER BY timestamp, id",
    );
    assert.deepEqual(
      rows.map((r) => r.message),
      Array.from({ length: 300 }, (_, i) => `line ${i}`),
    );
  });

  it('an exporter with its own pool, against a server that never answers, leaves no connection behind at shutdown', async () => {
    const accepted: Socket[] = [];
    const blackhole = createServer((socket) => {
      accepted.push(socket);
      socket.on('error', () => undefined);
      socket.resume(); // reads (so it sees the client hang up), never answers
    });
    await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', resolve));
    const port = (blackhole.address() as AddressInfo).port;
    try {
      const exporter = new PostgresLogRecordExporter({
        connectionString: `postgresql://u@127.0.0.1:${port}/db`,
        connectionTimeoutMs: 60_000, // the attempt alone would hang a minute
        flushIntervalMs: 10,
        shutdownTimeoutMs: 1000,
        warn: () => undefined,
      });
      const provider = new LoggerProvider({
        resource,
        processors: [new BatchLogRecordProcessor({ exporter, scheduledDelayMillis: 10 })],
      });
      provider.getLogger('byo').emit({ body: 'into the void' });
      await provider.forceFlush();
      while (accepted.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
      const allClosed = Promise.all(
        accepted.map((socket) => new Promise((resolve) => socket.once('close', resolve))),
      );
      await provider.shutdown();
      // The exporter ended its connection attempt: the server sees it hang up.
      const closed = await Promise.race([
        allClosed.then(() => true),
        new Promise((resolve) => setTimeout(() => resolve(false), 5000)),
      ]);
      assert.equal(closed, true, 'the connection attempt was ended, not left to connection_timeout');
    } finally {
      for (const socket of accepted) socket.destroy();
      blackhole.close();
    }
  });

  it('writes gauges, sums and histograms with buckets', async () => {
    const exporter = new PostgresMetricExporter({ connectionString: db.url });
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 });
    const provider = new MeterProvider({ resource, readers: [reader] });
    const meter = provider.getMeter('byo.meter');
    meter.createCounter('rows', { unit: '{row}' }).add(5, { stage: 'a' });
    meter
      .createHistogram('latency', { unit: 'ms', advice: { explicitBucketBoundaries: [1, 10, 100] } })
      .record(7);
    meter.createGauge('temperature').record(21.5);
    await provider.forceFlush();
    await exporter.forceFlush();
    await provider.shutdown();

    const rows = await db.query(
      "SELECT * FROM pipeline_metrics WHERE experiment_id = 'exp-byo' ORDER BY name",
    );
    const byName = Object.fromEntries(rows.map((r) => [r.name, r]));
    assert.equal(byName.rows.kind, 'sum');
    assert.equal(byName.rows.value, 5);
    assert.equal(byName.rows.unit, '{row}');
    assert.deepEqual(byName.rows.attributes, { stage: 'a' });
    assert.equal(byName.rows.is_monotonic, true);
    assert.equal(byName.latency.kind, 'histogram');
    assert.equal(Number(byName.latency.count), 1);
    assert.equal(byName.latency.sum, 7);
    assert.deepEqual(byName.latency.explicit_bounds, [1, 10, 100]);
    assert.deepEqual(byName.latency.bucket_counts.map(Number), [0, 1, 0, 0]);
    assert.equal(byName.temperature.kind, 'gauge');
    assert.equal(byName.temperature.value, 21.5);
  });

  it('a replayed batch does not duplicate rows', async () => {
    const pool = testPool(db.url, 2);
    const writer = new PostgresTableWriter(pool, LOGS_TABLE, { usePreparedStatements: true });
    const line = (i: number) =>
      `${uuidv7()}\texp-replay\t2026-01-01T00:00:0${i}.000000Z\tINFO\t9\tl\tm${i}\t\\N\t{}\t\\N\t\\N\t\\N\n`;
    const lines = [line(1), line(2), line(3)];
    const fourth = line(4);
    assert.equal(await writer.write(lines, { idempotent: false }), 3);
    await assert.rejects(writer.write(lines, { idempotent: false }), { code: '23505' });
    assert.equal(await writer.write([...lines, fourth], { idempotent: true }), 1);
    assert.equal(await writer.write([...lines, fourth], { idempotent: true }), 0);
    await pool.end();
    const [{ n }] = await db.query(
      "SELECT count(*)::int AS n FROM pipeline_logs WHERE experiment_id = 'exp-replay'",
    );
    assert.equal(n, 4);
  });
});

describe('migrations', () => {
  it('concurrent migrators apply each migration exactly once, and re-running is a no-op', async () => {
    const db = await createTestDatabase();
    try {
      const results = await Promise.all(Array.from({ length: 4 }, () => migrate(db.url)));
      const applied = results.flat();
      const status = await migrationStatus(db.url);
      assert.deepEqual(
        applied.sort(),
        status.map((m) => m.version).sort(),
        'each migration applied by exactly one caller',
      );
      assert.ok(status.every((m) => m.applied));
      assert.deepEqual(await migrate(db.url), []);
      const tables = await db.query(
        "SELECT tablename FROM pg_tables WHERE tablename LIKE 'pipeline_%' ORDER BY 1",
      );
      assert.deepEqual(
        tables.map((t) => t.tablename),
        [
          'pipeline_experiments',
          'pipeline_logs',
          'pipeline_metrics',
          'pipeline_metrics_archive',
          'pipeline_progress',
          'pipeline_spans',
        ],
      );
      const indexes = (await db.query('SELECT indexname FROM pg_indexes')).map((i) => i.indexname);
      for (const name of [
        'idx_logs_experiment_time',
        'idx_logs_level_time',
        'idx_progress_experiment_node',
        'idx_metrics_experiment_time',
        'idx_logs_logger_time',
        'idx_logs_search',
        'idx_spans_experiment_time',
      ]) {
        assert.ok(indexes.includes(name), `index ${name} exists`);
      }
    } finally {
      await db.drop();
    }
  });
});
