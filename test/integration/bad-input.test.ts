// Bad input and secrets against a real PostgreSQL (SPEC §5, issue 4 items 5 and 6): records that
// come through the plain OTel APIs with NUL bytes, lone surrogates, cycles, BigInt, huge and wide
// values and secret-looking keys are stored sanitized and redacted; a row the database still
// rejects is isolated from its batch; the database password never shows up in a warning.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SpanStatusCode } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { LoggerProvider, type ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import fc from 'fast-check';
import pg from 'pg';
import {
  CIRCULAR,
  DEFAULT_SECRET_KEYS,
  MAX_KEYS,
  REDACTED,
  Sanitizer,
  SecretKeyMatcher,
} from '../../exporters/policy/index.js';
import { copyIn } from '../../exporters/postgres/copyIn.js';
import { jsonField, textField } from '../../exporters/postgres/copyText.js';
import { LOGS_TABLE } from '../../exporters/postgres/logRows.js';
import { migrate } from '../../exporters/postgres/migrate.js';
import { openDelivery } from '../../exporters/postgres/PostgresDelivery.js';
import {
  PostgresLogRecordExporter,
  PostgresLogRecordProcessor,
} from '../../exporters/postgres/PostgresLogRecordExporter.js';
import { PostgresMetricExporter } from '../../exporters/postgres/PostgresMetricExporter.js';
import {
  PostgresSpanExporter,
  PostgresSpanProcessor,
} from '../../exporters/postgres/PostgresSpanExporter.js';
import { uuidv7 } from '../../exporters/postgres/uuidv7.js';
import { assertTruncated } from '../helpers/assertions.js';
import { adminUrl, createTestDatabase, type TestDatabase } from '../helpers/database.js';

const resource = resourceFromAttributes({ 'service.name': 'bad-input' });
const fastRetry = { initialDelayMs: 5, maxDelayMs: 20, multiplier: 2, maxElapsedMs: 300 };

function wide(keys: number): Record<string, number> {
  return Object.fromEntries(Array.from({ length: keys }, (_, i) => [`attr_${i}`, i]));
}

function nest(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: true };
  for (let i = 0; i < levels; i++) value = { child: value };
  return value;
}

function handBuilt(attributes: object, body: unknown = 'hand-built'): ReadableLogRecord {
  return {
    hrTime: [1_760_000_000, 0],
    hrTimeObserved: [1_760_000_000, 0],
    severityNumber: 9,
    resource,
    instrumentationScope: { name: 'hand' },
    attributes,
    droppedAttributesCount: 0,
    body,
  } as ReadableLogRecord;
}

describe('bad input reaches PostgreSQL sanitized and redacted', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
    await migrate(db.url);
  });
  after(async () => db?.drop());

  it('logs emitted through the OTel Logs API and handed to the exporter directly', async () => {
    const warnings: string[] = [];
    const exporter = new PostgresLogRecordExporter({
      connectionString: db.url,
      experimentId: 'exp-bad-logs',
      warn: (m) => warnings.push(m),
    });
    const provider = new LoggerProvider({ resource, processors: [new PostgresLogRecordProcessor(exporter)] });
    const logger = provider.getLogger('bad.input');
    logger.emit({
      body: 'nul\u0000 lone\ud800 tab\t end',
      attributes: {
        case: 'strings',
        'db.password': 'hunter2',
        prompt_tokens: 12,
        max_tokens: 256,
        author: 'ada',
        nested: { 'x-api-key': 'k', ok: 'v\u0000\udc00' },
        'key\u0000with nul': 'x',
        bytes: new Uint8Array([1, 2, 3]),
        huge: 'h'.repeat(100_000),
        wide: wide(20_000),
      },
    });
    logger.emit({ body: 'm'.repeat(3_000_000), attributes: { case: 'huge message' } });
    const body: Record<string, unknown> = { authToken: 't', n: 1n, sym: Symbol('s'), deep: nest(20) };
    body.self = body;
    logger.emit({ body: body as never, attributes: { case: 'object body' } });
    // Past the SDK's own attribute validation: what a user's processor can hand the exporter.
    const loop: Record<string, unknown> = { name: 'loop' };
    loop.loop = loop;
    const hostile = new Proxy(
      {},
      {
        has() {
          throw new Error('hostile');
        },
      },
    );
    exporter.export(
      [
        handBuilt({ case: 'hand-built', loop, big: 2n ** 70n, fn: () => 1, credential: { id: 'c' } }),
        handBuilt(hostile),
        handBuilt({ case: 'after the hostile one' }),
      ],
      () => undefined,
    );
    await provider.forceFlush();
    await exporter.forceFlush();

    const rows = await db.query(
      "SELECT message, attributes FROM pipeline_logs WHERE experiment_id = 'exp-bad-logs'",
    );
    const byCase = Object.fromEntries(rows.map((r) => [r.attributes.case, r]));
    assert.deepEqual(Object.keys(byCase).sort(), [
      'after the hostile one',
      'hand-built',
      'huge message',
      'object body',
      'strings',
    ]);

    const strings = byCase.strings;
    assert.equal(strings.message, 'nul\uFFFD lone\uFFFD tab\t end');
    const a = strings.attributes;
    assert.equal(a['db.password'], REDACTED);
    assert.equal(a.nested['x-api-key'], REDACTED);
    assert.equal(a.nested.ok, 'v\uFFFD\uFFFD');
    assert.equal(a['key\uFFFDwith nul'], 'x');
    assert.equal(a.prompt_tokens, 12);
    assert.equal(a.max_tokens, 256);
    assert.equal(a.author, 'ada');
    assert.equal(a.bytes, '[Uint8Array 3 bytes]');
    assertTruncated(a.huge, 'h', 100_000);
    assert.equal(Object.keys(a.wide).length, MAX_KEYS + 1, '20k distinct keys capped');
    assert.equal(a.wide['…'], `[${20_000 - MAX_KEYS} more keys]`);

    const huge = byCase['huge message'].message as string;
    assert.ok(huge.length < 70_000);
    assertTruncated(huge, 'm', 3_000_000);

    const objectBody = JSON.parse(byCase['object body'].message);
    assert.equal(objectBody.authToken, REDACTED);
    assert.equal(objectBody.n, '1');
    assert.equal(objectBody.sym, 'Symbol(s)');
    assert.equal(objectBody.self, CIRCULAR);
    assert.match(JSON.stringify(objectBody.deep), /"\[Depth\]"/);

    const hand = byCase['hand-built'].attributes;
    assert.deepEqual(hand.loop, { name: 'loop', loop: CIRCULAR });
    assert.equal(hand.big, (2n ** 70n).toString());
    assert.equal('fn' in hand, false);
    assert.equal(hand.credential, REDACTED);

    assert.equal(exporter.stats().failed, 1, 'the record that could not be encoded is counted');
    assert.equal(exporter.stats().exported, 5);
    assert.ok(warnings.some((w) => /could not be encoded/.test(w)));
    const encoding = exporter.encodingStats();
    assert.equal(encoding.redacted, 4, 'db.password, x-api-key, authToken, credential');
    assert.ok(encoding.sanitized >= 10, `sanitized ${encoding.sanitized}`);
    await provider.shutdown();
  });

  it('spans: attributes, events, links and status through the OTel Trace API', async () => {
    const exporter = new PostgresSpanExporter({ connectionString: db.url, experimentId: 'exp-bad-spans' });
    const provider = new BasicTracerProvider({
      resource,
      spanProcessors: [new PostgresSpanProcessor(exporter)],
    });
    const tracer = provider.getTracer('bad.tracer');
    const other = tracer.startSpan('other');
    other.end();
    const span = tracer.startSpan('step\u0000', {
      attributes: { password: 'p', prompt_tokens: 5, 'k\u0000': 'v\u0000\ud800', huge: 'x'.repeat(70_000) },
      links: [{ context: other.spanContext(), attributes: { client_secret: 's', weight: 1 } }],
    });
    span.addEvent('evt\ud800', { 'set-cookie': 'c', step: 1 });
    span.setStatus({ code: SpanStatusCode.ERROR, message: 'failed\u0000 here' });
    span.end();
    await provider.forceFlush();
    await exporter.forceFlush();

    const [row] = await db.query(
      "SELECT * FROM pipeline_spans WHERE experiment_id = 'exp-bad-spans' AND span_id = $1",
      [span.spanContext().spanId],
    );
    assert.equal(row.name, 'step\uFFFD');
    assert.equal(row.status_message, 'failed\uFFFD here');
    assert.equal(row.attributes.password, REDACTED);
    assert.equal(row.attributes.prompt_tokens, 5);
    assert.equal(row.attributes['k\uFFFD'], 'v\uFFFD\uFFFD');
    assertTruncated(row.attributes.huge, 'x', 70_000);
    assert.equal(row.events[0].name, 'evt\uFFFD');
    assert.deepEqual(row.events[0].attributes, { 'set-cookie': REDACTED, step: 1 });
    assert.deepEqual(row.links[0].attributes, { client_secret: REDACTED, weight: 1 });
    assert.ok(exporter.encodingStats().redacted >= 3);
    await provider.shutdown();
  });

  it('metric point attributes through the OTel Metrics API', async () => {
    const exporter = new PostgresMetricExporter({
      connectionString: db.url,
      experimentId: 'exp-bad-metrics',
    });
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 });
    const provider = new MeterProvider({ resource, readers: [reader] });
    provider
      .getMeter('bad.meter')
      .createCounter('rows')
      .add(3, { api_key: 'k', 'lone\ud800': 'x\u0000', max_tokens: 5 });
    await provider.forceFlush();
    await exporter.forceFlush();
    const [row] = await db.query(
      "SELECT attributes FROM pipeline_metrics WHERE experiment_id = 'exp-bad-metrics' AND name = 'rows'",
    );
    assert.deepEqual(row.attributes, { api_key: REDACTED, 'lone\uFFFD': 'x\uFFFD', max_tokens: 5 });
    await provider.shutdown();
  });

  it('a row the database still rejects is isolated; the rest of its batch lands', async () => {
    const warnings: string[] = [];
    const delivery = openDelivery<string>('logs', LOGS_TABLE, () => (line) => line, {
      connectionString: db.url,
      batchSize: 1000,
      flushIntervalMs: 60_000,
      warn: (m) => warnings.push(m),
    });
    const line = (i: number, timestamp = `2026-01-01T00:00:0${i}.000000Z`) =>
      `${uuidv7()}\texp-poison\t${timestamp}\tINFO\t9\tl\tm${i}\t\\N\t{}\t\\N\t\\N\t\\N\n`;
    const lines = Array.from({ length: 9 }, (_, i) => line(i));
    lines.splice(4, 0, line(9, '2026-13-45T99:00:00.000000Z'));
    for (const l of lines) delivery.queue.enqueue(l);
    await delivery.queue.forceFlush();
    const [{ n }] = await db.query(
      "SELECT count(*)::int AS n FROM pipeline_logs WHERE experiment_id = 'exp-poison'",
    );
    assert.equal(n, 9);
    assert.equal(delivery.queue.stats().exported, 9);
    assert.equal(delivery.queue.stats().failed, 1);
    assert.ok(warnings.some((w) => /rejected a record/.test(w)));
    await delivery.close();
  });

  it('jsonField and textField output is accepted by PostgreSQL for arbitrary values (property)', async () => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await client.query('CREATE TEMP TABLE bad_input_values (j jsonb, s text, a jsonb NOT NULL)');
      const unit = fc.oneof(
        fc.constantFrom('\u0000', '\t', '\n', '\r', '\\', '"', '\\u0000', 'password', 'x'),
        fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)),
        fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
      );
      const text = fc.string({ unit, maxLength: 16 });
      const value = fc.anything({
        key: text,
        stringUnit: unit,
        maxDepth: 3,
        withBigInt: true,
        withMap: true,
        withSet: true,
        withDate: true,
        withTypedArray: true,
        withNullPrototype: true,
      });
      await fc.assert(
        fc.asyncProperty(value, text, async (v, s) => {
          const sanitizer = new Sanitizer(new SecretKeyMatcher(DEFAULT_SECRET_KEYS));
          const attributes = sanitizer.attributes(typeof v === 'object' && v !== null ? v : { v });
          const row = `${jsonField(v)}\t${textField(s)}\t${jsonField(attributes)}\n`;
          await client.query('TRUNCATE bad_input_values');
          await copyIn(client, 'COPY bad_input_values (j, s, a) FROM STDIN', [row]);
          const [stored] = (await client.query('SELECT s FROM bad_input_values')).rows;
          const expected = (
            s.replaceAll('\u0000', '\uFFFD') as string & { toWellFormed(): string }
          ).toWellFormed();
          assert.equal(stored.s, expected);
        }),
        { numRuns: 300 },
      );
    } finally {
      await client.end();
    }
  });
});

describe('the database password never appears in warnings', () => {
  async function warningsFor(options: ConstructorParameters<typeof PostgresLogRecordExporter>[0]) {
    const warnings: string[] = [];
    const exporter = new PostgresLogRecordExporter({
      retry: fastRetry,
      connectionTimeoutMs: 2000,
      ...options,
      warn: (m) => warnings.push(m),
    });
    exporter.export([handBuilt({ k: 'v' })], () => undefined);
    await exporter.forceFlush(5000);
    await exporter.shutdown(2000);
    return warnings;
  }

  it('connection refused', async () => {
    const warnings = await warningsFor({ connectionString: 'postgresql://u:supersecret@127.0.0.1:9/x' });
    assert.ok(
      warnings.some((w) => /dropped 1 records/.test(w)),
      warnings.join('\n'),
    );
    for (const w of warnings) assert.ok(!w.includes('supersecret'), w);
  });

  it('a server that refuses the login', async () => {
    const url = new URL(await adminUrl());
    url.username = 'pipetel_no_such_role';
    url.password = 'supersecret';
    const warnings = await warningsFor({ connectionString: url.toString() });
    assert.ok(
      warnings.some((w) => /pipetel_no_such_role/.test(w)),
      warnings.join('\n'),
    );
    for (const w of warnings) assert.ok(!w.includes('supersecret'), w);
  });

  it('a driver error that quotes the connection string is scrubbed, raw and URL-encoded', async () => {
    const password = 'super secret/p@ss';
    const url = `postgresql://u:${encodeURIComponent(password)}@db.internal:5432/x`;
    const pool = new pg.Pool({ connectionString: url });
    pool.connect = (async () => {
      throw new Error(`could not connect to ${url} (password ${password})`);
    }) as typeof pool.connect;
    const warnings = await warningsFor({ pool });
    assert.ok(warnings.length > 0);
    for (const w of warnings) {
      assert.ok(!w.includes(password) && !w.includes(encodeURIComponent(password)), w);
      assert.match(w, /postgresql:\/\/u:\*\*\*\*@db\.internal/);
    }
    await pool.end();
  });
});
