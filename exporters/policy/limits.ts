// The one set of limits on what a record may carry, for every signal and every sink (PostgreSQL,
// the file, OTLP): what user code hands to a logger, a span or a meter is cut to these before any
// sink sees it (TelemetryPolicy), so the sinks agree on what was kept.

/** Characters kept per string: an attribute value, a log message, a stack trace, a span name. */
export const MAX_STRING_CHARS = 64 * 1024;
/** Objects nested deeper than this below an attributes object or a log body become '[Depth]'. */
export const MAX_DEPTH = 8;
/** Keys kept per object (and items per array); the rest are summarized under the key '…'. */
export const MAX_KEYS = 1000;
/** Values visited per field (an attributes object, a body), so wide-and-deep input stays bounded. */
export const MAX_VALUES_PER_FIELD = 10_000;
/** String characters kept per field in total; later strings are truncated to what is left. */
export const MAX_CHARS_PER_FIELD = 1024 * 1024;
/** Attribute keys kept per log record from pipetel's Logger (bindings and call attributes together). */
export const MAX_ATTRIBUTES = 128;

export const CIRCULAR = '[Circular]';
export const DEPTH = '[Depth]';
export const TRUNCATED = '[Truncated]';
