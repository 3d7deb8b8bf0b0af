// OTel log record → pipeline_logs row. Severity numbers map onto the seed's five levels; the stage
// and the exception stack trace travel as attributes and are lifted into their own columns. Bodies
// Records arrive through TelemetryPolicy (exporters/policy), so this only escapes for COPY.

import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { truncate } from '../policy/text.js';
import {
  hrTimeField,
  levelForSeverity,
  MAX_MESSAGE_CHARS,
  STAGE_ATTRIBUTE,
  TRACEBACK_ATTRIBUTE,
} from '../shared/conventions.js';
import { jsonField, jsonText, NULL_FIELD, textField } from './copyText.js';
import type { ResourceInfoCache } from './resourceInfo.js';
import type { TableSpec } from './TableWriter.js';
import { uuidv7 } from './uuidv7.js';

export const LOGS_TABLE: TableSpec = {
  name: 'pipeline_logs',
  timeColumn: 'timestamp',
  columns: [
    'id',
    'experiment_id',
    'timestamp',
    'level',
    'severity_number',
    'logger_name',
    'message',
    'traceback',
    'attributes',
    'trace_id',
    'span_id',
    'stage',
  ],
};

export function encodeLogRecord(record: ReadableLogRecord, resources: ResourceInfoCache): string {
  const { experimentId } = resources.get(record.resource);
  const attributes = record.attributes;
  let stage: unknown;
  let traceback: unknown;
  let rest: object = attributes;
  if (STAGE_ATTRIBUTE in attributes || TRACEBACK_ATTRIBUTE in attributes) {
    ({ [STAGE_ATTRIBUTE]: stage, [TRACEBACK_ATTRIBUTE]: traceback, ...rest } = attributes);
  }
  const message = messageOf(record.body);
  const span = record.spanContext;
  const severity = record.severityNumber ?? 0;
  return `${uuidv7()}\t${textField(experimentId)}\t${hrTimeField(record.hrTime)}\t${levelForSeverity(severity, record.severityText)}\t${severity}\t${textField(record.instrumentationScope.name)}\t${textField(message)}\t${typeof traceback === 'string' ? textField(traceback) : NULL_FIELD}\t${jsonField(rest)}\t${span ? span.traceId : NULL_FIELD}\t${span ? span.spanId : NULL_FIELD}\t${typeof stage === 'string' ? textField(stage) : NULL_FIELD}\n`;
}

/** The message column: a string body as is, any other body as JSON. */
function messageOf(body: unknown): string {
  switch (typeof body) {
    case 'string':
      return body;
    case 'undefined':
      return '';
    case 'object':
      return body === null ? '' : truncate(jsonText(body), MAX_MESSAGE_CHARS);
    case 'number':
    case 'boolean':
    case 'bigint':
      return String(body);
    case 'symbol':
      return body.toString();
    default:
      return '[Function]';
  }
}
