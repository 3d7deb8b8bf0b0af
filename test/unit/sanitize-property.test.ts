// Property-based tests (fast-check) of what stands between arbitrary user values and PostgreSQL:
// jsonField and textField (the COPY encoding), the encoders' Sanitizer and the Logger's
// AttributeSanitizer. Inputs include BigInt, Maps, Sets, typed arrays, null-prototype objects,
// cycles, and strings of NUL, lone surrogates, quotes, backslashes and control characters.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  DEFAULT_SECRET_KEYS,
  MAX_DEPTH,
  REDACTED,
  Sanitizer,
  SecretKeyMatcher,
  TelemetryPolicy,
} from '../../exporters/policy/index.js';
import { jsonField, textField } from '../../exporters/postgres/copyText.js';
import { AttributeSanitizer } from '../../src/logging/sanitize.js';

const NUM_RUNS = 500;

/** One UTF-16 unit or code point, biased towards what PostgreSQL, JSON or COPY trip over. */
const nastyUnit = fc.oneof(
  fc.constantFrom('\u0000', '\t', '\n', '\r', '\\', '"', '\\u0000', '\\ud800', '\u2028', '\uFFFF', 'N'),
  fc.integer({ min: 0xd800, max: 0xdfff }).map((code) => String.fromCharCode(code)),
  fc.integer({ min: 0, max: 0x1f }).map((code) => String.fromCharCode(code)),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
  fc.constantFrom('password', 'token', 'api_key', 'prompt_tokens', '_', 'a'),
);
const nastyString = fc.string({ unit: nastyUnit, maxLength: 20 });

const anything = fc.anything({
  key: nastyString,
  stringUnit: nastyUnit,
  maxDepth: 4,
  withBigInt: true,
  withMap: true,
  withSet: true,
  withDate: true,
  withTypedArray: true,
  withSparseArray: true,
  withNullPrototype: true,
  withBoxedValues: true,
  withObjectString: true,
});

/** `value`, sometimes with a reference from somewhere inside it back to itself. */
const maybeCircular = fc.tuple(anything, fc.boolean(), nastyString).map(([value, loop, key]) => {
  if (loop && typeof value === 'object' && value !== null && !ArrayBuffer.isView(value)) {
    const inner = firstNestedObject(value) ?? value;
    if (inner instanceof Map) inner.set(key, value);
    else if (inner instanceof Set) inner.add(value);
    else {
      // Some keys cannot take the loop (a boxed String's read-only 'length', a cyclic '__proto__'):
      // then the value stays acyclic instead of failing the generator.
      try {
        (inner as Record<string, unknown>)[key] = value;
      } catch {}
    }
  }
  return value;
});

function firstNestedObject(value: object): object | undefined {
  for (const item of Object.values(value)) {
    if (typeof item === 'object' && item !== null && !ArrayBuffer.isView(item)) return item;
  }
  return undefined;
}

/** Undoes the COPY text escapes of one field. */
function uncopy(field: string): string {
  return field.replace(/\\([\\tnr])/g, (_, c: string) => ({ '\\': '\\', t: '\t', n: '\n', r: '\r' })[c]!);
}

function isWellFormed(text: string): boolean {
  return (text as string & { isWellFormed(): boolean }).isWellFormed();
}

/** Every string and key inside a parsed JSON value is free of NUL and lone surrogates. */
function assertCleanStrings(value: unknown): void {
  if (typeof value === 'string') {
    assert.ok(!value.includes('\u0000') && isWellFormed(value), JSON.stringify(value));
  } else if (Array.isArray(value)) {
    for (const item of value) assertCleanStrings(item);
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      assertCleanStrings(key);
      assertCleanStrings(item);
    }
  }
}

const REFUSED_ESCAPE = /(?<!\\)(?:\\\\)*\\u(?:0000|d[89a-f][0-9a-f]{2})/i;

function assertAcceptableJsonb(field: string): unknown {
  assert.doesNotMatch(field, /[\t\n\r\u0000]/, 'no raw tab, newline, CR or NUL in a COPY field');
  const json = uncopy(field);
  assert.doesNotMatch(json, REFUSED_ESCAPE, 'no \\u0000 or lone-surrogate escape');
  assert.ok(isWellFormed(json), 'no raw lone surrogate');
  const parsed: unknown = JSON.parse(json);
  assertCleanStrings(parsed);
  return parsed;
}

function depthOf(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0;
  let deepest = 0;
  for (const item of Object.values(value)) deepest = Math.max(deepest, depthOf(item));
  return deepest + 1;
}

/** Every key the matcher calls secret holds '[REDACTED]', at any depth. */
function assertRedacted(value: unknown, matcher: SecretKeyMatcher): void {
  if (typeof value !== 'object' || value === null) return;
  for (const [key, item] of Object.entries(value)) {
    if (!Array.isArray(value) && matcher.isSecret(key))
      assert.equal(item, REDACTED, `key ${JSON.stringify(key)}`);
    else assertRedacted(item, matcher);
  }
}

describe('jsonField (property)', () => {
  it('never throws, and what it writes is JSON that jsonb accepts', () => {
    fc.assert(
      fc.property(maybeCircular, (value) => {
        const field = jsonField(value);
        if (field !== '\\N') assertAcceptableJsonb(field);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('keeps every well-formed string without NUL exactly', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        fc.pre(!text.includes('\u0000'));
        assert.equal(JSON.parse(uncopy(jsonField({ [text]: text })))[text], text);
      }),
      { numRuns: NUM_RUNS },
    );
  });
});

describe('textField (property)', () => {
  it('writes no raw tab, newline, CR or NUL, and round-trips everything but NUL', () => {
    fc.assert(
      fc.property(nastyString, (text) => {
        const field = textField(text);
        assert.doesNotMatch(field, /[\t\n\r\u0000]/);
        assert.equal(uncopy(field), text.replaceAll('\u0000', '\uFFFD'));
      }),
      { numRuns: NUM_RUNS },
    );
  });
});

describe('Sanitizer (property)', () => {
  it('never throws; its output serializes without help, within the depth limit, secrets redacted', () => {
    fc.assert(
      fc.property(maybeCircular, (value) => {
        const sanitizer = new Sanitizer(new SecretKeyMatcher(DEFAULT_SECRET_KEYS));
        const attributes = sanitizer.attributes(
          typeof value === 'object' && value !== null ? value : { value },
        );
        const json = JSON.stringify(attributes); // would throw on BigInt or a cycle
        assert.ok(depthOf(JSON.parse(json)) <= MAX_DEPTH + 1);
        assertRedacted(JSON.parse(json), sanitizer.matcher);
        assertAcceptableJsonb(jsonField(attributes));
        assert.doesNotThrow(() => JSON.parse(JSON.stringify(sanitizer.value(value)) ?? null));
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('leaves clean attributes untouched', () => {
    const primitive = fc.oneof(
      fc.string(),
      fc.integer(),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.boolean(),
    );
    const cleanKey = fc.string().filter((key) => !new SecretKeyMatcher(DEFAULT_SECRET_KEYS).isSecret(key));
    fc.assert(
      fc.property(fc.dictionary(cleanKey, fc.oneof(primitive, fc.array(primitive))), (attributes) => {
        const sanitizer = new Sanitizer(new SecretKeyMatcher(DEFAULT_SECRET_KEYS));
        assert.equal(sanitizer.attributes(attributes), attributes);
        assert.deepEqual(sanitizer.counters, { sanitized: 0, redacted: 0 });
      }),
      { numRuns: NUM_RUNS },
    );
  });
});

describe("the Logger's AttributeSanitizer (property)", () => {
  it('never throws; its output is JSON that jsonb accepts, secrets redacted', () => {
    fc.assert(
      fc.property(maybeCircular, nastyString, (value, key) => {
        const counters = { sanitized: 0, redacted: 0 };
        const sanitizer = new AttributeSanitizer(new TelemetryPolicy().newSanitizer(counters), counters);
        const out: Record<string, unknown> = {};
        sanitizer.copyInto(
          out,
          typeof value === 'object' && value !== null ? value : { [key]: value },
          0,
          true,
        );
        const parsed = assertAcceptableJsonb(jsonField(out));
        assert.equal(typeof parsed, 'object');
        assertRedacted(parsed, new SecretKeyMatcher(DEFAULT_SECRET_KEYS));
      }),
      { numRuns: NUM_RUNS },
    );
  });
});
