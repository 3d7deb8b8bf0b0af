// OTLP over each protocol of the SDK environment spec, with the official exporters, against local
// capture collectors: http/protobuf (the default), http/json, gzip when asked, grpc, and a
// per-signal protocol variable overriding the general one.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { type OtlpCapture, startOtlpCapture, startOtlpGrpcCapture } from '../helpers/otlpCapture.js';
import { tempDir } from '../helpers/tempDir.js';

const run = promisify(execFile);
const emitter = resolve(import.meta.dirname, '../fixtures/otlp-emitter.ts');

let db: TestDatabase;

/** One run of the emitter with these variables; PostgreSQL is the test server's, as always beside OTLP. */
async function emit(env: NodeJS.ProcessEnv, runId: string): Promise<void> {
  await run(process.execPath, ['--import', 'tsx', emitter, runId], {
    env: {
      ...process.env,
      PIPETEL_HOME: tempDir('pipetel-otlp-proto-'),
      PIPETEL_DATABASE_URL: db.url,
      ...env,
    },
    timeout: 60_000,
  });
}

describe('OTLP protocols', () => {
  let http: OtlpCapture;
  let grpc: OtlpCapture;
  before(async () => {
    db = await createTestDatabase();
    http = await startOtlpCapture();
    grpc = await startOtlpGrpcCapture();
  });
  after(async () => {
    await http?.close();
    await grpc?.close();
    await db?.drop();
  });

  const signals = (capture: OtlpCapture, id: string) => capture.requests.filter((r) => r.body.includes(id));

  it('http/protobuf by default: /v1/traces, /v1/logs, /v1/metrics as application/x-protobuf', async () => {
    await emit({ OTEL_EXPORTER_OTLP_ENDPOINT: http.endpoint }, 'proto-default');
    const got = signals(http, 'proto-default');
    assert.deepEqual([...new Set(got.map((r) => r.path))].sort(), ['/v1/logs', '/v1/metrics', '/v1/traces']);
    assert.ok(
      got.every((r) => r.contentType === 'application/x-protobuf'),
      JSON.stringify(got.map((r) => r.contentType)),
    );
    assert.match(http.bodies('/v1/traces'), /protocol-stage/);
    assert.match(http.bodies('/v1/logs'), /over the wire/);
    assert.match(http.bodies('/v1/metrics'), /protocol\.rows/);
  });

  it('http/json when OTEL_EXPORTER_OTLP_PROTOCOL says so, gzip when OTEL_EXPORTER_OTLP_COMPRESSION does', async () => {
    await emit(
      {
        OTEL_EXPORTER_OTLP_ENDPOINT: http.endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip',
      },
      'json-gzip',
    );
    const got = signals(http, 'json-gzip');
    assert.equal(got.length >= 3, true);
    assert.ok(got.every((r) => r.contentType === 'application/json' && r.contentEncoding === 'gzip'));
    const traces = got.find((r) => r.path === '/v1/traces')!;
    assert.match(JSON.parse(traces.body).resourceSpans[0].scopeSpans[0].spans[0].name, /protocol-stage/);
  });

  it('grpc: the three Export methods of the OTLP services', async () => {
    await emit(
      { OTEL_EXPORTER_OTLP_ENDPOINT: grpc.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' },
      'over-grpc',
    );
    const got = signals(grpc, 'over-grpc');
    assert.deepEqual([...new Set(got.map((r) => r.path))].sort(), [
      '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
      '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
      '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
    ]);
    assert.ok(got.some((r) => r.body.includes('protocol-stage')));
  });

  it('a per-signal protocol variable wins for its signal only', async () => {
    await emit(
      {
        OTEL_EXPORTER_OTLP_ENDPOINT: http.endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
        OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: 'http/json',
      },
      'per-signal',
    );
    const got = signals(http, 'per-signal');
    const typeOf = (path: string) => got.find((r) => r.path === path)?.contentType;
    assert.equal(typeOf('/v1/logs'), 'application/json');
    assert.equal(typeOf('/v1/traces'), 'application/x-protobuf');
  });
});
