// The seed's network-constrained mode: logging.database off, the file sink on, LogSynchronizer
// shipping the file later. Records written to the current file and to rotated, gzipped backups all
// reach pipeline_logs — once, however often the file is shipped, even after the checkpoint is lost.

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { migrate } from '../../exporters/postgres/migrate.js';
import { main } from '../../src/cli/main.js';
import { register } from '../../src/index.js';
import { LogFileShipper } from '../../src/sync/LogFileShipper.js';
import { createTestDatabase, type TestDatabase, testPool } from '../helpers/database.js';

const COUNT = 12_000;
const PADDING = 'x'.repeat(200); // ~3.5 MB in all: several rotations at max_size_mb 1

describe('network-constrained mode', () => {
  let db: TestDatabase;
  let home: string;
  before(async () => {
    db = await createTestDatabase();
    await migrate(db.url);
    home = await mkdtemp(join(tmpdir(), 'pipetel-netcons-'));
  });
  after(async () => {
    await db?.drop();
    await rm(home, { recursive: true, force: true });
  });

  async function stored(): Promise<{ count: number; distinct: number }> {
    const [row] = await db.query<{ count: number; distinct: number }>(
      "SELECT count(*)::int AS count, count(DISTINCT message)::int AS distinct FROM pipeline_logs WHERE experiment_id = 'exp-netcons'",
    );
    return row!;
  }

  async function sync(): Promise<number> {
    const saved = { ...process.env };
    Object.assign(process.env, {
      PIPETEL_HOME: home,
      PIPETEL_CONFIG: join(home, 'pipetel.yml'),
      PIPETEL_DATABASE_URL: db.url,
    });
    const write = process.stdout.write;
    process.stdout.write = (() => true) as typeof process.stdout.write;
    try {
      return await main(['sync']);
    } finally {
      process.stdout.write = write;
      process.env = saved;
    }
  }

  it('the file, rotated and gzipped, is shipped into pipeline_logs exactly once', {
    timeout: 120_000,
  }, async (t) => {
    const logPath = join(home, 'logs', 'app.log');
    const config = {
      logging: {
        console: { enabled: false as const },
        database: { enabled: false },
        file: { enabled: true, path: logPath, max_size_mb: 1, backup_count: 20 },
        compression: true,
      },
      monitoring: { enable_resource_tracking: false },
      spool: { sync_interval: 1 },
    };
    await writeFile(
      join(home, 'pipetel.yml'),
      `logging:\n  database:\n    enabled: false\n  file:\n    enabled: true\n    path: ${logPath}\n`,
    );
    const tel = await register({ experimentId: 'exp-netcons', databaseUrl: db.url, config });
    const log = tel.getLogger('netcons');
    for (let i = 0; i < COUNT; i++) {
      log.info('record %d %s', i, PADDING, { i });
      if (i % 1000 === 999) await new Promise((resolve) => setImmediate(resolve));
    }
    // The process's own synchronizer ships while the run goes on (every sync_interval).
    const deadline = Date.now() + 30_000;
    while ((await stored()).count === 0 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 200));
    const whileRunning = (await stored()).count;
    await tel.shutdown();
    const files = (await readdir(join(home, 'logs'))).filter((f) => f.startsWith('app.log'));
    t.diagnostic(`files: ${files.join(' ')}; shipped while running: ${whileRunning}`);
    assert.ok(whileRunning > 0, 'the running process ships the file itself');
    assert.ok(
      files.some((f) => f.endsWith('.gz')),
      'records sit in gzipped backups too',
    );

    assert.equal(await sync(), 0);
    assert.deepEqual(await stored(), { count: COUNT, distinct: COUNT });

    // Again, and with the checkpoint lost: everything is read again, nothing stored twice.
    assert.equal(await sync(), 0);
    await rm(`${logPath}.shipped.json`);
    assert.equal(await sync(), 0);
    assert.deepEqual(await stored(), { count: COUNT, distinct: COUNT });

    const [row] = await db.query(
      "SELECT level, logger_name, attributes FROM pipeline_logs WHERE experiment_id = 'exp-netcons' AND message LIKE 'record 7 %'",
    );
    assert.deepEqual(row, { level: 'INFO', logger_name: 'netcons', attributes: { i: 7 } });
  });

  it('a line the database refuses is skipped on its own; the rest of its batch is shipped', async () => {
    const logPath = join(home, 'refused', 'app.log');
    await mkdir(join(home, 'refused'), { recursive: true });
    const line = (i: number, timestamp = '2026-01-01T00:00:00.000Z') =>
      JSON.stringify({ timestamp, level: 'INFO', message: `refused ${i}`, experiment_id: 'exp-refused' });
    // Valid JSON with a string timestamp, so the shipper makes a row of it; PostgreSQL refuses it.
    const text = Array.from({ length: 20 }, (_, i) => line(i, i === 7 ? 'not a time' : undefined)).join('\n');
    await writeFile(logPath, `${text}\n`);
    const warnings: string[] = [];
    const pool = testPool(db.url, 1);
    try {
      const shipper = new LogFileShipper({
        path: logPath,
        pool,
        batchSize: 50,
        warn: (m) => warnings.push(m),
      });
      assert.deepEqual(await shipper.ship(), { shipped: 19, duplicates: 0, rejected: 1 });
    } finally {
      await pool.end();
    }
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /the database rejected a log line: .*not a time/);
    const [row] = await db.query<{ count: number }>(
      "SELECT count(*)::int AS count FROM pipeline_logs WHERE experiment_id = 'exp-refused' AND message <> 'refused 7'",
    );
    assert.equal(row!.count, 19);
  });
});
