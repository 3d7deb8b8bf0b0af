// The gateway's OTLP/protobuf reader, differentially: records made by the real SDK, serialized by
// the official OTLP serializers both ways (protobuf and JSON), must become the very same rows —
// the protobuf through otlpProtobuf.ts, the JSON as it is. And arbitrary bytes never crash it:
// they decode or are a BadRequest (a 400).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import {
  JsonLogsSerializer,
  JsonMetricsSerializer,
  JsonTraceSerializer,
  ProtobufLogsSerializer,
  ProtobufMetricsSerializer,
  ProtobufTraceSerializer,
} from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import fc from 'fast-check';
import { encodeLogRecord } from '../../exporters/postgres/logRows.js';
import { encodeMetricPoint, flattenResourceMetrics } from '../../exporters/postgres/metricRows.js';
import { ResourceInfoCache } from '../../exporters/postgres/resourceInfo.js';
import { encodeSpan } from '../../exporters/postgres/spanRows.js';
import { logsFromProtobuf, spansFromProtobuf } from '../../src/gateway/otlpDirect.js';
import { BadRequest, logsFromJson, metricsFromJson, spansFromJson } from '../../src/gateway/otlpJson.js';
import { decodeOtlpProtobuf } from '../../src/gateway/otlpProtobuf.js';

const resource = resourceFromAttributes({
  'service.name': 'diff',
  'pipetel.experiment_id': 'diff-run',
  nested: ['a', 'b'],
});
const json = (bytes: Uint8Array | undefined) => JSON.parse(Buffer.from(bytes!).toString('utf8'));
/** Rows without their client-generated ids (a log row's first field is a fresh UUIDv7). */
const withoutIds = (lines: string[]) => lines.map((l) => l.replace(/^[0-9a-f-]{36}\t/, ''));

describe('OTLP/protobuf decoding, against the official serializers', () => {
  it('spans: the same rows from protobuf as from JSON', async () => {
    const memory = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ resource, spanProcessors: [new SimpleSpanProcessor(memory)] });
    const tracer = provider.getTracer('diff-scope', '1.2.3');
    const parent = tracer.startSpan('parent', {
      kind: SpanKind.SERVER,
      attributes: { rows: 3, ratio: 0.25, ok: true, tags: ['x', 'y'] },
    });
    parent.addEvent('checkpoint', { step: 1 });
    parent.setStatus({ code: SpanStatusCode.ERROR, message: 'boom ✗' });
    const child = tracer.startSpan('child', {
      kind: SpanKind.CLIENT,
      links: [{ context: parent.spanContext(), attributes: { why: 'batch' } }],
    });
    child.end();
    parent.end();
    const spans = memory.getFinishedSpans();
    const rows = (request: unknown) =>
      spansFromJson(request).records.map((s) => encodeSpan(s, new ResourceInfoCache(undefined)));
    const proto = ProtobufTraceSerializer.serializeRequest(spans)!;
    const fromProto = rows(decodeOtlpProtobuf(proto, 'ExportTraceServiceRequest'));
    const fromJson = rows(json(JsonTraceSerializer.serializeRequest(spans)));
    assert.equal(fromProto.length, 2);
    assert.deepEqual(fromProto, fromJson);
    assert.match(fromProto.join(''), /boom ✗/);
    // The gateway's direct path for spans (protobuf straight to spans) gives the very same rows.
    assert.deepEqual(
      spansFromProtobuf(proto).records.map((s) => encodeSpan(s, new ResourceInfoCache(undefined))),
      fromProto,
    );
  });

  it('logs: the same rows from protobuf as from JSON', async () => {
    const memory = new InMemoryLogRecordExporter();
    const provider = new LoggerProvider({
      resource,
      processors: [new SimpleLogRecordProcessor({ exporter: memory })],
    });
    const logger = provider.getLogger('diff-logger');
    logger.emit({
      severityNumber: 17,
      severityText: 'ERROR',
      body: 'failed ✗',
      attributes: { rows: 4, list: [1, 2] },
    });
    logger.emit({ severityNumber: 9, body: { structured: true, n: 1 } });
    // In a span, with every kind of value: empty, false, zero, nested maps and arrays, bytes, unicode.
    logger.emit({
      severityNumber: 5,
      severityText: 'DEBUG',
      eventName: 'diff.event',
      body: new Uint8Array([0, 1, 254, 255]),
      attributes: {
        empty: '',
        no: false,
        zero: 0,
        pi: 3.25,
        deep: { a: { b: [1, 'x', true] } },
        ключ: 'значение ✓',
      },
      context: trace.setSpanContext(context.active(), {
        traceId: '0af7651916cd43dd8448eb211c80319c',
        spanId: 'b7ad6b7169203331',
        traceFlags: 1,
      }),
    });
    const records = memory.getFinishedLogRecords();
    const encode = (decoded: { records: import('@opentelemetry/sdk-logs').ReadableLogRecord[] }) =>
      withoutIds(decoded.records.map((r) => encodeLogRecord(r, new ResourceInfoCache(undefined))));
    const proto = ProtobufLogsSerializer.serializeRequest(records)!;
    const fromProto = encode(logsFromJson(decodeOtlpProtobuf(proto, 'ExportLogsServiceRequest')));
    assert.equal(fromProto.length, 3);
    assert.deepEqual(fromProto, encode(logsFromJson(json(JsonLogsSerializer.serializeRequest(records)))));
    // The gateway's direct path for logs (protobuf straight to records) gives the very same rows.
    assert.deepEqual(encode(logsFromProtobuf(proto)), fromProto);
    assert.match(fromProto[2]!, /0af7651916cd43dd8448eb211c80319c/);
  });

  it('metrics (sum, gauge, histogram): the same rows from protobuf as from JSON', async () => {
    const memory = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    const reader = new PeriodicExportingMetricReader({ exporter: memory, exportIntervalMillis: 60_000 });
    const provider = new MeterProvider({ resource, readers: [reader] });
    const meter = provider.getMeter('diff-meter');
    meter.createCounter('rows').add(42, { shard: '3' });
    meter.createGauge('temp').record(-1.5);
    const h = meter.createHistogram('latency', { advice: { explicitBucketBoundaries: [1, 10, 100] } });
    for (const v of [0.5, 5, 50, 500]) h.record(v, { route: '/x' });
    await reader.forceFlush();
    const metrics = memory.getMetrics()[0]!;
    const rows = (request: unknown) =>
      withoutIds(
        metricsFromJson(request).records.flatMap((m) =>
          flattenResourceMetrics(m, new ResourceInfoCache(undefined)).map(encodeMetricPoint),
        ),
      );
    const fromProto = rows(
      decodeOtlpProtobuf(ProtobufMetricsSerializer.serializeRequest(metrics)!, 'ExportMetricsServiceRequest'),
    );
    assert.equal(fromProto.length, 3);
    assert.deepEqual(fromProto, rows(json(JsonMetricsSerializer.serializeRequest(metrics))));
    await provider.shutdown();
  });

  it('64-bit integers keep full precision: beyond 2^53 they are stored as exact decimal text', () => {
    // KeyValue { key: "n", value: AnyValue { intValue: 2^63 - 1 } } inside a Resource inside ResourceSpans.
    const varint = (n: bigint) => {
      const out: number[] = [];
      do {
        let byte = Number(n & 0x7fn);
        n >>= 7n;
        if (n > 0n) byte |= 0x80;
        out.push(byte);
      } while (n > 0n);
      return out;
    };
    const field = (number: number, bytes: number[]) => [
      (number << 3) | 2,
      ...varint(BigInt(bytes.length)),
      ...bytes,
    ];
    const anyValue = [3 << 3, ...varint(2n ** 63n - 1n)];
    const keyValue = [...field(1, [...Buffer.from('n')]), ...field(2, anyValue)];
    const request = Uint8Array.from(field(1, field(1, field(1, keyValue))));
    const decoded = decodeOtlpProtobuf(request, 'ExportTraceServiceRequest') as {
      resourceSpans: Array<{ resource: { attributes: Array<{ value: { intValue: string } }> } }>;
    };
    assert.equal(decoded.resourceSpans[0]!.resource.attributes[0]!.value.intValue, '9223372036854775807');
    const { records } = spansFromJson({
      ...decoded,
      resourceSpans: [{ ...decoded.resourceSpans[0], scopeSpans: [] }],
    });
    assert.equal(records.length, 0);
  });

  it('arbitrary bytes decode or are a BadRequest, never anything else', () => {
    for (const type of [
      'ExportTraceServiceRequest',
      'ExportLogsServiceRequest',
      'ExportMetricsServiceRequest',
    ] as const) {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
          try {
            const decoded = decodeOtlpProtobuf(bytes, type);
            // Whatever decodes must also map, or be refused as a BadRequest.
            try {
              (type === 'ExportTraceServiceRequest'
                ? spansFromJson
                : type === 'ExportLogsServiceRequest'
                  ? logsFromJson
                  : metricsFromJson)(decoded);
            } catch (error) {
              if (!(error instanceof BadRequest)) throw error;
            }
          } catch (error) {
            if (!(error instanceof BadRequest)) throw error;
          }
        }),
        { numRuns: 2000 },
      );
    }
  });

  it('the direct paths agree with the generic one on arbitrary SDK records (names, attributes, bodies, events)', () => {
    const value = fc.oneof(
      fc.string(),
      fc.integer(),
      fc.double({ noNaN: true }),
      fc.boolean(),
      fc.array(fc.string(), { maxLength: 3 }),
    );
    const attributes = fc.dictionary(fc.string({ maxLength: 12 }), value, { maxKeys: 5 });
    fc.assert(
      fc.property(
        fc.array(fc.record({ name: fc.string(), attributes, body: fc.oneof(fc.string(), attributes) }), {
          minLength: 1,
          maxLength: 4,
        }),
        (items) => {
          const spanMemory = new InMemorySpanExporter();
          const tracer = new BasicTracerProvider({
            resource,
            spanProcessors: [new SimpleSpanProcessor(spanMemory)],
          }).getTracer('prop');
          const logMemory = new InMemoryLogRecordExporter();
          const logger = new LoggerProvider({
            resource,
            processors: [new SimpleLogRecordProcessor({ exporter: logMemory })],
          }).getLogger('prop');
          for (const item of items) {
            const span = tracer.startSpan(item.name, { attributes: item.attributes });
            span.addEvent(item.name, item.attributes);
            span.end();
            logger.emit({ severityNumber: 9, body: item.body, attributes: item.attributes });
          }
          const spans = ProtobufTraceSerializer.serializeRequest(spanMemory.getFinishedSpans())!;
          const encodeSpans = (records: ReadableSpan[]) =>
            records.map((r) => encodeSpan(r, new ResourceInfoCache(undefined)));
          assert.deepEqual(
            encodeSpans(spansFromProtobuf(spans).records),
            encodeSpans(spansFromJson(decodeOtlpProtobuf(spans, 'ExportTraceServiceRequest')).records),
          );
          const logs = ProtobufLogsSerializer.serializeRequest(logMemory.getFinishedLogRecords())!;
          const encodeLogs = (records: import('@opentelemetry/sdk-logs').ReadableLogRecord[]) =>
            withoutIds(records.map((r) => encodeLogRecord(r, new ResourceInfoCache(undefined))));
          assert.deepEqual(
            encodeLogs(logsFromProtobuf(logs).records),
            encodeLogs(logsFromJson(decodeOtlpProtobuf(logs, 'ExportLogsServiceRequest')).records),
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it("the spans' direct path agrees with the generic one on arbitrary bytes: the same rows, or both a BadRequest", () => {
    const outcome = (decode: () => { records: ReadableSpan[] }) => {
      try {
        return decode().records.map((s) => encodeSpan(s, new ResourceInfoCache(undefined)));
      } catch (error) {
        if (error instanceof BadRequest) return 'BadRequest';
        throw error;
      }
    };
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        assert.deepEqual(
          outcome(() => spansFromProtobuf(bytes)),
          outcome(() => spansFromJson(decodeOtlpProtobuf(bytes, 'ExportTraceServiceRequest'))),
        );
      }),
      { numRuns: 3000 },
    );
  });

  it("the logs' direct path agrees with the generic one on arbitrary bytes: the same records, or both a BadRequest", () => {
    const outcome = (decode: () => { records: Array<Record<string, unknown>> }) => {
      try {
        // hrTime is "now" for records without a time: compared apart from it.
        return decode().records.map(({ hrTime: _, ...rest }) => rest);
      } catch (error) {
        if (error instanceof BadRequest) return 'BadRequest';
        throw error;
      }
    };
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        const direct = outcome(() => logsFromProtobuf(bytes) as never);
        const generic = outcome(
          () => logsFromJson(decodeOtlpProtobuf(bytes, 'ExportLogsServiceRequest')) as never,
        );
        assert.deepEqual(direct, generic);
      }),
      { numRuns: 3000 },
    );
  });
});
