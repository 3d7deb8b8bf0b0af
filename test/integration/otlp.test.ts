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
});
