// otlp.enabled: the same telemetry also goes to an OpenTelemetry collector over OTLP/HTTP, here a
// minimal collector stand-in on 127.0.0.1 that records what it receives, while PostgreSQL still
// gets every record.

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { metrics, trace } from '@opentelemetry/api';
import { register } from '../../src/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

describe('OTLP export', () => {
  let db: TestDatabase;
  let server: Server;
  const received: Record<string, string[]> = {};
  let endpoint = '';

  before(async () => {
    db = await createTestDatabase();
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => {
        body += chunk;
      });
      req.on('end', () => {
        const path = req.url ?? '';
        received[path] = [...(received[path] ?? []), body];
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server?.close();
    await db?.drop();
  });

  it('sends spans, logs and metrics to the collector and to PostgreSQL', async () => {
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = endpoint;
    const tel = await register({
      experimentId: 'exp-otlp',
      databaseUrl: db.url,
      config: {
        logging: { console: { enabled: false }, file: { enabled: false } },
        monitoring: { enable_resource_tracking: false },
        otlp: { headers: { 'x-team': 'data' } }, // enabled by the standard variable alone
      },
    });
    await tel.stage('otlp-stage', async () => {
      tel.getLogger('otlp.logger').warning('to both sinks');
      metrics.getMeter('app').createCounter('otlp.rows').add(7);
      trace.getTracer('app').startSpan('inner-span').end();
    });
    await tel.shutdown();
    delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;

    const traces = (received['/v1/traces'] ?? []).join('');
    assert.match(traces, /otlp-stage/);
    assert.match(traces, /inner-span/);
    assert.match(traces, /exp-otlp/, 'resource carries the experiment id');
    const logs = (received['/v1/logs'] ?? []).join('');
    assert.match(logs, /to both sinks/);
    assert.match(logs, /otlp\.logger/);
    const metricsBody = (received['/v1/metrics'] ?? []).join('');
    assert.match(metricsBody, /otlp\.rows/);

    const [log] = await db.query("SELECT message FROM pipeline_logs WHERE experiment_id = 'exp-otlp'");
    assert.equal(log?.message, 'to both sinks');
    const spans = await db.query(
      "SELECT name FROM pipeline_spans WHERE experiment_id = 'exp-otlp' ORDER BY name",
    );
    assert.deepEqual(
      spans.map((s) => s.name),
      ['inner-span', 'otlp-stage'],
    );
  });
});
