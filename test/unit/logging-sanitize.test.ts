// Bad input never crashes and always yields JSON-safe attributes (SPEC §5), and secrets are redacted
// by key at any depth. Every case goes through a real logger and a capturing sink.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { TelemetryPolicy } from '../../exporters/policy/TelemetryPolicy.js';
import {
  LoggerFactory,
  type LoggerOptions,
  MAX_ATTRIBUTES,
  MAX_COLLECTION_ITEMS,
  MAX_DEPTH,
  MAX_STRING_CHARS,
  MAX_TEXT_CHARS,
  type PipetelLogRecord,
  REDACTED,
} from '../../src/logging/index.js';
import { AttributeSanitizer } from '../../src/logging/sanitize.js';

const resource = resourceFromAttributes({ 'service.name': 'test' });

function setup(options: Partial<LoggerOptions> = {}) {
  const records: PipetelLogRecord[] = [];
  const factory = new LoggerFactory({
    level: 'DEBUG',
    resource,
    sink: { emit: (r) => records.push(r) },
    ...options,
  });
  return { factory, records, log: factory.getLogger('sanitize') };
}

/** Logs `attributes`, asserts the record survives a JSON round trip unchanged, returns its attributes. */
function logged(attributes: Record<string, unknown>, options: Partial<LoggerOptions> = {}) {
  const { log, records, factory } = setup(options);
  assert.doesNotThrow(() => log.info('bad input', attributes));
  assert.equal(records.length, 1);
  const out = records[0].attributes as Record<string, unknown>;
  const json = JSON.stringify(out);
  assert.deepEqual(JSON.parse(json), out, 'attributes are plain JSON data');
  return { out, record: records[0], stats: factory.stats() };
}

describe('sanitizing attribute values', () => {
  it('keeps primitives as they are', () => {
    const { out, stats } = logged({ s: 'text', n: 1.5, zero: 0, t: true, f: false, nil: null });
    assert.deepEqual(out, { s: 'text', n: 1.5, zero: 0, t: true, f: false, nil: null });
    assert.equal(stats.sanitized, 0);
  });

  it('converts BigInt, Symbol, Date and non-finite numbers; drops functions and undefined', () => {
    const { out, stats } = logged({
      big: 12345678901234567890n,
      sym: Symbol('tag'),
      date: new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 6)),
      bad: new Date(Number.NaN),
      nan: Number.NaN,
      inf: Number.POSITIVE_INFINITY,
      fn: () => 1,
      missing: undefined,
    });
    assert.deepEqual(out, {
      big: '12345678901234567890',
      sym: 'Symbol(tag)',
      date: '2024-01-02T03:04:05.006Z',
      bad: 'Invalid Date',
      nan: 'NaN',
      inf: 'Infinity',
    });
    assert.ok(stats.sanitized >= 5);
  });

  it('cuts circular references', () => {
    const a: Record<string, unknown> = { name: 'a' };
    a.self = a;
    const list: unknown[] = [1];
    list.push(list);
    const shared = { x: 1 };
    const { out } = logged({ a, list, twice: [shared, shared] });
    assert.deepEqual(out.a, { name: 'a', self: '[Circular]' });
    assert.deepEqual(out.list, [1, '[Circular]']);
    assert.deepEqual(out.twice, [{ x: 1 }, { x: 1 }], 'a shared (non-circular) object is not a cycle');
  });

  it(`keeps nesting to depth ${MAX_DEPTH} below the attributes (the policy's limit)`, () => {
    let deep: Record<string, unknown> = { leaf: true };
    for (let i = 0; i < 20; i++) deep = { next: deep };
    const { out } = logged({ deep });
    let node = out.deep as Record<string, unknown>;
    let depth = 1;
    while (typeof node.next === 'object') {
      node = node.next as Record<string, unknown>;
      depth++;
    }
    assert.equal(depth, MAX_DEPTH);
    assert.equal(node.next, '[Depth]');
  });

  it('truncates huge strings with a marker and replaces NUL and lone surrogates', () => {
    const { out, stats } = logged({ huge: 'x'.repeat(1_000_000), nul: 'a\0b', lone: 'ok\ud800' });
    const huge = out.huge as string;
    assert.ok(huge.length <= MAX_STRING_CHARS, 'the marker fits in the limit');
    assert.ok(huge.startsWith('x'.repeat(MAX_STRING_CHARS - 30)));
    assert.match(huge, /…\[truncated \d+ chars\]$/);
    const kept = huge.indexOf('…');
    assert.equal(kept + Number(/(\d+) chars/.exec(huge)![1]), 1_000_000, 'kept + truncated = the original');
    assert.equal(out.nul, 'a\uFFFDb');
    assert.equal(out.lone, 'ok\uFFFD');
    assert.equal(stats.sanitized, 3);
  });

  it('keeps 128 attribute keys and counts the rest as dropped', () => {
    const many: Record<string, number> = {};
    for (let i = 0; i < 10_000; i++) many[`k${i}`] = i;
    const { out, record } = logged(many);
    assert.equal(Object.keys(out).length, MAX_ATTRIBUTES);
    assert.equal(record.droppedAttributesCount, 10_000 - MAX_ATTRIBUTES);
  });

  it('counts bindings towards the key limit', () => {
    const { log, records } = setup();
    const bindings: Record<string, number> = {};
    for (let i = 0; i < 100; i++) bindings[`b${i}`] = i;
    const calls: Record<string, number> = {};
    for (let i = 0; i < 50; i++) calls[`c${i}`] = i;
    log.child(bindings).info('x', calls);
    assert.equal(Object.keys(records[0].attributes).length, MAX_ATTRIBUTES);
    assert.equal(records[0].droppedAttributesCount, 150 - MAX_ATTRIBUTES);
  });

  it('caps nested objects and arrays at 1000 entries', () => {
    const wide: Record<string, number> = {};
    for (let i = 0; i < 10_000; i++) wide[`k${i}`] = i;
    const { out } = logged({ wide, long: Array.from({ length: 5000 }, (_, i) => i) });
    assert.equal(Object.keys(out.wide as object).length, MAX_COLLECTION_ITEMS + 1);
    assert.equal((out.wide as Record<string, unknown>)['…'], '[9000 more keys]');
    const long = out.long as unknown[];
    assert.equal(long.length, MAX_COLLECTION_ITEMS + 1);
    assert.equal(long.at(-1), '[… 4000 more items]');
  });

  it('bounds the total work for wide and deep input', () => {
    const row = Array.from({ length: 1000 }, (_, i) => i);
    const grid = Array.from({ length: 1000 }, () => row);
    const started = performance.now();
    const { out, stats } = logged({ grid });
    assert.ok(performance.now() - started < 1000);
    const rows = out.grid as unknown[][];
    const visited = rows.filter(Array.isArray).reduce((sum, r) => sum + r.length, 0);
    assert.ok(visited <= 10_100, `visited ${visited} values`);
    assert.match(String(rows.at(-1)), /^\[… \d+ more items\]$/);
    assert.ok(stats.sanitized < 20, 'a truncation is counted once, not per value left out');
  });

  it('survives throwing getters, hostile proxies, toJSON and odd objects', () => {
    const getter = {
      ok: 1,
      get boom(): never {
        throw new Error('getter');
      },
    };
    const proxy = new Proxy(
      {},
      {
        ownKeys() {
          throw new Error('trap');
        },
      },
    );
    const { out } = logged({
      nested: getter,
      proxy,
      map: new Map<unknown, unknown>([
        ['a', 1],
        [2, { b: 2n }],
      ]),
      set: new Set([1, 'two']),
      bytes: new Uint8Array(4),
      withToJSON: { toJSON: () => ({ from: 'toJSON' }) },
      url: new URL('https://example.com/x'),
      err: new TypeError('nested error'),
      regex: /x/g,
      klass: new (class Point {
        x = 1;
        y = 2;
      })(),
    });
    assert.deepEqual(out.nested, { ok: 1, boom: '[Unreadable]' });
    assert.equal(out.proxy, '[Unreadable]');
    assert.deepEqual(out.map, { a: 1, '2': { b: '2' } });
    assert.deepEqual(out.set, [1, 'two']);
    assert.equal(out.bytes, '[Uint8Array 4 bytes]');
    assert.deepEqual(out.withToJSON, { from: 'toJSON' });
    assert.equal(out.url, 'https://example.com/x');
    assert.deepEqual(out.klass, { x: 1, y: 2 });
    assert.equal(out.regex, '/x/g');
    assert.equal(out.err, 'TypeError: nested error', 'the first Error is lifted to exception.*');
    assert.equal(out['exception.type'], 'TypeError');
  });

  it('survives a throwing getter at the top level of the attributes', () => {
    const { out } = logged({
      a: 1,
      get b(): never {
        throw new Error('x');
      },
      c: 'three',
    });
    assert.deepEqual(out, { a: 1, b: '[Unreadable]', c: 'three' });
  });

  it('does not let a __proto__ key change the prototype', () => {
    const parsed = JSON.parse('{"__proto__": {"polluted": true}, "ok": 1}');
    const { log, records } = setup();
    log.info('x', parsed);
    const out = records[0].attributes as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(out), Object.prototype);
    assert.equal((out as { polluted?: unknown }).polluted, undefined);
    assert.equal(JSON.stringify(out), '{"__proto__":{"polluted":true},"ok":1}', 'kept as data');
  });

  it('sanitizes the message itself', () => {
    const { log, records, factory } = setup();
    log.info('a\0b');
    log.info('value %s', 'c\0d');
    log.info('x'.repeat(200_000));
    log.info('lone %s', '\udc00');
    assert.equal(records[0].body, 'a\uFFFDb');
    assert.equal(records[1].body, 'value c\uFFFDd');
    assert.ok((records[2].body as string).length < MAX_TEXT_CHARS + 40);
    assert.match(records[2].body as string, /^x+…\[truncated \d+ chars\]$/);
    assert.ok((records[2].body as string).length <= MAX_TEXT_CHARS);
    assert.equal(records[3].body, 'lone \uFFFD');
    assert.equal(factory.stats().sanitized, 4);
  });

  it('never throws on hostile arguments either', () => {
    const { log, records } = setup();
    const hostile = {
      toString() {
        throw new Error('toString');
      },
      valueOf() {
        throw new Error('valueOf');
      },
    };
    const cyclic: Record<string, unknown> = {};
    cyclic.me = cyclic;
    const weirdError = new Error('x');
    Object.defineProperty(weirdError, 'message', {
      get() {
        throw new Error('message getter');
      },
    });
    assert.doesNotThrow(() => {
      log.info('%s %d %i %f %j %o %O', hostile, hostile, hostile, hostile, cyclic, cyclic, cyclic);
      log.info('extra', hostile, Symbol('s'), 5n, cyclic);
      log.info(hostile as never);
      log.exception('weird', weirdError);
      log.error('bigint %j', { n: 1n });
    });
    assert.equal(records.length, 5);
    for (const record of records) assert.doesNotThrow(() => JSON.stringify(record.attributes));
    assert.match(records[0].body as string, /\{"me":"\[Circular\]"\}/);
    assert.equal(records[4].body, 'bigint {"n":"1"}');
  });
});

describe('redaction', () => {
  const keys = ['password', 'token', 'secret', 'api_key', 'authorization'];

  it('redacts matching keys at any depth, case-insensitively, and counts them', () => {
    const { out, stats } = logged(
      {
        user: 'ada',
        PASSWORD: 'hunter2',
        db: { host: 'h', Password: 'p', nested: { deeper: { ACCESS_TOKEN: 't' } } },
        headers: [{ Authorization: 'Bearer x' }, { accept: 'json' }],
        config: new Map([['my_api_key', 'k']]),
        client_secret_id: { anything: 'is hidden' },
      },
      { redactKeys: keys },
    );
    assert.deepEqual(out, {
      user: 'ada',
      PASSWORD: REDACTED,
      db: { host: 'h', Password: REDACTED, nested: { deeper: { ACCESS_TOKEN: REDACTED } } },
      headers: [{ Authorization: REDACTED }, { accept: 'json' }],
      config: { my_api_key: REDACTED },
      client_secret_id: REDACTED,
    });
    assert.equal(stats.redacted, 6);
  });

  it('redacts bindings once, and exception() attributes', () => {
    const { log, records, factory } = setup({ redactKeys: keys });
    const child = log.child({ api_key: 'k1' });
    child.info('one');
    child.info('two');
    log.exception('failed', new Error('x'), { token: 't' });
    assert.equal((records[0].attributes as Record<string, unknown>).api_key, REDACTED);
    assert.equal((records[1].attributes as Record<string, unknown>).api_key, REDACTED);
    assert.equal((records[2].attributes as Record<string, unknown>).token, REDACTED);
    assert.equal(factory.stats().redacted, 2, 'bindings are redacted once, not per record');
  });

  it('redacts secrets in objects the message shows (%j, %o, %O, %s, appended), staged or not', () => {
    for (const deferBuild of [false, true]) {
      const { log, records, factory } = setup({ redactKeys: keys, deferBuild });
      log.warning('object arg %o', { client_secret: 'OSECRET', n: 1 });
      log.info('json arg %j', { apiKey: 'JSECRET', nested: { password: 'p' } });
      log.info('inspect %O and %s', { db: { token: 't' } }, [{ authorization: 'a' }]);
      log.info('appended', 1, { password: 'P2' }, 'x');
      log.info('a map %o', new Map([['api_key', 'MAPSECRET']]));
      log.info('nothing secret %o', new Map([['a', 1]]), { stage_items: 3 });
      factory.flush();
      const bodies = records.map((r) => String(r.body));
      for (const body of bodies) assert.doesNotMatch(body, /OSECRET|JSECRET|P2|MAPSECRET/, body);
      assert.deepEqual(bodies, [
        "object arg { client_secret: '[REDACTED]', n: 1 }",
        'json arg {"apiKey":"[REDACTED]","nested":{"password":"[REDACTED]"}}',
        'inspect { db: { token: \'[REDACTED]\' } } and [{"authorization":"[REDACTED]"}]',
        'appended 1 {"password":"[REDACTED]"} x',
        "a map { api_key: '[REDACTED]' }",
        "nothing secret Map(1) { 'a' => 1 }",
      ]);
      assert.deepEqual(records.at(-1)!.attributes, { stage_items: 3 }, 'the attributes stay the attributes');
      // An HTTP client's error carries its request's headers; a Set may hold configs; a huge
      // object is taken as holding a secret rather than scanned to its end.
      const { log: log2, records: got, factory: f2 } = setup({ redactKeys: keys, deferBuild });
      const httpError = Object.assign(new Error('Request failed with status code 401'), {
        config: { url: '/v1', headers: { Authorization: 'Bearer AXIOSSECRET' } },
      });
      log2.error('call failed: %o', httpError);
      log2.error('call failed: %s', httpError);
      log2.info('set %o', new Set([{ password: 'SETSECRET' }]));
      const big: Record<string, unknown> = {
        rows: Array.from({ length: 20_000 }, (_, i) => i),
        apiKey: 'BIGSECRET',
      };
      log2.info('big %j', big);
      f2.flush();
      const text = got.map((r) => String(r.body)).join('\n');
      assert.doesNotMatch(text, /AXIOSSECRET|SETSECRET|BIGSECRET/, text.slice(0, 2000));
      assert.match(String(got[0]!.body), /Request failed with status code 401/);
      assert.equal(String(got[1]!.body), 'call failed: Error: Request failed with status code 401');
      assert.match(
        String(got[0]!.attributes['exception.stacktrace'] ?? ''),
        /Request failed/,
        'the stack is kept',
      );
    }
  });

  it('uses the default keys when none are given, and none when given []', () => {
    assert.equal(logged({ password: 'p', Authorization: 'a' }).out.password, REDACTED);
    assert.deepEqual(logged({ password: 'p' }, { redactKeys: [] }).out, { password: 'p' });
  });
});

describe('AttributeSanitizer.adoptable: when a private copy can serve as the attributes as it is', () => {
  const sanitizer = new AttributeSanitizer(
    new TelemetryPolicy().newSanitizer({ sanitized: 0, redacted: 0 }),
    {
      sanitized: 0,
      redacted: 0,
    },
  );

  it('counts the keys of a clean, flat set', () => {
    assert.equal(sanitizer.adoptable({ rows: 3, ok: true, ratio: -0.5, name: 'ada', empty: '' }), 5);
    assert.equal(sanitizer.adoptable({}), 0);
    const full = Object.fromEntries(Array.from({ length: MAX_ATTRIBUTES }, (_, i) => [`k${i}`, i]));
    assert.equal(sanitizer.adoptable(full), MAX_ATTRIBUTES);
  });

  it('refuses anything copyInto would change, drop, count or redact', () => {
    const refused: Array<[string, Record<string, unknown>]> = [
      ['a secret key', { user: 'ada', password: 'x' }],
      ['an own __proto__ key', JSON.parse('{"__proto__": 1}')],
      ['a key with NUL', { 'a\u0000b': 1 }],
      ['a key over the string limit', { ['k'.repeat(MAX_STRING_CHARS + 1)]: 1 }],
      ['a value over the string limit', { v: 'x'.repeat(MAX_STRING_CHARS + 1) }],
      ['a value with a lone surrogate', { v: 'a\ud800b' }],
      ['NaN', { v: Number.NaN }],
      ['Infinity', { v: Number.POSITIVE_INFINITY }],
      ['null', { v: null }],
      ['undefined', { v: undefined }],
      ['a bigint', { v: 1n }],
      ['an object', { v: {} }],
      [
        'too many keys',
        Object.fromEntries(Array.from({ length: MAX_ATTRIBUTES + 1 }, (_, i) => [`k${i}`, i])),
      ],
    ];
    for (const [what, attributes] of refused) assert.equal(sanitizer.adoptable(attributes), -1, what);
  });
});
