// A pipetel worker that the gateway is the only writer for (database.enabled: false, OTLP to the
// gateway): its stages, logs, metrics and progress gauges reach the gateway's database, once each,
// and the worker starts no database of its own. With monitoring.enabled: false (what the README
// once advised) its traces and metrics were lost, and with its own sink on the same database every
// log line was stored twice.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { migrate } from '../../exporters/postgres/index.js';
import { showText } from '../../src/cli/runs.js';
import { layout } from '../../src/db/embedded/layout.js';
import { RunReader } from '../../src/db/runReader.js';
import { type RunningGateway, startGateway } from '../../src/gateway/server.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { postWorkerLog } from '../helpers/otlpPost.js';
import { tempDir } from '../helpers/tempDir.js';

const run = promisify(execFile);
const worker = resolve(import.meta.dirname, '../fixtures/apps/fleet-worker.ts');

describe('a worker behind pipetel gateway (database.enabled: false)', () => {
  let db: TestDatabase;
  let gateway: RunningGateway;
  before(async () => {
    db = await createTestDatabase();
    await migrate(db.url);
    gateway = await startGateway({ url: db.url, port: 0, grpcPort: null });
  });
  after(async () => {
    await gateway?.close();
    await db?.drop();
  });

  /** Runs the fixture worker in run `experimentId` (failing with `fail`); returns its pid. */
  const runWorker = async (
    experimentId: string,
    home: string,
    fail?: string,
    crash?: string,
    extra: Record<string, string> = {},
  ) => {
    const { PIPETEL_DATABASE_URL: _, DATABASE_URL: __, ...env } = process.env;
    const child = run(process.execPath, ['--import', 'tsx', worker], {
      timeout: 60_000,
      env: {
        ...env,
        PIPETEL_HOME: home,
        PIPETEL_EXPERIMENT_ID: experimentId,
        PIPETEL_DATABASE_ENABLED: 'false',
        OTEL_EXPORTER_OTLP_ENDPOINT: gateway.url.replace(/\/$/, ''),
        ...(fail && { FLEET_FAIL: fail }),
        ...(crash && { FLEET_THROW: crash }),
        ...extra,
      },
    });
    const pid = child.child.pid!;
    await child.catch((error: { code?: number }) => {
      if (!crash || error.code !== 1) throw error; // a crash exits 1, as without pipetel
    });
    return pid;
  };
  const runRow = async (experimentId: string) => {
    const reader = await RunReader.open(db.url);
    try {
      return await reader.resolveRun(experimentId);
    } finally {
      await reader.close();
    }
  };

  it('sends its stages, logs, metrics and progress to the gateway only, and starts no database', async () => {
    const home = tempDir('pipetel-fleet-worker-');
    await runWorker('fleet-w', home);
    await gateway.flush();
    const one = async (sql: string) => (await db.query<{ n: number }>(sql, ['fleet-w']))[0]!.n;
    assert.equal(
      await one('SELECT count(*)::int AS n FROM pipeline_experiments WHERE experiment_id = $1'),
      1,
    );
    assert.equal(
      await one(
        "SELECT count(*)::int AS n FROM pipeline_spans WHERE experiment_id = $1 AND name = 'transform'",
      ),
      1,
    );
    assert.equal(
      await one(
        "SELECT count(*)::int AS n FROM pipeline_logs WHERE experiment_id = $1 AND message LIKE 'row % done'",
      ),
      3,
      'each line once',
    );
    assert.ok(
      (await one(
        "SELECT count(*)::int AS n FROM pipeline_metrics WHERE experiment_id = $1 AND name = 'fleet.items'",
      )) >= 1,
    );
    assert.ok(
      (await one(
        "SELECT count(*)::int AS n FROM pipeline_metrics WHERE experiment_id = $1 AND name = 'pipetel.progress.completed'",
      )) >= 1,
      'progress reaches the gateway as its gauges',
    );
    assert.equal(existsSync(layout(home).pgDir), false, 'no embedded server of its own');
  });

  it('ends its run when it ends, and a failed worker fails the run it shares with others', async () => {
    const home = tempDir('pipetel-fleet-end-');
    // One worker, succeeded: the run is over as soon as the worker says so (not 40 s of quiet).
    const pid = await runWorker('fleet-end-1', home);
    await gateway.flush();
    const single = await runRow('fleet-end-1');
    assert.equal(single.status, 'succeeded');
    assert.equal(single.live, true, 'followed a few seconds more, for its last batches');
    // Those seconds later, nothing keeps it live (not the 40 s of quiet a run without an end gets).
    await db.query(
      "UPDATE pipeline_experiments SET last_seen_at = now() - interval '11 seconds' WHERE experiment_id = $1",
      ['fleet-end-1'],
    );
    assert.equal((await runRow('fleet-end-1')).live, false, 'its only worker said the run ended');
    const [ended] = await db.query<{ message: string; worker: string }>(
      `SELECT message, attributes->>'pipetel.worker' AS worker FROM pipeline_logs
        WHERE experiment_id = $1 AND attributes->>'pipetel.run.status' = 'succeeded'`,
      ['fleet-end-1'],
    );
    assert.equal(ended?.message, 'run succeeded');
    assert.match(ended!.worker, new RegExp(`:${pid}$`), 'the log line names its worker (host:pid)');

    // Two workers of one run, one of them failing: the run is failed with its reason.
    const [okPid, failedPid] = await Promise.all([
      runWorker('fleet-end-2', home),
      runWorker('fleet-end-2', tempDir('pipetel-fleet-end-b-'), 'shard 7 ran out of memory'),
    ]);
    await gateway.flush();
    const fleet = await runRow('fleet-end-2');
    assert.equal(fleet.status, 'failed');
    assert.match(fleet.status_reason ?? '', /shard 7 ran out of memory/);
    const [endedRow] = await db.query<{ ended: boolean }>(
      "SELECT attributes ? 'pipetel.ended' AS ended FROM pipeline_experiments WHERE experiment_id = $1",
      ['fleet-end-2'],
    );
    assert.equal(endedRow?.ended, true, 'both workers said their run ended');
    const workers = await db.query<{ worker: string; n: number }>(
      `SELECT attributes->>'pipetel.worker' AS worker, count(*)::int AS n FROM pipeline_logs
        WHERE experiment_id = $1 AND message LIKE 'row % done' GROUP BY 1 ORDER BY 1`,
      ['fleet-end-2'],
    );
    assert.deepEqual(
      workers.map((w) => [w.worker.split(':').pop(), w.n]).sort(),
      [
        [String(okPid), 3],
        [String(failedPid), 3],
      ].sort(),
      "each worker's log lines carry its own worker",
    );
    // `pipetel logs --worker W` reads one worker's lines.
    const failedWorker = workers.find((w) => w.worker.endsWith(`:${failedPid}`))!.worker;
    const reader = await RunReader.open(db.url);
    try {
      const lines = await reader.logs({ experimentId: 'fleet-end-2', worker: failedWorker });
      assert.deepEqual(
        lines.map((l) => l.message),
        ['row 0 done', 'row 1 done', 'row 2 done', 'run failed: Error: shard 7 ran out of memory'],
      );
    } finally {
      await reader.close();
    }
    const listing = await RunReader.open(db.url);
    try {
      assert.deepEqual(
        (await listing.workers('fleet-end-2')).map((w) => w.split(':').pop()).sort(),
        [String(okPid), String(failedPid)].sort(),
        'the run lists its workers (the hint of logs --worker when one matches nothing)',
      );
      // `pipetel show`: a fleet's stage table says which worker ran each stage; one process's does not.
      const summary = await listing.summary('fleet-end-2');
      assert.deepEqual(
        summary.stages
          .filter((st) => st.name === 'transform')
          .map((st) => st.worker?.split(':').pop())
          .sort(),
        [String(okPid), String(failedPid)].sort(),
      );
      const shown = showText(await listing.resolveRun('fleet-end-2'), summary);
      assert.match(shown, /STAGE +DURATION .* STATUS +WORKER/);
      assert.match(shown, new RegExp(`transform .*:${failedPid}\\b`));
      const single = showText(await listing.resolveRun('fleet-end-1'), await listing.summary('fleet-end-1'));
      assert.match(single, /STAGE +DURATION/);
      assert.doesNotMatch(single, /WORKER/);
    } finally {
      await listing.close();
    }
    const series = await db.query<{ worker: string }>(
      `SELECT DISTINCT attributes->>'pipetel.worker' AS worker FROM pipeline_metrics
        WHERE experiment_id = $1 AND name = 'fleet.items'`,
      ['fleet-end-2'],
    );
    assert.equal(series.length, 2, "the workers' points are two series, not one");

    // A worker that dies of an uncaught exception still says so.
    await runWorker('fleet-end-3', home, undefined, 'disk quota exceeded');
    await gateway.flush();
    const crashed = await runRow('fleet-end-3');
    assert.equal(crashed.status, 'failed');
    assert.match(crashed.status_reason ?? '', /disk quota exceeded/);

    // A burst of lines beyond the OTLP log queue right before the end does not crowd the end out.
    await runWorker('fleet-end-4', home, 'shard 9 bad input', undefined, { FLEET_LINES: '5000' });
    await gateway.flush();
    const burst = await runRow('fleet-end-4');
    assert.equal(burst.status, 'failed', 'the end record was not the one the full queue dropped');
    assert.match(burst.status_reason ?? '', /shard 9 bad input/);

    // A record from a worker not heard from before reopens the run: it is live again.
    const reopened = await postWorkerLog(
      gateway.url,
      'fleet-end-1',
      { host: 'late-host', pid: 4242 },
      'late shard',
    );
    assert.equal(reopened.status, 200);
    await gateway.flush();
    assert.equal((await runRow('fleet-end-1')).live, true, 'a new worker reopens the run');
  });

  it('process.exit() without shutdown: the worker says what it could not send', async () => {
    const { PIPETEL_DATABASE_URL: _, DATABASE_URL: __, ...env } = process.env;
    const exited = await run(process.execPath, ['--import', 'tsx', worker], {
      timeout: 60_000,
      env: {
        ...env,
        PIPETEL_HOME: tempDir('pipetel-fleet-exit-'),
        PIPETEL_EXPERIMENT_ID: 'fleet-exit',
        PIPETEL_DATABASE_ENABLED: 'false',
        OTEL_EXPORTER_OTLP_ENDPOINT: gateway.url.replace(/\/$/, ''),
        FLEET_EXIT: '2',
      },
    }).catch((error: { code?: number; stderr?: string }) => error);
    assert.equal((exited as { code?: number }).code, 2);
    assert.match(
      String((exited as { stderr?: string }).stderr),
      /exited before shutdown\(\) finished: what was not yet sent over OTLP is lost, and a gateway is not told how the run ended/,
    );
  });
});
