// The gateway's hot path: OTLP/protobuf logs and traces export requests read straight into the
// SDK's log records and spans, without the OTLP/JSON objects in between (half the allocations: logs
// and spans are what a fleet's gateway mostly carries). The rules are those of otlpJson.ts's
// logsFromJson / spansFromJson on what otlpProtobuf.ts decodes — the differential tests hold the
// two paths to the very same rows. Resources and scopes (once per batch) still go the generic way,
// and so do metrics (few points per request).

import { type Attributes, type HrTime, SpanKind, SpanStatusCode, TraceFlags } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import {
  BadRequest,
  type Decoded,
  hrDuration,
  hrNow,
  resourceOf,
  SPAN_KINDS,
  serviceOf,
} from './otlpJson.js';
import { decodeMessage, MAX_DEPTH, Reader, text, WIRE } from './otlpProtobuf.js';

/** What a record reader returns: the record, its resource and scope set once the batch is read. */
type Pending<R> = { -readonly [K in keyof R]: R[K] } & {
  resource: Resource;
  instrumentationScope: { name: string; version?: string };
};

/** The field names of one signal's request, for error messages. */
interface Shape {
  resources: string;
  scopes: string;
  records: string;
}

/**
 * An export request: repeated Resource<Signal> (field 1), each a resource (1) and repeated
 * Scope<Signal> (2), each a scope (1) and repeated records (2) that `readRecord` reads.
 */
function recordsFromProtobuf<R>(
  buf: Uint8Array,
  shape: Shape,
  readRecord: (reader: Reader, length: number) => Pending<R>,
): Decoded<R> {
  const buffer = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const reader = new Reader(buffer);
  const records: R[] = [];
  const experiments = new Map<string, string>();
  while (reader.pos < buffer.length) {
    const tag = reader.uint32();
    if (tag >>> 3 !== 1) {
      reader.skip(tag & 7);
      continue;
    }
    expectWire(tag, WIRE.len, shape.resources);
    readResourceBatch(reader, reader.length(), shape, readRecord, records, experiments);
  }
  return { records, experiments };
}

export function logsFromProtobuf(buf: Uint8Array): Decoded<ReadableLogRecord> {
  return recordsFromProtobuf(
    buf,
    { resources: 'resourceLogs', scopes: 'scopeLogs', records: 'logRecords' },
    readLogRecord,
  );
}

export function spansFromProtobuf(buf: Uint8Array): Decoded<ReadableSpan> {
  return recordsFromProtobuf(
    buf,
    { resources: 'resourceSpans', scopes: 'scopeSpans', records: 'spans' },
    readSpan,
  );
}

function expectWire(tag: number, wire: number, field: string): void {
  if ((tag & 7) !== wire) throw new BadRequest(`${field}: wire type ${tag & 7}, expected ${wire}`);
}

/** Bounds the reader by the next `length` bytes (a nested message); returns the outer bound. */
function enter(reader: Reader, length: number): number {
  const outer = reader.end;
  reader.end = reader.pos + length;
  return outer;
}

/** The nested message must end exactly at its bound; the outer bound applies again. */
function leave(reader: Reader, outer: number): void {
  if (reader.pos !== reader.end) throw new BadRequest('truncated protobuf message');
  reader.end = outer;
}

function readResourceBatch<R>(
  reader: Reader,
  length: number,
  shape: Shape,
  readRecord: (reader: Reader, length: number) => Pending<R>,
  records: R[],
  experiments: Map<string, string>,
): void {
  let resourceJson: unknown;
  const own: Pending<R>[] = [];
  const outer = enter(reader, length);
  const end = reader.end;
  while (reader.pos < end) {
    const tag = reader.uint32();
    const number = tag >>> 3;
    if (number === 1) {
      expectWire(tag, WIRE.len, 'resource');
      const size = reader.length();
      resourceJson = decodeMessage(reader, reader.pos + size, 'Resource', 1);
    } else if (number === 2) {
      expectWire(tag, WIRE.len, shape.scopes);
      readScopeBatch(reader, reader.length(), shape, readRecord, own);
    } else reader.skip(tag & 7);
  }
  leave(reader, outer);
  // The resource may come after the records on the wire: set once the message is read.
  const { resource, experimentId } = resourceOf(resourceJson);
  experiments.set(experimentId, serviceOf(resource));
  for (const record of own) {
    record.resource = resource;
    records.push(record as R);
  }
}

function readScopeBatch<R>(
  reader: Reader,
  length: number,
  shape: Shape,
  readRecord: (reader: Reader, length: number) => Pending<R>,
  out: Pending<R>[],
): void {
  let scope: Record<string, unknown> = {};
  const first = out.length;
  const outer = enter(reader, length);
  const end = reader.end;
  while (reader.pos < end) {
    const tag = reader.uint32();
    const number = tag >>> 3;
    if (number === 1) {
      expectWire(tag, WIRE.len, 'scope');
      const size = reader.length();
      scope = decodeMessage(reader, reader.pos + size, 'InstrumentationScope', 2);
    } else if (number === 2) {
      expectWire(tag, WIRE.len, shape.records);
      out.push(readRecord(reader, reader.length()));
    } else reader.skip(tag & 7);
  }
  leave(reader, outer);
  const instrumentationScope = {
    name: String(scope.name ?? ''),
    version: scope.version ? String(scope.version) : undefined,
  };
  for (let i = first; i < out.length; i++) out[i]!.instrumentationScope = instrumentationScope;
}

const ZERO: HrTime = [0, 0];
/** Replaced by readScopeBatch once the scope is read. */
const UNSET_SCOPE = { name: '' };

function hrTimeOf(reader: Reader): HrTime {
  const ns = reader.fixed64();
  return [Number(ns / 1_000_000_000n), Number(ns % 1_000_000_000n)];
}

/** The last id of each width: records of one span carry the same ids, made into text once. */
const lastId: Record<number, { bytes: Buffer; hex: string }> = {
  8: { bytes: Buffer.alloc(8), hex: '' },
  16: { bytes: Buffer.alloc(16), hex: '' },
};

function readId(reader: Reader, bytes: 8 | 16, what: string): string | undefined {
  const length = reader.length();
  const start = reader.pos;
  reader.pos += length;
  if (length === 0) return undefined;
  if (length !== bytes) throw new BadRequest(`${what} must be ${bytes * 2} hex digits`);
  const last = lastId[bytes]!;
  const buf = reader.buf;
  let same = last.hex !== '';
  for (let i = 0; same && i < bytes; i++) same = last.bytes[i] === buf[start + i];
  if (!same) {
    buf.copy(last.bytes, 0, start, reader.pos);
    last.hex = buf.toString('hex', start, reader.pos);
  }
  return last.hex;
}

function readLogRecord(reader: Reader, length: number): Pending<ReadableLogRecord> {
  const outer = enter(reader, length);
  const end = reader.end;
  let time: HrTime | undefined;
  let observed: HrTime | undefined;
  let severityNumber: number | undefined;
  let severityText: string | undefined;
  let body: unknown;
  const attributes: Record<string, unknown> = {};
  let dropped = 0;
  let flags: number | undefined;
  let traceId: string | undefined;
  let spanId: string | undefined;
  let eventName: string | undefined;
  while (reader.pos < end) {
    const tag = reader.uint32();
    switch (tag >>> 3) {
      case 1:
        expectWire(tag, WIRE.i64, 'timeUnixNano');
        time = hrTimeOf(reader);
        break;
      case 11:
        expectWire(tag, WIRE.i64, 'observedTimeUnixNano');
        observed = hrTimeOf(reader);
        break;
      case 2:
        expectWire(tag, WIRE.varint, 'severityNumber');
        severityNumber = reader.uint32() | 0;
        break;
      case 3:
        expectWire(tag, WIRE.len, 'severityText');
        severityText = text(reader);
        break;
      case 5: {
        expectWire(tag, WIRE.len, 'body');
        const length = reader.length();
        body = anyValue(reader, length, 1);
        break;
      }
      case 6: {
        expectWire(tag, WIRE.len, 'attributes');
        const length = reader.length();
        keyValue(reader, length, attributes, 1);
        break;
      }
      case 7:
        expectWire(tag, WIRE.varint, 'droppedAttributesCount');
        dropped = reader.uint32() | 0;
        break;
      case 8:
        expectWire(tag, WIRE.i32, 'flags');
        reader.need(4);
        flags = reader.buf.readUInt32LE(reader.pos);
        reader.pos += 4;
        break;
      case 9:
        expectWire(tag, WIRE.len, 'traceId');
        traceId = readId(reader, 16, 'traceId');
        break;
      case 10:
        expectWire(tag, WIRE.len, 'spanId');
        spanId = readId(reader, 8, 'spanId');
        break;
      case 12:
        expectWire(tag, WIRE.len, 'eventName');
        eventName = text(reader);
        break;
      default:
        reader.skip(tag & 7);
    }
  }
  // As logsFromJson: a time that is present (even zero) is the time; absent, the observed one;
  // zero, now.
  leave(reader, outer);
  const at = time ?? observed ?? ZERO;
  return {
    hrTime: at[0] === 0 && at[1] === 0 ? hrNow() : at,
    hrTimeObserved: observed ?? ZERO,
    spanContext: traceId && spanId ? { traceId, spanId, traceFlags: (flags ?? 1) & 1 } : undefined,
    severityText,
    severityNumber,
    body: body as ReadableLogRecord['body'],
    eventName,
    resource: undefined as unknown as Resource,
    instrumentationScope: UNSET_SCOPE,
    attributes: attributes as Attributes,
    droppedAttributesCount: dropped,
  };
}

/** A required id (spans, links): absent or empty is malformed, as in spansFromJson. */
function requiredId(id: string | undefined, bytes: number, what: string): string {
  if (id === undefined) throw new BadRequest(`${what} must be ${bytes * 2} hex digits`);
  return id;
}

function readSpan(reader: Reader, length: number): Pending<ReadableSpan> {
  const outer = enter(reader, length);
  const end = reader.end;
  let traceId: string | undefined;
  let spanId: string | undefined;
  let parent: string | undefined;
  let name = '';
  let kind: number | undefined;
  let startTime: HrTime = ZERO;
  let endTime: HrTime = ZERO;
  const attributes: Record<string, unknown> = {};
  const events: ReadableSpan['events'][number][] = [];
  const links: ReadableSpan['links'][number][] = [];
  let statusCode = 0;
  let statusMessage: string | undefined;
  let droppedAttributes = 0;
  let droppedEvents = 0;
  let droppedLinks = 0;
  while (reader.pos < end) {
    const tag = reader.uint32();
    switch (tag >>> 3) {
      case 1:
        expectWire(tag, WIRE.len, 'traceId');
        traceId = readId(reader, 16, 'traceId');
        break;
      case 2:
        expectWire(tag, WIRE.len, 'spanId');
        spanId = readId(reader, 8, 'spanId');
        break;
      case 4: {
        expectWire(tag, WIRE.len, 'parentSpanId');
        // Not through readId's cache: a parent is another span's id, read once here.
        const size = reader.length();
        reader.pos += size;
        if (size !== 0 && size !== 8) throw new BadRequest('parentSpanId must be 16 hex digits');
        parent = size === 0 ? undefined : reader.buf.toString('hex', reader.pos - size, reader.pos);
        break;
      }
      case 5:
        expectWire(tag, WIRE.len, 'name');
        name = text(reader);
        break;
      case 6:
        expectWire(tag, WIRE.varint, 'kind');
        kind = reader.uint32() | 0;
        break;
      case 7:
        expectWire(tag, WIRE.i64, 'startTimeUnixNano');
        startTime = hrTimeOf(reader);
        break;
      case 8:
        expectWire(tag, WIRE.i64, 'endTimeUnixNano');
        endTime = hrTimeOf(reader);
        break;
      case 9:
        expectWire(tag, WIRE.len, 'attributes');
        keyValue(reader, reader.length(), attributes, 1);
        break;
      case 10:
        expectWire(tag, WIRE.varint, 'droppedAttributesCount');
        droppedAttributes = reader.uint32() | 0;
        break;
      case 11:
        expectWire(tag, WIRE.len, 'events');
        events.push(readEvent(reader, reader.length()));
        break;
      case 12:
        expectWire(tag, WIRE.varint, 'droppedEventsCount');
        droppedEvents = reader.uint32() | 0;
        break;
      case 13:
        expectWire(tag, WIRE.len, 'links');
        links.push(readLink(reader, reader.length()));
        break;
      case 14:
        expectWire(tag, WIRE.varint, 'droppedLinksCount');
        droppedLinks = reader.uint32() | 0;
        break;
      case 15: {
        expectWire(tag, WIRE.len, 'status');
        const size = reader.length();
        const status = decodeMessage(reader, reader.pos + size, 'Status', 4);
        statusCode = Number(status.code ?? 0);
        statusMessage = typeof status.message === 'string' && status.message ? status.message : undefined;
        break;
      }
      default:
        reader.skip(tag & 7);
    }
  }
  leave(reader, outer);
  const trace = requiredId(traceId, 16, 'traceId');
  const span = requiredId(spanId, 8, 'spanId');
  const context = { traceId: trace, spanId: span, traceFlags: TraceFlags.SAMPLED };
  return {
    name,
    kind: SPAN_KINDS[kind ?? 1] ?? SpanKind.INTERNAL,
    spanContext: () => context,
    parentSpanContext: parent
      ? { traceId: trace, spanId: parent, traceFlags: TraceFlags.SAMPLED, isRemote: true }
      : undefined,
    startTime,
    endTime,
    duration: hrDuration(startTime, endTime),
    status: {
      code:
        statusCode === 1 ? SpanStatusCode.OK : statusCode === 2 ? SpanStatusCode.ERROR : SpanStatusCode.UNSET,
      message: statusMessage,
    },
    attributes: attributes as Attributes,
    links,
    events,
    ended: true,
    resource: undefined as unknown as Resource,
    instrumentationScope: UNSET_SCOPE,
    droppedAttributesCount: droppedAttributes,
    droppedEventsCount: droppedEvents,
    droppedLinksCount: droppedLinks,
  };
}

function readEvent(reader: Reader, length: number): ReadableSpan['events'][number] {
  const outer = enter(reader, length);
  let time: HrTime = ZERO;
  let name = '';
  const attributes: Record<string, unknown> = {};
  while (reader.pos < reader.end) {
    const tag = reader.uint32();
    const number = tag >>> 3;
    if (number === 1) {
      expectWire(tag, WIRE.i64, 'timeUnixNano');
      time = hrTimeOf(reader);
    } else if (number === 2) {
      expectWire(tag, WIRE.len, 'name');
      name = text(reader);
    } else if (number === 3) {
      expectWire(tag, WIRE.len, 'attributes');
      keyValue(reader, reader.length(), attributes, 1);
    } else reader.skip(tag & 7);
  }
  leave(reader, outer);
  return { name, time, attributes: attributes as Attributes };
}

function readLink(reader: Reader, length: number): ReadableSpan['links'][number] {
  const outer = enter(reader, length);
  let traceId: string | undefined;
  let spanId: string | undefined;
  const attributes: Record<string, unknown> = {};
  while (reader.pos < reader.end) {
    const tag = reader.uint32();
    const number = tag >>> 3;
    if (number === 1) {
      expectWire(tag, WIRE.len, 'traceId');
      traceId = readId(reader, 16, 'link traceId');
    } else if (number === 2) {
      expectWire(tag, WIRE.len, 'spanId');
      spanId = readId(reader, 8, 'link spanId');
    } else if (number === 4) {
      expectWire(tag, WIRE.len, 'attributes');
      keyValue(reader, reader.length(), attributes, 1);
    } else reader.skip(tag & 7);
  }
  leave(reader, outer);
  return {
    context: {
      traceId: requiredId(traceId, 16, 'link traceId'),
      spanId: requiredId(spanId, 8, 'link spanId'),
      traceFlags: TraceFlags.SAMPLED,
    },
    attributes: attributes as Attributes,
  };
}

/** One KeyValue into `into` (as otlpJson's attributes(): no key or no value, not stored). */
function keyValue(reader: Reader, length: number, into: Record<string, unknown>, depth: number): void {
  const outer = enter(reader, length);
  const end = reader.end;
  let key: string | undefined;
  let value: unknown;
  while (reader.pos < end) {
    const tag = reader.uint32();
    const number = tag >>> 3;
    if (number === 1) {
      expectWire(tag, WIRE.len, 'key');
      key = text(reader);
    } else if (number === 2) {
      expectWire(tag, WIRE.len, 'value');
      value = anyValue(reader, reader.length(), depth + 1);
    } else reader.skip(tag & 7);
  }
  leave(reader, outer);
  if (key !== undefined && value !== undefined) into[key] = value;
}

/** Each `values` field (number 1, a message) of an ArrayValue or KeyValueList of `length` bytes. */
function eachValue(reader: Reader, length: number, read: () => void): void {
  const outer = enter(reader, length);
  while (reader.pos < reader.end) {
    const tag = reader.uint32();
    if (tag >>> 3 !== 1) {
      reader.skip(tag & 7);
      continue;
    }
    expectWire(tag, WIRE.len, 'values');
    read();
  }
  leave(reader, outer);
}

/** An AnyValue as a plain value, with otlpJson's anyValue() precedence when several are set. */
function anyValue(reader: Reader, length: number, depth: number): unknown {
  if (depth > MAX_DEPTH) throw new BadRequest('protobuf message nested too deeply');
  const outer = enter(reader, length);
  const end = reader.end;
  let string: string | undefined;
  let bool: boolean | undefined;
  let int: number | string | undefined;
  let double: number | undefined;
  let array: unknown[] | undefined;
  let kvlist: Record<string, unknown> | undefined;
  let bytes: string | undefined;
  while (reader.pos < end) {
    const tag = reader.uint32();
    switch (tag >>> 3) {
      case 1:
        expectWire(tag, WIRE.len, 'stringValue');
        string = text(reader);
        break;
      case 2:
        expectWire(tag, WIRE.varint, 'boolValue');
        bool = reader.varint64() !== 0n;
        break;
      case 3: {
        expectWire(tag, WIRE.varint, 'intValue');
        const value = BigInt.asIntN(64, reader.varint64());
        const n = Number(value);
        int = Number.isSafeInteger(n) ? n : value.toString();
        break;
      }
      case 4:
        expectWire(tag, WIRE.i64, 'doubleValue');
        reader.need(8);
        double = reader.buf.readDoubleLE(reader.pos);
        reader.pos += 8;
        break;
      case 5: {
        expectWire(tag, WIRE.len, 'arrayValue');
        const values: unknown[] = [];
        array = values; // a repeated oneof field: the last one counts
        eachValue(reader, reader.length(), () => values.push(anyValue(reader, reader.length(), depth + 1)));
        break;
      }
      case 6: {
        expectWire(tag, WIRE.len, 'kvlistValue');
        const map: Record<string, unknown> = {};
        kvlist = map;
        eachValue(reader, reader.length(), () => keyValue(reader, reader.length(), map, depth + 1));
        break;
      }
      case 7: {
        expectWire(tag, WIRE.len, 'bytesValue');
        const length = reader.length();
        reader.pos += length;
        bytes = reader.buf.toString('base64', reader.pos - length, reader.pos);
        break;
      }
      default:
        reader.skip(tag & 7);
    }
  }
  leave(reader, outer);
  return string ?? bool ?? int ?? double ?? array ?? kvlist ?? bytes;
}
