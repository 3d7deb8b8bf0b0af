// The front door of every sink: what a span, a log record, a metric point or a resource carries is
// sanitized (limits.ts) and redacted (redaction.keys) here, once, before PostgreSQL, the file or
// an OTLP collector sees it; the sinks' encoders keep only their format's escaping. A record that
// needs nothing is passed on as the same object; one that does becomes a read-only copy with the
// same fields. The policy is idempotent: a record that went through it passes again unchanged.

import type { Attributes, Link } from '@opentelemetry/api';
import type { AnyValueMap } from '@opentelemetry/api-logs';
import { type Resource, resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { MetricData, ResourceMetrics, ScopeMetrics } from '@opentelemetry/sdk-metrics';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base';
import { newSanitizeCounters, type SanitizeCounters, Sanitizer } from './Sanitizer.js';
import { DEFAULT_SECRET_KEYS, SecretKeyMatcher } from './secrets.js';

export interface TelemetryPolicyOptions {
  /**
   * Attribute keys whose values become '[REDACTED]' at any depth (redaction.keys; the matching
   * rule is SecretKeyMatcher's). Default DEFAULT_SECRET_KEYS; [] redacts nothing.
   */
  redactKeys?: readonly string[];
  /** Where changed values are counted; share one object to total several policies. */
  counters?: SanitizeCounters;
}

export class TelemetryPolicy {
  readonly matcher: SecretKeyMatcher;
  readonly counters: SanitizeCounters;
  private readonly sanitizer: Sanitizer;
  private readonly resources = new WeakMap<Resource, Resource>();

  constructor(options: TelemetryPolicyOptions = {}) {
    this.matcher = new SecretKeyMatcher(options.redactKeys ?? DEFAULT_SECRET_KEYS);
    this.counters = options.counters ?? newSanitizeCounters();
    this.sanitizer = new Sanitizer(this.matcher, this.counters);
  }

  /**
   * A sanitizer with this policy's keys and limits, counting into `counters` (default: the
   * policy's): for a front door that builds its records itself (pipetel's Logger).
   */
  newSanitizer(counters: SanitizeCounters = this.counters): Sanitizer {
    return new Sanitizer(this.matcher, counters);
  }

  attributes<T extends object>(attributes: T): T {
    return this.sanitizer.attributes(attributes);
  }

  /** The resource with its attributes sanitized and redacted; computed once per resource object. */
  resource(resource: Resource): Resource {
    let safe = this.resources.get(resource);
    if (safe === undefined) {
      const attributes = resource.attributes;
      const clean = this.sanitizer.attributes(attributes);
      safe =
        clean === attributes ? resource : resourceFromAttributes(clean, { schemaUrl: resource.schemaUrl });
      this.resources.set(resource, safe);
      this.resources.set(safe, safe);
    }
    return safe;
  }

  span(span: ReadableSpan): ReadableSpan {
    const s = this.sanitizer;
    const name = s.text(span.name);
    const attributes = s.attributes(span.attributes);
    const events = mapChanged(span.events, (event) => this.event(event));
    const links = mapChanged(span.links, (link) => this.link(link));
    const message = span.status.message;
    const status =
      typeof message === 'string' && s.text(message) !== message
        ? { ...span.status, message: s.text(message) }
        : span.status;
    const resource = this.resource(span.resource);
    if (
      name === span.name &&
      attributes === span.attributes &&
      events === span.events &&
      links === span.links &&
      status === span.status &&
      resource === span.resource
    ) {
      return span;
    }
    const spanContext = span.spanContext();
    return {
      name,
      kind: span.kind,
      spanContext: () => spanContext,
      parentSpanContext: span.parentSpanContext,
      startTime: span.startTime,
      endTime: span.endTime,
      status,
      attributes,
      links,
      events,
      duration: span.duration,
      ended: span.ended,
      resource,
      instrumentationScope: span.instrumentationScope,
      droppedAttributesCount: span.droppedAttributesCount,
      droppedEventsCount: span.droppedEventsCount,
      droppedLinksCount: span.droppedLinksCount,
    };
  }

  logRecord(record: ReadableLogRecord): ReadableLogRecord {
    const s = this.sanitizer;
    const body = typeof record.body === 'string' ? s.text(record.body) : s.value(record.body);
    const attributes = s.attributes(record.attributes);
    const resource = this.resource(record.resource);
    if (body === record.body && attributes === record.attributes && resource === record.resource) {
      return record;
    }
    return {
      hrTime: record.hrTime,
      hrTimeObserved: record.hrTimeObserved,
      spanContext: record.spanContext,
      severityText: record.severityText,
      severityNumber: record.severityNumber,
      body: body as ReadableLogRecord['body'],
      eventName: record.eventName,
      resource,
      instrumentationScope: record.instrumentationScope,
      attributes: attributes as AnyValueMap,
      droppedAttributesCount: record.droppedAttributesCount,
    };
  }

  resourceMetrics(metrics: ResourceMetrics): ResourceMetrics {
    const resource = this.resource(metrics.resource);
    const scopeMetrics = mapChanged(metrics.scopeMetrics, (scope) => this.scope(scope));
    if (resource === metrics.resource && scopeMetrics === metrics.scopeMetrics) return metrics;
    return { resource, scopeMetrics };
  }

  private scope(scope: ScopeMetrics): ScopeMetrics {
    const metrics = mapChanged(scope.metrics, (metric) => this.metric(metric));
    return metrics === scope.metrics ? scope : { scope: scope.scope, metrics };
  }

  private metric(metric: MetricData): MetricData {
    const points = mapChanged(metric.dataPoints as Array<{ attributes: Attributes }>, (point) => {
      const attributes = this.sanitizer.attributes(point.attributes);
      return attributes === point.attributes ? point : { ...point, attributes };
    });
    return points === metric.dataPoints ? metric : ({ ...metric, dataPoints: points } as MetricData);
  }

  private event(event: TimedEvent): TimedEvent {
    const name = this.sanitizer.text(event.name);
    const attributes = event.attributes && this.sanitizer.attributes(event.attributes);
    return name === event.name && attributes === event.attributes ? event : { ...event, name, attributes };
  }

  private link(link: Link): Link {
    const attributes = link.attributes && this.sanitizer.attributes(link.attributes);
    return attributes === link.attributes ? link : { ...link, attributes };
  }
}

/** `items` itself when `change` returns every item unchanged, else the array of its results. */
function mapChanged<T>(items: readonly T[], change: (item: T) => T): T[] {
  let out: T[] | undefined;
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    const changed = change(item);
    if (changed !== item && out === undefined) out = items.slice(0, i);
    out?.push(changed);
  }
  return out ?? (items as T[]);
}
