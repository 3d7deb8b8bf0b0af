// The key matcher shared by pipetel's Logger and every sink (a table of keys and verdicts), the
// policy's sanitizer on each kind of bad input, and the three row encoders fed poisoned records
// through the policy: every line has the right columns, no raw control characters, and jsonb
// PostgreSQL accepts.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import {
  CIRCULAR,
  DEFAULT_SECRET_KEYS,
  DEPTH,
  keyWords,
  MAX_CHARS_PER_FIELD,
  MAX_DEPTH,
  MAX_KEYS,
  MAX_STRING_CHARS,
  REDACTED,
  Sanitizer,
  SecretKeyMatcher,
  TelemetryPolicy,
} from '../../exporters/policy/index.js';
import { jsonField, textField } from '../../exporters/postgres/copyText.js';
import { encodeLogRecord, LOGS_TABLE } from '../../exporters/postgres/logRows.js';
import { encodeMetricPoint, METRICS_TABLE, type MetricPoint } from '../../exporters/postgres/metricRows.js';
import { ResourceInfoCache } from '../../exporters/postgres/resourceInfo.js';
import { encodeSpan, SPANS_TABLE } from '../../exporters/postgres/spanRows.js';
import { MAX_MESSAGE_CHARS } from '../../exporters/shared/conventions.js';
import { LoggerFactory, type PipetelLogRecord } from '../../src/logging/index.js';
import { AttributeSanitizer } from '../../src/logging/sanitize.js';
import { assertTruncated } from '../helpers/assertions.js';

describe('keyWords', () => {
  const table: Array<[string, string[]]> = [
    ['password', ['password']],
    ['DB_PASSWORD', ['db', 'password']],
    ['db.password', ['db', 'password']],
    ['apiKey', ['api', 'key']],
    ['APIKey', ['api', 'key']],
    ['X-Api-Key', ['x', 'api', 'key']],
    ['authToken', ['auth', 'token']],
    ['XMLHttpRequest', ['xml', 'http', 'request']],
    ['password2', ['password', '2']],
    ['oauth2Token', ['oauth', '2', 'token']],
    ['  spaced   out ', ['spaced', 'out']],
    ['headers/Set-Cookie', ['headers', 'set', 'cookie']],
    ['contraseñaSecreta', ['contraseña', 'secreta']],
    ['', []],
    ['___', []],
  ];
  for (const [key, words] of table) {
    it(`${JSON.stringify(key)} → ${words.join(',')}`, () => assert.deepEqual(keyWords(key), words));
  }
});

describe('SecretKeyMatcher with the default keys', () => {
  const matcher = new SecretKeyMatcher(DEFAULT_SECRET_KEYS);
  const secret = [
    'password',
    'Password',
    'db_password',
    'DB_PASSWORD',
    'db.password',
    'dbPassword',
    'password2',
    'passwd',
    'authToken',
    'auth_token',
    'access_token',
    'refresh-token',
    'GITHUB_TOKEN',
    'oauth2Token',
    'Authorization',
    'authorization',
    'proxy-authorization',
    'x-api-key',
    'X-Api-Key',
    'apiKey',
    'api_key',
    'API_KEY_ID',
    'apikey',
    'client_secret',
    'clientSecret',
    'client_secret_id',
    'aws_secret_access_key',
    'AWS_SECRET_ACCESS_KEY',
    'private_key',
    'privateKey',
    'private_key_pem',
    'set-cookie',
    'Cookie',
    'session',
    'session_id',
    'sessionId',
    'credential',
    'credentials',
    'aws_credentials',
    'passwords',
    'api_keys',
    'google.credential.json',
    'auth',
    'basic_auth',
    'token',
  ];
  const notSecret = [
    'prompt_tokens',
    'completion_tokens',
    'total_tokens',
    'max_tokens',
    'maxTokens',
    'num_tokens',
    'tokens_per_second',
    'tokenizer',
    'tokenizer_name',
    'author',
    'authority',
    'authors',
    'token_count',
    'tokenCount',
    'token_type',
    'session_length',
    'sessionLength',
    'session_timeout',
    'spark.sql.session.timeZone',
    'auth_type',
    'secret_name',
    'password_length',
    'private_key_path',
    'credential_file',
    'passwordless',
    'keyboard',
    'api',
    'key',
    'private',
    'cookiecutter',
    'user',
    'rows',
    '',
  ];
  for (const key of secret)
    it(`${JSON.stringify(key)} is secret`, () => assert.equal(matcher.isSecret(key), true));
  for (const key of notSecret)
    it(`${JSON.stringify(key)} is not secret`, () => assert.equal(matcher.isSecret(key), false));

  it('matches keywords given in any spelling, as words', () => {
    const custom = new SecretKeyMatcher(['apiKey', 'SSN', 'bank-account']);
    assert.equal(custom.isSecret('x_api_key'), true);
    assert.equal(custom.isSecret('customer.ssn'), true);
    assert.equal(custom.isSecret('bankAccount'), true);
    assert.equal(custom.isSecret('bank'), false);
    assert.equal(custom.isSecret('lessons'), false);
  });

  it('redacts nothing with an empty list, and ignores empty keywords', () => {
    const none = new SecretKeyMatcher([]);
    assert.equal(none.enabled, false);
    assert.equal(none.isSecret('password'), false);
    const blanks = new SecretKeyMatcher(['', '__', 'token']);
    assert.equal(blanks.isSecret('anything'), false);
    assert.equal(blanks.isSecret('token'), true);
  });

  it('keeps its verdicts right past the cache bound', () => {
    const m = new SecretKeyMatcher(['password']);
    for (let i = 0; i < 25_000; i++) {
      assert.equal(m.isSecret(`field_${i}`), false);
      if (i % 1000 === 0) assert.equal(m.isSecret(`password_${i}`), true);
    }
    assert.equal(m.isSecret('password'), true);
  });
});

describe("pipetel's Logger applies the policy itself", () => {
  it('a record from the Logger passes the policy unchanged, however hostile its input', () => {
    const records: PipetelLogRecord[] = [];
    const factory = new LoggerFactory({
      level: 'DEBUG',
      sink: { emit: (r) => records.push(r) },
      resource: resourceFromAttributes({ 'service.name': 'svc' }),
    });
    const hostile: Record<string, unknown> = { token: 't', nested: { password: 'p', deep: nest(20) } };
    for (let i = 0; i < 40; i++) hostile[`wide_${i}`] = 'w'.repeat(MAX_STRING_CHARS);
    hostile['k'.repeat(200_000)] = 'long key';
    hostile['nul\u0000key'] = 'lone\ud800';
    factory.getLogger(`name\u0000${'n'.repeat(100_000)}`).info(`message ${'m'.repeat(100_000)}`, hostile);
    const record = records[0]! as unknown as ReadableLogRecord;
    const policy = new TelemetryPolicy();
    assert.equal(policy.logRecord(record), record);
    assert.deepEqual(policy.counters, { sanitized: 0, redacted: 0 });
    const size = JSON.stringify(record.attributes).length;
    assert.ok(size <= MAX_CHARS_PER_FIELD + 200_000, `${size} characters of attributes`);
  });
});

describe("pipetel's Logger uses the same rule", () => {
  it('redacts whole words, not substrings', () => {
    const counters = { sanitized: 0, redacted: 0 };
    const sanitizer = new AttributeSanitizer(new TelemetryPolicy().newSanitizer(counters), counters);
    const out: Record<string, unknown> = {};
    sanitizer.copyInto(
      out,
      { prompt_tokens: 12, author: 'ada', session_length: 3, dbPassword: 'p', nested: { 'x-api-key': 'k' } },
      0,
      false,
    );
    assert.deepEqual(out, {
      prompt_tokens: 12,
      author: 'ada',
      session_length: 3,
      dbPassword: REDACTED,
      nested: { 'x-api-key': REDACTED },
    });
    assert.equal(counters.redacted, 2);
  });
});

function sanitizer(keys: readonly string[] = DEFAULT_SECRET_KEYS) {
  return new Sanitizer(new SecretKeyMatcher(keys));
}

/** A policy with `keys`, counting into the same place as its sanitizer() would. */
function policy(keys: readonly string[] = DEFAULT_SECRET_KEYS) {
  return new TelemetryPolicy({ redactKeys: keys });
}

function nest(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: true };
  for (let i = 0; i < levels; i++) value = { child: value };
  return value;
}

describe('Sanitizer', () => {
  it('returns clean attributes as they are, nested or not (no copy)', () => {
    const s = sanitizer();
    const flat = { rows: 3, stage: 'load', ok: true, tags: ['a', 'b'], prompt_tokens: 7, none: null };
    const nested = { model: { name: 'm', layers: [1, 2, 3], opts: { lr: 0.1 } } };
    const alreadyRedacted = { password: REDACTED, user: 'u' };
    assert.equal(s.attributes(flat), flat);
    assert.equal(s.attributes(nested), nested);
    assert.equal(s.attributes(alreadyRedacted), alreadyRedacted);
    assert.deepEqual(s.counters, { sanitized: 0, redacted: 0 });
  });

  it('redacts secret keys at any depth, in arrays and Maps, and counts them', () => {
    const s = sanitizer();
    const out = s.attributes({
      user: 'ada',
      'db.password': 'hunter2',
      nested: { deeper: { authToken: 't', rows: 1 } },
      headers: [{ Authorization: 'Bearer x' }, { accept: 'json' }],
      map: new Map<string, unknown>([['x-api-key', 'k']]),
      credential: { anything: 'is hidden' },
      password: REDACTED,
    });
    assert.deepEqual(out, {
      user: 'ada',
      'db.password': REDACTED,
      nested: { deeper: { authToken: REDACTED, rows: 1 } },
      headers: [{ Authorization: REDACTED }, { accept: 'json' }],
      map: { 'x-api-key': REDACTED },
      credential: REDACTED,
      password: REDACTED,
    });
    assert.equal(s.counters.redacted, 5, 'a value already redacted is not counted again');
  });

  it('redacts nothing when given no keys', () => {
    const attrs = { password: 'p' };
    assert.equal(sanitizer([]).attributes(attrs), attrs);
  });

  it('replaces circular references, BigInt, Symbol, functions, binary, non-finite numbers', () => {
    const s = sanitizer();
    const loop: Record<string, unknown> = { name: 'loop' };
    loop.self = loop;
    const shared = { k: 1 };
    const out = s.attributes({
      loop,
      shared: [shared, shared],
      big: 12345678901234567890n,
      sym: Symbol('s'),
      fn: () => 1,
      bytes: new Uint8Array(2048),
      buffer: new ArrayBuffer(8),
      nan: Number.NaN,
      inf: Number.POSITIVE_INFINITY,
      date: new Date(0),
      badDate: new Date(Number.NaN),
      set: new Set([1, 2]),
    }) as Record<string, unknown>;
    assert.deepEqual(out.loop, { name: 'loop', self: CIRCULAR });
    assert.deepEqual(out.shared, [{ k: 1 }, { k: 1 }], 'a shared (non-circular) reference is kept');
    assert.equal(out.big, '12345678901234567890');
    assert.equal(out.sym, 'Symbol(s)');
    assert.equal('fn' in out, false);
    assert.equal(out.bytes, '[Uint8Array 2048 bytes]');
    assert.equal(out.buffer, '[ArrayBuffer 8 bytes]');
    assert.equal(out.nan, 'NaN');
    assert.equal(out.inf, 'Infinity');
    assert.equal(out.date, '1970-01-01T00:00:00.000Z');
    assert.equal(out.badDate, 'Invalid Date');
    assert.deepEqual(out.set, [1, 2]);
    assert.equal(s.counters.sanitized, 8);
  });

  it(`truncates strings over ${MAX_STRING_CHARS} chars with a marker, and bounds a field's total`, () => {
    const s = sanitizer();
    const out = s.attributes({ huge: 'x'.repeat(200_000), small: 'ok' }) as Record<string, string>;
    assertTruncated(out.huge, 'x', 200_000);
    assert.equal(out.small, 'ok');
    const many = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, 'y'.repeat(60_000)]));
    const bounded = s.attributes(many) as Record<string, string>;
    const kept = Object.values(bounded).reduce(
      (n, v) => n + v.replace(/…\[truncated \d+ chars\]$/, '').length,
      0,
    );
    assert.ok(kept <= MAX_CHARS_PER_FIELD && kept > MAX_CHARS_PER_FIELD - 100, `${kept} chars kept`);
  });

  it(`cuts nesting deeper than ${MAX_DEPTH} levels to '${DEPTH}'`, () => {
    const s = sanitizer();
    const fits = { a: nest(MAX_DEPTH - 1) };
    assert.equal(s.attributes(fits), fits);
    const out = s.attributes({ a: nest(20) });
    let level: unknown = (out as Record<string, unknown>).a;
    let depth = 1;
    while (typeof level === 'object' && level !== null) {
      level = (level as Record<string, unknown>).child;
      depth++;
    }
    assert.equal(level, DEPTH);
    assert.equal(depth, MAX_DEPTH + 1);
  });

  it(`keeps ${MAX_KEYS} keys per object and items per array, summarizing the rest`, () => {
    const s = sanitizer();
    const wide = Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`key_${i}`, i]));
    const out = s.attributes({ wide, list: Array.from({ length: 5000 }, (_, i) => i) }) as unknown as Record<
      string,
      Record<string, unknown>
    >;
    assert.equal(Object.keys(out.wide).length, MAX_KEYS + 1);
    assert.equal(out.wide['…'], `[${20_000 - MAX_KEYS} more keys]`);
    const list = out.list as unknown as unknown[];
    assert.equal(list.length, MAX_KEYS + 1);
    assert.equal(list[MAX_KEYS], `[… ${5000 - MAX_KEYS} more items]`);
    const top = s.attributes(wide);
    assert.equal(Object.keys(top).length, MAX_KEYS + 1);
  });

  it('replaces NUL and lone surrogates in values and keys with U+FFFD (here or in jsonField)', () => {
    const s = sanitizer();
    const poisoned = { nested: { ['k\u0000\ud800']: 'v\u0000\udfff', pair: '😀' }, list: ['\ud83d'] };
    const expected = { nested: { 'k\uFFFD\uFFFD': 'v\uFFFD\uFFFD', pair: '😀' }, list: ['\uFFFD'] };
    // Clean-shaped input is left to jsonField, which repairs the escapes after one JSON.stringify.
    assert.deepEqual(jsonb(copyFields(`${jsonField(s.attributes(poisoned))}\n`)[0]!), expected);
    // Input that is copied anyway (here for its BigInt) is repaired while copying.
    const copied = s.attributes({ ...poisoned, n: 1n });
    assert.deepEqual(copied, { ...expected, n: '1' });
  });

  it('survives throwing getters, throwing toJSON, hostile proxies, and __proto__ keys', () => {
    const s = sanitizer();
    const getter = Object.defineProperty({ ok: 1 }, 'bad', {
      enumerable: true,
      get() {
        throw new Error('no');
      },
    });
    const toJSON = {
      toJSON() {
        throw new Error('no');
      },
    };
    const proxy = new Proxy(
      {},
      {
        ownKeys() {
          throw new Error('no');
        },
      },
    );
    const proto = JSON.parse('{"__proto__": {"polluted": true}, "x": 1}');
    const out = s.attributes({ getter, toJSON, proxy, proto }) as Record<string, unknown>;
    assert.deepEqual(out.getter, { ok: 1, bad: '[Unreadable]' });
    assert.equal(out.toJSON, '[Unreadable]');
    assert.equal(out.proxy, '[Unreadable]');
    assert.equal(Object.getPrototypeOf(out.proto), Object.prototype);
    assert.equal(JSON.stringify(out.proto), '{"__proto__":{"polluted":true},"x":1}');
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('value() makes any log body JSON-safe', () => {
    const s = sanitizer();
    const body: Record<string, unknown> = { password: 'p', err: new TypeError('bad'), n: 1n };
    body.me = body;
    const parsed = JSON.parse(JSON.stringify(s.value(body)));
    assert.equal(parsed.password, REDACTED);
    assert.equal(parsed.n, '1');
    assert.equal(parsed.me, CIRCULAR);
    assert.equal(parsed.err.type, 'TypeError');
    assert.equal(parsed.err.message, 'bad');
    assert.match(parsed.err.stack, /TypeError: bad/);
  });
});

// ---- encoders on poisoned records ----

const resource = resourceFromAttributes({
  'service.name': 'svc',
  'pipetel.experiment_id': 'exp',
  api_key: 'k',
});
const scope = { name: 'scope' };

/** Splits one COPY text line into its fields, undoing the escapes (\N stays a literal). */
function copyFields(line: string): string[] {
  assert.ok(line.endsWith('\n'), 'a line ends with a newline');
  const body = line.slice(0, -1);
  assert.doesNotMatch(body, /[\n\r\u0000]/, 'no raw newline, CR or NUL inside a line');
  return body
    .split('\t')
    .map((field) =>
      field === '\\N'
        ? field
        : field.replace(/\\([\\tnr])/g, (_, c: string) => ({ '\\': '\\', t: '\t', n: '\n', r: '\r' })[c]!),
    );
}

/** Asserts that a jsonb field is what PostgreSQL accepts, and returns it parsed. */
function jsonb(field: string): unknown {
  assert.doesNotMatch(field, /(?<!\\)(?:\\\\)*\\u(?:0000|d[89a-f][0-9a-f]{2})/i, 'no escape jsonb refuses');
  assert.ok((field as string & { isWellFormed(): boolean }).isWellFormed(), 'no lone surrogate');
  return JSON.parse(field);
}

function logRecord(overrides: Partial<ReadableLogRecord>): ReadableLogRecord {
  return {
    hrTime: [1_760_000_000, 123_456_789],
    hrTimeObserved: [1_760_000_000, 123_456_789],
    severityNumber: 9,
    resource,
    instrumentationScope: scope,
    attributes: {},
    droppedAttributesCount: 0,
    body: 'm',
    ...overrides,
  } as ReadableLogRecord;
}

function poisoned(): Record<string, unknown> {
  const loop: Record<string, unknown> = {};
  loop.loop = loop;
  return {
    loop,
    big: 1n,
    sym: Symbol('x'),
    fn: () => 0,
    bytes: new Uint8Array([1, 2, 3]),
    huge: 'h'.repeat(100_000),
    deep: nest(30),
    wide: Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`k${i}`, i])),
    ['nul\u0000key']: 'nul\u0000value',
    ['lone\ud800key']: 'lone\udc00value',
    password: 'hunter2',
    prompt_tokens: 42,
  };
}

function assertPoisonHandled(attributes: Record<string, unknown>): void {
  assert.deepEqual(attributes.loop, { loop: CIRCULAR });
  assert.equal(attributes.big, '1');
  assert.equal(attributes.sym, 'Symbol(x)');
  assert.equal('fn' in attributes, false);
  assert.equal(attributes.bytes, '[Uint8Array 3 bytes]');
  assertTruncated(attributes.huge, 'h', 100_000);
  assert.match(JSON.stringify(attributes.deep), /"\[Depth\]"/);
  assert.equal(Object.keys(attributes.wide as object).length, MAX_KEYS + 1);
  assert.equal(attributes['nul\uFFFDkey'], 'nul\uFFFDvalue');
  assert.equal(attributes['lone\uFFFDkey'], 'lone\uFFFDvalue');
  assert.equal(attributes.password, REDACTED);
  assert.equal(attributes.prompt_tokens, 42);
}

describe('encoders on poisoned input, through the policy', () => {
  it('a log record: attributes, object body, NUL and lone surrogates, huge message', () => {
    const s = policy();
    const resources = new ResourceInfoCache(undefined);
    const body = { password: 'first, so that it is in the kept 64 KiB', ...poisoned() };
    const line = encodeLogRecord(
      s.logRecord(
        logRecord({
          body: body as never,
          attributes: poisoned() as never,
        }),
      ),
      resources,
    );
    const fields = copyFields(line);
    assert.equal(fields.length, LOGS_TABLE.columns.length);
    assertPoisonHandled(jsonb(fields[8]!) as Record<string, unknown>);
    const message = fields[6]!;
    assert.ok(message.length <= MAX_MESSAGE_CHARS + 40);
    assert.match(message, /"password":"\[REDACTED\]"/);
    assert.match(message, /…\[truncated \d+ chars\]$/);
    assert.ok(s.counters.redacted >= 2);
    assert.ok(s.counters.sanitized >= 10);

    const text = copyFields(
      encodeLogRecord(
        s.logRecord(
          logRecord({
            body: `tab\tnul\u0000lone\ud800 ${'x'.repeat(100_000)}`,
            attributes: { 'exception.stacktrace': 'at\u0000x', 'pipetel.stage': 's\u0000' },
          }),
        ),
        resources,
      ),
    );
    assert.match(text[6]!, /^tab\tnul\uFFFDlone\uFFFD x+…\[truncated \d+ chars\]$/);
    assert.equal(text[7], 'at\uFFFDx');
    assert.equal(text[11], 's\uFFFD');
    assert.deepEqual(jsonb(text[8]!), {});
  });

  it('log bodies of every type', () => {
    const s = policy();
    const resources = new ResourceInfoCache(undefined);
    const message = (body: unknown) =>
      copyFields(encodeLogRecord(s.logRecord(logRecord({ body: body as never })), resources))[6];
    assert.equal(message(undefined), '');
    assert.equal(message(null), '');
    assert.equal(message(42), '42');
    assert.equal(message(10n), '10');
    assert.equal(message(true), 'true');
    assert.equal(message(Symbol('s')), 'Symbol(s)');
    assert.equal(
      message(() => 1),
      '',
      'a function body is left out, as JSON leaves it out',
    );
    assert.equal(message(new Uint8Array(4)), '[Uint8Array 4 bytes]');
    assert.equal(message(['a', { token: 't' }]), '["a",{"token":"[REDACTED]"}]');
  });

  it('a span: attributes, event and link attributes, status message, resource', () => {
    const s = policy();
    const resources = new ResourceInfoCache(undefined);
    const span = {
      name: 'step\u0000',
      kind: SpanKind.INTERNAL,
      spanContext: () => ({ traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), traceFlags: 1 }),
      parentSpanContext: undefined,
      startTime: [1_760_000_000, 0],
      endTime: [1_760_000_001, 500_000],
      status: { code: SpanStatusCode.ERROR, message: 'failed\u0000 \ud800' },
      attributes: poisoned(),
      links: [
        { context: { traceId: 'c'.repeat(32), spanId: 'd'.repeat(16) }, attributes: { client_secret: 's' } },
      ],
      events: [{ name: 'evt\ud800', time: [1_760_000_000, 5], attributes: poisoned() }],
      duration: [1, 500_000],
      ended: true,
      resource,
      instrumentationScope: scope,
      droppedAttributesCount: 0,
      droppedEventsCount: 0,
      droppedLinksCount: 0,
    } as unknown as ReadableSpan;
    const fields = copyFields(encodeSpan(s.span(span), resources));
    assert.equal(fields.length, SPANS_TABLE.columns.length);
    assert.equal(fields[4], 'step\uFFFD');
    assert.equal(fields[10], 'failed\uFFFD \uFFFD');
    assertPoisonHandled(jsonb(fields[11]!) as Record<string, unknown>);
    const events = jsonb(fields[12]!) as Array<{ name: string; attributes: Record<string, unknown> }>;
    assert.equal(events[0]!.name, 'evt\uFFFD');
    assertPoisonHandled(events[0]!.attributes);
    const links = jsonb(fields[13]!) as Array<{ attributes: Record<string, unknown> }>;
    assert.deepEqual(links[0]!.attributes, { client_secret: REDACTED });
    const res = jsonb(fields[14]!) as Record<string, unknown>;
    assert.equal(res.api_key, REDACTED);
    assert.equal(res['service.name'], 'svc');
  });

  it('a metric point', () => {
    const s = sanitizer();
    const point: MetricPoint = {
      experimentId: 'exp',
      scope: 'scope',
      name: 'rows',
      unit: '{row}',
      kind: 'sum',
      startTime: [1_760_000_000, 0],
      time: [1_760_000_001, 0],
      attributes: s.attributes(poisoned()) as never,
      value: 3,
      isMonotonic: true,
    };
    const fields = copyFields(encodeMetricPoint(point));
    assert.equal(fields.length, METRICS_TABLE.columns.length);
    assertPoisonHandled(jsonb(fields[13]!) as Record<string, unknown>);
  });

  it('each policy redacts its own keys; the default policy the default keys', () => {
    const resources = new ResourceInfoCache(undefined);
    const record = logRecord({ attributes: { password: 'p', ssn: '123' } });
    const custom = policy(['ssn']);
    assert.deepEqual(jsonb(copyFields(encodeLogRecord(custom.logRecord(record), resources))[8]!), {
      password: 'p',
      ssn: REDACTED,
    });
    assert.equal(custom.counters.redacted, 1);
    const byDefault = jsonb(copyFields(encodeLogRecord(policy().logRecord(record), resources))[8]!);
    assert.deepEqual(byDefault, { password: REDACTED, ssn: '123' });
  });

  it('the policy is idempotent: what went through it passes again as the same object', () => {
    const p = policy();
    const once = p.logRecord(logRecord({ body: { token: 't' }, attributes: poisoned() as never }));
    assert.equal(p.logRecord(once), once);
    // At the field's character budget: the string that crosses it and those after it.
    const wide = Object.fromEntries(
      Array.from({ length: 18 }, (_, i) => [`s${i}`, 'x'.repeat(MAX_STRING_CHARS)]),
    );
    const cut = p.logRecord(
      logRecord({ attributes: { ...wide, when: new Date(0), deep: nest(20) } as never }),
    );
    assert.notEqual(cut.attributes, undefined);
    assert.equal(p.logRecord(cut), cut);
  });
});

describe('copyText', () => {
  it('jsonField replaces the escapes jsonb refuses, in keys and values, and counts the field', () => {
    const counters = { sanitized: 0 };
    const field = jsonField({ ['a\u0000']: 'b\ud800', c: '\\u0000 stays literal', d: '😀' }, counters);
    const parsed = jsonb(copyFields(`${field}\n`)[0]!);
    assert.deepEqual(parsed, { 'a\uFFFD': 'b\uFFFD', c: '\\u0000 stays literal', d: '😀' });
    assert.equal(counters.sanitized, 1);
  });

  it('jsonField never throws: BigInt, cycles, throwing getters, absurd nesting', () => {
    const loop: Record<string, unknown> = { n: 1n };
    loop.loop = loop;
    assert.deepEqual(JSON.parse(jsonField(loop)), { n: '1', loop: CIRCULAR });
    const getter = Object.defineProperty({}, 'x', {
      enumerable: true,
      get() {
        throw new Error('no');
      },
    });
    assert.equal(jsonField(getter), '"[Unserializable]"');
    let deep: unknown[] = [];
    for (let i = 0; i < 200_000; i++) deep = [deep];
    assert.equal(jsonField(deep), '"[Unserializable]"');
    assert.equal(jsonField(undefined), '\\N');
    assert.equal(
      jsonField(() => 1),
      '\\N',
    );
  });

  it('textField escapes tab, newline, CR and backslash and replaces NUL', () => {
    assert.equal(textField('a\tb\nc\rd\\e\u0000f'), 'a\\tb\\nc\\rd\\\\e\uFFFDf');
    assert.equal(textField(null), '\\N');
  });
});
