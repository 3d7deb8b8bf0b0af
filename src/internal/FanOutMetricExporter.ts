// One metric reader, several destinations (PostgreSQL and an OTLP collector). Host metrics must
// have exactly one reader — a second reader would corrupt their utilization figures — so
// destinations are multiplied behind the reader's exporter instead of adding readers.
//
// The reader waits for an export before it shuts its exporter down. A collector that accepts and
// never answers would then hold PostgreSQL's exporter until the OTLP request timed out — past the
// shutdown deadline, with its last points still queued. So the destinations a collection waits
// for (`awaited`: PostgreSQL when there is one) are apart from those it only starts (`alongside`:
// OTLP, which counts and reports its own failures); both are flushed and shut down together.

import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import type { PushMetricExporter, ResourceMetrics } from '@opentelemetry/sdk-metrics';

export class FanOutMetricExporter implements PushMetricExporter {
  constructor(
    private readonly awaited: PushMetricExporter[],
    private readonly alongside: PushMetricExporter[] = [],
  ) {}

  export(metrics: ResourceMetrics, resultCallback: (result: ExportResult) => void): void {
    for (const exporter of this.alongside) exporter.export(metrics, () => undefined);
    let pending = this.awaited.length;
    if (pending === 0) {
      resultCallback({ code: ExportResultCode.SUCCESS });
      return;
    }
    let failure: ExportResult | undefined;
    for (const exporter of this.awaited) {
      exporter.export(metrics, (result) => {
        if (result.code !== ExportResultCode.SUCCESS) failure ??= result;
        if (--pending === 0) resultCallback(failure ?? { code: ExportResultCode.SUCCESS });
      });
    }
  }

  async forceFlush(): Promise<void> {
    await Promise.all([...this.awaited, ...this.alongside].map((e) => e.forceFlush()));
  }

  async shutdown(): Promise<void> {
    await Promise.all([...this.awaited, ...this.alongside].map((e) => e.shutdown()));
  }
}
