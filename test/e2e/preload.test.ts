// The preload form, no code change: `node --import pipetel/register app.mjs`, configured by the
// environment only; an app that simply ends is flushed on beforeExit and its experiment succeeds.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

const run = promisify(execFile);

describe('node --import pipetel/register', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => db?.drop());

  it('records a plain OTel app and flushes it when the process ends by itself', async () => {
    await run(
      process.execPath,
      ['--import', 'pipetel/register', resolve(import.meta.dirname, '../fixtures/apps/preload-app.mjs')],
      {
        cwd: resolve(import.meta.dirname, '../..'),
        env: {
          ...process.env,
          PIPETEL_DATABASE_URL: db.url,
          PIPETEL_EXPERIMENT_ID: 'exp-preload',
          OTEL_SERVICE_NAME: 'plain-app',
          PIPETEL__LOGGING__CONSOLE__ENABLED: 'false',
          PIPETEL__LOGGING__FILE__ENABLED: 'false',
        },
        timeout: 60_000,
      },
    );
    const [span] = await db.query(
      "SELECT name, resource FROM pipeline_spans WHERE experiment_id = 'exp-preload'",
    );
    assert.equal(span?.name, 'plain-work');
    assert.equal(span.resource['service.name'], 'plain-app');
    const [log] = await db.query("SELECT message FROM pipeline_logs WHERE experiment_id = 'exp-preload'");
    assert.equal(log?.message, 'hello from a plain app');
    const [metric] = await db.query(
      "SELECT value FROM pipeline_metrics WHERE experiment_id = 'exp-preload' AND name = 'plain.count'",
    );
    assert.equal(metric?.value, 3);
    const [exp] = await db.query(
      "SELECT service_name, status FROM pipeline_experiments WHERE experiment_id = 'exp-preload'",
    );
    assert.deepEqual(exp, { service_name: 'plain-app', status: 'succeeded' });
  });

  it('an app that also calls register() with options is told the preload registered it, and how to configure that', async () => {
    const app =
      "const { register } = await import('pipetel'); await register({ serviceName: 'fleet-worker' });";
    const failed = await run(
      process.execPath,
      ['--import', 'pipetel/register', '--input-type=module', '-e', app],
      {
        cwd: resolve(import.meta.dirname, '../..'),
        env: { ...process.env, PIPETEL_DATABASE_URL: db.url, PIPETEL__LOGGING__CONSOLE__ENABLED: 'false' },
        timeout: 60_000,
      },
    ).then(
      () => undefined,
      (error: { code?: number; stderr?: string }) => error,
    );
    assert.ok(failed, 'the conflicting register() fails');
    // Before: "already called with different options; call shutdown() first", naming neither.
    assert.match(
      failed.stderr ?? '',
      /already called by the preload \(node --import pipetel\/register\) with different options \(serviceName\); with the preload, set them in the environment/,
    );
  });

  it('an invalid setting stops the app before it starts: one line naming the key, exit 2, no stack trace', async () => {
    const failed = await run(
      process.execPath,
      ['--import', 'pipetel/register', resolve(import.meta.dirname, '../fixtures/apps/preload-app.mjs')],
      {
        cwd: resolve(import.meta.dirname, '../..'),
        env: { ...process.env, PIPETEL_DATABASE_URL: db.url, PIPETEL__LOGGING__LEVEL: 'LOUD' },
        timeout: 60_000,
      },
    ).then(
      () => undefined,
      (error: { code?: number; stderr?: string }) => error,
    );
    assert.equal(failed?.code, 2);
    assert.match(failed?.stderr ?? '', /^pipetel: logging\.level: /m);
    assert.doesNotMatch(failed?.stderr ?? '', /\n\s+at /, 'no stack trace');
  });

  it('PIPETEL_INSTRUMENTATIONS enables official instrumentations in the preload: a CommonJS app without telemetry code gets HTTP spans', async () => {
    const { stderr } = await run(
      process.execPath,
      ['--import', 'pipetel/register', resolve(import.meta.dirname, '../fixtures/apps/http-app.cjs')],
      {
        cwd: resolve(import.meta.dirname, '../..'),
        env: {
          ...process.env,
          PIPETEL_DATABASE_URL: db.url,
          PIPETEL_EXPERIMENT_ID: 'exp-preload-http',
          PIPETEL_INSTRUMENTATIONS: '@opentelemetry/instrumentation-http, not-an-instrumentation-package',
          PIPETEL__LOGGING__CONSOLE__ENABLED: 'false',
          PIPETEL__LOGGING__FILE__ENABLED: 'false',
        },
        timeout: 60_000,
      },
    );
    assert.match(stderr, /PIPETEL_INSTRUMENTATIONS: cannot load not-an-instrumentation-package/);
    const kinds = await db.query<{ kind: string }>(
      "SELECT kind FROM pipeline_spans WHERE experiment_id = 'exp-preload-http' ORDER BY kind",
    );
    assert.deepEqual(
      kinds.map((k) => k.kind),
      ['CLIENT', 'SERVER'],
    );
  });
});
