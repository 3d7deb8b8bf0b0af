// OTel log record → pipeline_logs row. Severity numbers map onto the seed's five levels; the stage
// and the exception stack trace travel as attributes and are lifted into their own columns.

import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { hrTimeField, jsonField, NULL_FIELD, textField, truncate } from './copyText.js';
import { type ResourceInfoCache, STAGE_ATTRIBUTE } from './resourceInfo.js';
import type { TableSpec } from './TableWriter.js';
import { uuidv7 } from './uuidv7.js';

export const LOGS_TABLE: TableSpec = {
  name: 'pipeline_logs',
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

/** Messages and tracebacks longer than this are truncated (and marked as such). */
export const MAX_MESSAGE_CHARS = 64 * 1024;
const TRACEBACK_ATTRIBUTE = 'exception.stacktrace';

/** Indexed by ceil(severity / 4): TRACE and DEBUG ranges → DEBUG, …, FATAL range → CRITICAL. */
const LEVELS = ['INFO', 'DEBUG', 'DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'] as const;

/** The seed's level for an OTel severity number: 1–8 DEBUG, 9–12 INFO, 13–16 WARNING, 17–20 ERROR, 21–24 CRITICAL. */
export function levelForSeverity(severityNumber: number | undefined, severityText?: string): string {
  if (severityNumber && severityNumber > 0) return LEVELS[Math.min(6, Math.ceil(severityNumber / 4))]!;
  const text = severityText?.toUpperCase();
  if (text === 'WARN') return 'WARNING';
  if (text === 'FATAL') return 'CRITICAL';
  if (text && (LEVELS as readonly string[]).includes(text)) return text;
  return 'INFO';
}

export function encodeLogRecord(record: ReadableLogRecord, resources: ResourceInfoCache): string {
  const { experimentId } = resources.get(record.resource);
  const attributes = record.attributes;
  let stage: unknown;
  let traceback: unknown;
  let rest: Record<string, unknown> = attributes;
  if (STAGE_ATTRIBUTE in attributes || TRACEBACK_ATTRIBUTE in attributes) {
    ({ [STAGE_ATTRIBUTE]: stage, [TRACEBACK_ATTRIBUTE]: traceback, ...rest } = attributes);
  }
  const body = record.body;
  const message =
    typeof body === 'string' ? body : body === undefined || body === null ? '' : JSON.stringify(body);
  const span = record.spanContext;
  const severity = record.severityNumber ?? 0;
  return `${uuidv7()}\t${textField(experimentId)}\t${hrTimeField(record.hrTime)}\t${levelForSeverity(severity, record.severityText)}\t${severity}\t${textField(record.instrumentationScope.name)}\t${textField(truncate(message, MAX_MESSAGE_CHARS))}\t${typeof traceback === 'string' ? textField(truncate(traceback, MAX_MESSAGE_CHARS)) : NULL_FIELD}\t${jsonField(rest)}\t${span ? span.traceId : NULL_FIELD}\t${span ? span.spanId : NULL_FIELD}\t${typeof stage === 'string' ? textField(stage) : NULL_FIELD}\n`;
}
