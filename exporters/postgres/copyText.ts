// Encoding of values into PostgreSQL's COPY text format: one line per row, tab-separated, \N for
// NULL, backslash escapes. Strings are checked for characters needing escapes before any
// replacement is made, so clean values (almost all of them) cost a single regex test.

import type { HrTime } from '@opentelemetry/api';

import { stringifySafely } from '../shared/json.js';

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

/**
 * A jsonb field. Values that JSON cannot represent (BigInt, cycles) are replaced rather than
 * failing the row, and the escapes jsonb refuses — \u0000 and those JSON.stringify writes for a
 * lone UTF-16 surrogate (\ud800–\udfff; a valid pair is written as is) — become \ufffd, in keys
 * and values alike. Each field that needed any of this adds one to `counters.sanitized`.
 */
export function jsonField(value: unknown, counters?: { sanitized: number }): string {
  if (value === null || value === undefined) return NULL_FIELD;
  let json = stringify(value, counters);
  if (json === undefined) return NULL_FIELD;
  if (json.includes('\\u0000') || json.includes('\\ud')) {
    const repaired = json.replace(REFUSED_ESCAPES, '$1\\ufffd');
    if (repaired !== json && counters) counters.sanitized++;
    json = repaired;
  }
  return textField(json);
}

/** JSON text of any value, never throwing (BigInt and cycles replaced; see jsonField). */
export function jsonText(value: unknown): string {
  return stringify(value) ?? 'null';
}

/** \u0000 or a surrogate escape, preceded by an even number of backslashes (so not itself escaped). */
const REFUSED_ESCAPES = /(?<!\\)((?:\\\\)*)\\u(?:0000|d[89a-f][0-9a-f]{2})/g;

function stringify(value: unknown, counters?: { sanitized: number }): string | undefined {
  return stringifySafely(value, '"[Unserializable]"', () => {
    if (counters) counters.sanitized++;
  });
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

/** Milliseconds between two HrTimes. */
export function hrDurationMs(start: HrTime, end: HrTime): number {
  return (end[0] - start[0]) * 1000 + (end[1] - start[1]) / 1e6;
}
