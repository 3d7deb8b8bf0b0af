// Secrets and bad input in what reaches the row encoders through the plain OTel APIs (span and
// link attributes, event attributes, log attributes and bodies, metric point attributes): one key
// matcher shared with pipetel's own Logger, and a sanitizer that makes any value JSON- and
// PostgreSQL-safe within fixed limits, counting what it had to change. Neither ever throws.

import { isPlainObject, readProperty, safeString, setKey } from '../../src/internal/safeAccess.js';
import { truncate } from './copyText.js';

export const REDACTED = '[REDACTED]';

/**
 * Default of `redaction.keys`; exporters use it when no `redactKeys` is given. A keyword matches
 * whole words only, so plurals that hold secrets are listed too — but not `tokens`, which is the
 * LLM token count in `prompt_tokens` and `max_tokens`.
 */
export const DEFAULT_SECRET_KEYS: readonly string[] = [
  'password',
  'passwords',
  'passwd',
  'secret',
  'secrets',
  'token',
  'api_key',
  'api_keys',
  'apikey',
  'authorization',
  'auth',
  'credential',
  'credentials',
  'private_key',
  'cookie',
  'cookies',
  'session',
];

/**
 * Words that, right after a keyword, say the key describes the secret rather than holding it:
 * `token_count`, `session_length`, `auth_type`, `secret_name`, `private_key_path` hold no secret.
 */
const DESCRIPTOR_WORDS = new Set([
  'count',
  'length',
  'len',
  'size',
  'limit',
  'usage',
  'type',
  'kind',
  'name',
  'path',
  'file',
  'time',
  'timeout',
  'ttl',
  'duration',
  'expiry',
  'expires',
  'enabled',
]);

/** Verdicts cached per matcher before the cache starts over (keys can be data, e.g. ids). */
const VERDICT_CACHE_LIMIT = 10_000;

/**
 * The words of an attribute key, lowercase: split on every character that is neither a letter nor
 * a digit (`_ - . space / :` …), at camelCase boundaries (`apiKey` → api, key; `APIKey` → api,
 * key) and between letters and digits (`password2` → password, 2).
 */
export function keyWords(key: string): string[] {
  return key
    .replace(/(\p{Ll})(?=\p{Lu})/gu, '$1 ')
    .replace(/(\p{Lu})(?=\p{Lu}\p{Ll})/gu, '$1 ')
    .replace(/(\p{L})(?=\p{N})|(\p{N})(?=\p{L})/gu, '$1$2 ')
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter((word) => word !== '');
}

/**
 * Decides which attribute keys hold secrets. The rule: split the key into words (see keyWords);
 * it is secret when a configured keyword, split the same way, occurs in it as a whole word or a
 * whole run of consecutive words — unless that occurrence is directly followed by a descriptor
 * word (DESCRIPTOR_WORDS: count, length, type, name, path, …).
 *
 *   secret:     password, DB_PASSWORD, db.password, authToken, access_token, Authorization,
 *               X-Api-Key, client_secret, client_secret_id, aws_secret_access_key, set-cookie
 *   not secret: prompt_tokens, max_tokens, tokenizer, author, authority, token_count,
 *               session_length, passwordless
 *
 * Matching is case-insensitive; each key's verdict is cached, so a repeated key costs one Map
 * lookup.
 */
export class SecretKeyMatcher {
  /** False when there is nothing to redact (an empty keyword list). */
  readonly enabled: boolean;
  private readonly keywords: string[][];
  private readonly verdicts = new Map<string, boolean>();

  constructor(keywords: readonly string[]) {
    this.keywords = keywords
      .filter((keyword) => typeof keyword === 'string')
      .map(keyWords)
      .filter((words) => words.length > 0);
    this.enabled = this.keywords.length > 0;
  }

  isSecret(key: string): boolean {
    if (!this.enabled) return false;
    let verdict = this.verdicts.get(key);
    if (verdict === undefined) {
      verdict = this.decide(key);
      if (this.verdicts.size >= VERDICT_CACHE_LIMIT) this.verdicts.clear();
      this.verdicts.set(key, verdict);
    }
    return verdict;
  }

  private decide(key: string): boolean {
    const words = keyWords(key);
    for (const keyword of this.keywords) {
      for (let at = 0; at + keyword.length <= words.length; at++) {
        if (!startsAt(words, keyword, at)) continue;
        const next = words[at + keyword.length];
        if (next === undefined || !DESCRIPTOR_WORDS.has(next)) return true;
      }
    }
    return false;
  }
}

function startsAt(words: string[], keyword: string[], at: number): boolean {
  for (let i = 0; i < keyword.length; i++) if (words[at + i] !== keyword[i]) return false;
  return true;
}

/** Characters kept per string value (and of a log message, stack trace or status message). */
export const MAX_STRING_CHARS = 64 * 1024;
/** Objects nested deeper than this below an attributes object or log body become '[Depth]'. */
export const MAX_DEPTH = 8;
/** Keys kept per object (and items per array); the rest are summarized under the key '…'. */
export const MAX_KEYS = 1000;
/** Values visited per field (an attributes object, a body), so wide-and-deep input stays bounded. */
export const MAX_VALUES_PER_FIELD = 10_000;
/** String characters kept per field in total; later strings are truncated to what is left. */
export const MAX_CHARS_PER_FIELD = 1024 * 1024;

export const CIRCULAR = '[Circular]';
export const DEPTH = '[Depth]';

/** What the encoders changed, for the self-monitoring and stats(). */
export interface EncodingCounters {
  /** Values replaced, truncated or dropped because PostgreSQL or JSON could not take them as they were. */
  sanitized: number;
  /** Values replaced by '[REDACTED]' because of their key. */
  redacted: number;
}

export function newEncodingCounters(): EncodingCounters {
  return { sanitized: 0, redacted: 0 };
}

type WellFormedString = string & { isWellFormed(): boolean; toWellFormed(): string };

/**
 * Makes attributes and bodies safe for jsonb and the COPY text format, and redacts secrets by key.
 * Input that needs nothing (plain objects and arrays of bounded primitives, no secret keys — the
 * common case) is returned as is after one read-only pass; only the rest is copied.
 */
export class RowSanitizer {
  private values = 0;
  private chars = 0;
  private readonly ancestors: object[] = [];

  constructor(
    readonly matcher: SecretKeyMatcher,
    readonly counters: EncodingCounters = newEncodingCounters(),
  ) {}

  /** An attributes object fit for jsonField: `attributes` itself when nothing needs changing. */
  attributes(attributes: object | null | undefined): object {
    if (attributes === null || attributes === undefined) return {};
    if (this.isClean(attributes)) return attributes;
    this.reset();
    const copy = this.copy(attributes, 0);
    if (typeof copy === 'object' && copy !== null && !Array.isArray(copy)) return copy;
    this.counters.sanitized++;
    return {};
  }

  /** Any value (a log body) as JSON text, sanitized and redacted (`null` for what JSON leaves out). */
  json(value: unknown): string {
    let safe = value;
    if (!this.isClean(value)) {
      this.reset();
      safe = this.copy(value, 0);
    }
    try {
      return JSON.stringify(safe) ?? 'null';
    } catch {
      this.counters.sanitized++;
      return '[Unserializable]';
    }
  }

  /** `text` cut to maxChars with a marker, NUL and lone surrogates replaced by U+FFFD (counted). */
  text(text: string, maxChars = MAX_STRING_CHARS): string {
    if (text.length <= maxChars && text.indexOf('\0') === -1 && (text as WellFormedString).isWellFormed()) {
      return text;
    }
    this.counters.sanitized++;
    let out = truncate(text, maxChars);
    if (out.indexOf('\0') !== -1) out = out.replaceAll('\0', '\uFFFD');
    return (out as WellFormedString).toWellFormed();
  }

  private reset(): void {
    this.values = 0;
    this.chars = 0;
    this.ancestors.length = 0;
  }

  /** Read-only check that `value` can go to JSON.stringify as it is. */
  private isClean(value: unknown): boolean {
    this.reset();
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
        return value.length <= MAX_STRING_CHARS && this.chars <= MAX_CHARS_PER_FIELD;
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
    if (items.length > MAX_KEYS) return false;
    for (let i = 0; i < items.length; i++) if (!this.cleanValue(items[i], depth + 1)) return false;
    return true;
  }

  private cleanRecord(record: Record<string, unknown>, depth: number): boolean {
    let keys = 0;
    for (const key in record) {
      if (++keys > MAX_KEYS) return false;
      const item = record[key];
      if (this.matcher.isSecret(key)) {
        if (item !== REDACTED) return false; // already redacted (by pipetel's Logger) is fine
      } else if (!this.cleanValue(item, depth + 1)) {
        return false;
      }
    }
    return true;
  }

  /** A JSON-safe copy of `value` found at `depth` (0 = the attributes object or body itself). */
  private copy(value: unknown, depth: number): unknown {
    if (++this.values > MAX_VALUES_PER_FIELD) {
      this.counters.sanitized++;
      return '[Truncated]';
    }
    switch (typeof value) {
      case 'string':
        return this.boundedString(value);
      case 'number':
        if (Number.isFinite(value)) return value;
        this.counters.sanitized++;
        return String(value); // NaN and ±Infinity have no JSON form
      case 'boolean':
      case 'undefined':
        return value;
      case 'object':
        return value === null ? null : this.copyObject(value, depth);
      case 'bigint':
        this.counters.sanitized++;
        return value.toString();
      case 'symbol':
        this.counters.sanitized++;
        return value.toString();
      default:
        this.counters.sanitized++; // a function: left out, as JSON.stringify does
        return undefined;
    }
  }

  private boundedString(text: string): string {
    const room = Math.max(0, Math.min(MAX_STRING_CHARS, MAX_CHARS_PER_FIELD - this.chars));
    this.chars += Math.min(text.length, room);
    return this.text(text, room);
  }

  private copyObject(value: object, depth: number): unknown {
    if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
    if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) {
      this.counters.sanitized++;
      return `[${constructorName(value, 'Binary')} ${value.byteLength} bytes]`;
    }
    if (depth > MAX_DEPTH) {
      this.counters.sanitized++;
      return DEPTH;
    }
    if (this.ancestors.includes(value)) {
      this.counters.sanitized++;
      return CIRCULAR;
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
        return json === value ? this.copyRecord(value, depth) : this.copy(json, depth);
      }
      return this.copyRecord(value, depth);
    } catch {
      this.counters.sanitized++;
      return '[Unreadable]'; // a Proxy trap or toJSON that throws
    } finally {
      this.ancestors.pop();
    }
  }

  private copyItems(items: readonly unknown[], depth: number): unknown[] {
    const kept = Math.min(items.length, MAX_KEYS);
    const out: unknown[] = new Array(kept);
    for (let i = 0; i < kept; i++) out[i] = this.copy(items[i], depth + 1);
    if (items.length > kept) {
      this.counters.sanitized++;
      out.push(`[… ${items.length - kept} more items]`);
    }
    return out;
  }

  private copyMap(map: Map<unknown, unknown>, depth: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    let kept = 0;
    for (const [key, item] of map) {
      if (kept++ >= MAX_KEYS) {
        this.moreKeys(out, map.size - MAX_KEYS);
        break;
      }
      this.entry(out, typeof key === 'string' ? key : safeString(key), item, depth);
    }
    return out;
  }

  private copyRecord(value: object, depth: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const keys = Object.keys(value);
    const kept = Math.min(keys.length, MAX_KEYS);
    for (let i = 0; i < kept; i++) this.entry(out, keys[i], readProperty(value, keys[i]), depth);
    if (keys.length > kept) this.moreKeys(out, keys.length - kept);
    return out;
  }

  private entry(out: Record<string, unknown>, key: string, item: unknown, depth: number): void {
    const safeKey = this.text(key, MAX_STRING_CHARS);
    if (this.matcher.isSecret(key)) {
      if (item !== REDACTED) this.counters.redacted++;
      setKey(out, safeKey, REDACTED);
      return;
    }
    const copy = this.copy(item, depth + 1);
    if (copy !== undefined) setKey(out, safeKey, copy);
  }

  private moreKeys(out: Record<string, unknown>, more: number): void {
    this.counters.sanitized++;
    out['…'] = `[${more} more keys]`;
  }

  private copyError(error: Error): Record<string, string> {
    this.counters.sanitized++;
    const out: Record<string, string> = {
      type: this.text(safeString(readProperty(error, 'name')), MAX_STRING_CHARS),
      message: this.text(safeString(readProperty(error, 'message')), MAX_STRING_CHARS),
    };
    const stack = readProperty(error, 'stack');
    if (typeof stack === 'string') out.stack = this.text(stack, MAX_STRING_CHARS);
    return out;
  }
}

// The row encoders are called by a DeliveryQueue through closures that the exporter classes build
// (`(span) => encodeSpan(span, resources)`); openDelivery wraps each call so the encoders find the
// sanitizer of their exporter here. Encoding is synchronous, so the scope cannot leak.
let scopedSanitizer: RowSanitizer | undefined;
let defaultSanitizer: RowSanitizer | undefined;

/** The sanitizer of the exporter whose record is being encoded (default keys outside of one). */
export function currentRowSanitizer(): RowSanitizer {
  if (scopedSanitizer) return scopedSanitizer;
  defaultSanitizer ??= new RowSanitizer(new SecretKeyMatcher(DEFAULT_SECRET_KEYS));
  return defaultSanitizer;
}

/** `encode`, running with `sanitizer` as the current one. */
export function encodingWith<T>(sanitizer: RowSanitizer, encode: (item: T) => string): (item: T) => string {
  return (item) => {
    const outer = scopedSanitizer;
    scopedSanitizer = sanitizer;
    try {
      return encode(item);
    } finally {
      scopedSanitizer = outer;
    }
  };
}

function constructorName(value: object, fallback: string): string {
  try {
    const name = value.constructor?.name;
    return typeof name === 'string' && name !== '' ? name : fallback;
  } catch {
    return fallback;
  }
}
