// otlp.enabled: the same telemetry also goes to an OpenTelemetry collector over OTLP/HTTP, here a
// minimal collector stand-in on 127.0.0.1 that records what it receives, while PostgreSQL still
// gets every record.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { metrics, trace } from '@opentelemetry/api';
import { register } from '../../src/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { type OtlpCapture, startOtlpCapture } from '../helpers/otlpCapture.js';

describe('OTLP export', () => {
  let db: TestDatabase;
  let collector: OtlpCapture;

  before(async () => {
    db = await createTestDatabase();
    collector = await startOtlpCapture();
  });
  after(async () => {
    await collector?.close();
    await db?.drop();
  });

  it('sends spans, logs and metrics to the collector and to PostgreSQL', async () => {
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = collector.endpoint;
    const tel = await register({
      experimentId: 'exp-otlp',
      databaseUrl: db.url,
      config: {
        logging: { console: { enabled: false }, file: { enabled: false } },
        monitoring: { enable_resource_tracking: false },
        otlp: { headers: { 'x-team': 'data' } }, // enabled by the standard variable alone
      },
    });
    await tel.stage('otlp-stage', async () => {
      tel.getLogger('otlp.logger').warning('to both sinks');
      metrics.getMeter('app').createCounter('otlp.rows').add(7);
      trace.getTracer('app').startSpan('inner-span').end();
    });
    await tel.shutdown();
    delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;

    const traces = collector.bodies('/v1/traces');
    assert.match(traces, /otlp-stage/);
    assert.match(traces, /inner-span/);
    assert.match(traces, /exp-otlp/, 'resource carries the experiment id');
    const logs = collector.bodies('/v1/logs');
    assert.match(logs, /to both sinks/);
    assert.match(logs, /otlp\.logger/);
    const metricsBody = collector.bodies('/v1/metrics');
    assert.match(metricsBody, /otlp\.rows/);

    const [log] = await db.query("SELECT message FROM pipeline_logs WHERE experiment_id = 'exp-otlp'");
    assert.equal(log?.message, 'to both sinks');
    const spans = await db.query(
      "SELECT name FROM pipeline_spans WHERE experiment_id = 'exp-otlp' ORDER BY name",
    );
    assert.deepEqual(
      spans.map((s) => s.name),
      ['inner-span', 'otlp-stage'],
    );
  });

  it('says how the run ended in one last record, to OTLP only, through the same limits as every record', async () => {
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = collector.endpoint;
    const tel = await register({
      experimentId: 'exp-otlp-end',
      databaseUrl: db.url,
      config: {
        logging: { console: { enabled: false }, file: { enabled: false } },
        monitoring: { enable_resource_tracking: false },
        otlp: { protocol: 'http/json' },
      },
    });
    tel.fail(new Error(`shard 4 gave up: ${'x'.repeat(100_000)}`));
    await tel.shutdown();
    delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
    const logs = collector.bodies('/v1/logs');
    assert.match(logs, /pipetel\.run\.status/);
    assert.match(logs, /run failed: Error: shard 4 gave up: x/);
    assert.doesNotMatch(logs, /x{70000}/, 'the reason is cut at the string limit, as any attribute');
    const stored = await db.query(
      "SELECT message FROM pipeline_logs WHERE experiment_id = 'exp-otlp-end' AND message LIKE 'run failed%'",
    );
    assert.deepEqual(stored, [], 'the process keeps its own row: the end record goes to OTLP only');
  });
});
