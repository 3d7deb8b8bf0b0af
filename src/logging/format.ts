// printf-style message formatting (`%s %d %i %f %j %o %O %c %%`) with util.format's semantics, written
// out by hand: util.format inspects every extra argument and costs several times more on the hot path.
// Never throws: a value whose toString/valueOf/toJSON throws is rendered as a marker instead.

import { inspect } from 'node:util';
import { safeString } from '../../exporters/policy/safeAccess.js';
import { cleanText, isCleanText } from '../../exporters/policy/text.js';
import { stringifySafely } from '../../exporters/shared/json.js';

const PERCENT = 37; // '%'

/** `text` if it is clean, else its cleaned copy: for short strings produced while formatting. */
function clean(text: string): string {
  return isCleanText(text) ? text : cleanText(text);
}

/** How many arguments `template` can consume (each %s %d %i %f %j %o %O %c; not %%). */
export function countPlaceholders(template: string): number {
  let count = 0;
  let at = template.indexOf('%');
  while (at !== -1 && at < template.length - 1) {
    const code = template.charCodeAt(at + 1);
    if (code === PERCENT) {
      at = template.indexOf('%', at + 2);
      continue;
    }
    if (isSpecifier(code)) count++;
    at = template.indexOf('%', at + 1);
  }
  return count;
}

/**
 * Formats `template` with `args[0..end)`: placeholders consume arguments in order, a placeholder
 * without an argument stays as written, and arguments left over are appended space-separated.
 */
export function formatMessage(template: string, args: readonly unknown[], end: number): string {
  // The logger caches compiled templates (TemplateCache); this uncached form parses each time.
  return formatCompiled(compileTemplate(template), args, end);
}

/** A template split once at its placeholders: literals[i] precedes specifiers[i] (a char code). */
export interface CompiledTemplate {
  readonly literals: readonly string[];
  readonly specifiers: readonly number[];
  /** The template has no NUL or lone surrogate (checked once, not per call). */
  readonly clean: boolean;
}

/** Templates seen so far (messages are nearly always literals, so a few hundred cover a program). */
export class TemplateCache {
  private readonly compiled = new Map<string, CompiledTemplate>();

  constructor(private readonly capacity = 1000) {}

  /** The compiled form of a template that contains '%'. */
  get(template: string): CompiledTemplate {
    let compiled = this.compiled.get(template);
    if (compiled === undefined) {
      compiled = compileTemplate(template);
      // Templates built at run time would grow the cache forever: start over instead.
      if (this.compiled.size >= this.capacity) this.compiled.clear();
      this.compiled.set(template, compiled);
    }
    return compiled;
  }
}

export function compileTemplate(template: string): CompiledTemplate {
  const literals: string[] = [];
  const specifiers: number[] = [];
  let literal = '';
  let last = 0;
  for (
    let at = template.indexOf('%');
    at !== -1 && at < template.length - 1;
    at = template.indexOf('%', at)
  ) {
    const code = template.charCodeAt(at + 1);
    if (code === PERCENT) {
      literal += template.slice(last, at + 1);
      last = at += 2;
    } else if (isSpecifier(code)) {
      literals.push(literal + template.slice(last, at));
      specifiers.push(code);
      literal = '';
      last = at += 2;
    } else {
      at++;
    }
  }
  literals.push(literal + template.slice(last));
  return { literals, specifiers, clean: isCleanText(template) };
}

/** formatMessage() for a compiled template; args[0..end) must be non-empty (else use the template as is). */
export function formatCompiled(compiled: CompiledTemplate, args: readonly unknown[], end: number): string {
  const { literals, specifiers } = compiled;
  let out = literals[0]!;
  let next = 0;
  for (let i = 0; i < specifiers.length; i++) {
    const code = specifiers[i]!;
    out +=
      (next < end ? formatSpecifier(code, args[next++]) : `%${String.fromCharCode(code)}`) + literals[i + 1]!;
  }
  while (next < end) out += ' ' + stringifyArg(args[next++]);
  return out;
}

function isSpecifier(code: number): boolean {
  // s d i f j o O c
  return (
    code === 115 ||
    code === 100 ||
    code === 105 ||
    code === 102 ||
    code === 106 ||
    code === 111 ||
    code === 79 ||
    code === 99
  );
}

function formatSpecifier(code: number, value: unknown): string {
  switch (code) {
    case 115: // %s
      return stringifyArg(value);
    case 100: // %d
      return typeof value === 'bigint'
        ? `${value}n`
        : typeof value === 'symbol'
          ? 'NaN'
          : String(toNumber(value));
    case 105: // %i
      return typeof value === 'bigint'
        ? `${value}n`
        : typeof value === 'symbol'
          ? 'NaN'
          : String(parseInt(safeString(value), 10));
    case 102: // %f
      return typeof value === 'symbol' ? 'NaN' : String(parseFloat(safeString(value)));
    case 106: // %j
      return safeJson(value);
    case 111: // %o
      return safeInspect(value, { showHidden: true, depth: 4, breakLength: Number.POSITIVE_INFINITY });
    case 79: // %O
      return safeInspect(value, { breakLength: Number.POSITIVE_INFINITY });
    default: // %c (CSS in browsers): consumed, prints nothing
      return '';
  }
}

/**
 * `%s` and appended arguments: strings as they are, errors as `Name: message`, plain data as JSON.
 * Only string arguments may carry NUL or lone surrogates out of here (the caller checks those).
 */
export function stringifyArg(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
      return Object.is(value, -0) ? '-0' : String(value);
    case 'bigint':
      return `${value}n`;
    case 'undefined':
      return 'undefined';
    case 'object':
      return value === null ? 'null' : stringifyObject(value);
    case 'boolean':
      return value ? 'true' : 'false';
    default: // symbol, function
      return clean(safeString(value));
  }
}

function stringifyObject(value: object): string {
  if (value instanceof Error) return clean(errorSummary(value));
  if (Array.isArray(value)) return safeJson(value);
  const proto = Object.getPrototypeOf(value);
  if (proto === null || proto === Object.prototype) return safeJson(value);
  // Class instances with their own toString (Date, URL, Decimal…) read best that way.
  try {
    const own = (value as { toString?: unknown }).toString;
    if (typeof own === 'function' && own !== Object.prototype.toString) return clean(String(value));
  } catch {
    // fall through to JSON
  }
  return safeJson(value);
}

/** `TypeError: message`, never throwing (the name or message may be a getter that throws). */
export function errorSummary(error: Error): string {
  try {
    const name = typeof error.name === 'string' && error.name !== '' ? error.name : 'Error';
    return error.message === '' ? name : `${name}: ${String(error.message)}`;
  } catch {
    return '[Error]';
  }
}

function toNumber(value: unknown): number {
  try {
    return Number(value);
  } catch {
    return Number.NaN;
  }
}

function safeInspect(value: unknown, options: Parameters<typeof inspect>[1]): string {
  try {
    return inspect(value, options);
  } catch {
    return '[Uninspectable]';
  }
}

/** JSON.stringify that survives cycles ('[Circular]'), BigInt (as a string) and throwing toJSON. */
export function safeJson(value: unknown): string {
  return stringifySafely(value, '[Unserializable]') ?? 'undefined';
}
