// The metric fan-out: a collection waits for its awaited destinations (PostgreSQL) only; one that
// runs alongside (OTLP) is started but cannot hold the reader — and so PostgreSQL's shutdown —
// hostage by never answering.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import type { PushMetricExporter, ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { FanOutMetricExporter } from '../../src/internal/FanOutMetricExporter.js';

function exporter(answer: boolean) {
  const calls = { exports: 0, shutdowns: 0, flushes: 0 };
  const e: PushMetricExporter = {
    export: (_metrics: ResourceMetrics, done: (result: ExportResult) => void) => {
      calls.exports++;
      if (answer) done({ code: ExportResultCode.SUCCESS });
    },
    forceFlush: async () => {
      calls.flushes++;
    },
    shutdown: async () => {
      calls.shutdowns++;
    },
  };
  return { e, calls };
}

const metrics = { resource: {}, scopeMetrics: [] } as unknown as ResourceMetrics;

describe('FanOutMetricExporter', () => {
  it('reports a collection done when the awaited destinations are, whatever the ones alongside do', () => {
    const postgres = exporter(true);
    const hanging = exporter(false);
    const results: ExportResult[] = [];
    new FanOutMetricExporter([postgres.e], [hanging.e]).export(metrics, (r) => results.push(r));
    assert.deepEqual(results, [{ code: ExportResultCode.SUCCESS }]);
    assert.equal(hanging.calls.exports, 1, 'the one alongside still gets the points');
  });

  it('waits for the only destination when nothing else is awaited', () => {
    const otlp = exporter(false);
    const results: ExportResult[] = [];
    new FanOutMetricExporter([otlp.e]).export(metrics, (r) => results.push(r));
    assert.deepEqual(results, [], 'no result until the destination answers');
  });

  it('flushes and shuts down every destination', async () => {
    const a = exporter(true);
    const b = exporter(false);
    const fan = new FanOutMetricExporter([a.e], [b.e]);
    await fan.forceFlush();
    await fan.shutdown();
    assert.deepEqual([a.calls.flushes, b.calls.flushes, a.calls.shutdowns, b.calls.shutdowns], [1, 1, 1, 1]);
  });
});
