// Metrics into pipeline_metrics: a PushMetricExporter for a PeriodicExportingMetricReader. Each
// collection is flattened into one row per data point and enqueued; cumulative temporality
// (the SDK default) is kept, so each row holds the running total at its timestamp.

import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import type { PushMetricExporter, ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { DeliveryStats } from '../delivery/types.js';
import { encodeMetricPoint, flattenResourceMetrics, METRICS_TABLE, type MetricPoint } from './metricRows.js';
import { type DeliveryHandle, openDelivery, type PostgresExporterOptions } from './PostgresDelivery.js';
import { ResourceInfoCache } from './resourceInfo.js';

export class PostgresMetricExporter implements PushMetricExporter {
  private readonly delivery: DeliveryHandle<MetricPoint>;
  private readonly resources: ResourceInfoCache;

  constructor(options: PostgresExporterOptions) {
    this.resources = new ResourceInfoCache(options.experimentId);
    this.delivery = openDelivery('metrics', METRICS_TABLE, encodeMetricPoint, options);
  }

  export(metrics: ResourceMetrics, resultCallback: (result: ExportResult) => void): void {
    let refused = 0;
    for (const point of flattenResourceMetrics(metrics, this.resources)) {
      if (!this.delivery.queue.enqueue(point)) refused++;
    }
    resultCallback(
      refused === 0
        ? { code: ExportResultCode.SUCCESS }
        : {
            code: ExportResultCode.FAILED,
            error: new Error(`pipetel: queue full, ${refused} metric points dropped`),
          },
    );
  }

  stats(): DeliveryStats {
    return this.delivery.queue.stats();
  }

  forceFlush(timeoutMs?: number): Promise<void> {
    return this.delivery.queue.forceFlush(timeoutMs);
  }

  shutdown(timeoutMs?: number): Promise<void> {
    return this.delivery.close(timeoutMs);
  }
}
