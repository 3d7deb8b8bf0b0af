// OTel log record → one JSON line of the file sink, with the fields of a pipeline_logs row (the
// stage and the stack trace lifted out of the attributes, null fields left out). Built by string
// concatenation around JSON.stringify, and never throws: what JSON cannot represent is replaced.

import type { HrTime } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { truncate } from '../policy/text.js';
import {
  EXPERIMENT_ID_ATTRIBUTE,
  hrTimeField,
  levelForSeverity,
  MAX_MESSAGE_CHARS,
  STAGE_ATTRIBUTE,
  TRACEBACK_ATTRIBUTE,
} from '../shared/conventions.js';
import { stringifySafely } from '../shared/json.js';

/** Stands in for attributes that could not be serialized even with cycles and BigInt replaced. */
const UNSERIALIZABLE = '{"pipetel.error":"attributes could not be serialized"}';

export class JsonLineEncoder {
  /** `,"experiment_id":"…"` (or '') per resource, so a record costs no lookup or escaping. */
  private readonly experimentFields = new WeakMap<Resource, string>();
  private readonly fixedExperimentField: string | undefined;

  /** @param experimentId written on every line; default: the resource attribute `pipetel.experiment_id` */
  constructor(experimentId?: string) {
    this.fixedExperimentField =
      experimentId === undefined ? undefined : `,"experiment_id":${JSON.stringify(experimentId)}`;
  }

  /** One JSON object followed by '\n'. JSON.stringify escapes every control character, so a line never holds a raw newline. */
  encode(record: ReadableLogRecord): string {
    const attributes = record.attributes ?? {};
    let stage: unknown;
    let traceback: unknown;
    let rest: Record<string, unknown> = attributes;
    if (STAGE_ATTRIBUTE in attributes || TRACEBACK_ATTRIBUTE in attributes) {
      stage = attributes[STAGE_ATTRIBUTE];
      traceback = attributes[TRACEBACK_ATTRIBUTE];
      rest = withoutLifted(attributes, typeof stage === 'string', typeof traceback === 'string');
    }
    const severity = record.severityNumber;
    const span = record.spanContext;
    let line = `{"timestamp":"${hrTimeField(timeOf(record))}","level":"${levelForSeverity(severity, record.severityText)}"`;
    if (severity !== undefined) line += `,"severity_number":${Number(severity) || 0}`;
    const logger = record.instrumentationScope?.name;
    if (logger) line += `,"logger":${JSON.stringify(logger)}`;
    line += `,"message":${JSON.stringify(truncate(messageOf(record.body), MAX_MESSAGE_CHARS))}`;
    line += this.experimentField(record.resource);
    if (typeof stage === 'string') line += `,"stage":${JSON.stringify(stage)}`;
    if (span) line += `,"trace_id":${JSON.stringify(span.traceId)},"span_id":${JSON.stringify(span.spanId)}`;
    if (typeof traceback === 'string')
      line += `,"traceback":${JSON.stringify(truncate(traceback, MAX_MESSAGE_CHARS))}`;
    if (hasKeys(rest)) line += `,"attributes":${safeJson(rest)}`;
    return `${line}}\n`;
  }

  private experimentField(resource: Resource | undefined): string {
    if (this.fixedExperimentField !== undefined) return this.fixedExperimentField;
    if (!resource) return '';
    let field = this.experimentFields.get(resource);
    if (field === undefined) {
      const id = resource.attributes?.[EXPERIMENT_ID_ATTRIBUTE];
      field = typeof id === 'string' ? `,"experiment_id":${JSON.stringify(id)}` : '';
      this.experimentFields.set(resource, field);
    }
    return field;
  }
}

function timeOf(record: ReadableLogRecord): HrTime {
  if (Array.isArray(record.hrTime)) return record.hrTime;
  if (Array.isArray(record.hrTimeObserved)) return record.hrTimeObserved;
  const now = Date.now();
  return [Math.floor(now / 1000), (now % 1000) * 1e6];
}

function messageOf(body: unknown): string {
  if (typeof body === 'string') return body;
  if (body === undefined || body === null) return '';
  const json = safeJson(body);
  return json === 'null' ? String(body) : json;
}

function withoutLifted(
  attributes: Record<string, unknown>,
  dropStage: boolean,
  dropTraceback: boolean,
): Record<string, unknown> {
  const rest: Record<string, unknown> = {};
  for (const key in attributes) {
    if (dropStage && key === STAGE_ATTRIBUTE) continue;
    if (dropTraceback && key === TRACEBACK_ATTRIBUTE) continue;
    rest[key] = attributes[key];
  }
  return rest;
}

function hasKeys(value: object): boolean {
  for (const _ in value) return true;
  return false;
}

/**
 * JSON text of any value. The plain JSON.stringify handles almost every record; BigInt and cycles
 * (which make it throw) are replaced on a second pass, and a throwing getter or toJSON on a third.
 */
export function safeJson(value: unknown): string {
  return stringifySafely(value, UNSERIALIZABLE) ?? 'null';
}
