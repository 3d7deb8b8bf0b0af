// The front door of every sink: what a span, a log record, a metric point or a resource carries is
// sanitized (limits.ts) and redacted (redaction.keys) here, once, before PostgreSQL, the file or
// an OTLP collector sees it; the sinks' encoders keep only their format's escaping. A record that
// needs nothing is passed on as the same object; one that does becomes a read-only copy with the
// same fields. The policy is idempotent: a record that went through it passes again unchanged.

import type { Attributes, Link } from '@opentelemetry/api';
import type { AnyValueMap } from '@opentelemetry/api-logs';
import { type Resource, resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type {
  IAttributesProcessor,
  MetricData,
  ResourceMetrics,
  ScopeMetrics,
  ViewOptions,
} from '@opentelemetry/sdk-metrics';
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
  private readonly scopes = new WeakMap<object, object>();
  // Bound once: a span's events and links are mapped without a closure per call.
  private readonly eventOf = (event: TimedEvent) => this.event(event);
  private readonly linkOf = (link: Link) => this.link(link);

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

  /**
   * Metric attributes must be redacted where a value is recorded, before aggregation: after it,
   * two series that differ only in a secret value would be two points with the same attributes
   * (and a sink that merges them would lose one). This view does that for every instrument of a
   * MeterProvider (`new MeterProvider({ views: [policy.view()] })`); register() installs it, and
   * pipetel's direct meter path honours it. `contextFree` says the result depends on the
   * attributes alone, so a cached series may stand for every call with the same attributes.
   */
  view(): ViewOptions {
    const sanitizer = this.newSanitizer(); // its own walk state: a record may happen mid-walk
    const processor: IAttributesProcessor & { readonly contextFree: true } = {
      contextFree: true,
      process: (incoming) => sanitizer.attributes(incoming),
    };
    return { instrumentName: '*', attributesProcessors: [processor] };
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
    const events = mapChanged(span.events, this.eventOf);
    const links = mapChanged(span.links, this.linkOf);
    const message = span.status.message;
    const safeMessage = typeof message === 'string' ? s.text(message) : message;
    const status = safeMessage === message ? span.status : { ...span.status, message: safeMessage };
    const resource = this.resource(span.resource);
    const scope = this.scope(span.instrumentationScope);
    if (
      name === span.name &&
      attributes === span.attributes &&
      events === span.events &&
      links === span.links &&
      status === span.status &&
      resource === span.resource &&
      scope === span.instrumentationScope
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
      instrumentationScope: scope,
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
    const scope = this.scope(record.instrumentationScope);
    const severityText = record.severityText === undefined ? undefined : s.text(record.severityText);
    const eventName = record.eventName === undefined ? undefined : s.text(record.eventName);
    if (
      body === record.body &&
      attributes === record.attributes &&
      resource === record.resource &&
      scope === record.instrumentationScope &&
      severityText === record.severityText &&
      eventName === record.eventName
    ) {
      return record;
    }
    return {
      hrTime: record.hrTime,
      hrTimeObserved: record.hrTimeObserved,
      spanContext: record.spanContext,
      severityText,
      severityNumber: record.severityNumber,
      body: body as ReadableLogRecord['body'],
      eventName,
      resource,
      instrumentationScope: scope,
      attributes: attributes as AnyValueMap,
      droppedAttributesCount: record.droppedAttributesCount,
    };
  }

  resourceMetrics(metrics: ResourceMetrics): ResourceMetrics {
    const resource = this.resource(metrics.resource);
    const scopeMetrics = mapChanged(metrics.scopeMetrics, (scope) => this.scopeMetrics(scope));
    if (resource === metrics.resource && scopeMetrics === metrics.scopeMetrics) return metrics;
    return { resource, scopeMetrics };
  }

  /**
   * An instrumentation scope with its name, version and attributes cleaned (a Logs API scope may
   * carry attributes); one result per scope object, so exporters that group by scope still can.
   */
  private scope<T extends { name: string; version?: string; attributes?: object }>(scope: T): T {
    let safe = this.scopes.get(scope) as T | undefined;
    if (safe === undefined) {
      const s = this.sanitizer;
      const name = s.text(scope.name);
      const version = scope.version === undefined ? undefined : s.text(scope.version);
      const attributes = scope.attributes && s.attributes(scope.attributes);
      safe =
        name === scope.name && version === scope.version && attributes === scope.attributes
          ? scope
          : { ...scope, name, version, attributes };
      this.scopes.set(scope, safe);
      this.scopes.set(safe, safe);
    }
    return safe;
  }

  private scopeMetrics(scope: ScopeMetrics): ScopeMetrics {
    const metrics = mapChanged(scope.metrics, (metric) => this.metric(metric));
    const instrumentationScope = this.scope(scope.scope);
    return metrics === scope.metrics && instrumentationScope === scope.scope
      ? scope
      : { scope: instrumentationScope, metrics };
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
