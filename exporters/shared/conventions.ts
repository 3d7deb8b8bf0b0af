// What every sink agrees on about a record, whatever its format: the attributes pipetel sets and
// lifts into their own fields, the seed's level names for OTel severity numbers, and the text form
// of a timestamp. Shared by the PostgreSQL and file sinks (and pipetel's own Logger), so neither
// sink imports the other.

import type { HrTime } from '@opentelemetry/api';
import { MAX_STRING_CHARS } from '../policy/limits.js';

/** Resource attribute that carries the experiment id; `register()` sets it. */
export const EXPERIMENT_ID_ATTRIBUTE = 'pipetel.experiment_id';
/** Record attribute that carries the stage name; stages and the logger set it. */
export const STAGE_ATTRIBUTE = 'pipetel.stage';
/**
 * Log record attribute of the record a process without a database of its own sends over OTLP as
 * its run ends: `succeeded` or `failed` (then `pipetel.run.reason` says why). OTLP has no end of
 * run; `pipetel gateway` reads this one.
 */
export const RUN_STATUS_ATTRIBUTE = 'pipetel.run.status';
export const RUN_REASON_ATTRIBUTE = 'pipetel.run.reason';
/** Log and metric point attribute the gateway adds: which worker of a fleet sent the record. */
export const WORKER_ATTRIBUTE = 'pipetel.worker';
/** The OTel semantic-convention attribute of an exception's stack trace (lifted into `traceback`). */
export const TRACEBACK_ATTRIBUTE = 'exception.stacktrace';

/** Messages and tracebacks longer than this are truncated (and marked as such). */
export const MAX_MESSAGE_CHARS = MAX_STRING_CHARS;

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

let cachedSecond = Number.NaN;
let cachedPrefix = '';

/** An ISO-8601 UTC timestamp from an OTel HrTime, to the microsecond (PostgreSQL's precision). */
export function hrTimeField(time: HrTime): string {
  const seconds = time[0];
  if (seconds !== cachedSecond) {
    cachedSecond = seconds;
    cachedPrefix = new Date(seconds * 1000).toISOString().slice(0, 19);
  }
  const micros = Math.floor(time[1] / 1000);
  return `${cachedPrefix}.${String(micros).padStart(6, '0')}Z`;
}
