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
import { layout } from '../../src/db/embedded/layout.js';
import { type RunningGateway, startGateway } from '../../src/gateway/server.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
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

  it('sends its stages, logs, metrics and progress to the gateway only, and starts no database', async () => {
    const home = tempDir('pipetel-fleet-worker-');
    const { PIPETEL_DATABASE_URL: _, DATABASE_URL: __, ...env } = process.env;
    await run(process.execPath, ['--import', 'tsx', worker], {
      timeout: 60_000,
      env: {
        ...env,
        PIPETEL_HOME: home,
        PIPETEL_EXPERIMENT_ID: 'fleet-w',
        PIPETEL_DATABASE_ENABLED: 'false',
        OTEL_EXPORTER_OTLP_ENDPOINT: gateway.url.replace(/\/$/, ''),
      },
    });
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
});
