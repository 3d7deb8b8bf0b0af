// OTLP/JSON export requests (the OTLP spec's JSON mapping: hex trace and span ids, 64-bit integers
// as strings or numbers, enums as numbers) to the SDK's own record types, so the gateway writes
// them through the same exporters, policy and delivery path as a registered process. Each
// resource gets the experiment SPEC §10 names: pipetel.experiment_id, else service.instance.id,
// else service.name and the UTC day.

import { type Attributes, type HrTime, SpanKind, SpanStatusCode, TraceFlags } from '@opentelemetry/api';
import { type Resource, resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import {
  AggregationTemporality,
  DataPointType,
  type MetricData,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { EXPERIMENT_ID_ATTRIBUTE } from '../../exporters/shared/conventions.js';

/** A request the gateway cannot read: answered 400 with this message. */
export class BadRequest extends Error {}

type Json = Record<string, unknown>;
const list = (value: unknown): Json[] => (Array.isArray(value) ? (value as Json[]) : []);
const obj = (value: unknown): Json => (value && typeof value === 'object' ? (value as Json) : {});

/** An OTLP AnyValue as a plain value (arrays and maps nested; bytes as base64 text). */
function anyValue(value: unknown): unknown {
  const v = obj(value);
  if ('stringValue' in v) return String(v.stringValue);
  if ('boolValue' in v) return Boolean(v.boolValue);
  if ('intValue' in v) return int64(v.intValue);
  if ('doubleValue' in v) return Number(v.doubleValue);
  if ('arrayValue' in v) return list(obj(v.arrayValue).values).map(anyValue);
  if ('kvlistValue' in v) return attributes(obj(v.kvlistValue).values);
  if ('bytesValue' in v) return String(v.bytesValue);
  return undefined;
}

/** int64 as JSON gives it (string or number): a number when exact, else the decimal string. */
function int64(value: unknown): number | string {
  if (typeof value === 'number') return value;
  const text = String(value);
  if (!/^-?\d+$/.test(text)) throw new BadRequest(`not an integer: ${text.slice(0, 40)}`);
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : text;
}

function attributes(kvs: unknown): Attributes {
  const out: Record<string, unknown> = {};
  for (const kv of list(kvs)) {
    if (typeof kv.key !== 'string') continue;
    const value = anyValue(kv.value);
    if (value !== undefined) out[kv.key] = value;
  }
  return out as Attributes;
}

const DIGITS = /^\d+$/;
const HEX_ID: Record<number, RegExp> = { 8: /^[0-9a-f]{16}$/, 16: /^[0-9a-f]{32}$/ };

/** Unix nanoseconds (string or number) as HrTime, exact (per record: no BigInt on the way). */
function hrTime(value: unknown): HrTime {
  if (value === undefined || value === null || value === '' || value === '0' || value === 0) return [0, 0];
  const text = typeof value === 'number' ? BigInt(Math.round(value)).toString() : String(value);
  if (!DIGITS.test(text)) throw new BadRequest(`not a time in nanoseconds: ${text.slice(0, 40)}`);
  // Up to 15 digits of seconds split exactly as numbers; anything longer (not a real time) via BigInt.
  if (text.length > 24) {
    const ns = BigInt(text);
    return [Number(ns / 1_000_000_000n), Number(ns % 1_000_000_000n)];
  }
  const cut = text.length - 9;
  return cut > 0 ? [Number(text.slice(0, cut)), Number(text.slice(cut))] : [0, Number(text)];
}

function hexId(value: unknown, bytes: 8 | 16, what: string): string {
  const text = typeof value === 'string' ? value.toLowerCase() : '';
  if (!HEX_ID[bytes]!.test(text)) throw new BadRequest(`${what} must be ${bytes * 2} hex digits`);
  return text;
}

export const hrDuration = (start: HrTime, end: HrTime): HrTime => {
  let s = end[0] - start[0];
  let n = end[1] - start[1];
  if (n < 0) {
    s -= 1;
    n += 1_000_000_000;
  }
  return [Math.max(0, s), s < 0 ? 0 : n];
};

/** The resource of one ResourceSpans/ResourceLogs/ResourceMetrics, with its experiment named. */
export function resourceOf(
  resource: unknown,
  now = new Date(),
): { resource: Resource; experimentId: string } {
  const attrs = attributes(obj(resource).attributes) as Record<string, unknown>;
  const named = attrs[EXPERIMENT_ID_ATTRIBUTE] ?? attrs['service.instance.id'];
  const experimentId =
    typeof named === 'string' && named
      ? named
      : `${typeof attrs['service.name'] === 'string' ? attrs['service.name'] : 'unknown_service'}-${now.toISOString().slice(0, 10)}`;
  attrs[EXPERIMENT_ID_ATTRIBUTE] = experimentId;
  return { resource: resourceFromAttributes(attrs as Attributes), experimentId };
}

export const SPAN_KINDS: Record<number, SpanKind> = {
  1: SpanKind.INTERNAL,
  2: SpanKind.SERVER,
  3: SpanKind.CLIENT,
  4: SpanKind.PRODUCER,
  5: SpanKind.CONSUMER,
};

export interface Decoded<T> {
  records: T[];
  /** experiment id → service.name, for the experiment rows. */
  experiments: Map<string, string>;
}

export function serviceOf(resource: Resource): string {
  const name = resource.attributes['service.name'];
  return typeof name === 'string' ? name : 'unknown_service';
}

export function spansFromJson(body: unknown): Decoded<ReadableSpan> {
  const records: ReadableSpan[] = [];
  const experiments = new Map<string, string>();
  for (const rs of list(obj(body).resourceSpans)) {
    const { resource, experimentId } = resourceOf(rs.resource);
    experiments.set(experimentId, serviceOf(resource));
    for (const ss of list(rs.scopeSpans)) {
      const scope = obj(ss.scope);
      const instrumentationScope = {
        name: String(scope.name ?? ''),
        version: scope.version ? String(scope.version) : undefined,
      };
      for (const s of list(ss.spans)) {
        const traceId = hexId(s.traceId, 16, 'traceId');
        const spanId = hexId(s.spanId, 8, 'spanId');
        const parent =
          typeof s.parentSpanId === 'string' && s.parentSpanId
            ? hexId(s.parentSpanId, 8, 'parentSpanId')
            : undefined;
        const startTime = hrTime(s.startTimeUnixNano);
        const endTime = hrTime(s.endTimeUnixNano);
        const status = obj(s.status);
        const code = Number(status.code ?? 0);
        records.push({
          name: String(s.name ?? ''),
          kind: SPAN_KINDS[Number(s.kind ?? 1)] ?? SpanKind.INTERNAL,
          spanContext: () => ({ traceId, spanId, traceFlags: TraceFlags.SAMPLED }),
          parentSpanContext: parent
            ? { traceId, spanId: parent, traceFlags: TraceFlags.SAMPLED, isRemote: true }
            : undefined,
          startTime,
          endTime,
          duration: hrDuration(startTime, endTime),
          status: {
            code: code === 1 ? SpanStatusCode.OK : code === 2 ? SpanStatusCode.ERROR : SpanStatusCode.UNSET,
            message: typeof status.message === 'string' && status.message ? status.message : undefined,
          },
          attributes: attributes(s.attributes),
          links: list(s.links).map((l) => ({
            context: {
              traceId: hexId(l.traceId, 16, 'link traceId'),
              spanId: hexId(l.spanId, 8, 'link spanId'),
              traceFlags: TraceFlags.SAMPLED,
            },
            attributes: attributes(l.attributes),
          })),
          events: list(s.events).map((e) => ({
            name: String(e.name ?? ''),
            time: hrTime(e.timeUnixNano),
            attributes: attributes(e.attributes),
          })),
          ended: true,
          resource,
          instrumentationScope,
          droppedAttributesCount: Number(s.droppedAttributesCount ?? 0),
          droppedEventsCount: Number(s.droppedEventsCount ?? 0),
          droppedLinksCount: Number(s.droppedLinksCount ?? 0),
        });
      }
    }
  }
  return { records, experiments };
}

export function logsFromJson(body: unknown): Decoded<ReadableLogRecord> {
  const records: ReadableLogRecord[] = [];
  const experiments = new Map<string, string>();
  for (const rl of list(obj(body).resourceLogs)) {
    const { resource, experimentId } = resourceOf(rl.resource);
    experiments.set(experimentId, serviceOf(resource));
    for (const sl of list(rl.scopeLogs)) {
      const scope = obj(sl.scope);
      const instrumentationScope = {
        name: String(scope.name ?? ''),
        version: scope.version ? String(scope.version) : undefined,
      };
      for (const r of list(sl.logRecords)) {
        const time = hrTime(r.timeUnixNano || r.observedTimeUnixNano);
        const traceId =
          typeof r.traceId === 'string' && r.traceId ? hexId(r.traceId, 16, 'traceId') : undefined;
        const spanId = typeof r.spanId === 'string' && r.spanId ? hexId(r.spanId, 8, 'spanId') : undefined;
        records.push({
          hrTime: time[0] === 0 && time[1] === 0 ? hrNow() : time,
          hrTimeObserved: hrTime(r.observedTimeUnixNano),
          spanContext:
            traceId && spanId ? { traceId, spanId, traceFlags: Number(r.flags ?? 1) & 1 } : undefined,
          severityText: typeof r.severityText === 'string' ? r.severityText : undefined,
          severityNumber: r.severityNumber === undefined ? undefined : Number(r.severityNumber),
          body: anyValue(r.body) as ReadableLogRecord['body'],
          eventName: typeof r.eventName === 'string' ? r.eventName : undefined,
          resource,
          instrumentationScope,
          attributes: attributes(r.attributes),
          droppedAttributesCount: Number(r.droppedAttributesCount ?? 0),
        });
      }
    }
  }
  return { records, experiments };
}

export function hrNow(): HrTime {
  const ms = Date.now();
  return [Math.floor(ms / 1000), (ms % 1000) * 1_000_000];
}

const TEMPORALITY = (value: unknown) =>
  Number(value) === 1 ? AggregationTemporality.DELTA : AggregationTemporality.CUMULATIVE;

export function metricsFromJson(body: unknown): Decoded<ResourceMetrics> {
  const records: ResourceMetrics[] = [];
  const experiments = new Map<string, string>();
  for (const rm of list(obj(body).resourceMetrics)) {
    const { resource, experimentId } = resourceOf(rm.resource);
    experiments.set(experimentId, serviceOf(resource));
    records.push({
      resource,
      scopeMetrics: list(rm.scopeMetrics).map((sm) => {
        const scope = obj(sm.scope);
        return {
          scope: {
            name: String(scope.name ?? ''),
            version: scope.version ? String(scope.version) : undefined,
          },
          metrics: list(sm.metrics).flatMap((m): MetricData[] => {
            const descriptor = {
              name: String(m.name ?? ''),
              description: String(m.description ?? ''),
              unit: String(m.unit ?? ''),
              valueType: 1,
            };
            const numberPoints = (points: unknown) =>
              list(points).map((p) => ({
                startTime: hrTime(p.startTimeUnixNano),
                endTime: hrTime(p.timeUnixNano),
                attributes: attributes(p.attributes),
                value: p.asDouble !== undefined ? Number(p.asDouble) : Number(int64(p.asInt ?? 0)),
              }));
            if (m.gauge) {
              return [
                {
                  descriptor,
                  dataPointType: DataPointType.GAUGE,
                  aggregationTemporality: AggregationTemporality.CUMULATIVE,
                  dataPoints: numberPoints(obj(m.gauge).dataPoints),
                } as MetricData,
              ];
            }
            if (m.sum) {
              const sum = obj(m.sum);
              return [
                {
                  descriptor,
                  dataPointType: DataPointType.SUM,
                  aggregationTemporality: TEMPORALITY(sum.aggregationTemporality),
                  isMonotonic: Boolean(sum.isMonotonic),
                  dataPoints: numberPoints(sum.dataPoints),
                } as MetricData,
              ];
            }
            if (m.histogram) {
              const histogram = obj(m.histogram);
              return [
                {
                  descriptor,
                  dataPointType: DataPointType.HISTOGRAM,
                  aggregationTemporality: TEMPORALITY(histogram.aggregationTemporality),
                  dataPoints: list(histogram.dataPoints).map((p) => ({
                    startTime: hrTime(p.startTimeUnixNano),
                    endTime: hrTime(p.timeUnixNano),
                    attributes: attributes(p.attributes),
                    value: {
                      count: Number(int64(p.count ?? 0)),
                      sum: p.sum === undefined ? undefined : Number(p.sum),
                      min: p.min === undefined ? undefined : Number(p.min),
                      max: p.max === undefined ? undefined : Number(p.max),
                      buckets: {
                        boundaries: list(p.explicitBounds as unknown).map(Number),
                        counts: list(p.bucketCounts as unknown).map((c) => Number(int64(c))),
                      },
                    },
                  })),
                } as MetricData,
              ];
            }
            return []; // summaries and exponential histograms: not stored yet
          }),
        };
      }),
    });
  }
  return { records, experiments };
}
