// One run across requests and processes: official instrumentations through
// register({ instrumentations }), a stage that continues a caller's W3C trace, and a worker
// process started with tel.childEnv() that joins the parent's run and trace without restarting or
// ending it.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { context, propagation } from '@opentelemetry/api';
import { register } from '../../src/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { tempDir } from '../helpers/tempDir.js';

const run = promisify(execFile);
const fixtures = resolve(import.meta.dirname, '../fixtures');
const quiet = { console: { enabled: false }, file: { enabled: false } };

interface SpanRow {
  trace_id: string;
  span_id: string;
  parent_span_id: string | null;
  name: string;
  kind: string;
  experiment_id: string;
}

describe('traces across requests and processes', () => {
  let db: TestDatabase;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    db = await createTestDatabase();
    env = { ...process.env, PIPETEL_DATABASE_URL: db.url, PIPETEL_HOME: tempDir('pipetel-prop-') };
  });
  after(async () => db?.drop());

  it('register({ instrumentations }) records the official http instrumentation: SERVER and CLIENT spans in one trace', async () => {
    await run(process.execPath, ['--import', 'tsx', resolve(fixtures, 'http-instrumented.ts'), 'http-run'], {
      env,
      timeout: 60_000,
    });
    const spans = await db.query<SpanRow>(
      "SELECT trace_id, span_id, parent_span_id, name, kind, experiment_id FROM pipeline_spans WHERE experiment_id = 'http-run'",
    );
    const client = spans.find((s) => s.kind === 'CLIENT');
    const server = spans.find((s) => s.kind === 'SERVER');
    assert.ok(client, `a CLIENT span (${JSON.stringify(spans)})`);
    assert.ok(server, 'a SERVER span');
    assert.equal(
      server.trace_id,
      client.trace_id,
      'the server continues the client trace (traceparent header)',
    );
    assert.equal(server.parent_span_id, client.span_id);
    assert.match(server.name, /GET/);
  });

  it("with the pg instrumentation on, the app's queries are traced and pipetel's own writes are not (no loop)", async () => {
    await run(process.execPath, ['--import', 'tsx', resolve(fixtures, 'pg-instrumented.ts'), 'pg-run'], {
      env,
      timeout: 60_000,
    });
    const spans = await db.query<SpanRow & { attributes: Record<string, unknown> }>(
      "SELECT trace_id, span_id, parent_span_id, name, kind, experiment_id, attributes FROM pipeline_spans WHERE experiment_id = 'pg-run'",
    );
    const statements = spans
      .filter((s) => s.kind === 'CLIENT')
      .map((s) => String(s.attributes['db.query.text'] ?? s.attributes['db.statement'] ?? s.name));
    assert.equal(
      statements.filter((q) => q.includes('SELECT $1::int')).length,
      3,
      JSON.stringify(statements),
    );
    assert.deepEqual(
      statements.filter((q) => /pipeline_|pipetel|COPY/i.test(q)),
      [],
      "none of pipetel's own queries became a span",
    );
    const [{ logs }] = await db.query<{ logs: number }>(
      "SELECT count(*)::int AS logs FROM pipeline_logs WHERE experiment_id = 'pg-run' AND logger_name = 'app'",
    );
    assert.equal(logs, 3);
  });

  it('pino and winston records reach pipeline_logs through their official instrumentations, with trace and stage', async () => {
    await run(process.execPath, ['--import', 'tsx', resolve(fixtures, 'logger-bridges.ts'), 'bridges-run'], {
      env,
      timeout: 60_000,
    });
    const rows = await db.query<{
      level: string;
      message: string;
      stage: string;
      trace_id: string | null;
      rows: string;
    }>(
      `SELECT level, message, stage, trace_id, attributes->>'rows' AS rows FROM pipeline_logs
        WHERE experiment_id = 'bridges-run' ORDER BY message`,
    );
    assert.deepEqual(
      rows.map((r) => [r.level, r.message, r.stage, r.rows]),
      [
        ['WARNING', 'from pino', 'bridged', '3'],
        ['ERROR', 'from winston', 'bridged', '4'],
      ],
    );
    const [stage] = await db.query<{ trace_id: string }>(
      "SELECT trace_id FROM pipeline_spans WHERE experiment_id = 'bridges-run' AND name = 'bridged'",
    );
    assert.ok(
      rows.every((r) => r.trace_id === stage!.trace_id),
      "both carry the stage's trace id",
    );
  });

  it("a stage run under an incoming request's traceparent continues the caller's trace", async () => {
    const tel = await register({
      serviceName: 'prop',
      experimentId: 'prop-incoming',
      databaseUrl: db.url,
      config: { logging: quiet },
    });
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const callerSpan = '00f067aa0ba902b7';
    const incoming = propagation.extract(context.active(), { traceparent: `00-${traceId}-${callerSpan}-01` });
    await context.with(incoming, () => tel.stage('handle-message', async () => undefined));
    await tel.shutdown();
    const [span] = await db.query<SpanRow>(
      "SELECT trace_id, parent_span_id FROM pipeline_spans WHERE experiment_id = 'prop-incoming' AND name = 'handle-message'",
    );
    assert.deepEqual([span!.trace_id, span!.parent_span_id], [traceId, callerSpan]);
  });

  it('a worker started with tel.childEnv() joins the run and the trace; the run stays the parent’s to end', async () => {
    const tel = await register({
      serviceName: 'parent',
      experimentId: 'prop-tree',
      databaseUrl: db.url,
      config: { logging: quiet },
    });
    await tel.ready;
    const [{ started }] = await db.query<{ started: Date }>(
      "SELECT started_at AS started FROM pipeline_experiments WHERE experiment_id = 'prop-tree'",
    );
    let statusAfterWorker = '';
    await tel.stage('fan-out', async () => {
      const childEnv = tel.childEnv();
      assert.equal(childEnv.PIPETEL_EXPERIMENT_ID, 'prop-tree');
      assert.match(childEnv.TRACEPARENT ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
      await run(process.execPath, ['--import', 'tsx', resolve(fixtures, 'run-worker.ts')], {
        env: { ...env, ...childEnv },
        timeout: 60_000,
      });
      const [row] = await db.query<{ status: string }>(
        "SELECT status FROM pipeline_experiments WHERE experiment_id = 'prop-tree'",
      );
      statusAfterWorker = row!.status;
    });
    await tel.shutdown();
    assert.equal(statusAfterWorker, 'running', 'the worker ending does not end the run');

    const spans = await db.query<SpanRow>(
      "SELECT trace_id, span_id, parent_span_id, name, kind, experiment_id FROM pipeline_spans WHERE experiment_id = 'prop-tree'",
    );
    const parent = spans.find((s) => s.name === 'fan-out')!;
    const worker = spans.find((s) => s.name === 'worker-stage')!;
    assert.ok(parent && worker, JSON.stringify(spans));
    assert.equal(worker.trace_id, parent.trace_id, "the worker's stage is in the parent's trace");
    assert.equal(worker.parent_span_id, parent.span_id, 'under the stage that started it');
    const [log] = await db.query<{ trace_id: string; experiment_id: string }>(
      "SELECT trace_id, experiment_id FROM pipeline_logs WHERE message = 'worker did its part'",
    );
    assert.deepEqual([log!.experiment_id, log!.trace_id], ['prop-tree', parent.trace_id]);
    const [exp] = await db.query<{ status: string; started: Date; service: string }>(
      "SELECT status, started_at AS started, service_name AS service FROM pipeline_experiments WHERE experiment_id = 'prop-tree'",
    );
    assert.equal(exp!.status, 'succeeded');
    assert.equal(exp!.started.getTime(), started.getTime(), "the worker did not restart the parent's run");
    assert.equal(exp!.service, 'parent');
  });
});
