// Metrics into pipeline_metrics: a PushMetricExporter for a PeriodicExportingMetricReader. Each
// collection is flattened into one row per data point and enqueued; cumulative temporality
// (the SDK default) is kept, so each row holds the running total at its timestamp.

import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import type { PushMetricExporter, ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { DeliveryStats } from '../delivery/types.js';
import type { SanitizeCounters } from '../policy/Sanitizer.js';
import type { TelemetryPolicy } from '../policy/TelemetryPolicy.js';
import { MetricWindow } from './MetricWindow.js';
import { encodeMetricPoint, flattenResourceMetrics, METRICS_TABLE, type MetricPoint } from './metricRows.js';
import {
  type DeliveryHandle,
  openDelivery,
  type PostgresExporterOptions,
  resolvePolicy,
} from './PostgresDelivery.js';
import { ResourceInfoCache } from './resourceInfo.js';

export interface PostgresMetricExporterOptions extends PostgresExporterOptions {
  /**
   * When set, collections are aggregated in memory and one row per instrument and attribute set
   * is written per window (monitoring.aggregate_metrics / aggregation_window).
   */
  aggregationWindowMs?: number;
}

export class PostgresMetricExporter implements PushMetricExporter {
  private readonly delivery: DeliveryHandle<MetricPoint>;
  private readonly resources: ResourceInfoCache;
  /** Applied to each collection before it is flattened (undefined: applied upstream). */
  private readonly policy: TelemetryPolicy | undefined;
  private window: MetricWindow | undefined;
  private windowTimer: NodeJS.Timeout | undefined;
  private windowMs: number | undefined;

  constructor(options: PostgresMetricExporterOptions) {
    this.resources = new ResourceInfoCache(options.experimentId);
    this.policy = resolvePolicy(options);
    this.delivery = openDelivery('metrics', METRICS_TABLE, () => encodeMetricPoint, {
      ...options,
      policy: 'upstream',
    });
    this.setAggregationWindowMs(options.aggregationWindowMs);
  }

  /**
   * Changes the aggregation window from now on (undefined: one row per point and collection). The
   * open window is written first, so no point is lost or counted twice.
   */
  setAggregationWindowMs(windowMs: number | undefined): void {
    if (windowMs === this.windowMs && (this.window !== undefined) === Boolean(windowMs)) return;
    this.windowMs = windowMs;
    if (this.window) this.closeWindow();
    if (this.windowTimer) clearInterval(this.windowTimer);
    this.window = undefined;
    this.windowTimer = undefined;
    if (!windowMs) return;
    this.window = new MetricWindow();
    this.windowTimer = setInterval(() => this.closeWindow(), windowMs);
    this.windowTimer.unref();
  }

  export(metrics: ResourceMetrics, resultCallback: (result: ExportResult) => void): void {
    const safe = this.policy ? this.policy.resourceMetrics(metrics) : metrics;
    const points = flattenResourceMetrics(safe, this.resources);
    if (this.window) {
      this.window.add(points);
      resultCallback({ code: ExportResultCode.SUCCESS });
      return;
    }
    const refused = this.enqueue(points);
    resultCallback(
      refused === 0
        ? { code: ExportResultCode.SUCCESS }
        : {
            code: ExportResultCode.FAILED,
            error: new Error(`pipetel: queue full, ${refused} metric points dropped`),
          },
    );
  }

  private enqueue(points: MetricPoint[]): number {
    let refused = 0;
    for (const point of points) if (!this.delivery.queue.enqueue(point)) refused++;
    return refused;
  }

  private closeWindow(): void {
    if (this.window && this.window.size > 0) this.enqueue(this.window.drain());
  }

  stats(): DeliveryStats {
    return this.delivery.queue.stats();
  }

  /** Values sanitized (bad input) and redacted (secret keys) by this exporter's own policy (zeros when applied upstream). */
  encodingStats(): SanitizeCounters {
    return { ...(this.policy?.counters ?? { sanitized: 0, redacted: 0 }) };
  }

  /** The server refuses this connection's login, as the caller reported: spool quietly (see QueueingExporter). */
  refuse(error: unknown): void {
    this.delivery.queue.refuse(error);
  }

  /** After refuse(): the caller reached the database again (see QueueingExporter). */
  resume(): void {
    this.delivery.queue.resume();
  }

  /** process 'exit' before shutdown(): the points held go to the spool (see QueueingExporter). */
  spillAtExit(): { spooled: number; lost: number } {
    this.closeWindow();
    return this.delivery.queue.spillAtExit();
  }

  /** False while the database is known to be unreachable (batches are being spooled). */
  sinkAvailable(): boolean {
    return this.delivery.queue.sinkAvailable;
  }

  /** Milliseconds spent encoding this exporter's rows, on the thread that emits them. */
  workMs(): number {
    return this.delivery.queue.workMs();
  }

  /** Writes the open aggregation window (if any) and everything queued. */
  forceFlush(timeoutMs?: number): Promise<void> {
    this.closeWindow();
    return this.delivery.queue.forceFlush(timeoutMs);
  }

  shutdown(timeoutMs?: number): Promise<void> {
    if (this.windowTimer) clearInterval(this.windowTimer);
    this.closeWindow();
    return this.delivery.close(timeoutMs);
  }
}
