// One secrets-and-limits policy in front of every sink: secrets planted in every place a pipeline
// can put them (register() attributes, OTEL_RESOURCE_ATTRIBUTES, stage attributes, span
// attributes, OTel Logs API attributes and body, pipetel's Logger, metric attributes) reach
// neither PostgreSQL, nor the log file, nor an OTLP collector (a capture server here) — while the
// records themselves, and the values next to the secrets, do.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { metrics, trace } from '@opentelemetry/api';
import { logs } from '@opentelemetry/api-logs';
import { register } from '../../src/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { type OtlpCapture, startOtlpCapture } from '../helpers/otlpCapture.js';

const SECRETS = {
  registerAttribute: 'S3CRET-register-attribute',
  resourceFromEnv: 'S3CRET-resource-env',
  stageAttribute: 'S3CRET-stage-attribute',
  spanAttribute: 'S3CRET-span-attribute',
  apiLogAttribute: 'S3CRET-api-log-attribute',
  apiLogHeader: 'S3CRET-api-log-header',
  apiLogBody: 'S3CRET-api-log-body',
  apiLogScope: 'S3CRET-api-log-scope',
  loggerAttribute: 'S3CRET-logger-attribute',
  formattedObject: 'S3CRET-formatted-object',
  metricAttribute: 'S3CRET-metric-attribute',
};

describe('redaction in front of every sink', () => {
  let db: TestDatabase;
  let collector: OtlpCapture;
  let dir: string;

  before(async () => {
    db = await createTestDatabase();
    dir = mkdtempSync(join(tmpdir(), 'pipetel-redaction-'));
    collector = await startOtlpCapture();
  });
  after(async () => {
    await collector?.close();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('no secret value reaches PostgreSQL, the file or OTLP; the records and their other values do', async () => {
    const logFile = join(dir, 'pipetel.log');
    process.env.OTEL_RESOURCE_ATTRIBUTES = `deploy.secret=${SECRETS.resourceFromEnv},deploy.region=eu-west`;
    let tel: Awaited<ReturnType<typeof register>>;
    try {
      tel = await register({
        experimentId: 'exp-redaction',
        databaseUrl: db.url,
        attributes: { db_password: SECRETS.registerAttribute, team: 'visible-team' },
        config: {
          logging: { console: { enabled: false }, file: { enabled: true, path: logFile } },
          monitoring: { enable_resource_tracking: false },
          otlp: { endpoint: collector.endpoint },
        },
      });
    } finally {
      delete process.env.OTEL_RESOURCE_ATTRIBUTES;
    }
    await tel.stage(
      'load',
      async () => {
        trace
          .getTracer('app')
          .startSpan('fetch', { attributes: { 'x-api-key': SECRETS.spanAttribute, url: 'visible-url' } })
          .end();
        logs.getLogger('app.api', '1.0', { attributes: { api_token: SECRETS.apiLogScope } }).emit({
          body: { authToken: SECRETS.apiLogBody, note: 'visible-body' },
          attributes: {
            password: SECRETS.apiLogAttribute,
            'x-api-key': SECRETS.apiLogHeader,
            rows: 7,
          },
        });
        tel.getLogger('app.logger').info('loaded', {
          client_secret: SECRETS.loggerAttribute,
          file: 'visible-file',
        });
        tel.getLogger('app.logger').warning('connecting with %j', {
          host: 'visible-host',
          credentials: { password: SECRETS.formattedObject },
        });
        const rows = metrics.getMeter('app').createCounter('rows');
        rows.add(3, { api_key: SECRETS.metricAttribute, kind: 'csv' });
        rows.add(2, { api_key: `${SECRETS.metricAttribute}-other`, kind: 'csv' });
      },
      { attributes: { api_token: SECRETS.stageAttribute, dataset: 'visible-dataset' } },
    );
    await tel.shutdown();

    const stored = await db.query<{ text: string }>(
      `SELECT string_agg(t::text, E'\\n') AS text FROM (
         SELECT row_to_json(l)::text AS t FROM pipeline_logs l
         UNION ALL SELECT row_to_json(s)::text FROM pipeline_spans s
         UNION ALL SELECT row_to_json(m)::text FROM pipeline_metrics m
         UNION ALL SELECT row_to_json(e)::text FROM pipeline_experiments e) rows`,
    );
    const sinks = {
      postgres: stored[0]!.text,
      file: readFileSync(logFile, 'utf8'),
      'otlp traces': collector.bodies('/v1/traces'),
      'otlp logs': collector.bodies('/v1/logs'),
      'otlp metrics': collector.bodies('/v1/metrics'),
    };
    for (const [sink, text] of Object.entries(sinks)) {
      assert.ok(text.length > 0, `${sink} received something`);
      for (const [where, secret] of Object.entries(SECRETS)) {
        assert.ok(!text.includes(secret), `${sink} holds the secret from ${where}`);
      }
      assert.match(text, /\[REDACTED\]/, `${sink} shows where a secret was`);
      // The file's lines carry the experiment id, not the resource.
      if (sink !== 'file')
        assert.match(text, /visible-team/, `${sink} keeps the resource's other attributes`);
    }
    // The records themselves arrived, with the values beside the secrets.
    for (const sink of ['postgres', 'otlp traces'] as const) {
      assert.match(sinks[sink], /visible-url/);
      assert.match(sinks[sink], /visible-dataset/);
    }
    for (const sink of ['postgres', 'file', 'otlp logs'] as const) {
      assert.match(sinks[sink], /visible-body/);
      assert.match(sinks[sink], /visible-file/);
    }
    // Metric attributes are redacted before aggregation: one series, the values summed.
    const [row] = await db.query<{ value: number; attributes: Record<string, unknown> }>(
      "SELECT value, attributes FROM pipeline_metrics WHERE name = 'rows' ORDER BY timestamp DESC LIMIT 1",
    );
    assert.deepEqual(row?.attributes, { api_key: '[REDACTED]', kind: 'csv' });
    assert.equal(Number(row?.value), 5);
    assert.match(sinks.postgres, /csv/);
    assert.match(sinks['otlp metrics'], /csv/);
    assert.match(sinks.postgres, /eu-west/, 'OTEL_RESOURCE_ATTRIBUTES still fills the resource');
  });
});
