// Logger behaviour as a pipeline author sees it, through a capturing sink: levels (and live changes),
// lazy arguments, printf, attributes, exceptions, context caching, sampling, trace correlation,
// stages and disabled monitoring.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { LoggerProvider as SdkLoggerProvider } from '@opentelemetry/sdk-logs';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { TelemetryPolicy } from '../../exporters/policy/TelemetryPolicy.js';
import { LogPipeline } from '../../src/internal/LogPipeline.js';
import { registerGlobals } from '../../src/internal/otelSdk.js';
import { LEVELS, LoggerFactory, type LoggerOptions, type PipetelLogRecord } from '../../src/logging/index.js';
import { MAX_ATTRIBUTES, MAX_STRING_CHARS } from '../../src/logging/sanitize.js';
import {
  activeContext,
  useContextManager,
  withMonitoringDisabledContext,
  withStage,
} from '../../src/pipeline/context.js';

const resource = resourceFromAttributes({ 'service.name': 'test', 'pipetel.experiment_id': 'exp-1' });

function setup(options: Partial<LoggerOptions> = {}) {
  const records: PipetelLogRecord[] = [];
  const factory = new LoggerFactory({
    level: 'INFO',
    resource,
    sink: { emit: (r) => records.push(r) },
    ...options,
  });
  return { factory, records, log: factory.getLogger('etl.extract') };
}

function attrs(record: PipetelLogRecord | undefined): Record<string, unknown> {
  assert.ok(record, 'expected a record');
  return record.attributes as Record<string, unknown>;
}

/** Deterministic PRNG (mulberry32) for sampling tests. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('levels', () => {
  it('uses the seed names and OTel severity numbers', () => {
    assert.deepEqual(LEVELS, { DEBUG: 5, INFO: 9, WARNING: 13, ERROR: 17, CRITICAL: 21 });
    const { log, records } = setup({ level: 'DEBUG' });
    log.debug('d');
    log.info('i');
    log.warning('w');
    log.warn('w2');
    log.error('e');
    log.critical('c');
    assert.deepEqual(
      records.map((r) => [r.severityText, r.severityNumber, r.body]),
      [
        ['DEBUG', 5, 'd'],
        ['INFO', 9, 'i'],
        ['WARNING', 13, 'w'],
        ['WARNING', 13, 'w2'],
        ['ERROR', 17, 'e'],
        ['CRITICAL', 21, 'c'],
      ],
    );
  });

  it('drops records below the level', () => {
    const { log, records } = setup({ level: 'WARNING' });
    log.debug('no');
    log.info('no');
    log.warning('yes');
    log.log('ERROR', 'yes too');
    assert.deepEqual(
      records.map((r) => r.body),
      ['yes', 'yes too'],
    );
  });

  it('sees setLevel live, in existing loggers and their children', () => {
    const { factory, log, records } = setup({ level: 'INFO' });
    const child = log.child({ part: 1 });
    log.debug('before');
    factory.setLevel('DEBUG');
    log.debug('after');
    child.debug('child after');
    assert.equal(log.isEnabledFor('DEBUG'), true);
    factory.setLevel('ERROR');
    log.warning('filtered');
    child.error('kept');
    assert.equal(log.isEnabledFor('WARNING'), false);
    assert.equal(factory.getLevel(), 'ERROR');
    assert.deepEqual(
      records.map((r) => r.body),
      ['after', 'child after', 'kept'],
    );
  });

  it('rejects an unknown level in settings, but logs an unknown call-site level at INFO', () => {
    const { factory, log, records } = setup();
    assert.throws(() => factory.setLevel('LOUD' as never), RangeError);
    assert.throws(() => setup({ level: 'nope' as never }), RangeError);
    const printed: string[] = [];
    const write = process.stderr.write;
    process.stderr.write = ((chunk: string | Uint8Array) => printed.push(String(chunk)) > 0) as typeof write;
    try {
      log.log('LOUD' as never, 'still logged');
      log.log('LOUD' as never, 'said once');
      log.log('warn' as never, 'lenient names');
    } finally {
      process.stderr.write = write;
    }
    assert.deepEqual(
      printed.filter((line) => line.includes('unknown level')),
      [
        'pipetel: log.log(): unknown level "LOUD", logged at INFO (levels: DEBUG, INFO, WARNING, ERROR, CRITICAL)\n',
      ],
      'the mistake is said, once',
    );
    assert.deepEqual(
      records.map((r) => [r.severityText, r.body]),
      [
        ['INFO', 'still logged'],
        ['INFO', 'said once'],
        ['WARNING', 'lenient names'],
      ],
    );
  });

  it('isEnabledFor reflects the level', () => {
    const { log } = setup({ level: 'WARNING' });
    assert.equal(log.isEnabledFor('INFO'), false);
    assert.equal(log.isEnabledFor('WARNING'), true);
    assert.equal(log.isEnabledFor('CRITICAL'), true);
  });
});

describe('lazy logging', () => {
  it('does not call function arguments or a function message below the level', () => {
    const { log, records } = setup({ level: 'INFO' });
    let calls = 0;
    const expensive = () => {
      calls++;
      return 'costly';
    };
    log.debug('detail %s', expensive);
    log.debug(expensive);
    log.debug('detail', expensive, { extra: expensive });
    assert.equal(calls, 0);
    assert.equal(records.length, 0);
  });

  it('calls them once when the level is enabled', () => {
    const { log, records } = setup({ level: 'DEBUG' });
    let calls = 0;
    log.debug(
      'detail %s and %d',
      () => {
        calls++;
        return 'costly';
      },
      () => 42,
    );
    log.info(() => {
      calls++;
      return 'lazy message';
    });
    assert.equal(calls, 2);
    assert.deepEqual(
      records.map((r) => r.body),
      ['detail costly and 42', 'lazy message'],
    );
  });

  it('a lazy argument that throws is logged as a marker, not thrown', () => {
    const { log, records } = setup();
    log.info('value %s', () => {
      throw new Error('nope');
    });
    assert.equal(records[0].body, 'value [lazy argument threw Error: nope]');
  });
});

describe('printf formatting', () => {
  it('supports %s %d %i %f %j %o %O %% and appends extra arguments', () => {
    const { log, records } = setup();
    log.info('%s|%d|%i|%f|%j|%%|%s', 'str', '42', 42.9, '1.5', { a: [1] }, 'x');
    log.info('%o / %O', { a: 1 }, [1, 2]);
    log.info('rows', 3, 'done', true, null, undefined, 10n);
    log.info('missing %s and %d', 'one');
    log.info('100%% sure');
    assert.equal(records[0].body, 'str|42|42|1.5|{"a":[1]}|%|x');
    assert.match(records[1].body as string, /^\{ a: 1 \} \/ \[ 1, 2 \]$/);
    assert.equal(records[2].body, 'rows 3 done true null undefined 10n');
    assert.equal(records[3].body, 'missing one and %d');
    assert.equal(records[4].body, '100%% sure', 'without arguments the message is used as written');
  });

  it('treats a trailing plain object beyond the placeholders as attributes', () => {
    const { log, records } = setup();
    log.info('extracted %d rows', 3, { source: 's3://bucket/x' });
    log.info('%j', { consumed: true });
    log.info('list', [1, 2]);
    log.info('null proto', Object.assign(Object.create(null), { k: 'v' }));
    log.info('date', new Date(0));
    assert.equal(records[0].body, 'extracted 3 rows');
    assert.equal(attrs(records[0]).source, 's3://bucket/x');
    assert.equal(records[1].body, '{"consumed":true}');
    assert.equal(attrs(records[1]).consumed, undefined);
    assert.equal(records[2].body, 'list [1,2]');
    assert.equal(records[3].body, 'null proto');
    assert.equal(attrs(records[3]).k, 'v');
    assert.equal(records[4].body, `date ${new Date(0).toString()}`);
  });
});

describe('exceptions', () => {
  it('exception() logs at ERROR with type, message and stack trace', () => {
    const { log, records } = setup();
    const error = new TypeError('bad row', { cause: new Error('root cause') });
    log.exception('load failed', error, { table: 'users' });
    const a = attrs(records[0]);
    assert.equal(records[0].severityText, 'ERROR');
    assert.equal(records[0].body, 'load failed');
    assert.equal(a['exception.type'], 'TypeError');
    assert.equal(a['exception.message'], 'bad row');
    assert.match(a['exception.stacktrace'] as string, /^TypeError: bad row\n\s+at /);
    assert.match(a['exception.stacktrace'] as string, /Caused by: Error: root cause/);
    assert.equal(a.table, 'users');
  });

  it('exception() accepts any thrown value', () => {
    const { log, records } = setup();
    log.exception('odd throw', 'just a string');
    log.exception('nothing thrown', undefined);
    assert.equal(attrs(records[0])['exception.type'], 'string');
    assert.equal(attrs(records[0])['exception.message'], 'just a string');
    assert.equal(attrs(records[1])['exception.type'], 'undefined');
  });

  it('an Error argument or attribute fills exception.*', () => {
    const { log, records } = setup();
    log.error('failed: %s', new RangeError('out of range'));
    log.warning('retrying', new Error('transient'));
    log.error('failed', { err: new Error('in attrs'), attempt: 2 });
    assert.equal(records[0].body, 'failed: RangeError: out of range');
    assert.equal(attrs(records[0])['exception.type'], 'RangeError');
    assert.match(attrs(records[0])['exception.stacktrace'] as string, /RangeError: out of range/);
    assert.equal(records[1].body, 'retrying Error: transient');
    assert.match(attrs(records[1])['exception.stacktrace'] as string, /Error: transient/);
    assert.equal(attrs(records[2])['exception.message'], 'in attrs');
    assert.match(attrs(records[2])['exception.stacktrace'] as string, /Error: in attrs/);
    assert.equal(attrs(records[2]).err, 'Error: in attrs');
    assert.equal(attrs(records[2]).attempt, 2);
  });

  it('the exception() error wins over errors among the attributes', () => {
    const { log, records } = setup();
    log.exception('x', new Error('primary'), { other: new Error('secondary') });
    assert.equal(attrs(records[0])['exception.message'], 'primary');
    assert.deepEqual(Object.keys(attrs(records[0]).other as object).sort(), ['message', 'stack', 'type']);
  });
});

describe('context caching', () => {
  it('addContext bindings appear in every later record, computed once', () => {
    const { log, records } = setup();
    let reads = 0;
    log.addContext({
      stage_class: 'Extract',
      get version() {
        reads++;
        return '1.2.0';
      },
    });
    for (let i = 0; i < 3; i++) log.info('item', { item_id: i });
    assert.equal(reads, 1);
    assert.deepEqual(attrs(records[2]), { stage_class: 'Extract', version: '1.2.0', item_id: 2 });
  });

  it('getLogger returns the cached logger, so its context is shared by name', () => {
    const { factory, records } = setup();
    assert.equal(factory.getLogger('a'), factory.getLogger('a'));
    factory.getLogger('a').addContext({ run: 7 });
    factory.getLogger('a').info('x');
    assert.equal(attrs(records[0]).run, 7);
  });

  it('child() adds bindings to the parent’s, computed once, without changing the parent', () => {
    const { log, records } = setup();
    let reads = 0;
    log.addContext({ run: 'r1' });
    const child = log.child({
      get worker() {
        reads++;
        return 3;
      },
    });
    const grandchild = child.child({ shard: 'a', run: 'r2' });
    child.info('c1');
    child.info('c2', { rows: 10 });
    grandchild.info('g');
    log.info('parent');
    assert.equal(reads, 1);
    assert.equal(child.name, 'etl.extract');
    assert.deepEqual(attrs(records[0]), { run: 'r1', worker: 3 });
    assert.deepEqual(attrs(records[1]), { run: 'r1', worker: 3, rows: 10 });
    assert.deepEqual(attrs(records[2]), { run: 'r2', worker: 3, shard: 'a' });
    assert.deepEqual(attrs(records[3]), { run: 'r1' });
    assert.equal(
      records[0].instrumentationScope,
      records[3].instrumentationScope,
      'one scope object per name',
    );
  });

  it('call attributes override bindings with the same key', () => {
    const { log, records } = setup();
    const child = log.child({ phase: 'load' });
    child.info('x', { phase: 'verify' });
    assert.deepEqual(attrs(records[0]), { phase: 'verify' });
  });
});

describe('record', () => {
  it('carries sub-millisecond wall-clock time, scope, resource and no span outside one', () => {
    const { log, records } = setup();
    const before = Date.now();
    for (let i = 0; i < 20; i++) log.info('tick');
    const after = Date.now();
    const record = records[0];
    const ms = record.hrTime[0] * 1000 + record.hrTime[1] / 1e6;
    assert.ok(ms >= before - 5 && ms <= after + 5, `hrTime ${ms} within [${before}, ${after}]`);
    assert.ok(
      records.some((r) => r.hrTime[1] % 1e6 !== 0),
      'nanoseconds below the millisecond',
    );
    assert.ok(records.every((r) => Number.isInteger(r.hrTime[1]) && r.hrTime[1] >= 0 && r.hrTime[1] < 1e9));
    assert.deepEqual(record.hrTimeObserved, record.hrTime);
    assert.equal(record.resource, resource);
    assert.equal(record.instrumentationScope.name, 'etl.extract');
    assert.equal(record.spanContext, undefined);
    assert.equal(record.droppedAttributesCount, 0);
    assert.deepEqual(record.attributes, {});
  });

  it('a sink that throws does not break the caller', () => {
    const factory = new LoggerFactory({
      level: 'INFO',
      resource,
      sink: {
        emit: () => {
          throw new Error('sink down');
        },
      },
    });
    assert.doesNotThrow(() => factory.getLogger('x').info('hello'));
  });
});

describe('sampling', () => {
  it('keeps the configured share of DEBUG records (0.1 of 20k within ±2 %)', () => {
    const { factory, log, records } = setup({
      level: 'DEBUG',
      sampling: { DEBUG: 0.1 },
      random: seededRandom(7),
    });
    let calls = 0;
    for (let i = 0; i < 20_000; i++) {
      log.debug('row %d', () => {
        calls++;
        return i;
      });
    }
    for (let i = 0; i < 100; i++) log.info('not sampled');
    const kept = records.length - 100;
    assert.ok(Math.abs(kept / 20_000 - 0.1) <= 0.1 * 0.02, `kept ${kept} of 20000`);
    assert.equal(calls, kept, 'sampled-out records are not formatted');
    assert.equal(factory.stats().sampledOut, 20_000 - kept);
  });

  it('setSampling changes ratios live and validates them', () => {
    const { factory, log, records } = setup({ sampling: { INFO: 0 } });
    log.info('dropped');
    factory.setSampling({});
    log.info('kept');
    assert.deepEqual(
      records.map((r) => r.body),
      ['kept'],
    );
    assert.throws(() => factory.setSampling({ INFO: 1.5 }), RangeError);
    assert.throws(() => factory.setSampling({ LOUD: 0.5 } as never), RangeError);
  });
});

describe('with a context manager', () => {
  const contextManager = new AsyncLocalStorageContextManager();
  before(() => {
    context.setGlobalContextManager(contextManager.enable());
  });
  after(() => {
    context.disable();
  });

  it('correlates records with the active span', () => {
    const { log, records } = setup();
    const tracer = new BasicTracerProvider().getTracer('test');
    let spanContext: ReturnType<typeof trace.getSpanContext>;
    tracer.startActiveSpan('stage', (span) => {
      spanContext = span.spanContext();
      log.info('inside');
      span.end();
    });
    log.info('outside');
    assert.ok(records[0].spanContext);
    assert.equal(records[0].spanContext.traceId, spanContext!.traceId);
    assert.equal(records[0].spanContext.spanId, spanContext!.spanId);
    assert.equal(records[1].spanContext, undefined);
  });

  it('follows async work inside the span', async () => {
    const { log, records } = setup();
    const tracer = new BasicTracerProvider().getTracer('test');
    const spanId = await tracer.startActiveSpan('async', async (span) => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      log.info('after await');
      span.end();
      return span.spanContext().spanId;
    });
    assert.equal(records[0].spanContext?.spanId, spanId);
  });

  it('ignores an invalid span context', () => {
    const { log, records } = setup();
    const invalid = trace.wrapSpanContext({ traceId: '0'.repeat(32), spanId: '0'.repeat(16), traceFlags: 0 });
    context.with(trace.setSpan(context.active(), invalid), () => log.info('x'));
    assert.equal(records[0].spanContext, undefined);
  });

  it('adds the stage from the context as pipetel.stage', () => {
    const { log, records } = setup();
    context.with(withStage(context.active(), 'extract'), () => log.info('rows', { n: 1 }));
    log.info('no stage');
    assert.deepEqual(attrs(records[0]), { n: 1, 'pipetel.stage': 'extract' });
    assert.equal(attrs(records[1])['pipetel.stage'], undefined);
  });

  it("asks register()'s context manager directly once it is named, the global one otherwise", () => {
    const { log, records } = setup();
    const named = withStage(context.active(), 'from-the-named-manager');
    const manager = { active: () => named } as unknown as Parameters<typeof useContextManager>[0];
    useContextManager(manager);
    try {
      assert.equal(activeContext(), named);
      context.with(withStage(context.active(), 'global'), () => log.info('named'));
    } finally {
      useContextManager(undefined);
    }
    context.with(withStage(context.active(), 'global'), () => {
      assert.equal(activeContext(), context.active());
      log.info('global');
    });
    assert.equal(attrs(records[0])['pipetel.stage'], 'from-the-named-manager');
    assert.equal(attrs(records[1])['pipetel.stage'], 'global');
  });

  it('sends nothing to the sink while monitoring is disabled', () => {
    const { log, records } = setup({ level: 'DEBUG' });
    let calls = 0;
    context.with(withMonitoringDisabledContext(context.active()), () => {
      log.critical('hidden');
      log.exception('hidden', new Error('x'));
      log.debug('hidden %s', () => {
        calls++;
        return 'x';
      });
    });
    log.info('visible');
    assert.deepEqual(
      records.map((r) => r.body),
      ['visible'],
    );
    assert.equal(calls, 0, 'nothing is formatted for a record nobody receives');
  });

  it('sends nothing while isDisabled() says so', () => {
    let disabled = true;
    const { log, records } = setup({ isDisabled: () => disabled });
    log.info('hidden');
    disabled = false;
    log.info('visible');
    assert.deepEqual(
      records.map((r) => r.body),
      ['visible'],
    );
  });
});

describe('records built off the call (deferBuild, what register() uses)', () => {
  const contextManager = new AsyncLocalStorageContextManager();
  before(() => {
    context.setGlobalContextManager(contextManager.enable());
  });
  after(() => {
    context.disable();
  });
  const calls = (log: ReturnType<typeof setup>['log']) => {
    log.info('plain');
    context.with(withStage(context.active(), 'extract'), () => log.info('in a stage', { n: 1 }));
    log.info('%s: %d of %d items', 'extract', 10, 100, { stage_items: 10, source: 's3://in' });
    log.info('no template', 1, 'two', true, null, undefined, { key: 'value' });
    log.warning('bad\u0000text %s', 'x'.repeat(10), { note: 'a\u0000b' });
    log.info('redacted', { password: 'hunter2', user: 'ada' });
    log.info('nested %o', { a: { b: 1 } }, { k: 1 });
    const bare = Object.create(null) as Record<string, unknown>;
    bare.a = 1;
    log.info('as it is: %o', bare);
    log.info('as it is: %O', { a: 1, [Symbol('s')]: 2 });
    log.info('as JSON: %j', { a: 1, [Symbol('s')]: 2 });
    log.info('a big number', 2n ** 70n);
    log.error('failed', new Error('boom'));
    log.info(() => 'lazy');
    // Attributes a staged call's copy can serve as as they are, and each thing that keeps it from
    // doing so (the record then gets a sanitized copy, as when built at the call).
    log.info('clean %d', 1, { rows: 3, ok: true, ratio: 0.5, name: 'ada', empty: '' });
    log.info('own __proto__ key', JSON.parse('{"__proto__": 1, "a": 2}'));
    log.info('not finite', { inf: Number.POSITIVE_INFINITY, nan: Number.NaN, n: 1 });
    log.info('null, undefined, bigint values', { z: null, u: undefined, big: 2n, n: 1 });
    log.info('a long value', { long: 'y'.repeat(MAX_STRING_CHARS + 5), n: 1 });
    log.info('an unclean key', { 'k\u0000': 1, n: 1 });
    log.info('a secret among clean keys', { user: 'ada', api_key: 'k-123', n: 1 });
    log.info(
      'too many keys',
      Object.fromEntries(Array.from({ length: MAX_ATTRIBUTES + 3 }, (_, i) => [`k${i}`, i])),
    );
    log.info(
      'over the field budget',
      Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`s${i}`, 'x'.repeat(MAX_STRING_CHARS)])),
    );
    context.with(withStage(context.active(), 'load'), () => log.info('clean, in a stage', { n: 2 }));
  };
  const content = (r: PipetelLogRecord) => ({
    severity: r.severityNumber,
    text: r.severityText,
    body: r.body,
    // The stack names the line of the call, which differs between the two runs.
    attributes: { ...r.attributes, 'exception.stacktrace': typeof r.attributes['exception.stacktrace'] },
    scope: r.instrumentationScope.name,
    dropped: r.droppedAttributesCount,
  });

  it('gives the same records as building them at the call, in call order, once flushed', () => {
    const eager = setup();
    calls(eager.log);
    const deferred = setup({ deferBuild: true });
    calls(deferred.log);
    deferred.factory.flush();
    assert.deepEqual(deferred.records.map(content), eager.records.map(content));
    const times = deferred.records.map((r) => r.hrTime[0] * 1e9 + r.hrTime[1]);
    assert.deepEqual(
      times,
      [...times].sort((a, b) => a - b),
      'times are taken at the call',
    );
  });

  it('a null-prototype attributes object gets no inherited keys, Object.prototype polluted or not', () => {
    const attrs = Object.create(null) as Record<string, unknown>;
    attrs.rows = 3;
    (Object.prototype as Record<string, unknown>).polluted = 'x';
    try {
      const eager = setup();
      eager.log.info('done', attrs);
      const deferred = setup({ deferBuild: true });
      deferred.log.info('done', attrs);
      deferred.factory.flush();
      assert.deepEqual(Object.keys(deferred.records[0]!.attributes), ['rows']);
      assert.deepEqual(deferred.records.map(content), eager.records.map(content));
    } finally {
      delete (Object.prototype as Record<string, unknown>).polluted;
    }
  });

  it("a staged call's attributes never share an object with the caller's", () => {
    const { log, records, factory } = setup({ deferBuild: true });
    const attrs = { n: 1, name: 'ada' };
    log.info('one', attrs);
    log.info('two', attrs);
    attrs.n = 99;
    factory.flush();
    assert.deepEqual(
      records.map((r) => r.attributes),
      [
        { n: 1, name: 'ada' },
        { n: 1, name: 'ada' },
      ],
    );
    assert.notEqual(records[0]!.attributes, attrs);
    assert.notEqual(records[0]!.attributes, records[1]!.attributes);
  });

  it('waits for a batch; a call it cannot stage is built at once, after those staged before it', () => {
    const { log, records, factory } = setup({ deferBuild: true });
    log.info('staged 1');
    log.info('staged %d', 2, { n: 2 });
    assert.equal(records.length, 0, 'staged calls are not built yet');
    log.info('an object argument %o', { deep: { x: 1 } }); // formatted now, with the two before it
    assert.deepEqual(
      records.map((r) => r.body),
      ['staged 1', 'staged 2', 'an object argument { deep: { x: 1 } }'],
    );
    log.info('staged 3');
    log.error('failed', new Error('boom'));
    assert.deepEqual(
      records.slice(3).map((r) => r.body),
      ['staged 3', 'failed Error: boom'],
    );
    factory.flush();
    assert.equal(records.length, 5);
  });

  it('setDeferBuild switches at run time, building what waits when staging stops', () => {
    const { log, records, factory } = setup();
    log.info('at the call');
    assert.equal(records.length, 1);
    factory.setDeferBuild(true);
    log.info('staged');
    assert.equal(records.length, 1);
    factory.setDeferBuild(false);
    assert.deepEqual(
      records.map((r) => r.body),
      ['at the call', 'staged'],
    );
    log.info('at the call again');
    assert.equal(records.length, 3);
  });

  it('copies a flat attributes object at the call, so later changes do not reach the record', () => {
    const { log, records, factory } = setup({ deferBuild: true });
    const shared: Record<string, unknown> = { count: 1 };
    log.info('count %d', 1, shared);
    shared.count = 2;
    shared.extra = 'later';
    log.info('count %d', 2, shared);
    factory.flush();
    assert.deepEqual(attrs(records[0]), { count: 1 });
    assert.deepEqual(attrs(records[1]), { count: 2, extra: 'later' });
  });

  it('builds 128 staged calls at once without waiting, and the rest within 100 ms', async () => {
    const { log, records, factory } = setup({ deferBuild: true });
    for (let i = 0; i < 130; i++) log.info('item %d', i);
    assert.equal(records.length, 128);
    for (let waited = 0; records.length < 130 && waited < 5_000; waited += 10) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(records.length, 130);
    assert.deepEqual(
      records.map((r) => r.body),
      Array.from({ length: 130 }, (_, i) => `item ${i}`),
    );
    assert.ok(factory.callTiming().buildMs > 0, 'building is timed for the own-cost estimate');
  });

  it('builds at once what the console prints, and keeps nothing staged after flush()', () => {
    const lines: string[] = [];
    const stream = { write: (chunk: string) => lines.push(chunk) } as unknown as NodeJS.WritableStream;
    const { log, records, factory } = setup({
      deferBuild: true,
      console: { enabled: true, level: 'WARNING', stream, colors: false },
    });
    log.info('staged');
    log.warning('printed');
    assert.deepEqual(
      records.map((r) => r.body),
      ['staged', 'printed'],
    );
    factory.flush();
    assert.ok(lines.join('').includes('printed'));
    assert.equal(records.length, 2);
  });

  it('a staged call under disabled monitoring never reaches the sink', () => {
    const { log, records, factory } = setup({ deferBuild: true });
    context.with(withMonitoringDisabledContext(context.active()), () => log.info('hidden'));
    log.info('shown');
    factory.flush();
    assert.deepEqual(
      records.map((r) => r.body),
      ['shown'],
    );
  });
});

describe('staged calls and the rest of the process', () => {
  it('are built on process exit, before the sinks write what they hold', () => {
    // A child whose sink writes each record synchronously, exiting right after a staged call.
    const script = `
      import { resourceFromAttributes } from '@opentelemetry/resources';
      import { LoggerFactory } from './src/logging/index.js';
      const factory = new LoggerFactory({
        level: 'INFO', resource: resourceFromAttributes({}), deferBuild: true,
        sink: { emit: (r) => process.stdout.write('record: ' + r.body + '\\n') },
      });
      factory.getLogger('exit').info('staged %d', 1);
      process.stdout.write('exiting\\n');
      process.exit(0);
    `;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: resolve(import.meta.dirname, '../..'),
      encoding: 'utf8',
    });
    assert.equal(out, 'exiting\nrecord: staged 1\n');
  });

  it('reach the log pipeline before a later record from the OTel Logs API', async () => {
    const bodies: unknown[] = [];
    const processor = {
      onEmit: (record: { body?: unknown }) => void bodies.push(record.body),
      forceFlush: async () => undefined,
      shutdown: async () => undefined,
    };
    const pipeline = new LogPipeline(new TelemetryPolicy({}), [processor as never]);
    const factory = new LoggerFactory({ level: 'INFO', resource, sink: pipeline, deferBuild: true });
    pipeline.drainStaged = () => factory.drain();
    const provider = new SdkLoggerProvider({ processors: [pipeline] });
    const log = factory.getLogger('staged');
    log.info('first');
    provider.getLogger('api').emit({ body: 'second' });
    log.info('third');
    await provider.forceFlush();
    assert.deepEqual(bodies, ['first', 'second', 'third']);
  });

  it("stop asking register()'s context manager once it is disabled (an application may replace it)", () => {
    const undo = registerGlobals({});
    const replacement = new AsyncLocalStorageContextManager();
    try {
      const { log, records } = setup();
      context.disable(); // disables register()'s manager
      context.setGlobalContextManager(replacement.enable());
      context.with(withStage(context.active(), 'on-the-replacement'), () => {
        assert.equal(activeContext(), context.active());
        log.info('inside');
      });
      assert.equal(attrs(records[0])['pipetel.stage'], 'on-the-replacement');
    } finally {
      context.disable();
      undo();
    }
  });
});
