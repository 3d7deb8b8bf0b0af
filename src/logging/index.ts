// The logging module's public surface: the factory, the Logger, levels and the record contract.
// LoggerCore and the sanitizer internals stay private to src/logging.

export { ConsoleOutput, formatConsoleLine, resolveConsoleEnabled } from './ConsoleOutput.js';
export { countPlaceholders, formatMessage } from './format.js';
export { Logger, type LogMessage } from './Logger.js';
export { STAGE_ATTRIBUTE } from './LoggerCore.js';
export {
  type LoggerConsoleOptions,
  LoggerFactory,
  type LoggerOptions,
  type LoggerStats,
} from './LoggerFactory.js';
export { LEVEL_NAMES, LEVELS, type LevelName, parseLevel, severityOf } from './levels.js';
export {
  DEFAULT_REDACT_KEYS,
  MAX_ATTRIBUTES,
  MAX_COLLECTION_ITEMS,
  MAX_DEPTH,
  MAX_STRING_CHARS,
  MAX_TEXT_CHARS,
  REDACTED,
} from './sanitize.js';
export type { LogRecordSink, PipetelLogRecord } from './types.js';
