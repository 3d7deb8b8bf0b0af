// Standard OTel SDK variables that say what a pipetel key says: one precedence, documented —
// the generic PIPETEL__SECTION__KEY, then the standard variable, then files and defaults.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/index.js';
import { propagatorsFromEnvironment } from '../../src/internal/otelSdk.js';

describe('standard OTel variables as configuration', () => {
  const names = [
    'OTEL_METRIC_EXPORT_INTERVAL',
    'PIPETEL__MONITORING__METRICS_INTERVAL',
    'OTEL_EXPORTER_OTLP_PROTOCOL',
    'OTEL_BLRP_SCHEDULE_DELAY',
  ];
  afterEach(() => {
    for (const name of names) delete process.env[name];
  });

  it('OTEL_METRIC_EXPORT_INTERVAL (milliseconds) sets monitoring.metrics_interval (seconds)', () => {
    process.env.OTEL_METRIC_EXPORT_INTERVAL = '15000';
    assert.equal(loadConfig().values.monitoring.metrics_interval, 15);
    process.env.PIPETEL__MONITORING__METRICS_INTERVAL = '2';
    assert.equal(loadConfig().values.monitoring.metrics_interval, 2, 'the generic pipetel form wins');
  });

  it('a bad value names the key and the variable', () => {
    process.env.OTEL_METRIC_EXPORT_INTERVAL = 'soon';
    assert.throws(
      () => loadConfig(),
      /monitoring\.metrics_interval: .*got "?soon"?.*OTEL_METRIC_EXPORT_INTERVAL/,
    );
    // Out of range: the error says the variable is in milliseconds, so "got 5000" is not a riddle.
    delete process.env.OTEL_METRIC_EXPORT_INTERVAL;
    process.env.OTEL_BLRP_SCHEDULE_DELAY = '5000000';
    assert.throws(
      () => loadConfig(),
      /flush_interval: .*at most 3600, got 5000 \[env OTEL_BLRP_SCHEDULE_DELAY=5000000, milliseconds, read as seconds\]/,
    );
  });

  it('OTEL_EXPORTER_OTLP_PROTOCOL sets otlp.protocol', () => {
    process.env.OTEL_EXPORTER_OTLP_PROTOCOL = 'grpc';
    assert.equal(loadConfig().values.otlp.protocol, 'grpc');
    process.env.OTEL_EXPORTER_OTLP_PROTOCOL = 'carrier-pigeon';
    assert.throws(() => loadConfig(), /otlp\.protocol: expected one of http\/protobuf, http\/json, grpc/);
  });

  it('the batch log record processor variables set the log batching keys', () => {
    process.env.OTEL_BLRP_SCHEDULE_DELAY = '2500';
    process.env.OTEL_BLRP_MAX_QUEUE_SIZE = '5000';
    process.env.OTEL_BLRP_MAX_EXPORT_BATCH_SIZE = '250';
    const { database } = loadConfig().values.logging;
    assert.deepEqual(
      [database.flush_interval, database.max_queue_size, database.batch_size],
      [2.5, 5000, 250],
    );
  });

  it('OTEL_PROPAGATORS picks the propagators; unavailable ones are warned about', () => {
    const fields = (env: NodeJS.ProcessEnv, warn?: (m: string) => void) =>
      propagatorsFromEnvironment(env, warn).flatMap((p) => p.fields());
    assert.deepEqual(fields({}), ['traceparent', 'tracestate', 'baggage']);
    assert.deepEqual(fields({ OTEL_PROPAGATORS: 'baggage' }), ['baggage']);
    assert.deepEqual(fields({ OTEL_PROPAGATORS: 'none' }), []);
    const warnings: string[] = [];
    assert.deepEqual(
      fields({ OTEL_PROPAGATORS: 'tracecontext,b3' }, (m) => warnings.push(m)),
      ['traceparent', 'tracestate'],
    );
    assert.match(warnings[0]!, /OTEL_PROPAGATORS: "b3" is not available here/);
  });
});
