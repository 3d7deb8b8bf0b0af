// The value walker behind TelemetryPolicy and pipetel's Logger: makes any value that user code
// put in an attribute or a log body safe for every sink (JSON, jsonb, COPY text, OTLP) within the
// limits of limits.ts, and redacts secrets by key at any depth, counting what it changed. Never
// throws: cycles, BigInt, throwing getters, proxies, huge strings, NUL bytes and lone surrogates
// become markers. Input that needs nothing — plain objects and arrays of bounded primitives, no
// secret keys, the common case — is returned as is after one read-only pass.

import {
  CIRCULAR,
  DEPTH,
  MAX_CHARS_PER_FIELD,
  MAX_DEPTH,
  MAX_KEYS,
  MAX_STRING_CHARS,
  MAX_VALUES_PER_FIELD,
  TRUNCATED,
} from './limits.js';
import { isPlainObject, readProperty, safeString, setKey } from './safeAccess.js';
import { REDACTED, type SecretKeyMatcher } from './secrets.js';
import { cleanText, isCleanText } from './text.js';

/** What a sanitizer changed, for stats() and the self-monitoring. */
export interface SanitizeCounters {
  /** Values replaced, truncated or dropped because a sink could not take them as they were. */
  sanitized: number;
  /** Values replaced by '[REDACTED]' because of their key. */
  redacted: number;
}

export function newSanitizeCounters(): SanitizeCounters {
  return { sanitized: 0, redacted: 0 };
}

export class Sanitizer {
  private values = 0;
  private chars = 0;
  private readonly ancestors: object[] = [];

  constructor(
    readonly matcher: SecretKeyMatcher,
    readonly counters: SanitizeCounters = newSanitizeCounters(),
  ) {}

  /** An attributes object fit for every sink: `attributes` itself when nothing needs changing. */
  attributes<T extends object>(attributes: T | null | undefined): T {
    if (attributes === null || attributes === undefined) return {} as T;
    if (this.isClean(attributes)) return attributes;
    this.startField();
    const copy = this.copyAt(attributes, 0);
    if (typeof copy === 'object' && copy !== null && !Array.isArray(copy)) return copy as T;
    this.counters.sanitized++;
    return {} as T;
  }

  /** Any value (a log body): itself when clean, else a safe copy (undefined for what JSON leaves out). */
  value(value: unknown): unknown {
    if (this.isClean(value)) return value;
    this.startField();
    return this.copyAt(value, 0);
  }

  /** `text` cut to maxChars with a marker, NUL and lone surrogates replaced by U+FFFD (counted). */
  text(text: string, maxChars = MAX_STRING_CHARS): string {
    if (text.length <= maxChars && isCleanText(text)) return text;
    this.counters.sanitized++;
    return cleanText(text, maxChars);
  }

  /** Whether `key` holds a secret (redaction.keys). */
  isSecret(key: string): boolean {
    return this.matcher.enabled && this.matcher.isSecret(key);
  }

  /** Starts a field: the value and character budgets of copyAt() are per field. */
  startField(): void {
    this.values = 0;
    this.chars = 0;
    this.ancestors.length = 0;
  }

  /**
   * A safe copy of `value` found at `depth` (0 = the attributes object or body itself, 1 = an
   * attribute's value), within the budgets of the field begun by startField(); undefined for
   * what JSON leaves out (undefined, functions).
   */
  copyAt(value: unknown, depth: number): unknown {
    if (++this.values > MAX_VALUES_PER_FIELD) {
      this.counters.sanitized++;
      return this.fieldText(TRUNCATED);
    }
    switch (typeof value) {
      case 'string':
        return this.fieldText(value);
      case 'number':
        if (Number.isFinite(value)) return value;
        this.counters.sanitized++;
        return this.fieldText(String(value)); // NaN and ±Infinity have no JSON form
      case 'boolean':
      case 'undefined':
        return value;
      case 'object':
        return value === null ? null : this.copyObject(value, depth);
      case 'bigint':
      case 'symbol':
        this.counters.sanitized++;
        return this.fieldText(value.toString());
      default:
        this.counters.sanitized++; // a function: left out, as JSON.stringify does
        return undefined;
    }
  }

  /** Read-only check that `value` can go to every sink as it is. */
  private isClean(value: unknown): boolean {
    this.startField();
    try {
      return this.cleanValue(value, 0);
    } catch {
      return false; // a throwing getter: the copy reads each property guarded
    }
  }

  private cleanValue(value: unknown, depth: number): boolean {
    if (++this.values > MAX_VALUES_PER_FIELD) return false;
    switch (typeof value) {
      case 'string':
        this.chars += value.length;
        return value.length <= MAX_STRING_CHARS && this.chars <= MAX_CHARS_PER_FIELD && isCleanText(value);
      case 'number':
        return Number.isFinite(value);
      case 'boolean':
      case 'undefined':
        return true;
      case 'object':
        if (value === null) return true;
        if (depth > MAX_DEPTH) return false;
        if (Array.isArray(value)) return this.cleanArray(value, depth);
        return isPlainObject(value) && this.cleanRecord(value, depth);
      default:
        return false;
    }
  }

  private cleanArray(items: unknown[], depth: number): boolean {
    // One more item than the limit is fine when it is the summary a copy ends with (idempotence).
    if (items.length > MAX_KEYS && !(items.length === MAX_KEYS + 1 && isSummary(items[MAX_KEYS], '[… '))) {
      return false;
    }
    for (let i = 0; i < items.length; i++) if (!this.cleanValue(items[i], depth + 1)) return false;
    return true;
  }

  private cleanRecord(record: Record<string, unknown>, depth: number): boolean {
    let keys = 0;
    for (const key in record) {
      if (++keys > MAX_KEYS && !(keys === MAX_KEYS + 1 && key === MORE_KEYS)) return false;
      if (key.length > MAX_STRING_CHARS || !isCleanText(key)) return false;
      const item = record[key];
      if (this.isSecret(key)) {
        if (item !== REDACTED) return false; // already redacted is fine: the policy is idempotent
      } else if (!this.cleanValue(item, depth + 1)) {
        return false;
      }
    }
    return true;
  }

  /** A string value of the current field (see startField), within its character budget. */
  fieldText(text: string): string {
    const room = Math.max(0, Math.min(MAX_STRING_CHARS, MAX_CHARS_PER_FIELD - this.chars));
    this.chars += Math.min(text.length, room);
    return this.text(text, room);
  }

  private copyObject(value: object, depth: number): unknown {
    // Every string a copy produces counts against the field's budget, as the check counts it.
    if (value instanceof Date)
      return this.fieldText(Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString());
    if (value instanceof RegExp) return this.fieldText(String(value));
    if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) {
      this.counters.sanitized++;
      return this.fieldText(`[${constructorName(value, 'Binary')} ${value.byteLength} bytes]`);
    }
    if (depth > MAX_DEPTH) {
      this.counters.sanitized++;
      return this.fieldText(DEPTH);
    }
    if (this.ancestors.includes(value)) {
      this.counters.sanitized++;
      return this.fieldText(CIRCULAR);
    }
    this.ancestors.push(value);
    try {
      if (Array.isArray(value)) return this.copyItems(value, depth);
      if (value instanceof Map) return this.copyMap(value, depth);
      if (value instanceof Set) return this.copyItems(Array.from(value), depth);
      if (value instanceof Error) return this.copyError(value);
      const toJSON = readProperty(value, 'toJSON');
      if (typeof toJSON === 'function') {
        const json: unknown = toJSON.call(value, '');
        return json === value ? this.copyRecord(value, depth) : this.copyAt(json, depth);
      }
      return this.copyRecord(value, depth);
    } catch {
      this.counters.sanitized++;
      return this.fieldText('[Unreadable]'); // a Proxy trap or toJSON that throws
    } finally {
      this.ancestors.pop();
    }
  }

  private copyItems(items: readonly unknown[], depth: number): unknown[] {
    const kept = Math.min(items.length, MAX_KEYS);
    const out: unknown[] = [];
    for (let i = 0; i < kept; i++) {
      if (this.values >= MAX_VALUES_PER_FIELD) return this.moreItems(out, items.length - i);
      const item = this.copyAt(items[i], depth + 1);
      out.push(item === undefined ? null : item); // as JSON.stringify writes it in an array
    }
    return items.length > kept ? this.moreItems(out, items.length - kept) : out;
  }

  private moreItems(out: unknown[], more: number): unknown[] {
    this.counters.sanitized++;
    out.push(this.fieldText(`[… ${more} more items]`));
    return out;
  }

  private copyMap(map: Map<unknown, unknown>, depth: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    let kept = 0;
    for (const [key, item] of map) {
      if (kept >= MAX_KEYS || this.values >= MAX_VALUES_PER_FIELD) {
        this.moreKeys(out, map.size - kept);
        break;
      }
      kept++;
      this.entry(out, typeof key === 'string' ? key : safeString(key), item, depth);
    }
    return out;
  }

  private copyRecord(value: object, depth: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const keys = Object.keys(value);
    const kept = Math.min(keys.length, MAX_KEYS);
    for (let i = 0; i < kept; i++) {
      if (this.values >= MAX_VALUES_PER_FIELD) {
        this.moreKeys(out, keys.length - i);
        return out;
      }
      this.entry(out, keys[i]!, readProperty(value, keys[i]!), depth);
    }
    if (keys.length > kept) this.moreKeys(out, keys.length - kept);
    return out;
  }

  private entry(out: Record<string, unknown>, key: string, item: unknown, depth: number): void {
    const safeKey = this.text(key);
    if (this.isSecret(key)) {
      if (item !== REDACTED) this.counters.redacted++;
      setKey(out, safeKey, REDACTED);
      return;
    }
    const copy = this.copyAt(item, depth + 1);
    if (copy !== undefined) setKey(out, safeKey, copy);
  }

  private moreKeys(out: Record<string, unknown>, more: number): void {
    this.counters.sanitized++;
    out[MORE_KEYS] = this.fieldText(`[${more} more keys]`);
  }

  /** An Error nested in a value: its type, message and stack as strings. */
  private copyError(error: Error): Record<string, string> {
    const out: Record<string, string> = {
      type: this.fieldText(errorTypeName(error)),
      message: this.fieldText(safeString(readProperty(error, 'message'))),
    };
    const stack = readProperty(error, 'stack');
    if (typeof stack === 'string') out.stack = this.fieldText(stack);
    return out;
  }
}

/** The key under which a copy summarizes the keys it left out. */
const MORE_KEYS = '…';

function isSummary(item: unknown, prefix: string): boolean {
  return typeof item === 'string' && item.startsWith(prefix);
}

/** An error's type for people: its name unless that is the generic 'Error', else its class name. */
export function errorTypeName(error: Error): string {
  try {
    const name = error.name;
    if (typeof name === 'string' && name !== '' && name !== 'Error') return name;
    const ctor = error.constructor?.name;
    return typeof ctor === 'string' && ctor !== '' ? ctor : 'Error';
  } catch {
    return 'Error';
  }
}

function constructorName(value: object, fallback: string): string {
  try {
    const name = value.constructor?.name;
    return typeof name === 'string' && name !== '' ? name : fallback;
  } catch {
    return fallback;
  }
}
