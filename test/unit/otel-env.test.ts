// Standard OTel SDK variables that say what a pipetel key says: one precedence, documented —
// the generic PIPETEL__SECTION__KEY, then the standard variable, then files and defaults.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/index.js';

describe('standard OTel variables as configuration', () => {
  const names = [
    'OTEL_METRIC_EXPORT_INTERVAL',
    'PIPETEL__MONITORING__METRICS_INTERVAL',
    'OTEL_EXPORTER_OTLP_PROTOCOL',
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
  });

  it('OTEL_EXPORTER_OTLP_PROTOCOL sets otlp.protocol', () => {
    process.env.OTEL_EXPORTER_OTLP_PROTOCOL = 'grpc';
    assert.equal(loadConfig().values.otlp.protocol, 'grpc');
    process.env.OTEL_EXPORTER_OTLP_PROTOCOL = 'carrier-pigeon';
    assert.throws(() => loadConfig(), /otlp\.protocol: expected one of http\/protobuf, http\/json, grpc/);
  });
});
