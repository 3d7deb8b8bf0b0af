// Field descriptors: the building blocks of schema.ts. A descriptor knows one key's type, default,
// allowed values, how to read it from an environment variable and how to hide it when it is a
// secret, so validation, env parsing, `config print` and the docs table all come from one place.

import { closest } from './suggest.js';
import { isPlainObject } from './tree.js';

/** One reason a value was rejected; `at` names a map entry below the field (e.g. `DEBUG`). */
export interface Issue {
  at?: string;
  expected: string;
  /** What to show as "got": the offending value (or key), already made safe to print. */
  got: string;
  suggestion?: string;
  /** Replaces the standard "expected …, got …" wording (see ConfigError's problem()). */
  text?: string;
}

export type Checked<T> = { ok: true; value: T } | { ok: false; issues: Issue[] };

/** An environment variable that sets a field directly (PIPETEL_LOG_LEVEL, OTEL_SERVICE_NAME, …). */
export interface EnvAlias {
  name: string;
  /** Converts the text; defaults to the field's own `fromEnv`. */
  parse?: (text: string) => unknown;
  /** The variable's unit when it differs from the key's (OTel's are milliseconds): errors say so. */
  unit?: string;
  /** When false, the variable is not meant for pipetel and is ignored (DATABASE_URL of a MySQL app). */
  applies?: (text: string) => boolean;
}

/** The entries of a map-valued field, addressable one by one as `field.KEY`. */
export interface EntrySpec {
  /** Canonical entry name, or undefined when the name is not allowed (with a suggestion list). */
  normalizeKey(name: string): string | undefined;
  readonly allowedKeys?: readonly string[];
  readonly expectedKey?: string;
  check(value: unknown): Checked<unknown>;
  fromEnv(text: string): unknown;
}

export interface FieldSpec<T> {
  readonly kind: 'field';
  /** Short type description for the docs table, e.g. `integer 1–100000`. */
  readonly type: string;
  readonly default: T;
  readonly doc: string;
  readonly env: readonly EnvAlias[];
  check(value: unknown): Checked<T>;
  /** Converts environment-variable text to the value `check` expects (or leaves it for `check` to reject). */
  fromEnv(text: string): unknown;
  /** Hides secrets in a valid value (used by Config.redacted()). */
  redact?(value: T): T;
  readonly entry?: EntrySpec;
  /** Accepted (the seed has it) but without effect, and why: reported, never silently ignored. */
  readonly noEffect?: string;
}

export interface GroupSpec<F extends Fields = Fields> {
  readonly kind: 'group';
  readonly doc: string;
  readonly fields: F;
}

export interface Fields {
  readonly [name: string]: SchemaNode;
}

export type SchemaNode = FieldSpec<unknown> | GroupSpec;

/** The settings type a schema node describes. */
export type ValueOf<N> =
  N extends FieldSpec<infer T>
    ? T
    : N extends GroupSpec<infer F>
      ? { -readonly [K in keyof F]: ValueOf<F[K]> }
      : never;

interface FieldOptions {
  env?: readonly (string | EnvAlias)[];
}

export const HIDDEN = '****';

export function group<F extends Fields>(doc: string, fields: F): GroupSpec<F> {
  return { kind: 'group', doc, fields };
}

// ---- value display --------------------------------------------------------------------------

const MAX_SHOWN = 80;

function clip(text: string): string {
  return text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN - 1)}…` : text;
}

export function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/** `"abc" (string)`, `1.5`, `true (boolean)`, `{"a":1} (object)`: what a problem says it got. */
export function showValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return `${clip(JSON.stringify(value))} (string)`;
  if (typeof value === 'bigint') return `${value}n (bigint)`;
  if (typeof value === 'object') {
    let text: string;
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = '[unserializable]';
    }
    return `${clip(text)} (${typeName(value)})`;
  }
  return `${String(value)} (${typeof value})`;
}

// ---- environment text -----------------------------------------------------------------------

const NUMBER_TEXT = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

export function numberFromEnv(text: string): unknown {
  const trimmed = text.trim();
  return NUMBER_TEXT.test(trimmed) ? Number(trimmed) : text;
}

function booleanFromEnv(text: string): unknown {
  const lower = text.trim().toLowerCase();
  if (lower === 'true' || lower === '1') return true;
  if (lower === 'false' || lower === '0') return false;
  return text;
}

function jsonOr(text: string, fallback: (text: string) => unknown): unknown {
  const trimmed = text.trim();
  if (!trimmed.startsWith('{') && !trimmed.startsWith('[')) return fallback(text);
  try {
    return JSON.parse(trimmed);
  } catch {
    return text;
  }
}

/** `k=v,k2=v2` (the OTEL_EXPORTER_OTLP_HEADERS form; values may be percent-encoded). */
function pairsFromEnv(text: string, value: (text: string) => unknown): Record<string, unknown> | string {
  const result: Record<string, unknown> = {};
  for (const part of text.split(',')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) return text;
    result[part.slice(0, eq).trim()] = value(decodePercent(part.slice(eq + 1).trim()));
  }
  return result;
}

function decodePercent(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function aliases(options: FieldOptions | undefined): EnvAlias[] {
  return (options?.env ?? []).map((alias) => (typeof alias === 'string' ? { name: alias } : alias));
}

function fail<T>(expected: string, got: string, suggestion?: string): Checked<T> {
  return { ok: false, issues: [suggestion ? { expected, got, suggestion } : { expected, got }] };
}

// ---- scalar fields --------------------------------------------------------------------------

export function boolean(defaultValue: boolean, doc: string, options?: FieldOptions): FieldSpec<boolean> {
  return {
    kind: 'field',
    type: 'boolean',
    default: defaultValue,
    doc,
    env: aliases(options),
    check: (value) =>
      typeof value === 'boolean' ? { ok: true, value } : fail('a boolean (true or false)', showValue(value)),
    fromEnv: booleanFromEnv,
  };
}

/** `true`, `false` or `'auto'`. */
export function booleanOrAuto(
  defaultValue: boolean | 'auto',
  doc: string,
  options?: FieldOptions,
): FieldSpec<boolean | 'auto'> {
  return {
    kind: 'field',
    type: 'boolean | auto',
    default: defaultValue,
    doc,
    env: aliases(options),
    check: (value) => {
      if (typeof value === 'boolean') return { ok: true, value };
      if (typeof value === 'string' && value.trim().toLowerCase() === 'auto')
        return { ok: true, value: 'auto' };
      return fail('true, false or "auto"', showValue(value));
    },
    fromEnv: booleanFromEnv,
  };
}

interface IntegerOptions extends FieldOptions {
  min: number;
  max: number;
}

export function integer(defaultValue: number, doc: string, options: IntegerOptions): FieldSpec<number> {
  const { min, max } = options;
  const kind = min >= 1 ? 'a positive integer' : min === 0 ? 'a non-negative integer' : 'an integer';
  return {
    kind: 'field',
    type: `integer ${min}–${max}`,
    default: defaultValue,
    doc,
    env: aliases(options),
    check: (value) => {
      if (typeof value !== 'number' || !Number.isInteger(value)) return fail(kind, showValue(value));
      if (value < min || value > max) return fail(`an integer from ${min} to ${max}`, showValue(value));
      return { ok: true, value };
    },
    fromEnv: numberFromEnv,
  };
}

interface SecondsOptions extends FieldOptions {
  max: number;
  /** 0 is allowed (and means "every time"). */
  allowZero?: boolean;
}

/** A duration in seconds: a number, fractions allowed, integers accepted. */
export function seconds(defaultValue: number, doc: string, options: SecondsOptions): FieldSpec<number> {
  const { max, allowZero = false } = options;
  const kind = allowZero ? 'a non-negative number of seconds' : 'a positive number of seconds';
  const range = allowZero
    ? `a number of seconds from 0 to ${max}`
    : `a number of seconds above 0, at most ${max}`;
  return {
    kind: 'field',
    type: allowZero ? `seconds 0–${max}` : `seconds (0–${max}]`,
    default: defaultValue,
    doc,
    env: aliases(options),
    check: (value) => {
      if (typeof value !== 'number' || !Number.isFinite(value)) return fail(kind, showValue(value));
      if (value < 0 || (value === 0 && !allowZero) || value > max) return fail(range, showValue(value));
      return { ok: true, value };
    },
    fromEnv: numberFromEnv,
  };
}

/** A percentage above 0, at most 100. */
export function percent(defaultValue: number, doc: string, options?: FieldOptions): FieldSpec<number> {
  const expected = 'a percentage above 0, at most 100';
  return {
    kind: 'field',
    type: 'percent (0–100]',
    default: defaultValue,
    doc,
    env: aliases(options),
    check: (value) => {
      if (typeof value !== 'number' || !Number.isFinite(value)) return fail(expected, showValue(value));
      if (value <= 0 || value > 100) return fail(expected, showValue(value));
      return { ok: true, value };
    },
    fromEnv: numberFromEnv,
  };
}

/** A share from 0 to 1 (sampling rates). */
export function fractionCheck(value: unknown): Checked<number> {
  if (typeof value !== 'number' || !Number.isFinite(value))
    return fail('a number from 0 to 1', showValue(value));
  if (value < 0 || value > 1) return fail('a number from 0 to 1', showValue(value));
  return { ok: true, value };
}

interface EnumOptions<T extends string> extends FieldOptions {
  /** Other accepted spellings, e.g. { WARN: 'WARNING' }. Matching is case-insensitive. */
  aliases?: Readonly<Record<string, T>>;
  /**
   * What one value is called (`profile`): a name that is none of them is then reported as
   * `unknown profile "fast"; valid profiles are …`, which says more than "expected one of".
   */
  noun?: string;
}

export function enumMatcher<T extends string>(values: readonly T[], extra: Readonly<Record<string, T>> = {}) {
  const byLower = new Map<string, T>();
  for (const value of values) byLower.set(value.toLowerCase(), value);
  for (const [alias, value] of Object.entries(extra)) byLower.set(alias.toLowerCase(), value);
  return (text: string): T | undefined => byLower.get(text.trim().toLowerCase());
}

export function oneOf<T extends string>(
  values: readonly T[],
  defaultValue: T,
  doc: string,
  options?: EnumOptions<T>,
): FieldSpec<T> {
  const match = enumMatcher(values, options?.aliases);
  const expected = `one of ${values.join(', ')}`;
  return {
    kind: 'field',
    type: values.join(' | '),
    default: defaultValue,
    doc,
    env: aliases(options),
    check: (value) => {
      if (typeof value !== 'string') return fail(expected, showValue(value));
      const found = match(value);
      if (found !== undefined) return { ok: true, value: found };
      const suggestion = closest(value, values);
      const noun = options?.noun;
      if (noun === undefined) return fail(expected, showValue(value), suggestion);
      const text = `unknown ${noun} ${clip(JSON.stringify(value))}; valid ${noun}s are ${values.join(', ')}`;
      const issue: Issue = { expected, got: showValue(value), text };
      return { ok: false, issues: [suggestion ? { ...issue, suggestion } : issue] };
    },
    fromEnv: (text) => text,
  };
}

/** A key pipetel accepts for the seed's configurations but that changes nothing (yet), and why. */
export function noEffect<T>(field: FieldSpec<T>, reason: string): FieldSpec<T> {
  return { ...field, noEffect: reason };
}

/** Wraps a field so that `null` is also valid (meaning "not set; use the documented fallback"). */
export function nullable<T>(field: FieldSpec<T>, defaultValue: T | null = null): FieldSpec<T | null> {
  return {
    ...field,
    type: `${field.type} | null`,
    default: defaultValue,
    check: (value) => {
      if (value === null) return { ok: true, value: null };
      const checked = field.check(value);
      if (checked.ok) return checked;
      return {
        ok: false,
        issues: checked.issues.map((issue) => ({ ...issue, expected: `${issue.expected} or null` })),
      };
    },
    redact: field.redact ? (value) => (value === null ? null : field.redact!(value)) : undefined,
    // As in YAML: `null` or `~` in a variable sets the key to null (an empty variable is unset).
    fromEnv: (text) => (/^(null|~)$/i.test(text.trim()) ? null : field.fromEnv(text)),
  };
}

interface StringOptions extends FieldOptions {
  /** Docs type, e.g. `postgres URL`. */
  type?: string;
  expected?: string;
  valid?: (text: string) => boolean;
  /** Hides a secret inside the text (e.g. a URL's password). */
  redact?: (text: string) => string;
}

export function text(defaultValue: string, doc: string, options?: StringOptions): FieldSpec<string> {
  const expected = options?.expected ?? 'a non-empty string';
  const valid = options?.valid ?? ((value: string) => value.trim() !== '');
  const redact = options?.redact;
  const show = (value: unknown) =>
    redact && typeof value === 'string' ? showValue(redact(value)) : showValue(value);
  return {
    kind: 'field',
    type: options?.type ?? 'string',
    default: defaultValue,
    doc,
    env: aliases(options),
    check: (value) =>
      typeof value === 'string' && valid(value) ? { ok: true, value } : fail(expected, show(value)),
    fromEnv: (text) => text,
    redact,
  };
}

export function stringList(defaultValue: string[], doc: string, options?: FieldOptions): FieldSpec<string[]> {
  const expected = 'a list of non-empty strings';
  return {
    kind: 'field',
    type: 'list of strings',
    default: defaultValue,
    doc,
    env: aliases(options),
    check: (value) => {
      if (!Array.isArray(value)) return fail(expected, showValue(value));
      const bad = value.findIndex((item) => typeof item !== 'string' || item.trim() === '');
      if (bad >= 0)
        return {
          ok: false,
          issues: [{ at: String(bad), expected: 'a non-empty string', got: showValue(value[bad]) }],
        };
      return { ok: true, value: [...value] };
    },
    // JSON (`["a","b"]`) or a comma-separated list.
    fromEnv: (text) =>
      jsonOr(text, (t) =>
        t
          .split(',')
          .map((item) => item.trim())
          .filter(Boolean),
      ),
  };
}

interface MapOptions extends FieldOptions {
  type: string;
  /** Canonical key or undefined when the key is not allowed. */
  key: (name: string) => string | undefined;
  allowedKeys?: readonly string[];
  expectedKey?: string;
  value: (value: unknown) => Checked<unknown>;
  valueFromEnv: (text: string) => unknown;
  /** Entry values are secrets: printed as ****. */
  secretValues?: boolean;
}

/** An object of name → value, merged key by key across sources. */
export function mapOf<M extends Record<string, unknown>>(
  defaultValue: M,
  doc: string,
  options: MapOptions,
): FieldSpec<M> {
  const { key, value: checkValue, secretValues = false } = options;
  const hide = (value: unknown): string =>
    secretValues ? `${HIDDEN} (${typeName(value)})` : showValue(value);
  const entry: EntrySpec = {
    normalizeKey: key,
    allowedKeys: options.allowedKeys,
    expectedKey: options.expectedKey,
    check: (value) => {
      const checked = checkValue(value);
      if (checked.ok || !secretValues) return checked;
      return { ok: false, issues: checked.issues.map((issue) => ({ ...issue, got: hide(value) })) };
    },
    fromEnv: options.valueFromEnv,
  };
  return {
    kind: 'field',
    type: options.type,
    default: defaultValue,
    doc,
    env: aliases(options),
    entry,
    check: (value) => {
      if (!isPlainObject(value)) return fail(`an object (${options.type})`, hide(value));
      const result: Record<string, unknown> = {};
      const issues: Issue[] = [];
      for (const [name, item] of Object.entries(value)) {
        if (item === undefined) continue;
        const canonical = key(name);
        if (canonical === undefined) {
          issues.push({
            at: name,
            expected: options.expectedKey ?? 'a valid name',
            got: showValue(name),
            ...suggestFrom(name, options.allowedKeys),
          });
          continue;
        }
        const checked = entry.check(item);
        if (checked.ok) result[canonical] = checked.value;
        else issues.push(...checked.issues.map((issue) => ({ ...issue, at: name })));
      }
      return issues.length > 0 ? { ok: false, issues } : { ok: true, value: result as M };
    },
    fromEnv: (text) => jsonOr(text, (t) => pairsFromEnv(t, options.valueFromEnv)),
    redact: secretValues
      ? (value) => Object.fromEntries(Object.keys(value).map((name) => [name, HIDDEN])) as M
      : undefined,
  };
}

function suggestFrom(name: string, allowed: readonly string[] | undefined): { suggestion?: string } {
  const suggestion = allowed ? closest(name, allowed) : undefined;
  return suggestion ? { suggestion } : {};
}
