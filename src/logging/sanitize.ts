// pipetel's Logger as a front door of TelemetryPolicy: it builds its records itself, so it applies
// the policy's keys and limits (exporters/policy) at the call, where the values must be copied
// anyway; what it adds is the per-record attribute count and lifting Errors into exception.*
// attributes. Never throws (SPEC §5). Primitive values take a short path; objects go to the
// policy's Sanitizer, within its per-field budgets.

import { types } from 'node:util';
import {
  CIRCULAR,
  MAX_ATTRIBUTES,
  MAX_CHARS_PER_FIELD,
  MAX_DEPTH,
  MAX_KEYS,
  MAX_STRING_CHARS,
  MAX_VALUES_PER_FIELD,
} from '../../exporters/policy/limits.js';
import { errorTypeName, type Sanitizer } from '../../exporters/policy/Sanitizer.js';
import { isPlainObject, readProperty, setKey } from '../../exporters/policy/safeAccess.js';
import { DEFAULT_SECRET_KEYS, REDACTED } from '../../exporters/policy/secrets.js';
import { cleanText, isCleanText } from '../../exporters/policy/text.js';
import { TRACEBACK_ATTRIBUTE } from '../../exporters/shared/conventions.js';
import { errorSummary } from './format.js';

export { CIRCULAR, MAX_ATTRIBUTES, MAX_DEPTH, MAX_STRING_CHARS, REDACTED };
/** Keys or elements kept per nested object or array. */
export const MAX_COLLECTION_ITEMS = MAX_KEYS;
/** Characters kept of a message body or stack trace: the one string limit. */
export const MAX_TEXT_CHARS = MAX_STRING_CHARS;
/** Values visited per attributes object, so 1000 × 1000 × … nesting stays bounded. */
export const MAX_VALUES_PER_RECORD = MAX_VALUES_PER_FIELD;
/** Used when no redaction keys are given (pass [] to redact nothing): the same list as redaction.keys. */
export const DEFAULT_REDACT_KEYS: readonly string[] = DEFAULT_SECRET_KEYS;

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
/** Keys forMessage() looks at in one object before taking it as holding no secret. */
const MAX_SCANNED_KEYS = MAX_VALUES_PER_FIELD;

const MAX_CAUSES = 3;
/** Object.prototype.hasOwnProperty: inside for-in, V8 reduces this exact call to a map check. */
const hasOwn = Object.prototype.hasOwnProperty;

export class AttributeSanitizer {
  /**
   * @param values the policy's sanitizer (TelemetryPolicy.newSanitizer), counting into `counters`
   */
  constructor(
    private readonly values: Sanitizer,
    private readonly counters: SanitizeCounters,
  ) {}

  /**
   * Whether values under `key` are replaced by '[REDACTED]': a redaction keyword occurs in it as
   * a whole word (the rule shared with the exporters, see SecretKeyMatcher).
   */
  isSecretKey(key: string): boolean {
    return this.values.isSecret(key);
  }

  /**
   * An object given to a placeholder (`%j`, `%o`, `%O`, `%s`) or appended to the message, as the
   * message may show it: itself when no key in it (at any depth) holds a secret, else a copy with
   * those values '[REDACTED]' (counted) — the policy the attributes get, for the text too.
   */
  forMessage(value: object): unknown {
    if (!this.values.matcher.enabled || !this.holdsSecret(value, 0, { keys: 0 })) return value;
    this.values.startField();
    if (!(value instanceof Error)) return this.values.copyAt(value, 0);
    // An error (an HTTP client's, with its request config and headers): still an error, so `%s`
    // shows `Name: message` and `%o` its stack, with its own properties copied and redacted.
    const copy = Object.create(Object.getPrototypeOf(value)) as Record<string, unknown>;
    for (const key of ['name', 'message', 'stack'] as const)
      Object.defineProperty(copy, key, {
        value: readProperty(value, key),
        writable: true,
        configurable: true,
      });
    for (const key of Object.keys(value)) {
      const item = readProperty(value, key);
      copy[key] = this.values.isSecret(key) ? REDACTED : this.values.copyAt(item, 1);
    }
    return copy;
  }

  /** Whether some own key of `value`, or of an object within it, holds a secret (bounded walk). */
  private holdsSecret(value: object, depth: number, seen: { keys: number }): boolean {
    if (depth > MAX_DEPTH) return false;
    if (value instanceof Set) {
      for (const item of value) {
        if (++seen.keys > MAX_SCANNED_KEYS) return true;
        if (typeof item === 'object' && item !== null && this.holdsSecret(item, depth + 1, seen)) return true;
      }
      return false;
    }
    if (value instanceof Map) {
      for (const [key, item] of value) {
        if (++seen.keys > MAX_SCANNED_KEYS) return true;
        if (typeof key === 'string' && this.values.isSecret(key)) return true;
        if (typeof item === 'object' && item !== null && this.holdsSecret(item, depth + 1, seen)) return true;
      }
      return false;
    }
    let keys: string[];
    try {
      keys = Object.keys(value);
    } catch {
      return false; // a proxy that throws: what it shows is util.inspect's business
    }
    for (const key of keys) {
      // Too big to tell: taken as holding one (the copy redacts what it reaches, within its limits).
      if (++seen.keys > MAX_SCANNED_KEYS) return true;
      if (this.values.isSecret(key)) return true;
      let item: unknown;
      try {
        item = (value as Record<string, unknown>)[key];
      } catch {
        continue;
      }
      if (typeof item === 'object' && item !== null && this.holdsSecret(item, depth + 1, seen)) return true;
    }
    return false;
  }

  /**
   * The number of keys of `source` when copyInto() into an empty target would copy every one of
   * them unchanged — own keys that are clean, short and not secret, strings within the field's
   * budgets and clean, finite numbers, booleans, at most MAX_ATTRIBUTES — so that `source`, when
   * it is the caller's own object, can serve as the attributes as it is; -1 otherwise.
   */
  adoptable(source: Record<string, unknown>): number {
    let count = 0;
    let chars = 0;
    for (const key in source) {
      if (++count > MAX_ATTRIBUTES || !hasOwn.call(source, key)) return -1;
      if (key === '__proto__' || key.length > MAX_STRING_CHARS || !isCleanText(key)) return -1;
      if (this.values.isSecret(key)) return -1;
      const value = source[key];
      if (typeof value === 'string') {
        chars += value.length;
        if (value.length > MAX_STRING_CHARS || chars > MAX_CHARS_PER_FIELD || !isCleanText(value)) return -1;
      } else if (typeof value === 'number' ? !Number.isFinite(value) : typeof value !== 'boolean') {
        return -1;
      }
    }
    return count;
  }

  /**
   * Copies the own enumerable attributes of `source` into `target`, sanitized and redacted.
   * `seenKeys` is the number of distinct keys `target` already stands for; the result is the new
   * count, which may exceed MAX_ATTRIBUTES: the excess is what was dropped. With `liftErrors`, the
   * first Error value becomes exception.* attributes (unless `target` already has a stack trace).
   */
  copyInto(target: Record<string, unknown>, source: object, seenKeys: number, liftErrors: boolean): number {
    this.values.startField();
    let count = seenKeys;
    if (isPlainObject(source)) {
      // The common case — a literal of primitives — in one pass without per-key try/catch. A getter
      // that throws aborts it; the careful pass then skips the keys already copied (hasOwn).
      // adoptable() accepts exactly what this pass copies unchanged: change the two together.
      try {
        for (const key in source) {
          const isNew = seenKeys === 0 || !Object.hasOwn(target, key); // a literal's own keys are distinct
          if (isNew && count >= MAX_ATTRIBUTES) {
            count++;
            continue;
          }
          let value = source[key];
          if (this.values.isSecret(key)) {
            this.counters.redacted++;
            value = REDACTED;
          } else if (typeof value === 'string') {
            value = this.values.fieldText(value); // within the record's character budget too
          } else if (typeof value === 'number' ? !Number.isFinite(value) : typeof value !== 'boolean') {
            value = this.topLevelValue(target, key, value, liftErrors);
            if (value === OMIT) continue;
          }
          if (isNew) count++;
          if (key === '__proto__' || key.length > MAX_STRING_CHARS || !isCleanText(key))
            setKey(target, this.key(key), value);
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
      const rawKey = keys[i]!;
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
        return this.values.fieldText(value);
      case 'number':
      case 'boolean':
      case 'undefined':
        return this.primitive(value);
      case 'object':
        if (value === null) return null;
        if (liftErrors && isError(value) && !Object.hasOwn(target, TRACEBACK_ATTRIBUTE)) {
          Object.assign(target, this.exceptionAttributes(value));
          return this.string(errorSummary(value as Error), MAX_STRING_CHARS);
        }
        return this.object(value);
      default:
        return this.primitive(value);
    }
  }

  private primitive(value: unknown): unknown {
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
    return key.length <= MAX_STRING_CHARS && isCleanText(key) ? key : cleanText(key, MAX_STRING_CHARS);
  }

  /** A nested value (an attribute's object or array), through the policy's sanitizer. */
  private object(value: object): unknown {
    const copy = this.values.copyAt(value, 1);
    return copy === undefined ? OMIT : copy;
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
    const type = errorTypeName(e);
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
  // Most values asked about are attribute values (numbers, strings): no call into C++ for those.
  return (
    typeof value === 'object' && value !== null && (value instanceof Error || types.isNativeError(value))
  );
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
  return readStack(error, errorTypeName(error), safeMessage(readProperty(error, 'message')));
}

function readStack(error: Error, type: string, message: string): string {
  const stack = readProperty(error, 'stack');
  return typeof stack === 'string' && stack !== '' ? stack : message === '' ? type : `${type}: ${message}`;
}
