// TelemetryPolicy in front of a set of sinks, as OTel SDK components: a span processor, a log
// record processor and a metric exporter that apply the policy once and hand the result to every
// sink behind them (pipetel's register() puts them in front of PostgreSQL, the file and OTLP; a
// user with their own SDK can do the same with any processors or exporters). Processors behind a
// front door must treat records as read-only: a record that needed changes reaches them as a plain
// copy without setters, and what a processor adds after the policy ran is not checked; a processor
// that enriches records belongs in front of the front door.

import type { Context } from '@opentelemetry/api';
import type { ExportResult } from '@opentelemetry/core';
import type { LogRecordProcessor, SdkLogRecord } from '@opentelemetry/sdk-logs';
import type { PushMetricExporter, ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { TelemetryPolicy } from './TelemetryPolicy.js';

export class PolicySpanProcessor implements SpanProcessor {
  constructor(
    private readonly policy: TelemetryPolicy,
    private readonly processors: SpanProcessor[],
  ) {}

  onStart(span: Span, parentContext: Context): void {
    for (const processor of this.processors) processor.onStart(span, parentContext);
  }

  onEnding(span: Span): void {
    for (const processor of this.processors) processor.onEnding?.(span);
  }

  onEnd(span: ReadableSpan): void {
    const safe = this.policy.span(span);
    for (const processor of this.processors) processor.onEnd(safe);
  }

  async forceFlush(): Promise<void> {
    await Promise.all(this.processors.map((p) => p.forceFlush()));
  }

  async shutdown(): Promise<void> {
    await Promise.all(this.processors.map((p) => p.shutdown()));
  }
}

export class PolicyLogRecordProcessor implements LogRecordProcessor {
  constructor(
    private readonly policy: TelemetryPolicy,
    private readonly processors: LogRecordProcessor[],
  ) {}

  onEmit(record: SdkLogRecord, context?: Context): void {
    // Processors behind a front door read the record; the policy's copy has every field they read.
    const safe = this.policy.logRecord(record) as SdkLogRecord;
    for (const processor of this.processors) processor.onEmit(safe, context);
  }

  /** Enabled when any processor behind is (one without the method always is). */
  enabled(options: Parameters<NonNullable<LogRecordProcessor['enabled']>>[0]): boolean {
    return this.processors.some((p) => p.enabled?.(options) ?? true);
  }

  async forceFlush(): Promise<void> {
    await Promise.all(this.processors.map((p) => p.forceFlush()));
  }

  async shutdown(): Promise<void> {
    await Promise.all(this.processors.map((p) => p.shutdown()));
  }
}

export class PolicyMetricExporter implements PushMetricExporter {
  constructor(
    private readonly policy: TelemetryPolicy,
    private readonly exporter: PushMetricExporter,
  ) {}

  export(metrics: ResourceMetrics, resultCallback: (result: ExportResult) => void): void {
    this.exporter.export(this.policy.resourceMetrics(metrics), resultCallback);
  }

  forceFlush(): Promise<void> {
    return this.exporter.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.exporter.shutdown();
  }
}
