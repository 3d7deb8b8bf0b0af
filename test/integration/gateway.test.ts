// pipetel gateway against a real PostgreSQL, fed by a plain OpenTelemetry app with the official
// OTLP/HTTP JSON exporters: spans, logs and metrics land in the schema under the app's
// experiment, redacted like every other path, with the experiment row created; the protocol's
// error answers (400, 401, 413 also after decompression, 415) and loopback-or-token.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { migrate } from '../../exporters/postgres/index.js';
import { statusText } from '../../src/cli/reading.js';
import { ExperimentStore } from '../../src/db/experimentStore.js';
import { GATEWAY_QUIET_SECONDS, RunReader } from '../../src/db/runReader.js';
import { ClientGone, type RunningGateway, readBody, startGateway } from '../../src/gateway/server.js';
import {
  adminUrl,
  createTestDatabase,
  type TestDatabase,
  testPool,
  withClient,
} from '../helpers/database.js';
import { postWorkerLog } from '../helpers/otlpPost.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcpProxy.js';
import { tempDir } from '../helpers/tempDir.js';

const run = promisify(execFile);
const producer = resolve(import.meta.dirname, '../fixtures/otlp-json-producer.ts');

/** Posts OTLP/JSON log records, one per line, for `experimentId`. */
function postLog(gatewayUrl: string, experimentId: string, lines: string[]): Promise<Response> {
  return fetch(`${gatewayUrl}/v1/logs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      resourceLogs: [
        {
          resource: { attributes: [{ key: 'pipetel.experiment_id', value: { stringValue: experimentId } }] },
          scopeLogs: [
            {
              logRecords: lines.map((line) => ({
                timeUnixNano: `${BigInt(Date.now()) * 1_000_000n}`,
                body: { stringValue: line },
              })),
            },
          ],
        },
      ],
    }),
  });
}

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until a span, a log record and a metric point of the run are stored. */
async function allSignalsStored(db: TestDatabase, experimentId: string): Promise<void> {
  await waitFor(async () => {
    const [{ n }] = await db.query<{ n: number }>(
      `SELECT (SELECT count(*) FROM pipeline_spans WHERE experiment_id = $1)
            + (SELECT count(*) FROM pipeline_logs WHERE experiment_id = $1)
            + (SELECT count(*) FROM pipeline_metrics WHERE experiment_id = $1)::int AS n`,
      [experimentId],
    );
    return Number(n) >= 3;
  });
}

describe('pipetel gateway (OTLP/HTTP JSON)', () => {
  let db: TestDatabase;
  let gateway: RunningGateway;
  before(async () => {
    db = await createTestDatabase();
    await migrate(db.url);
    gateway = await startGateway({ url: db.url, port: 0, grpcPort: 0, maxBodyBytes: 64 * 1024 });
  });
  after(async () => {
    await gateway?.close();
    await db?.drop();
  });

  it('stores what the official OTLP JSON exporters send: spans, logs, metrics, under the experiment, redacted', async () => {
    await run(process.execPath, ['--import', 'tsx', producer, gateway.url, 'fleet-run-1'], {
      timeout: 60_000,
    });
    await allSignalsStored(db, 'fleet-run-1');
    const [span] = await db.query<{
      name: string;
      kind: string;
      attributes: Record<string, unknown>;
      resource: Record<string, unknown>;
    }>("SELECT name, kind, attributes, resource FROM pipeline_spans WHERE experiment_id = 'fleet-run-1'");
    assert.equal(span!.name, 'remote-work');
    assert.equal(span!.attributes.shard, 3);
    assert.notEqual(span!.attributes.password, 'hunter2', 'redacted like every other path');
    assert.equal(span!.resource['service.name'], 'fleet-worker');
    const [log] = await db.query<{ level: string; message: string; attributes: Record<string, unknown> }>(
      "SELECT level, message, attributes FROM pipeline_logs WHERE experiment_id = 'fleet-run-1'",
    );
    assert.deepEqual(
      [log!.level, log!.message, log!.attributes.rows],
      ['WARNING', 'from a fleet worker', 42],
    );
    const [metric] = await db.query<{ value: number; kind: string }>(
      "SELECT value, kind FROM pipeline_metrics WHERE experiment_id = 'fleet-run-1' AND name = 'worker.rows'",
    );
    assert.deepEqual([metric!.kind, metric!.value], ['sum', 42]);
    await waitFor(
      async () =>
        (await db.query("SELECT 1 FROM pipeline_experiments WHERE experiment_id = 'fleet-run-1'")).length ===
        1,
    );
    const [exp] = await db.query<{ service_name: string }>(
      "SELECT service_name FROM pipeline_experiments WHERE experiment_id = 'fleet-run-1'",
    );
    assert.equal(exp!.service_name, 'fleet-worker');
  });

  it('reads OTLP/protobuf from the official proto exporters (the spec default encoding) into the same rows', async () => {
    await run(process.execPath, ['--import', 'tsx', producer, gateway.url, 'fleet-run-proto', '', 'proto'], {
      timeout: 60_000,
    });
    await allSignalsStored(db, 'fleet-run-proto');
    const rows = await db.query<{ what: string }>(
      `SELECT name AS what FROM pipeline_spans WHERE experiment_id = 'fleet-run-proto'
       UNION ALL SELECT message FROM pipeline_logs WHERE experiment_id = 'fleet-run-proto'
       UNION ALL SELECT name || '=' || value FROM pipeline_metrics WHERE experiment_id = 'fleet-run-proto'`,
    );
    assert.deepEqual(rows.map((r) => r.what).sort(), [
      'from a fleet worker',
      'remote-work',
      'worker.rows=42',
    ]);
  });

  it('reads OTLP/gRPC from the official gRPC exporters (what a Collector load-balancing exporter speaks)', async () => {
    const address = `http://${gateway.grpcAddress}`;
    await run(process.execPath, ['--import', 'tsx', producer, address, 'fleet-run-grpc', '', 'grpc'], {
      timeout: 60_000,
    });
    await allSignalsStored(db, 'fleet-run-grpc');
    const [log] = await db.query<{ message: string }>(
      "SELECT message FROM pipeline_logs WHERE experiment_id = 'fleet-run-grpc'",
    );
    assert.equal(log!.message, 'from a fleet worker');
  });

  it('answers as the OTLP spec says: 400 with a status body, 413 (also after decompression), 415, 404', async () => {
    const post = (body: Buffer | string, headers: Record<string, string>, path = '/v1/logs') =>
      fetch(`${gateway.url}${path}`, {
        method: 'POST',
        body: typeof body === 'string' ? body : new Uint8Array(body),
        headers,
      });
    const bad = await post(
      '{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"traceId": "xyz", "spanId": "1"}]}]}]}',
      {
        'content-type': 'application/json',
      },
    );
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { message: string }).message, /traceId must be 32 hex digits/);
    assert.equal((await post('not json', { 'content-type': 'application/json' })).status, 400);
    // A small gzip body that inflates past the limit: refused after decompression.
    const bomb = gzipSync(Buffer.from(`{"resourceLogs": [], "pad": "${'x'.repeat(200_000)}"}`));
    assert.ok(bomb.length < 64 * 1024);
    assert.equal(
      (await post(bomb, { 'content-type': 'application/json', 'content-encoding': 'gzip' })).status,
      413,
    );
    assert.equal((await post('x'.repeat(70_000), { 'content-type': 'application/json' })).status, 413);
    assert.equal(
      (await post(Buffer.from([0x0a]), { 'content-type': 'application/x-protobuf' })).status,
      400,
      'truncated',
    );
    assert.equal((await post('{}', { 'content-type': 'text/plain' })).status, 415);
    assert.equal(
      (await post('{}', { 'content-type': 'application/json', 'content-encoding': 'br' })).status,
      415,
    );
    assert.equal((await post('{}', { 'content-type': 'application/json' }, '/v1/nope')).status, 404);
    const gz = await post(gzipSync('{"resourceLogs": []}'), {
      'content-type': 'application/json',
      'content-encoding': 'gzip',
    });
    assert.equal(gz.status, 200);
  });

  it("a run's ended_at follows its last batch, also one inside the refresh window", async () => {
    const post = (line: string) => postLog(gateway.url, 'gw-ended', [line]);
    assert.equal((await post('first')).status, 200);
    await gateway.flush();
    await new Promise((r) => setTimeout(r, 300));
    const [{ before }] = await db.query<{ before: Date }>('SELECT now() AS before');
    assert.equal((await post('second, 0.3 s later')).status, 200); // inside the 5 s window
    await gateway.flush();
    const [{ ended }] = await db.query<{ ended: Date }>(
      "SELECT ended_at AS ended FROM pipeline_experiments WHERE experiment_id = 'gw-ended'",
    );
    assert.ok(
      ended >= before,
      `ended_at ${ended.toISOString()} covers the second batch (${before.toISOString()})`,
    );
  });

  it('off loopback it needs a token, checked on every request', async () => {
    await assert.rejects(
      startGateway({ url: db.url, host: '0.0.0.0', port: 0, grpcPort: null }),
      /needs a token/,
    );
    const guarded = await startGateway({
      url: db.url,
      host: '0.0.0.0',
      port: 0,
      grpcPort: 0,
      token: 'gw-token',
    });
    try {
      const url = guarded.url.replace('0.0.0.0', '127.0.0.1');
      const post = (headers: Record<string, string>) =>
        fetch(`${url}/v1/logs`, {
          method: 'POST',
          body: '{"resourceLogs": []}',
          headers: { 'content-type': 'application/json', ...headers },
        });
      assert.equal((await post({})).status, 401);
      assert.equal((await post({ authorization: 'Bearer nope' })).status, 401);
      assert.equal((await post({ authorization: 'Bearer gw-token' })).status, 200);
      await run(process.execPath, ['--import', 'tsx', producer, url, 'fleet-run-2', 'gw-token'], {
        timeout: 60_000,
      });
      await waitFor(
        async () =>
          (await db.query("SELECT 1 FROM pipeline_spans WHERE experiment_id = 'fleet-run-2'")).length === 1,
      );
    } finally {
      await guarded.close();
    }
  });
});

describe('pipetel gateway: several producers at once, the database stopped mid-stream', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
    await migrate(db.url);
  });
  after(async () => {
    await db?.drop();
  });

  const counts = async (experimentId: string) => {
    const [row] = await db.query<{ spans: number; logs: number; items: number; metrics: number }>(
      `SELECT (SELECT count(*) FROM pipeline_spans WHERE experiment_id = $1)::int AS spans,
              (SELECT count(*) FROM pipeline_logs WHERE experiment_id = $1)::int AS logs,
              (SELECT count(DISTINCT attributes->>'item') FROM pipeline_logs WHERE experiment_id = $1)::int AS items,
              (SELECT count(*) FROM pipeline_metrics WHERE experiment_id = $1 AND name = 'worker.rows')::int AS metrics`,
      [experimentId],
    );
    return row!;
  };
  const ITEMS = 300;
  const produce = (gateway: RunningGateway, experimentId: string, protocol: 'json' | 'proto' | 'grpc') =>
    run(
      process.execPath,
      [
        '--import',
        'tsx',
        producer,
        protocol === 'grpc' ? `http://${gateway.grpcAddress}` : gateway.url,
        experimentId,
        '',
        protocol,
        String(ITEMS),
      ],
      { timeout: 60_000 },
    );

  it('stores every record of four concurrent producers exactly once, through an outage, via the spool', async () => {
    const proxy = await startTcpProxy(db.url);
    const port = Number(new URL(proxy.url).port);
    const home = tempDir('pipetel-gateway-');
    const warnings: string[] = [];
    const gateway = await startGateway({
      url: proxy.url,
      port: 0,
      grpcPort: 0,
      home,
      syncIntervalMs: 300,
      warn: (m) => warnings.push(m),
    });
    let reopened: TcpProxy | undefined;
    try {
      // Database up: two producers at once, protobuf and gRPC.
      await Promise.all([produce(gateway, 'fleet-a', 'proto'), produce(gateway, 'fleet-b', 'grpc')]);
      // Database gone (the port refuses) while two more producers send: the gateway answers them
      // and keeps what the database cannot take in the spool.
      await proxy.close();
      await Promise.all([produce(gateway, 'fleet-c', 'json'), produce(gateway, 'fleet-d', 'proto')]);
      await new Promise((r) => setTimeout(r, 1500)); // past the exporters' flush interval
      assert.ok(
        readdirSync(join(home, 'spool'), { recursive: true }).length > 0,
        'the outage went to the spool',
      );
      // The database is back: the gateway replays its spool into it.
      reopened = await startTcpProxy(db.url, port);
      await waitFor(async () => {
        const all = await Promise.all(['fleet-a', 'fleet-b', 'fleet-c', 'fleet-d'].map(counts));
        return all.every((c) => c.spans >= ITEMS && c.logs >= ITEMS && c.metrics >= 1);
      }, 60_000);
      await new Promise((r) => setTimeout(r, 1000)); // a late duplicate would show up by now
      for (const experimentId of ['fleet-a', 'fleet-b', 'fleet-c', 'fleet-d']) {
        assert.deepEqual(
          await counts(experimentId),
          { spans: ITEMS, logs: ITEMS, items: ITEMS, metrics: 1 },
          `${experimentId}: every record once`,
        );
      }
      const experiments = await db.query<{ experiment_id: string }>(
        "SELECT experiment_id FROM pipeline_experiments WHERE experiment_id LIKE 'fleet-%' ORDER BY 1",
      );
      assert.deepEqual(
        experiments.map((e) => e.experiment_id),
        ['fleet-a', 'fleet-b', 'fleet-c', 'fleet-d'],
        'experiment rows also for the producers that sent during the outage',
      );
      assert.ok(
        warnings.every((w) => !w.includes(new URL(db.url).password || '\u0000')),
        'no password in warnings',
      );
    } finally {
      await gateway.close();
      await reopened?.close();
    }
  });
});

describe('pipetel gateway: a run as its readers see it', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
    await migrate(db.url);
  });
  after(async () => db?.drop());

  it('spans the time its records arrived, and is live while they arrive', async () => {
    const gateway = await startGateway({ url: db.url, port: 0, grpcPort: null, warn: () => undefined });
    const post = (line: string) => postLog(gateway.url, 'window-run', [line]);
    const reader = await RunReader.open(db.url);
    try {
      assert.equal((await post('first')).status, 200);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal((await post('last')).status, 200);
      // The gateway writes the row again when its 5 s refresh window ends.
      await new Promise((r) => setTimeout(r, 6000));
      await gateway.flush();
      const run = await reader.resolveRun('window-run');
      // Before: `succeeded` from the first batch, so `pipetel logs -f` and the UI's live view stopped.
      assert.equal(run.live, true);
      assert.ok(
        run.duration_ms >= 6000,
        `while records may still come, it runs to now: ${run.duration_ms} ms`,
      );
      assert.equal(statusText(run), 'succeeded, live');
      await db.query(
        `UPDATE pipeline_experiments SET last_seen_at = now() - interval '${GATEWAY_QUIET_SECONDS + 1} seconds' WHERE experiment_id = 'window-run'`,
      );
      const over = await reader.resolveRun('window-run');
      assert.equal(over.live, false, 'quiet for long enough: over');
      // Before: the end was when the row was last written, 5 s after the last batch.
      assert.ok(over.duration_ms >= 250 && over.duration_ms < 2000, `duration ${over.duration_ms} ms`);
      assert.equal(statusText(over), 'succeeded');
    } finally {
      await reader.close();
      await gateway.close();
    }
  });
});

describe('pipetel gateway: its database dropped and made again', () => {
  it('says so once, spools, and writes again once the database exists again, without a restart', async () => {
    const db = await createTestDatabase();
    await migrate(db.url);
    const warnings: string[] = [];
    const gateway = await startGateway({
      url: db.url,
      home: tempDir('pipetel-gateway-dropped-'),
      port: 0,
      grpcPort: null,
      setUp: async (pool) => {
        await migrate(pool);
      },
      missingDatabaseRecheckMs: 300,
      syncIntervalMs: 200,
      warn: (message) => warnings.push(message),
    });
    const post = (line: string) => postLog(gateway.url, 'dropped-run', [line]);
    const stored = async (lines: string[]) =>
      (
        await db
          .query<{ n: number }>(
            "SELECT count(*)::int AS n FROM pipeline_logs WHERE experiment_id = 'dropped-run' AND message = ANY($1)",
            [lines],
          )
          .catch(() => [{ n: -1 }])
      )[0]!.n;
    try {
      assert.equal((await post('before')).status, 200);
      await gateway.flush();
      await waitFor(async () => (await stored(['before'])) === 1);
      await withClient(await adminUrl(), (c) => c.query(`DROP DATABASE ${db.name} WITH (FORCE)`));
      assert.equal((await post('during')).status, 200);
      await gateway.flush();
      await waitFor(async () => warnings.some((w) => /does not exist/.test(w)));
      await withClient(await adminUrl(), (c) => c.query(`CREATE DATABASE ${db.name}`));
      assert.equal((await post('after')).status, 200);
      // Before: refused for good — spooled until the gateway was restarted.
      await waitFor(async () => (await stored(['during', 'after'])) === 2, 30_000);
      assert.equal(warnings.filter((w) => /does not exist/.test(w)).length, 1, warnings.join('\n'));
      assert.match(warnings.join('\n'), /checks every 0\.3 s whether it exists again/);
      assert.match(warnings.join('\n'), /exists again: writing resumed/);
    } finally {
      await gateway.close();
      await db.drop();
    }
  });
});

describe('pipetel gateway restarted while the database is down', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
    await migrate(db.url);
  });
  after(async () => db?.drop());

  it('the run it saw meanwhile is not lost with it: its row is spooled and replayed with its records', async () => {
    const home = tempDir('pipetel-gateway-restart-');
    const proxy = await startTcpProxy(db.url);
    const port = Number(new URL(proxy.url).port);
    const first = await startGateway({
      url: proxy.url,
      home,
      port: 0,
      grpcPort: null,
      warn: () => undefined,
    });
    await proxy.close(); // the database's port refuses from now on
    const posted = await postLog(
      first.url,
      'gw-restart-run',
      Array.from({ length: 5 }, (_, i) => `line ${i}`),
    );
    assert.equal(posted.status, 200);
    await first.flush();
    await first.close();
    // Before: the row lived in the first gateway's memory only; the records were replayed, but
    // without a row every reader said the run did not exist.
    const reopened = await startTcpProxy(db.url, port);
    const second = await startGateway({
      url: proxy.url,
      home,
      port: 0,
      grpcPort: null,
      syncIntervalMs: 200,
      warn: () => undefined,
    });
    try {
      await waitFor(async () => {
        const [{ n }] = await db.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pipeline_logs WHERE experiment_id = 'gw-restart-run'",
        );
        const rows = await db.query(
          "SELECT 1 FROM pipeline_experiments WHERE experiment_id = 'gw-restart-run'",
        );
        return n === 5 && rows.length === 1;
      }, 30_000);
      const [run] = await db.query<{ status: string; source: string }>(
        "SELECT status, attributes->>'pipetel.source' AS source FROM pipeline_experiments WHERE experiment_id = 'gw-restart-run'",
      );
      assert.deepEqual(run, { status: 'succeeded', source: 'gateway' });
    } finally {
      await second.close();
      await reopened.close();
    }
  });

  it('a row it spooled never ends or overrides a run a registered process owns', async () => {
    await db.query(
      `INSERT INTO pipeline_experiments (experiment_id, service_name, status, started_at, last_seen_at, attributes)
       VALUES ('owned-run', 'etl', 'running', now(), now(), '{}')`,
    );
    const later = new Date(Date.now() + 60_000);
    const pool = testPool(db.url, 1);
    const stored = await new ExperimentStore(pool).replay([
      {
        experimentId: 'owned-run',
        serviceName: 'gw',
        status: 'succeeded',
        startedAt: later,
        endedAt: later,
        lastSeenAt: later,
        statusReason: null,
        attributes: { 'pipetel.source': 'gateway' },
      },
    ]);
    await pool.end();
    assert.equal(stored, 0);
    const [run] = await db.query<{ status: string }>(
      "SELECT status FROM pipeline_experiments WHERE experiment_id = 'owned-run'",
    );
    assert.equal(run!.status, 'running');
  });

  it('a gateway run a worker failed stays failed when a later spooled row says succeeded', async () => {
    const pool = testPool(db.url, 1);
    const store = new ExperimentStore(pool);
    const row = (status: 'succeeded' | 'failed', at: Date, attributes: Record<string, unknown>) => ({
      experimentId: 'gw-failed-run',
      serviceName: 'gw',
      status,
      startedAt: at,
      endedAt: at,
      lastSeenAt: at,
      statusReason: status === 'failed' ? 'shard 3 crashed' : null,
      attributes,
    });
    const now = Date.now();
    await store.replay([
      row('failed', new Date(now), { 'pipetel.source': 'gateway', 'pipetel.ended': true }),
    ]);
    // A gateway restarted since knows nothing of the failure: its later row says succeeded, live.
    assert.equal(
      await store.replay([row('succeeded', new Date(now + 60_000), { 'pipetel.source': 'gateway' })]),
      1,
    );
    await pool.end();
    const [run] = await db.query<{ status: string; status_reason: string; ended: boolean }>(
      `SELECT status, status_reason, attributes ? 'pipetel.ended' AS ended FROM pipeline_experiments
        WHERE experiment_id = 'gw-failed-run'`,
    );
    assert.deepEqual(run, { status: 'failed', status_reason: 'shard 3 crashed', ended: false });
  });
});

describe("pipetel gateway: a fleet's ends", () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
    await migrate(db.url);
  });
  after(async () => db?.drop());
  const row = async (experimentId: string) =>
    (
      await db.query<{ status: string; status_reason: string | null; ended: boolean }>(
        `SELECT status, status_reason, attributes ? 'pipetel.ended' AS ended FROM pipeline_experiments
          WHERE experiment_id = $1`,
        [experimentId],
      )
    )[0];

  it('close() while a row write waits on the database: the ends that came meanwhile are written, close returns', async () => {
    const gateway = await startGateway({ url: db.url, port: 0, grpcPort: null, warn: () => undefined });
    const a = { host: 'h', pid: 1 };
    const b = { host: 'h', pid: 2 };
    assert.equal((await postWorkerLog(gateway.url, 'gw-locked', a, 'a starts')).status, 200);
    assert.equal((await postWorkerLog(gateway.url, 'gw-locked', b, 'b starts')).status, 200);
    await gateway.flush();
    // Another session holds the row: the next row write waits for it (a slow database).
    const holder = testPool(db.url, 1);
    const locking = await holder.connect();
    await locking.query('BEGIN');
    await locking.query("SELECT 1 FROM pipeline_experiments WHERE experiment_id = 'gw-locked' FOR UPDATE");
    let closed = false;
    try {
      const end = { 'pipetel.run.status': 'failed', 'pipetel.run.reason': 'shard 2 OOM' };
      await postWorkerLog(gateway.url, 'gw-locked', b, 'run failed: shard 2 OOM', end);
      await postWorkerLog(gateway.url, 'gw-locked', a, 'run succeeded', {
        'pipetel.run.status': 'succeeded',
      });
      const closing = gateway.close().then(() => {
        closed = true;
      });
      await new Promise((r) => setTimeout(r, 300));
      await locking.query('COMMIT');
      await closing;
    } finally {
      if (!closed) await locking.query('ROLLBACK').catch(() => undefined);
      locking.release();
      await holder.end();
    }
    assert.deepEqual(await row('gw-locked'), {
      status: 'failed',
      status_reason: 'shard 2 OOM (worker h:2)',
      ended: true,
    });
  });

  it('a run a registered process owns keeps its status, whoever made its row first', async () => {
    const gateway = await startGateway({ url: db.url, port: 0, grpcPort: null, warn: () => undefined });
    try {
      await postWorkerLog(gateway.url, 'gw-owned', { host: 'h', pid: 3 }, 'a worker line');
      await gateway.flush();
      const pool = testPool(db.url, 1);
      const store = new ExperimentStore(pool);
      const run = { experimentId: 'gw-owned', serviceName: 'etl', attributes: { script: 'etl.js' } };
      await store.start(run);
      await store.finish(run, 'succeeded', null);
      await pool.end();
      // A worker failing afterwards (its row write comes after the owner's end).
      await postWorkerLog(gateway.url, 'gw-owned', { host: 'h', pid: 3 }, 'run failed: x', {
        'pipetel.run.status': 'failed',
        'pipetel.run.reason': 'x',
      });
      await gateway.flush();
    } finally {
      await gateway.close();
    }
    const [owned] = await db.query<{ status: string; source: string | null }>(
      "SELECT status, attributes->>'pipetel.source' AS source FROM pipeline_experiments WHERE experiment_id = 'gw-owned'",
    );
    assert.deepEqual(owned, { status: 'succeeded', source: null });
  });

  it('an ended run quiet for longer than readers follow it starts again when records come: a new launch', async () => {
    await db.query(
      `INSERT INTO pipeline_experiments (experiment_id, service_name, status, started_at, ended_at, last_seen_at, status_reason, attributes)
       VALUES ('gw-relaunch', 'fleet', 'failed', now() - interval '1 day', now() - interval '1 day',
               now() - interval '1 day', 'monday: shard 3 OOM', '{"pipetel.source": "gateway", "pipetel.ended": true}')`,
    );
    const gateway = await startGateway({ url: db.url, port: 0, grpcPort: null, warn: () => undefined });
    try {
      await postWorkerLog(gateway.url, 'gw-relaunch', { host: 'h', pid: 4 }, 'tuesday starts');
      await gateway.flush();
    } finally {
      await gateway.close();
    }
    const [again] = await db.query<{
      status: string;
      status_reason: string | null;
      ended: boolean;
      fresh: boolean;
    }>(
      `SELECT status, status_reason, attributes ? 'pipetel.ended' AS ended, started_at > now() - interval '1 hour' AS fresh
         FROM pipeline_experiments WHERE experiment_id = 'gw-relaunch'`,
    );
    assert.deepEqual(again, { status: 'succeeded', status_reason: null, ended: false, fresh: true });
  });
});

describe('pipetel gateway without a spool: backpressure', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
    await migrate(db.url);
  });
  after(async () => db?.drop());

  it('above the high-water mark a request waits, then gets 503 + Retry-After; what was accepted is stored once the database is back', async () => {
    const proxy = await startTcpProxy(db.url);
    const port = Number(new URL(proxy.url).port);
    const gateway = await startGateway({
      url: proxy.url,
      port: 0,
      grpcPort: null,
      maxQueuedRecords: 5,
      warn: () => undefined,
    });
    let reopened: TcpProxy | undefined;
    try {
      const body = (from: number) =>
        JSON.stringify({
          resourceLogs: [
            {
              resource: { attributes: [{ key: 'pipetel.experiment_id', value: { stringValue: 'bp-run' } }] },
              scopeLogs: [
                {
                  logRecords: Array.from({ length: 8 }, (_, i) => ({
                    timeUnixNano: `${BigInt(Date.now()) * 1_000_000n}`,
                    body: { stringValue: `line ${from + i}` },
                  })),
                },
              ],
            },
          ],
        });
      const post = (from: number) =>
        fetch(`${gateway.url}/v1/logs`, {
          method: 'POST',
          body: body(from),
          headers: { 'content-type': 'application/json' },
        });
      await proxy.close(); // the database's port refuses: nothing drains the queue
      const accepted = await post(0);
      assert.equal(accepted.status, 200, 'below the mark: accepted');
      assert.deepEqual(await accepted.json(), {}, 'all of it (no partialSuccess)');
      const refused = await post(8);
      assert.equal(refused.status, 503, 'above it, after waiting for room: 503');
      assert.equal(refused.headers.get('retry-after'), '1');
      reopened = await startTcpProxy(db.url, port);
      await waitFor(async () => {
        const [{ n }] = await db.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pipeline_logs WHERE experiment_id = 'bp-run'",
        );
        return n >= 8;
      }, 60_000);
      // Room again: a request is served.
      await waitFor(async () => (await post(16)).status === 200, 30_000);
      await gateway.flush();
      const lines = await db.query<{ message: string }>(
        "SELECT message FROM pipeline_logs WHERE experiment_id = 'bp-run' ORDER BY message",
      );
      assert.deepEqual(
        lines.map((l) => l.message),
        [
          ...Array.from({ length: 8 }, (_, i) => `line ${i}`),
          ...Array.from({ length: 8 }, (_, i) => `line ${16 + i}`),
        ].sort(),
        'the accepted requests, each line once; the refused one left to its sender',
      );
    } finally {
      await gateway.close();
      await reopened?.close();
    }
  });
});

describe('pipetel gateway: requests and setup that outlive their reason', () => {
  it('a request whose client left while it waited is dropped, not read for ever', async () => {
    const { createServer } = await import('node:http');
    const { connect } = await import('node:net');
    const outcome = new Promise<unknown>((resolveOutcome) => {
      const server = createServer(async (req) => {
        await new Promise((r) => setTimeout(r, 200)); // as while waiting for room in the queue
        resolveOutcome(await readBody(req, 'identity', 1024).catch((error: unknown) => error));
        server.close();
      });
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as import('node:net').AddressInfo;
        const socket = connect(port, '127.0.0.1', () => {
          socket.write(
            'POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"res',
          );
          setTimeout(() => socket.destroy(), 50);
        });
      });
    });
    assert.ok((await outcome) instanceof ClientGone);
  });

  it('setup retries stop at close(), even when an attempt was running then', async () => {
    let attempts = 0;
    const gateway = await startGateway({
      url: 'postgres://root@127.0.0.1:9/nowhere',
      port: 0,
      grpcPort: null,
      warn: () => undefined,
      setUpRetryMs: 100,
      setUp: async () => {
        attempts++;
        await new Promise((r) => setTimeout(r, 300));
        throw new Error('database down');
      },
    });
    const before = attempts; // startGateway waited a bounded time for the first attempt
    await gateway.close();
    await new Promise((r) => setTimeout(r, 800));
    assert.ok(attempts <= before + 1, `${attempts - before} attempts after close()`);
  });

  it('warnings held back by its limiter are printed, with their count, when the gateway closes', async () => {
    const warnings: string[] = [];
    const gateway = await startGateway({
      url: 'postgres://etl@127.0.0.1:9/tel',
      port: 0,
      grpcPort: null,
      warn: (message) => warnings.push(message),
      setUpRetryMs: 50,
      setUp: async () => {
        throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
      },
    });
    await new Promise((r) => setTimeout(r, 400)); // several retries, one warning per 10 s
    assert.equal(warnings.length, 1);
    await gateway.close();
    assert.equal(warnings.length, 2, warnings.join('\n'));
    assert.match(warnings[1]!, /^database setup failed .* \(\d+ similar warnings suppressed\)$/);
  });

  it('one kind of warning does not hold back another: an outage is said while setup failures repeat', async () => {
    const warnings: string[] = [];
    const home = tempDir('pipetel-gateway-kinds-');
    const gateway = await startGateway({
      url: 'postgres://etl@127.0.0.1:9/tel',
      port: 0,
      grpcPort: null,
      home,
      warn: (message) => warnings.push(message),
      setUpRetryMs: 50,
      setUp: async () => {
        throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
      },
    });
    try {
      await new Promise((r) => setTimeout(r, 200)); // setup has failed, and said so
      const body = JSON.stringify({
        resourceLogs: [
          {
            resource: { attributes: [{ key: 'pipetel.experiment_id', value: { stringValue: 'kinds-run' } }] },
            scopeLogs: [
              {
                logRecords: [
                  { timeUnixNano: `${BigInt(Date.now()) * 1_000_000n}`, body: { stringValue: 'x' } },
                ],
              },
            ],
          },
        ],
      });
      const posted = await fetch(`${gateway.url}/v1/logs`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(posted.status, 200);
      // Before: one limiter for every message held this one back for 10 s after setup's.
      const start = Date.now();
      while (!warnings.some((w) => /pipeline_logs unreachable/.test(w)) && Date.now() - start < 5000)
        await new Promise((r) => setTimeout(r, 50));
      assert.ok(
        warnings.some((w) => /pipeline_logs unreachable/.test(w)),
        `the outage is said at once: ${warnings.join(' | ')}`,
      );
      assert.equal(
        warnings.filter((w) => /^database setup failed/.test(w)).length,
        1,
        'setup failures still limited',
      );
    } finally {
      await gateway.close();
    }
  });

  it('a database that does not answer at start does not keep it from serving: it says so and listens', async (t) => {
    const proxy = await startTcpProxy('postgres://etl@127.0.0.1:5432/tel');
    proxy.silence();
    const warnings: string[] = [];
    const started = Date.now();
    const gateway = await startGateway({
      url: proxy.url,
      port: 0,
      grpcPort: null,
      warn: (message) => warnings.push(message),
    });
    const tookMs = Date.now() - started;
    try {
      t.diagnostic(`serving after ${tookMs} ms`);
      // Before: nothing listened, and nothing was said, for 10 s.
      assert.ok(tookMs < 5000, `serving after ${tookMs} ms`);
      assert.ok(
        warnings.some((w) => /has not answered within 1 s; serving anyway/.test(w)),
        warnings.join(' | '),
      );
      const response = await fetch(`${gateway.url}/v1/logs`, {
        method: 'POST',
        body: JSON.stringify({ resourceLogs: [] }),
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(response.status, 200);
    } finally {
      const closing = Date.now();
      await gateway.close();
      const closeMs = Date.now() - closing;
      t.diagnostic(`closed in ${closeMs} ms`);
      await proxy.close();
      // Before: close() waited for pg's connection attempt, until connection_timeout (30 s).
      assert.ok(closeMs < 5000, `closed in ${closeMs} ms`);
    }
  });

  it('setup that succeeds after failing says so: the last line does not read "failing"', async () => {
    const warnings: string[] = [];
    let attempts = 0;
    const gateway = await startGateway({
      url: 'postgres://etl@127.0.0.1:9/tel',
      port: 0,
      grpcPort: null,
      warn: (message) => warnings.push(message),
      setUpRetryMs: 50,
      setUp: async () => {
        if (++attempts < 3)
          throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
      },
    });
    try {
      await waitFor(async () => warnings.some((w) => /^database setup done/.test(w)), 5000);
      assert.match(warnings[0]!, /^database setup failed/);
      assert.match(warnings.at(-1)!, /^database setup done \(database\.url 127\.0\.0\.1:9\/tel\)/);
    } finally {
      await gateway.close();
    }
  });

  it('a refused password is said once, naming database.url without the password, and not retried', async () => {
    let attempts = 0;
    const warnings: string[] = [];
    const gateway = await startGateway({
      url: 'postgres://etl:Gateway-Pw-5521@127.0.0.1:9/tel',
      port: 0,
      grpcPort: null,
      warn: (message) => warnings.push(message),
      setUpRetryMs: 50,
      setUp: async () => {
        attempts++;
        throw Object.assign(new Error('password authentication failed for user "etl"'), { code: '28P01' });
      },
    });
    try {
      await new Promise((r) => setTimeout(r, 500)); // ten retry intervals
      assert.equal(attempts, 1);
      assert.equal(warnings.length, 1, warnings.join('\n'));
      assert.match(
        warnings[0]!,
        /^database\.url \(postgres:\/\/etl:\*\*\*\*@127\.0\.0\.1:9\/tel\) was refused/,
      );
      assert.match(warnings[0]!, /not retried/);
      assert.ok(!warnings[0]!.includes('Gateway-Pw-5521'));
    } finally {
      await gateway.close();
    }
  });
});
