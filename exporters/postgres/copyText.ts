// Encoding of values into PostgreSQL's COPY text format: one line per row, tab-separated, \N for
// NULL, backslash escapes. Strings are checked for characters needing escapes before any
// replacement is made, so clean values (almost all of them) cost a single regex test.

import type { HrTime } from '@opentelemetry/api';

export const NULL_FIELD = '\\N';

const NEEDS_ESCAPE = /[\\\t\n\r\u0000]/;
const ESCAPES = /[\\\t\n\r\u0000]/g;
const ESCAPED: Record<string, string> = {
  '\\': '\\\\',
  '\t': '\\t',
  '\n': '\\n',
  '\r': '\\r',
  '\u0000': '\uFFFD',
};

/** A text field. NUL, which PostgreSQL refuses in text, becomes U+FFFD. */
export function textField(value: string | null | undefined): string {
  if (value === null || value === undefined) return NULL_FIELD;
  return NEEDS_ESCAPE.test(value) ? value.replace(ESCAPES, (ch) => ESCAPED[ch]!) : value;
}

/** A text field truncated to maxChars (counted on UTF-16 units, never splitting a surrogate pair). */
export function truncate(value: string, maxChars: number): string {
  if (value.length <= maxChars) return value;
  let end = maxChars;
  const code = value.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return `${value.slice(0, end)}…[truncated ${value.length - end} chars]`;
}

/**
 * A jsonb field. Values that JSON cannot represent (BigInt, cycles) are replaced rather than
 * failing the row, and the escape \u0000, which jsonb refuses, becomes \ufffd.
 */
export function jsonField(value: unknown): string {
  if (value === null || value === undefined) return NULL_FIELD;
  let json: string;
  try {
    json = JSON.stringify(value);
  } catch {
    json = JSON.stringify(value, safeReplacer());
  }
  if (json === undefined) return NULL_FIELD;
  if (json.includes('\\u0000')) json = json.replace(/(?<!\\)((?:\\\\)*)\\u0000/g, '$1\\ufffd');
  return textField(json);
}

function safeReplacer(): (key: string, value: unknown) => unknown {
  const seen = new WeakSet<object>();
  return (_key, value) => {
    if (typeof value === 'bigint') return value.toString();
    if (typeof value === 'object' && value !== null) {
      if (seen.has(value)) return '[Circular]';
      seen.add(value);
    }
    return value;
  };
}

/** A float8 field; NaN and infinities are spelled the way PostgreSQL reads them. */
export function numberField(value: number | null | undefined): string {
  if (value === null || value === undefined) return NULL_FIELD;
  if (Number.isFinite(value)) return String(value);
  if (Number.isNaN(value)) return 'NaN';
  return value > 0 ? 'Infinity' : '-Infinity';
}

/** A float8[] / bigint[] field. */
export function numberArrayField(values: readonly number[] | null | undefined): string {
  if (!values) return NULL_FIELD;
  return `{${values.map((v) => numberField(v)).join(',')}}`;
}

let cachedSecond = -1;
let cachedPrefix = '';

/** A timestamptz field from an OTel HrTime, to the microsecond (PostgreSQL's precision). */
export function hrTimeField(time: HrTime): string {
  const seconds = time[0];
  if (seconds !== cachedSecond) {
    cachedSecond = seconds;
    cachedPrefix = new Date(seconds * 1000).toISOString().slice(0, 19);
  }
  const micros = Math.floor(time[1] / 1000);
  return `${cachedPrefix}.${String(micros).padStart(6, '0')}Z`;
}

/** Milliseconds between two HrTimes. */
export function hrDurationMs(start: HrTime, end: HrTime): number {
  return (end[0] - start[0]) * 1000 + (end[1] - start[1]) / 1e6;
}
