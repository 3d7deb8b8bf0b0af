// OTel span → pipeline_spans row: ids as hex, kind and status by name, events and links as jsonb
// with ISO times, the resource's attributes as jsonb, and the stage lifted from its attribute.
// Spans arrive through TelemetryPolicy (exporters/policy), so this only escapes for COPY.

import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { hrTimeField, STAGE_ATTRIBUTE } from '../shared/conventions.js';
import { hrDurationMs, jsonField, NULL_FIELD, numberField, textField } from './copyText.js';
import type { ResourceInfoCache } from './resourceInfo.js';
import type { TableSpec } from './TableWriter.js';

export const SPANS_TABLE: TableSpec = {
  name: 'pipeline_spans',
  timeColumn: 'start_time',
  columns: [
    'trace_id',
    'span_id',
    'parent_span_id',
    'experiment_id',
    'name',
    'kind',
    'start_time',
    'end_time',
    'duration_ms',
    'status_code',
    'status_message',
    'attributes',
    'events',
    'links',
    'resource',
    'scope',
    'stage',
  ],
};

export function encodeSpan(span: ReadableSpan, resources: ResourceInfoCache): string {
  const context = span.spanContext();
  const info = resources.get(span.resource);
  const stage = span.attributes[STAGE_ATTRIBUTE];
  const events = span.events.map((event) => ({
    name: event.name,
    time: hrTimeField(event.time),
    attributes: event.attributes ?? {},
  }));
  const links = span.links.map((link) => ({
    trace_id: link.context.traceId,
    span_id: link.context.spanId,
    attributes: link.attributes ?? {},
  }));
  const status = span.status.message;
  return `${context.traceId}\t${context.spanId}\t${span.parentSpanContext?.spanId ?? NULL_FIELD}\t${textField(info.experimentId)}\t${textField(span.name)}\t${SpanKind[span.kind] ?? 'INTERNAL'}\t${hrTimeField(span.startTime)}\t${hrTimeField(span.endTime)}\t${numberField(hrDurationMs(span.startTime, span.endTime))}\t${SpanStatusCode[span.status.code] ?? 'UNSET'}\t${typeof status === 'string' ? textField(status) : NULL_FIELD}\t${jsonField(span.attributes)}\t${jsonField(events)}\t${jsonField(links)}\t${info.resourceJson}\t${textField(span.instrumentationScope.name)}\t${typeof stage === 'string' ? textField(stage) : NULL_FIELD}\n`;
}
