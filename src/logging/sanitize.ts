// Turns whatever a pipeline passes as log attributes into JSON-safe values that PostgreSQL's jsonb,
// the file sink and OTLP all accept, and redacts secrets by key. Never throws (SPEC §5): cycles,
// BigInt, throwing getters, proxies, huge strings, NUL bytes and lone surrogates become markers.
// Primitive values take a short path; only objects are walked, within fixed depth/size budgets.

import { types } from 'node:util';
import { DEFAULT_SECRET_KEYS, REDACTED, SecretKeyMatcher } from '../../exporters/postgres/redaction.js';
import { isPlainObject, readProperty, setKey } from '../internal/safeAccess.js';
import { cleanText, errorSummary, isCleanText } from './format.js';

/** Attribute keys kept per record (bindings and call attributes together); the rest are counted as dropped. */
export const MAX_ATTRIBUTES = 128;
/** Nesting kept below a top-level attribute value; deeper objects become a marker. */
export const MAX_DEPTH = 5;
/** Keys or elements kept per nested object or array. */
export const MAX_COLLECTION_ITEMS = 1000;
/** Characters kept per string attribute value (16 KiB of UTF-16 code units). */
export const MAX_STRING_CHARS = 16 * 1024;
/** Characters kept of a message body or stack trace (what pipeline_logs keeps too). */
export const MAX_TEXT_CHARS = 64 * 1024;
/** Values visited per attributes object, so 1000 × 1000 × … nesting stays bounded. */
export const MAX_VALUES_PER_RECORD = 10_000;

export { REDACTED };
/** Used when no redaction keys are given (pass [] to redact nothing): the same list as redaction.keys. */
export const DEFAULT_REDACT_KEYS: readonly string[] = DEFAULT_SECRET_KEYS;
export const CIRCULAR = '[Circular]';

/** Counters shared by every logger of a factory (see LoggerFactory.stats()). */
export interface SanitizeCounters {
  sanitized: number;
  redacted: number;
}

/** The attributes a record carries for an exception (OTel semantic conventions). */
export interface ExceptionAttributes {
  'exception.type': string;
  'exception.message': string;
  'exception.stacktrace'?: string;
}

/** Returned for values that must be left out entirely (undefined, functions). */
const OMIT = Symbol('omit');
type Sanitized = unknown;

const MAX_CAUSES = 3;

export class AttributeSanitizer {
  private readonly matcher: SecretKeyMatcher;
  private budget = MAX_VALUES_PER_RECORD;

  constructor(
    redactKeys: readonly string[],
    private readonly counters: SanitizeCounters,
  ) {
    this.matcher = new SecretKeyMatcher(redactKeys);
  }

  /**
   * Whether values under `key` are replaced by '[REDACTED]': a redaction keyword occurs in it as
   * a whole word (the rule shared with the exporters, see SecretKeyMatcher).
   */
  isSecretKey(key: string): boolean {
    return this.matcher.isSecret(key);
  }

  /**
   * Copies the own enumerable attributes of `source` into `target`, sanitized and redacted.
   * `seenKeys` is the number of distinct keys `target` already stands for; the result is the new
   * count, which may exceed MAX_ATTRIBUTES: the excess is what was dropped. With `liftErrors`, the
   * first Error value becomes exception.* attributes (unless `target` already has a stack trace).
   */
  copyInto(target: Record<string, unknown>, source: object, seenKeys: number, liftErrors: boolean): number {
    this.budget = MAX_VALUES_PER_RECORD;
    let count = seenKeys;
    if (isPlainObject(source)) {
      // The common case — a literal of primitives — in one pass without per-key try/catch. A getter
      // that throws aborts it; the careful pass then skips the keys already copied (hasOwn).
      try {
        for (const key in source) {
          const isNew = seenKeys === 0 || !Object.hasOwn(target, key); // a literal's own keys are distinct
          if (isNew && count >= MAX_ATTRIBUTES) {
            count++;
            continue;
          }
          let value = source[key];
          if (this.matcher.enabled && this.matcher.isSecret(key)) {
            this.counters.redacted++;
            value = REDACTED;
          } else if (typeof value === 'string') {
            if (value.length > MAX_STRING_CHARS || !isCleanText(value)) {
              value = this.string(value, MAX_STRING_CHARS);
            }
          } else if (typeof value === 'number' ? !Number.isFinite(value) : typeof value !== 'boolean') {
            value = this.topLevelValue(target, key, value, liftErrors);
            if (value === OMIT) continue;
          }
          if (isNew) count++;
          if (key === '__proto__' || key.indexOf('\0') !== -1) setKey(target, this.key(key), value);
          else target[key] = value;
        }
        return count;
      } catch {
        this.counters.sanitized++;
      }
    }
    return this.copyCarefully(target, source, count, liftErrors);
  }

  /** Key by key, each read guarded: for class instances, proxies and objects with throwing getters. */
  private copyCarefully(
    target: Record<string, unknown>,
    source: object,
    seenKeys: number,
    liftErrors: boolean,
  ) {
    let keys: string[];
    try {
      keys = Object.keys(source);
    } catch {
      this.counters.sanitized++;
      return seenKeys; // a Proxy whose ownKeys trap throws: nothing readable
    }
    for (let i = 0; i < keys.length; i++) {
      const rawKey = keys[i];
      const isNew = !Object.hasOwn(target, rawKey);
      if (isNew && seenKeys >= MAX_ATTRIBUTES) {
        seenKeys++;
        continue;
      }
      const value = this.topLevelValue(target, rawKey, readProperty(source, rawKey), liftErrors);
      if (value === OMIT) continue;
      if (isNew) seenKeys++;
      setKey(target, this.key(rawKey), value);
    }
    return seenKeys;
  }

  private topLevelValue(
    target: Record<string, unknown>,
    key: string,
    value: unknown,
    liftErrors: boolean,
  ): unknown {
    if (this.isSecretKey(key)) {
      this.counters.redacted++;
      return REDACTED;
    }
    switch (typeof value) {
      case 'string':
        return this.string(value, MAX_STRING_CHARS);
      case 'number':
      case 'boolean':
      case 'undefined':
        return this.primitive(value);
      case 'object':
        if (value === null) return null;
        if (liftErrors && isError(value) && !Object.hasOwn(target, 'exception.stacktrace')) {
          Object.assign(target, this.exceptionAttributes(value));
          return this.string(errorSummary(value as Error), MAX_STRING_CHARS);
        }
        return this.object(value, 1, []);
      default:
        return this.primitive(value);
    }
  }

  /** A sanitized copy of any value (as found at `depth`, 1 = a top-level attribute value). */
  value(value: unknown, depth = 1, ancestors: object[] = []): Sanitized {
    if (--this.budget < 0) {
      this.counters.sanitized++;
      return '[Truncated]';
    }
    if (typeof value === 'string') return this.string(value, MAX_STRING_CHARS);
    if (typeof value === 'object' && value !== null) return this.object(value, depth, ancestors);
    return this.primitive(value);
  }

  private primitive(value: unknown): Sanitized {
    switch (typeof value) {
      case 'number':
        if (Number.isFinite(value)) return value;
        this.counters.sanitized++;
        return String(value); // NaN / ±Infinity have no JSON form
      case 'boolean':
        return value;
      case 'undefined':
        return OMIT;
      case 'bigint':
        this.counters.sanitized++;
        return value.toString();
      case 'symbol':
        this.counters.sanitized++;
        return value.toString();
      case 'function':
        this.counters.sanitized++;
        return OMIT;
      default:
        return value === null ? null : this.string(String(value), MAX_STRING_CHARS);
    }
  }

  /** `text` truncated to `maxChars` with a marker, NUL bytes and lone surrogates replaced (counted). */
  string(text: string, maxChars: number): string {
    if (text.length <= maxChars && isCleanText(text)) {
      return text;
    }
    this.counters.sanitized++;
    return cleanText(text, maxChars);
  }

  private key(key: string): string {
    return key.indexOf('\0') === -1 ? key : key.replaceAll('\0', '\uFFFD');
  }

  private object(value: object, depth: number, ancestors: object[]): Sanitized {
    if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
    if (isError(value)) return this.nestedError(value as Error);
    if (value instanceof RegExp) return String(value);
    if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) {
      this.counters.sanitized++;
      return `[${value.constructor?.name ?? 'Binary'} ${value.byteLength} bytes]`;
    }
    if (depth > MAX_DEPTH) {
      this.counters.sanitized++;
      return Array.isArray(value) ? '[Array]' : '[Object]';
    }
    if (ancestors.includes(value)) {
      this.counters.sanitized++;
      return CIRCULAR;
    }
    ancestors.push(value);
    try {
      if (Array.isArray(value)) return this.array(value, depth, ancestors);
      if (value instanceof Map) return this.map(value, depth, ancestors);
      if (value instanceof Set) return this.array(Array.from(value), depth, ancestors);
      const toJSON = readProperty(value, 'toJSON');
      if (typeof toJSON === 'function')
        return this.fromJSON(value, toJSON as () => unknown, depth, ancestors);
      return this.record(value, depth, ancestors);
    } catch {
      this.counters.sanitized++;
      return '[Unreadable]';
    } finally {
      ancestors.pop();
    }
  }

  // The collection walkers stop early once the per-record budget is spent, so the work for wide
  // and deep input stays near MAX_VALUES_PER_RECORD, not MAX_COLLECTION_ITEMS ** MAX_DEPTH.

  private array(items: readonly unknown[], depth: number, ancestors: object[]): Sanitized[] {
    const kept = Math.min(items.length, MAX_COLLECTION_ITEMS);
    const out: Sanitized[] = [];
    for (let i = 0; i < kept; i++) {
      if (this.budget <= 0) return this.moreItems(out, items.length - i);
      const item = this.value(items[i], depth + 1, ancestors);
      out.push(item === OMIT ? null : item); // as JSON.stringify does in arrays
    }
    return items.length > kept ? this.moreItems(out, items.length - kept) : out;
  }

  private moreItems(out: Sanitized[], more: number): Sanitized[] {
    this.counters.sanitized++;
    out.push(`[… ${more} more items]`);
    return out;
  }

  private map(map: Map<unknown, unknown>, depth: number, ancestors: object[]): Record<string, Sanitized> {
    const out: Record<string, Sanitized> = {};
    let count = 0;
    for (const [key, item] of map) {
      if (count >= MAX_COLLECTION_ITEMS || this.budget <= 0) {
        this.markMore(out, map.size - count);
        break;
      }
      count++;
      this.entry(out, typeof key === 'string' ? key : String(key), item, depth, ancestors);
    }
    return out;
  }

  private record(value: object, depth: number, ancestors: object[]): Record<string, Sanitized> {
    const out: Record<string, Sanitized> = {};
    const keys = Object.keys(value);
    const kept = Math.min(keys.length, MAX_COLLECTION_ITEMS);
    for (let i = 0; i < kept; i++) {
      if (this.budget <= 0) {
        this.markMore(out, keys.length - i);
        return out;
      }
      this.entry(out, keys[i], readProperty(value, keys[i]), depth, ancestors);
    }
    if (keys.length > kept) this.markMore(out, keys.length - kept);
    return out;
  }

  private entry(
    out: Record<string, Sanitized>,
    key: string,
    item: unknown,
    depth: number,
    ancestors: object[],
  ): void {
    if (this.isSecretKey(key)) {
      this.counters.redacted++;
      setKey(out, this.key(key), REDACTED);
      return;
    }
    const sanitized = this.value(item, depth + 1, ancestors);
    if (sanitized !== OMIT) setKey(out, this.key(key), sanitized);
  }

  private fromJSON(
    value: object,
    toJSON: (this: object, key?: string) => unknown,
    depth: number,
    ancestors: object[],
  ) {
    const json = toJSON.call(value, '');
    // toJSON returning its own receiver (or another object) is walked like a plain object.
    if (json === value) return this.record(value, depth, ancestors);
    return this.value(json, depth, ancestors);
  }

  private markMore(out: Record<string, Sanitized>, more: number): void {
    this.counters.sanitized++;
    out['…'] = `[${more} more keys]`;
  }

  private nestedError(error: Error): Record<string, string> {
    const exception = this.exceptionAttributes(error);
    const out: Record<string, string> = {
      type: exception['exception.type'],
      message: exception['exception.message'],
    };
    if (exception['exception.stacktrace'] !== undefined) out.stack = exception['exception.stacktrace'];
    return out;
  }

  /** exception.type / .message / .stacktrace for any thrown value (an Error's causes are appended). */
  exceptionAttributes(error: unknown): ExceptionAttributes {
    if (!isError(error)) {
      const type =
        error === null ? 'null' : typeof error === 'object' ? constructorName(error) : typeof error;
      const message = typeof error === 'string' ? error : safeMessage(error);
      return { 'exception.type': type, 'exception.message': this.string(message, MAX_STRING_CHARS) };
    }
    const e = error as Error;
    const type = errorType(e);
    const message = safeMessage(readProperty(e, 'message'));
    let stack = readStack(e, type, message);
    let cause = readProperty(e, 'cause');
    const seen: unknown[] = [e];
    for (let i = 0; i < MAX_CAUSES && cause !== undefined && !seen.includes(cause); i++) {
      seen.push(cause);
      stack += `\nCaused by: ${isError(cause) ? causeStack(cause as Error) : safeMessage(cause)}`;
      cause = isError(cause) ? readProperty(cause as Error, 'cause') : undefined;
    }
    return {
      'exception.type': type,
      'exception.message': this.string(message, MAX_STRING_CHARS),
      'exception.stacktrace': this.string(stack, MAX_TEXT_CHARS),
    };
  }
}

export function isError(value: unknown): boolean {
  return value instanceof Error || types.isNativeError(value);
}

function errorType(error: Error): string {
  try {
    const name = error.name;
    if (typeof name === 'string' && name !== '' && name !== 'Error') return name;
    const ctor = error.constructor?.name;
    return typeof ctor === 'string' && ctor !== '' ? ctor : 'Error';
  } catch {
    return 'Error';
  }
}

function constructorName(value: object): string {
  try {
    const name = Object.getPrototypeOf(value)?.constructor?.name;
    return typeof name === 'string' && name !== '' ? name : 'Object';
  } catch {
    return 'Object';
  }
}

function safeMessage(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === undefined) return '';
  try {
    return typeof value === 'object' && value !== null
      ? (JSON.stringify(value) ?? String(value))
      : String(value);
  } catch {
    try {
      return String(value);
    } catch {
      return '[Unprintable]';
    }
  }
}

function causeStack(error: Error): string {
  return readStack(error, errorType(error), safeMessage(readProperty(error, 'message')));
}

function readStack(error: Error, type: string, message: string): string {
  const stack = readProperty(error, 'stack');
  return typeof stack === 'string' && stack !== '' ? stack : message === '' ? type : `${type}: ${message}`;
}
