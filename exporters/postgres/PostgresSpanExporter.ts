// Spans into pipeline_spans: a SpanExporter for a user's own BatchSpanProcessor, and a
// SpanProcessor that enqueues each span as it ends (what register() uses).

import type { Context } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import {
  type DeliveryHandle,
  openDelivery,
  type PostgresExporterOptions,
  QueueingExporter,
} from './PostgresDelivery.js';
import { ResourceInfoCache } from './resourceInfo.js';
import { encodeSpan, SPANS_TABLE } from './spanRows.js';

export class PostgresSpanExporter extends QueueingExporter<ReadableSpan> implements SpanExporter {
  /** @internal */
  protected readonly delivery: DeliveryHandle<ReadableSpan>;

  constructor(options: PostgresExporterOptions) {
    super();
    const resources = new ResourceInfoCache(options.experimentId);
    this.delivery = openDelivery(
      'spans',
      SPANS_TABLE,
      (policy) =>
        policy ? (span) => encodeSpan(policy.span(span), resources) : (span) => encodeSpan(span, resources),
      options,
    );
  }
}

export class PostgresSpanProcessor implements SpanProcessor {
  readonly exporter: PostgresSpanExporter;

  constructor(options: PostgresExporterOptions | PostgresSpanExporter) {
    this.exporter = options instanceof PostgresSpanExporter ? options : new PostgresSpanExporter(options);
  }

  onStart(_span: Span, _parentContext: Context): void {}

  onEnd(span: ReadableSpan): void {
    this.exporter.accept(span);
  }

  forceFlush(): Promise<void> {
    return this.exporter.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.exporter.shutdown();
  }
}
