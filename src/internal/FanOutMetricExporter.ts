// One metric reader, several destinations (PostgreSQL and an OTLP collector). Host metrics must
// have exactly one reader — a second reader would corrupt their utilization figures — so
// destinations are multiplied behind the reader's exporter instead of adding readers.

import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import type { PushMetricExporter, ResourceMetrics } from '@opentelemetry/sdk-metrics';

export class FanOutMetricExporter implements PushMetricExporter {
  constructor(private readonly exporters: PushMetricExporter[]) {}

  export(metrics: ResourceMetrics, resultCallback: (result: ExportResult) => void): void {
    let pending = this.exporters.length;
    let failure: ExportResult | undefined;
    for (const exporter of this.exporters) {
      exporter.export(metrics, (result) => {
        if (result.code !== ExportResultCode.SUCCESS) failure ??= result;
        if (--pending === 0) resultCallback(failure ?? { code: ExportResultCode.SUCCESS });
      });
    }
  }

  async forceFlush(): Promise<void> {
    await Promise.all(this.exporters.map((e) => e.forceFlush()));
  }

  async shutdown(): Promise<void> {
    await Promise.all(this.exporters.map((e) => e.shutdown()));
  }
}
