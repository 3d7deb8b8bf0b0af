// OTLP/protobuf export requests decoded into the OTLP/JSON shape (lowerCamelCase fields, hex ids,
// 64-bit integers as decimal strings, enums as numbers), so one mapping (otlpJson.ts) serves both
// encodings. A small table-driven reader of the protobuf wire format: the field numbers and
// types below are those of opentelemetry-proto's collector, trace, logs, metrics, resource and
// common messages. Unknown fields are skipped, as protobuf requires; truncated or mistyped input
// is a BadRequest (answered 400), never a crash.

import { BadRequest } from './otlpJson.js';

type FieldType =
  | 'string'
  | 'bytes' // base64 text, as the JSON mapping has it
  | 'id' // trace and span ids: lowercase hex, as OTLP/JSON has them
  | 'bool'
  | 'varint' // int32, uint32, enums
  | 'int64' // varint int64, as a decimal string
  | 'fixed64' // as a decimal string
  | 'sfixed64' // as a decimal string
  | 'fixed32'
  | 'double'
  | { message: string };

interface Field {
  name: string;
  type: FieldType;
  repeated?: boolean;
}

const msg = (message: string) => ({ message });
const SCHEMA: Record<string, Record<number, Field>> = {
  ExportTraceServiceRequest: { 1: { name: 'resourceSpans', type: msg('ResourceSpans'), repeated: true } },
  ExportLogsServiceRequest: { 1: { name: 'resourceLogs', type: msg('ResourceLogs'), repeated: true } },
  ExportMetricsServiceRequest: {
    1: { name: 'resourceMetrics', type: msg('ResourceMetrics'), repeated: true },
  },
  Resource: {
    1: { name: 'attributes', type: msg('KeyValue'), repeated: true },
    2: { name: 'droppedAttributesCount', type: 'varint' },
  },
  KeyValue: { 1: { name: 'key', type: 'string' }, 2: { name: 'value', type: msg('AnyValue') } },
  AnyValue: {
    1: { name: 'stringValue', type: 'string' },
    2: { name: 'boolValue', type: 'bool' },
    3: { name: 'intValue', type: 'int64' },
    4: { name: 'doubleValue', type: 'double' },
    5: { name: 'arrayValue', type: msg('ArrayValue') },
    6: { name: 'kvlistValue', type: msg('KeyValueList') },
    7: { name: 'bytesValue', type: 'bytes' },
  },
  ArrayValue: { 1: { name: 'values', type: msg('AnyValue'), repeated: true } },
  KeyValueList: { 1: { name: 'values', type: msg('KeyValue'), repeated: true } },
  InstrumentationScope: {
    1: { name: 'name', type: 'string' },
    2: { name: 'version', type: 'string' },
    3: { name: 'attributes', type: msg('KeyValue'), repeated: true },
    4: { name: 'droppedAttributesCount', type: 'varint' },
  },
  ResourceSpans: {
    1: { name: 'resource', type: msg('Resource') },
    2: { name: 'scopeSpans', type: msg('ScopeSpans'), repeated: true },
    3: { name: 'schemaUrl', type: 'string' },
  },
  ScopeSpans: {
    1: { name: 'scope', type: msg('InstrumentationScope') },
    2: { name: 'spans', type: msg('Span'), repeated: true },
    3: { name: 'schemaUrl', type: 'string' },
  },
  Span: {
    1: { name: 'traceId', type: 'id' },
    2: { name: 'spanId', type: 'id' },
    3: { name: 'traceState', type: 'string' },
    4: { name: 'parentSpanId', type: 'id' },
    5: { name: 'name', type: 'string' },
    6: { name: 'kind', type: 'varint' },
    7: { name: 'startTimeUnixNano', type: 'fixed64' },
    8: { name: 'endTimeUnixNano', type: 'fixed64' },
    9: { name: 'attributes', type: msg('KeyValue'), repeated: true },
    10: { name: 'droppedAttributesCount', type: 'varint' },
    11: { name: 'events', type: msg('Event'), repeated: true },
    12: { name: 'droppedEventsCount', type: 'varint' },
    13: { name: 'links', type: msg('Link'), repeated: true },
    14: { name: 'droppedLinksCount', type: 'varint' },
    15: { name: 'status', type: msg('Status') },
    16: { name: 'flags', type: 'fixed32' },
  },
  Event: {
    1: { name: 'timeUnixNano', type: 'fixed64' },
    2: { name: 'name', type: 'string' },
    3: { name: 'attributes', type: msg('KeyValue'), repeated: true },
    4: { name: 'droppedAttributesCount', type: 'varint' },
  },
  Link: {
    1: { name: 'traceId', type: 'id' },
    2: { name: 'spanId', type: 'id' },
    3: { name: 'traceState', type: 'string' },
    4: { name: 'attributes', type: msg('KeyValue'), repeated: true },
    5: { name: 'droppedAttributesCount', type: 'varint' },
    6: { name: 'flags', type: 'fixed32' },
  },
  Status: { 2: { name: 'message', type: 'string' }, 3: { name: 'code', type: 'varint' } },
  ResourceLogs: {
    1: { name: 'resource', type: msg('Resource') },
    2: { name: 'scopeLogs', type: msg('ScopeLogs'), repeated: true },
    3: { name: 'schemaUrl', type: 'string' },
  },
  ScopeLogs: {
    1: { name: 'scope', type: msg('InstrumentationScope') },
    2: { name: 'logRecords', type: msg('LogRecord'), repeated: true },
    3: { name: 'schemaUrl', type: 'string' },
  },
  LogRecord: {
    1: { name: 'timeUnixNano', type: 'fixed64' },
    11: { name: 'observedTimeUnixNano', type: 'fixed64' },
    2: { name: 'severityNumber', type: 'varint' },
    3: { name: 'severityText', type: 'string' },
    5: { name: 'body', type: msg('AnyValue') },
    6: { name: 'attributes', type: msg('KeyValue'), repeated: true },
    7: { name: 'droppedAttributesCount', type: 'varint' },
    8: { name: 'flags', type: 'fixed32' },
    9: { name: 'traceId', type: 'id' },
    10: { name: 'spanId', type: 'id' },
    12: { name: 'eventName', type: 'string' },
  },
  ResourceMetrics: {
    1: { name: 'resource', type: msg('Resource') },
    2: { name: 'scopeMetrics', type: msg('ScopeMetrics'), repeated: true },
    3: { name: 'schemaUrl', type: 'string' },
  },
  ScopeMetrics: {
    1: { name: 'scope', type: msg('InstrumentationScope') },
    2: { name: 'metrics', type: msg('Metric'), repeated: true },
    3: { name: 'schemaUrl', type: 'string' },
  },
  Metric: {
    1: { name: 'name', type: 'string' },
    2: { name: 'description', type: 'string' },
    3: { name: 'unit', type: 'string' },
    5: { name: 'gauge', type: msg('Gauge') },
    7: { name: 'sum', type: msg('Sum') },
    9: { name: 'histogram', type: msg('Histogram') },
    12: { name: 'metadata', type: msg('KeyValue'), repeated: true },
  },
  Gauge: { 1: { name: 'dataPoints', type: msg('NumberDataPoint'), repeated: true } },
  Sum: {
    1: { name: 'dataPoints', type: msg('NumberDataPoint'), repeated: true },
    2: { name: 'aggregationTemporality', type: 'varint' },
    3: { name: 'isMonotonic', type: 'bool' },
  },
  Histogram: {
    1: { name: 'dataPoints', type: msg('HistogramDataPoint'), repeated: true },
    2: { name: 'aggregationTemporality', type: 'varint' },
  },
  NumberDataPoint: {
    7: { name: 'attributes', type: msg('KeyValue'), repeated: true },
    2: { name: 'startTimeUnixNano', type: 'fixed64' },
    3: { name: 'timeUnixNano', type: 'fixed64' },
    4: { name: 'asDouble', type: 'double' },
    6: { name: 'asInt', type: 'sfixed64' },
    8: { name: 'flags', type: 'varint' },
  },
  HistogramDataPoint: {
    9: { name: 'attributes', type: msg('KeyValue'), repeated: true },
    2: { name: 'startTimeUnixNano', type: 'fixed64' },
    3: { name: 'timeUnixNano', type: 'fixed64' },
    4: { name: 'count', type: 'fixed64' },
    5: { name: 'sum', type: 'double' },
    6: { name: 'bucketCounts', type: 'fixed64', repeated: true },
    7: { name: 'explicitBounds', type: 'double', repeated: true },
    10: { name: 'flags', type: 'varint' },
    11: { name: 'min', type: 'double' },
    12: { name: 'max', type: 'double' },
  },
};

export const WIRE = { varint: 0, i64: 1, len: 2, i32: 5 } as const;
const wireOf = (type: FieldType): number =>
  typeof type === 'object' || type === 'string' || type === 'bytes' || type === 'id'
    ? WIRE.len
    : type === 'fixed64' || type === 'sfixed64' || type === 'double'
      ? WIRE.i64
      : type === 'fixed32'
        ? WIRE.i32
        : WIRE.varint;

const utf8 = new TextDecoder('utf-8', { fatal: true });
/** Deeper than any OTLP message nests (AnyValue arrays and maps included): refused. */
export const MAX_DEPTH = 32;
const TWO_32 = 2 ** 32;

/**
 * One cursor over the whole request: nested messages are read in place, bounded by `end`, with no
 * copy and no per-message allocation. Tags and lengths are read as numbers; BigInt only where an
 * int64 value is asked for.
 */
export class Reader {
  pos = 0;
  end: number;
  constructor(readonly buf: Buffer) {
    this.end = buf.length;
  }

  need(n: number): void {
    if (this.pos + n > this.end) throw new BadRequest('truncated protobuf message');
  }

  /** A varint that must fit in 32 bits unsigned (tags, lengths, int32, enums: low 32 bits kept). */
  uint32(): number {
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (this.pos >= this.end) throw new BadRequest('truncated protobuf message');
      const byte = this.buf[this.pos++]!;
      result += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return result % TWO_32;
    }
    // A longer varint (a negative int32 is sign-extended to 10 bytes): keep the low 32 bits.
    for (let i = 0; i < 5; i++) {
      if (this.pos >= this.end) throw new BadRequest('truncated protobuf message');
      if (this.buf[this.pos++]! < 0x80) return result % TWO_32;
    }
    throw new BadRequest('malformed varint');
  }

  varint64(): bigint {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (this.pos >= this.end) throw new BadRequest('truncated protobuf message');
      const byte = this.buf[this.pos++]!;
      result |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return result;
    }
    throw new BadRequest('malformed varint');
  }

  /** Length of a length-delimited field, checked against what is left. */
  length(): number {
    const at = this.pos;
    const length = this.uint32();
    if (this.pos - at > 5) throw new BadRequest('malformed length');
    this.need(length);
    return length;
  }

  fixed64(): bigint {
    this.need(8);
    const value = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return value;
  }

  skip(wire: number): void {
    if (wire === WIRE.varint) this.varint64();
    else if (wire === WIRE.len) this.pos += this.length();
    else if (wire === WIRE.i64 || wire === WIRE.i32) {
      const width = wire === WIRE.i64 ? 8 : 4;
      this.need(width);
      this.pos += width;
    } else throw new BadRequest(`unsupported protobuf wire type ${wire}`);
  }
}

/** Reads the message that ends at `end` (the reader's bound while it runs). */
export function decodeMessage(
  reader: Reader,
  end: number,
  type: string,
  depth: number,
): Record<string, unknown> {
  if (depth > MAX_DEPTH) throw new BadRequest('protobuf message nested too deeply');
  const fields = SCHEMA[type]!;
  const out: Record<string, unknown> = {};
  const outer = reader.end;
  reader.end = end;
  while (reader.pos < end) {
    const tag = reader.uint32();
    const number = tag >>> 3;
    const wire = tag & 7;
    const field = fields[number];
    if (!field) {
      reader.skip(wire);
      continue;
    }
    const expected = wireOf(field.type);
    // Repeated scalars may come packed (one length-delimited run) or one by one.
    if (field.repeated && typeof field.type === 'string' && wire === WIRE.len && expected !== WIRE.len) {
      const runLength = reader.length();
      const runEnd = reader.pos + runLength;
      const values = (out[field.name] as unknown[] | undefined) ?? [];
      reader.end = runEnd;
      while (reader.pos < runEnd) values.push(scalar(reader, field.type));
      reader.end = end;
      out[field.name] = values;
      continue;
    }
    if (wire !== expected)
      throw new BadRequest(`${type}.${field.name}: wire type ${wire}, expected ${expected}`);
    let value: unknown;
    if (typeof field.type === 'object') {
      const length = reader.length();
      value = decodeMessage(reader, reader.pos + length, field.type.message, depth + 1);
    } else value = scalar(reader, field.type);
    if (!field.repeated) out[field.name] = value;
    else if (Array.isArray(out[field.name])) (out[field.name] as unknown[]).push(value);
    else out[field.name] = [value];
  }
  if (reader.pos !== end) throw new BadRequest('truncated protobuf message');
  reader.end = outer;
  return out;
}

/**
 * Short ASCII strings repeat across a fleet's records (attribute keys, stage names, severities):
 * each is made once and then found by a hash of its bytes, so decoding allocates for the values
 * that change, not for every key of every record.
 */
const INTERN_MAX = 48;
const INTERN_SLOTS = 4096;
const interned: (string | undefined)[] = new Array(INTERN_SLOTS);

/** UTF-8 text, validated: ASCII (nearly every key and most values) without the decoder. */
export function text(reader: Reader): string {
  const length = reader.length();
  const start = reader.pos;
  const stop = start + length;
  reader.pos = stop;
  const buf = reader.buf;
  let hash = 0x811c9dc5;
  for (let i = start; i < stop; i++) {
    const byte = buf[i]!;
    if (byte >= 0x80) {
      try {
        return utf8.decode(buf.subarray(start, stop));
      } catch {
        throw new BadRequest('a string field is not valid UTF-8');
      }
    }
    hash = Math.imul(hash ^ byte, 0x01000193);
  }
  if (length > INTERN_MAX) return buf.toString('latin1', start, stop);
  const slot = (hash >>> 0) % INTERN_SLOTS;
  const known = interned[slot];
  if (known !== undefined && known.length === length) {
    let same = true;
    for (let i = 0; i < length; i++) {
      if (known.charCodeAt(i) !== buf[start + i]) {
        same = false;
        break;
      }
    }
    if (same) return known;
  }
  const made = buf.toString('latin1', start, stop);
  interned[slot] = made;
  return made;
}

function scalar(reader: Reader, type: Exclude<FieldType, { message: string }>): unknown {
  switch (type) {
    case 'string':
      return text(reader);
    case 'bytes': {
      const length = reader.length();
      reader.pos += length;
      return reader.buf.toString('base64', reader.pos - length, reader.pos);
    }
    case 'id': {
      const length = reader.length();
      reader.pos += length;
      return reader.buf.toString('hex', reader.pos - length, reader.pos);
    }
    case 'bool':
      return reader.varint64() !== 0n;
    case 'varint':
      return reader.uint32() | 0; // int32 and enums: two's complement of the low 32 bits
    case 'int64':
      return BigInt.asIntN(64, reader.varint64()).toString();
    case 'fixed64':
      return reader.fixed64().toString();
    case 'sfixed64':
      return BigInt.asIntN(64, reader.fixed64()).toString();
    case 'fixed32': {
      reader.need(4);
      const value = reader.buf.readUInt32LE(reader.pos);
      reader.pos += 4;
      return value;
    }
    case 'double': {
      reader.need(8);
      const value = reader.buf.readDoubleLE(reader.pos);
      reader.pos += 8;
      return value;
    }
  }
}

export type OtlpRequestType =
  | 'ExportTraceServiceRequest'
  | 'ExportLogsServiceRequest'
  | 'ExportMetricsServiceRequest';

/** An OTLP/protobuf export request as the OTLP/JSON object it stands for. */
export function decodeOtlpProtobuf(buf: Uint8Array, type: OtlpRequestType): Record<string, unknown> {
  const buffer = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  return decodeMessage(new Reader(buffer), buffer.length, type, 0);
}
