// Partitions, retention and maintenance (SPEC §9) on a real PostgreSQL: register() partitions
// empty tables, a record from any time is stored (its partition made on demand) by the COPY path
// and by the deduplicating path, a populated install converts with every row kept, and
// maintenance removes only what is past retention — by dropping whole partitions, by small
// deletes, by rolling metrics up — whether run by pipetel or as plain SQL (the pg_cron path).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { logs } from '@opentelemetry/api-logs';
import pg from 'pg';
import { migrate } from '../../exporters/postgres/index.js';
import { LOGS_TABLE } from '../../exporters/postgres/logRows.js';
import { PostgresTableWriter } from '../../exporters/postgres/TableWriter.js';
import { uuidv7 } from '../../exporters/postgres/uuidv7.js';
import { loadConfig } from '../../src/config/index.js';
import { MaintenanceSchedule } from '../../src/db/MaintenanceSchedule.js';
import {
  AUTO_CONVERT_MAX_ROWS,
  partitionTables,
  runMaintenance,
  setUpPartitioning,
} from '../../src/db/storeMaintenance.js';
import { register } from '../../src/index.js';
import { createTestDatabase, type TestDatabase, testPool } from '../helpers/database.js';

const DAY = 86_400_000;
const quiet = { console: { enabled: false }, file: { enabled: false } };

/** A pipeline_logs COPY line at `time` (ISO). */
const logLine = (experiment: string, time: string, message: string) =>
  `${uuidv7()}\t${experiment}\t${time}\tINFO\t9\tl\t${message}\t\\N\t{}\t\\N\t\\N\t\\N\n`;

async function partitionsOf(db: TestDatabase, table: string): Promise<string[]> {
  const rows = await db.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = $1::regclass ORDER BY 1`,
    [table],
  );
  return rows.map((r) => r.name);
}

/**
 * Unique indexes of the telemetry tables (partitions included) without experiment_id: the ones
 * that would stop the schema from being distributed by run (Citus).
 */
async function keysWithoutExperiment(db: TestDatabase): Promise<string[]> {
  const rows = await db.query<{ name: string }>(
    `SELECT t.relname || '.' || i.relname AS name
       FROM pg_index x
       JOIN pg_class i ON i.oid = x.indexrelid
       JOIN pg_class t ON t.oid = x.indrelid
       JOIN pg_namespace n ON n.oid = t.relnamespace
      WHERE x.indisunique AND n.nspname = current_schema() AND t.relname LIKE 'pipeline\\_%'
        AND NOT EXISTS (SELECT 1 FROM pg_attribute a
                         WHERE a.attrelid = t.oid AND a.attname = 'experiment_id' AND a.attnum = ANY (x.indkey))`,
  );
  return rows.map((r) => r.name);
}

/**
 * Runs the setUps with the settings row locked until each of them waits on it — all past their
 * checks, converting at the same moment — then lets go and returns what they returned.
 */
async function allPastTheirChecks<T>(db: TestDatabase, start: () => Array<Promise<T>>): Promise<T[]> {
  const holder = new pg.Client({ connectionString: db.url });
  await holder.connect();
  await holder.query('BEGIN');
  await holder.query('SELECT 1 FROM pipetel_settings FOR UPDATE');
  const setUps = start();
  for (let waiting = 0; waiting < setUps.length; ) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    [{ waiting }] = await db.query<{ waiting: number }>(
      "SELECT count(*)::int AS waiting FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
    );
  }
  await holder.query('COMMIT');
  await holder.end();
  return Promise.all(setUps);
}

const dayName = (table: string, offsetDays: number) =>
  `${table}_${new Date(Date.now() + offsetDays * DAY).toISOString().slice(0, 10).replaceAll('-', '_')}`;

describe('partitioned tables', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => db?.drop());

  it('register() partitions empty tables daily and stores records from any day, making partitions on demand', async () => {
    const tel = await register({
      serviceName: 'parts',
      experimentId: 'parts-1',
      databaseUrl: db.url,
      config: { database: { partitioning: 'daily', premake: 2 }, logging: quiet },
    });
    try {
      // register() waits for setup a bounded time (about a second when connecting is slow, as on
      // a loaded CI machine): the schema is what `ready` promises.
      await tel.ready;
      const [{ kind }] = await db.query<{ kind: string }>(
        "SELECT relkind AS kind FROM pg_class WHERE relname = 'pipeline_logs'",
      );
      assert.equal(kind, 'p', 'pipeline_logs is a partitioned table');
      const premade = await partitionsOf(db, 'pipeline_spans');
      for (const offset of [0, 1, 2])
        assert.ok(premade.includes(dayName('pipeline_spans', offset)), `premade ${offset}`);

      tel.getLogger('parts').info('today');
      const otel = logs.getLogger('parts-otel');
      for (const days of [-3, 9, -40]) {
        otel.emit({
          body: `offset ${days}`,
          timestamp: new Date(Date.now() + days * DAY),
          severityNumber: 9,
        });
      }
    } finally {
      // Also when an assertion failed: a registered instance left behind fails every later
      // register() of this file with "already called with different options".
      await tel.shutdown();
    }
    assert.equal(tel.stats().logs.exported, 4);
    assert.equal(tel.stats().logs.spooled + tel.stats().logs.dropped + tel.stats().logs.failed, 0);
    const stored = await db.query<{ partition: string; message: string }>(
      "SELECT tableoid::regclass::text AS partition, message FROM pipeline_logs WHERE experiment_id = 'parts-1' ORDER BY timestamp",
    );
    assert.deepEqual(
      stored.map((r) => [r.partition, r.message]),
      [
        [dayName('pipeline_logs', -40), 'offset -40'],
        [dayName('pipeline_logs', -3), 'offset -3'],
        [dayName('pipeline_logs', 0), 'today'],
        [dayName('pipeline_logs', 9), 'offset 9'],
      ],
    );
    // The live-tail trigger and every index came along.
    const [{ triggers }] = await db.query<{ triggers: number }>(
      "SELECT count(*)::int AS triggers FROM pg_trigger WHERE tgname = 'pipetel_logs_notify' AND tgrelid = 'pipeline_logs'::regclass",
    );
    assert.equal(triggers, 1);
    assert.deepEqual(
      await keysWithoutExperiment(db),
      [],
      'every unique key is distributable by experiment_id',
    );
  });

  it('the deduplicating path (retries, spool replay) makes partitions too and still stores each row once', async () => {
    const pool = testPool(db.url, 2);
    try {
      const writer = new PostgresTableWriter(pool, LOGS_TABLE);
      const old = new Date(Date.now() - 20 * DAY).toISOString().replace(/\.\d+Z$/, '.000000Z');
      const lines = [logLine('parts-dedup', old, 'a'), logLine('parts-dedup', old, 'b')];
      assert.equal(await writer.write(lines, { idempotent: true }), 2);
      assert.equal(await writer.write(lines, { idempotent: true }), 0, 'a replay adds nothing');
      assert.ok((await partitionsOf(db, 'pipeline_logs')).includes(dayName('pipeline_logs', -20)));
    } finally {
      await pool.end();
    }
  });

  it('maintenance drops whole expired partitions (CONCURRENTLY), keeps every newer row, and a dry run changes nothing', async () => {
    // Two rows either side of the 10-day horizon, in a partition that straddles it: those go row by
    // row, and no row of another partition may go with them.
    // Both in the horizon's own UTC day, whatever the time of day the test runs at (an hour either
    // side put edge-old in the previous day's partition, dropped whole, between 00:00 and 01:00).
    // In the last minute of a UTC day maintenance's own horizon (taken a moment later) could pass
    // edge-new or cross midnight: start in the next day instead.
    const leftToday = DAY - (Date.now() % DAY);
    if (leftToday < 60_000) await new Promise((resolve) => setTimeout(resolve, leftToday + 1000));
    const pool = testPool(db.url, 1);
    const horizon = Date.now() - 10 * DAY;
    const intoDay = horizon % DAY;
    const early = Math.min(3_600_000, intoDay / 2);
    const late = Math.min(3_600_000, (DAY - intoDay) / 2);
    const iso = (ms: number) => new Date(ms).toISOString().replace('Z', '000Z');
    await new PostgresTableWriter(pool, LOGS_TABLE).write(
      [logLine('edge', iso(horizon - early), 'edge-old'), logLine('edge', iso(horizon + late), 'edge-new')],
      { idempotent: false },
    );
    await pool.end();
    const before = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM pipeline_logs');
    const config = loadConfig({
      config: { retention: { logs_days: 10 }, database: { partitioning: 'daily' } },
    });
    const dry = await runMaintenance(db.url, { dryRun: true, settings: config.values });
    assert.ok(dry.actions.some((a) => a.startsWith(`would drop partition ${dayName('pipeline_logs', -40)}`)));
    // register() premade 2 days ahead, maintenance's premake is 3: a dry run names the partitions
    // it would add, and only those (it said "would premake" whatever existed).
    const creates = (actions: string[]) => actions.filter((a) => /premake|create/.test(a)).sort();
    const TABLES = ['pipeline_logs', 'pipeline_metrics', 'pipeline_spans'];
    assert.deepEqual(
      creates(dry.actions),
      TABLES.map((t) => `would create partition ${dayName(t, 3)}`),
    );
    const missing = dayName('pipeline_spans', 2);
    await db.query(`DROP TABLE ${missing}`);
    const dryAgain = await runMaintenance(db.url, { dryRun: true, settings: config.values });
    assert.deepEqual(
      creates(dryAgain.actions),
      [
        ...TABLES.map((t) => `would create partition ${dayName(t, 3)}`),
        `would create partition ${missing}`,
      ].sort(),
    );
    assert.ok(!(await partitionsOf(db, 'pipeline_spans')).includes(missing), 'a dry run creates nothing');
    assert.deepEqual(await db.query('SELECT count(*)::int AS n FROM pipeline_logs'), before);
    const [{ days }] = await db.query<{ days: number | null }>(
      'SELECT logs_days AS days FROM pipetel_settings',
    );
    assert.equal(days, null, 'a dry run leaves the stored settings as they were');

    const run = await runMaintenance(db.url, { settings: config.values });
    assert.ok(run.actions.includes(`created partition ${missing}`), run.actions.join('\n'));
    assert.ok(run.actions.includes(`dropped partition ${dayName('pipeline_logs', -40)} (retention 10 days)`));
    assert.ok(run.actions.includes(`dropped partition ${dayName('pipeline_logs', -20)} (retention 10 days)`));
    const left = await db.query<{ message: string }>('SELECT message FROM pipeline_logs ORDER BY timestamp');
    assert.deepEqual(
      left.map((r) => r.message),
      ['edge-new', 'offset -3', 'today', 'offset 9'],
    );
    assert.ok(
      run.actions.some((a) => /^deleted 1 rows of pipeline_logs before /.test(a)),
      run.actions.join('\n'),
    );
    assert.ok(!(await partitionsOf(db, 'pipeline_logs')).includes(dayName('pipeline_logs', -40)));
    // The in-app timer's rule: not again before maintenance.interval.
    const again = await runMaintenance(db.url, { minIntervalMs: 3_600_000 });
    assert.match(again.skipped ?? '', /less than maintenance.interval ago/);
  });

  it('one process at a time maintains a database (advisory lock)', async () => {
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    try {
      await holder.query("SELECT pg_advisory_lock('8100128985731656046')");
      const run = await runMaintenance(db.url);
      assert.equal(run.skipped, 'another process is maintaining this database');
    } finally {
      await holder.end();
    }
  });
});

describe('converting a populated install, and retention without partitions', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
    await migrate(db.url);
  });
  after(async () => db?.drop());

  it('register() leaves populated unpartitioned tables alone and says how to convert them; the conversion keeps every row', async () => {
    const pool = testPool(db.url, 2);
    try {
      const writer = new PostgresTableWriter(pool, LOGS_TABLE);
      const at = (d: number) => new Date(Date.now() + d * DAY).toISOString().replace('Z', '000Z');
      const lines = [-35, -5, 0].map((d) => logLine('conv', at(d), `day ${d}`));
      // One row more than register() converts on its own.
      for (let i = lines.length; i <= AUTO_CONVERT_MAX_ROWS; i++)
        lines.push(logLine('conv', at(0), 'filler'));
      await writer.write(lines, { idempotent: false });
      const ids = await db.query('SELECT id, message FROM pipeline_logs ORDER BY id');

      const note = await setUpPartitioning(pool, 'monthly');
      assert.match(note ?? '', /more than 10000 rows .* run `pipetel migrate --partitioning monthly`/);
      const [{ kind }] = await db.query<{ kind: string }>(
        "SELECT relkind AS kind FROM pg_class WHERE relname = 'pipeline_logs'",
      );
      assert.equal(kind, 'r', 'still a plain table');

      const report = await partitionTables(pool, 'monthly');
      assert.match(
        report[0]!,
        /^pipeline_logs: partitioned monthly on timestamp, 10001 rows moved into \d+ partitions$/,
      );
      assert.deepEqual(await db.query('SELECT id, message FROM pipeline_logs ORDER BY id'), ids);
      const indexes = await db.query<{ indexname: string }>(
        "SELECT indexname FROM pg_indexes WHERE tablename = 'pipeline_logs' ORDER BY 1",
      );
      assert.deepEqual(
        indexes.map((r) => r.indexname),
        [
          'idx_logs_experiment_errors',
          'idx_logs_experiment_time',
          'idx_logs_level_time',
          'idx_logs_logger_time',
          'idx_logs_search',
          'pipeline_logs_pkey',
        ],
      );
      await assert.rejects(partitionTables(pool, 'daily'), /already partitioned monthly/);
    } finally {
      await pool.end();
    }
  });

  it("register() converts tables that hold a few rows already: its own first batches, a fleet member's", async () => {
    // A fresh install whose first records landed between the migration and the conversion (a slow
    // start, a worker of the same fleet): partitioning must not be skipped for good because of them.
    const fresh = await createTestDatabase();
    try {
      await migrate(fresh.url);
      const pool = testPool(fresh.url, 1);
      const early = [logLine('early', new Date().toISOString().replace('Z', '000Z'), 'first batch')];
      await new PostgresTableWriter(pool, LOGS_TABLE).write(early, { idempotent: false });
      await pool.end();
      const tel = await register({
        serviceName: 'parts',
        experimentId: 'parts-early',
        databaseUrl: fresh.url,
        config: { database: { partitioning: 'daily' }, logging: quiet },
      });
      try {
        await tel.ready;
        const [{ kind }] = await fresh.query<{ kind: string }>(
          "SELECT relkind AS kind FROM pg_class WHERE relname = 'pipeline_logs'",
        );
        assert.equal(kind, 'p', 'converted, not left for pipetel migrate');
        const stored = await fresh.query<{ partition: string; message: string }>(
          "SELECT tableoid::regclass::text AS partition, message FROM pipeline_logs WHERE experiment_id = 'early'",
        );
        assert.deepEqual(stored, [{ partition: dayName('pipeline_logs', 0), message: 'first batch' }]);
      } finally {
        await tel.shutdown();
      }
    } finally {
      await fresh.drop();
    }
  });

  it('processes converting the same fresh database at once: one converts, the others find it done', async () => {
    const fresh = await createTestDatabase();
    const pools = [0, 1, 2].map(() => testPool(fresh.url, 2));
    try {
      await migrate(fresh.url);
      // Before migration 0007 the later ones renamed the table the first had just partitioned and
      // failed on its partition names: "relation pipeline_logs_… already exists".
      // All three past their checks and waiting on the settings row, then let go at once.
      const notes = await allPastTheirChecks(fresh, () =>
        pools.map((pool) => setUpPartitioning(pool, 'daily')),
      );
      assert.deepEqual(notes, [undefined, undefined, undefined]);
      const tables = await fresh.query<{ name: string; kind: string }>(
        `SELECT relname AS name, relkind AS kind FROM pg_class
          WHERE relname IN ('pipeline_logs', 'pipeline_spans', 'pipeline_metrics') OR relname LIKE '%\\_unpartitioned'
          ORDER BY 1`,
      );
      assert.deepEqual(tables, [
        { name: 'pipeline_logs', kind: 'p' },
        { name: 'pipeline_metrics', kind: 'p' },
        { name: 'pipeline_spans', kind: 'p' },
      ]);
      await assert.rejects(partitionTables(pools[0]!, 'monthly'), /already partitioned daily/);
    } finally {
      for (const pool of pools) await pool.end();
      await fresh.drop();
    }
  });

  it('tables another session holds are not waited for, and a period chosen meanwhile by another process is kept', async () => {
    const fresh = await createTestDatabase();
    const pool = testPool(fresh.url, 2);
    const reader = new pg.Client({ connectionString: fresh.url });
    try {
      await migrate(fresh.url);
      // A long reader (a dashboard query, a session idle in a transaction) holds pipeline_spans.
      await reader.connect();
      await reader.query('BEGIN');
      await reader.query('SELECT count(*) FROM pipeline_spans');
      const note = await setUpPartitioning(pool, 'daily');
      assert.match(note ?? '', /tables are busy .* the next register\(\) tries again/);
      const kinds = await fresh.query<{ kind: string }>(
        "SELECT relkind AS kind FROM pg_class WHERE relname IN ('pipeline_logs', 'pipeline_spans', 'pipeline_metrics')",
      );
      assert.deepEqual(
        kinds.map((r) => r.kind),
        ['r', 'r', 'r'],
        'rolled back whole',
      );
      await reader.query('COMMIT');

      // Two processes, two periods, at once: the one that loses keeps the winner's with a note.
      const other = testPool(fresh.url, 2);
      const notes = await allPastTheirChecks(fresh, () => [
        setUpPartitioning(pool, 'daily'),
        setUpPartitioning(other, 'monthly'),
      ]);
      await other.end();
      const [{ partitioning }] = await fresh.query<{ partitioning: string }>(
        'SELECT partitioning FROM pipetel_settings',
      );
      const loser = partitioning === 'daily' ? 'monthly' : 'daily';
      assert.deepEqual(
        notes.filter((n) => n !== undefined),
        [
          `database.partitioning is ${loser} but the tables are partitioned ${partitioning}; changing the period is not supported, ${partitioning} stays`,
        ],
      );
    } finally {
      await reader.end().catch(() => undefined);
      await pool.end();
      await fresh.drop();
    }
  });
});

describe('retention on plain tables, the metrics archive, runs, and the pg_cron entry point', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
    await migrate(db.url);
  });
  after(async () => db?.drop());

  it('every unique key of the telemetry tables contains experiment_id (distributable by run)', async () => {
    const [{ unique }] = await db.query<{ unique: number }>(
      "SELECT count(*)::int AS unique FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid WHERE x.indisunique AND t.relname LIKE 'pipeline\\_%'",
    );
    assert.ok(unique >= 6, `the check sees the keys (${unique})`);
    assert.deepEqual(await keysWithoutExperiment(db), []);
  });

  it('SELECT monitoring_maintenance() deletes only expired rows, rolls metrics up per hour, and removes old runs with their data', async () => {
    await db.query(
      `INSERT INTO pipeline_logs (id, experiment_id, "timestamp", level, severity_number, message)
       SELECT gen_random_uuid(), 'plain', now() - g * interval '1 hour', 'INFO', 9, 'h' || g
         FROM generate_series(0, 24 * 12) g`,
    );
    // Gauge points every 10 minutes for two days, value = minutes ago; a cumulative sum alongside.
    await db.query(
      `INSERT INTO pipeline_metrics (id, experiment_id, "timestamp", name, kind, value)
       SELECT gen_random_uuid(), 'plain', date_trunc('hour', now()) - g * interval '10 minutes', 'temp', 'gauge', g
         FROM generate_series(1, 288) g
       UNION ALL
       SELECT gen_random_uuid(), 'plain', date_trunc('hour', now()) - g * interval '10 minutes', 'rows', 'sum', 1000 - g
         FROM generate_series(1, 288) g`,
    );
    await db.query(
      `INSERT INTO pipeline_experiments (experiment_id, service_name, status, started_at, ended_at, last_seen_at)
       VALUES ('ancient', 's', 'succeeded', now() - interval '30 days', now() - interval '29 days', now() - interval '29 days'),
              ('recent', 's', 'running', now(), NULL, now())`,
    );
    await db.query(
      "INSERT INTO pipeline_progress (experiment_id, node_id, completed) VALUES ('ancient', 'n', 1), ('recent', 'n', 1)",
    );
    await db.query('UPDATE pipetel_settings SET logs_days = 7, archive_metrics_after_days = 1');

    const actions = (await db.query<{ line: string }>('SELECT monitoring_maintenance() AS line')).map(
      (r) => r.line,
    );
    // Rows 0 … 288 hours old; 168 hours and older are past 7 days by the time maintenance runs.
    assert.ok(
      actions.some((a) => /^deleted 121 rows of pipeline_logs before /.test(a)),
      actions.join('\n'),
    );
    assert.ok(actions.some((a) => /^removed 1 runs that ended before /.test(a)));
    const [{ oldest }] = await db.query<{ oldest: number }>(
      "SELECT extract(epoch FROM now() - min(timestamp)) / 3600 AS oldest FROM pipeline_logs WHERE experiment_id = 'plain'",
    );
    assert.ok(oldest < 7 * 24 && oldest > 7 * 24 - 1.01, `oldest log ${oldest} h old`);

    // Rolled up: every hour before the cutoff is one gauge point (avg of its six values, min, max)
    // and one sum point (the hour's last cumulative value); nothing before the cutoff is left.
    const [{ left }] = await db.query<{ left: number }>(
      "SELECT count(*)::int AS left FROM pipeline_metrics WHERE timestamp < date_trunc('hour', now() - interval '1 day')",
    );
    assert.equal(left, 0);
    const archived = await db.query<{
      name: string;
      value: number;
      min: number | null;
      max: number | null;
      hour: Date;
    }>(
      `SELECT name, value, min, max, "timestamp" AS hour FROM pipeline_metrics_archive
        WHERE "timestamp" = date_trunc('hour', now()) - interval '30 hours' ORDER BY name`,
    );
    // That hour holds the points 30h00 … 29h10 ago: g = 175 … 180.
    assert.deepEqual(
      archived.map((r) => [r.name, r.value, r.min, r.max]),
      [
        ['rows', 1000 - 175, null, null],
        ['temp', 177.5, 175, 180],
      ],
    );
    const runs = await db.query<{ experiment_id: string }>('SELECT experiment_id FROM pipeline_experiments');
    assert.deepEqual(
      runs.map((r) => r.experiment_id),
      ['recent'],
    );
    const progress = await db.query<{ experiment_id: string }>('SELECT experiment_id FROM pipeline_progress');
    assert.deepEqual(
      progress.map((r) => r.experiment_id),
      ['recent'],
    );
  });
});

describe('in-app maintenance (maintenance.scheduler: app)', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
    await migrate(db.url);
  });
  after(async () => db?.drop());

  it('a registered process applies retention on its own, once per interval, and shutdown() stops it', async () => {
    await db.query(
      `INSERT INTO pipeline_logs (id, experiment_id, "timestamp", level, severity_number, message)
       VALUES (gen_random_uuid(), 'other', now() - interval '3 days', 'INFO', 9, 'old'),
              (gen_random_uuid(), 'other', now(), 'INFO', 9, 'new')`,
    );
    const tel = await register({
      serviceName: 'maint',
      experimentId: 'maint-1',
      databaseUrl: db.url,
      config: { retention: { logs_days: 1 }, maintenance: { interval: 1 }, logging: quiet },
    });
    try {
      // The rows go first (monitoring_maintenance()), then the run is recorded: wait for both.
      const deadline = Date.now() + 20_000;
      let messages: string[] = [];
      let at: Date | null = null;
      while (Date.now() < deadline) {
        messages = (
          await db.query<{ message: string }>(
            "SELECT message FROM pipeline_logs WHERE experiment_id = 'other'",
          )
        ).map((r) => r.message);
        [{ at }] = await db.query<{ at: Date | null }>(
          'SELECT last_maintenance_at AS at FROM pipetel_settings',
        );
        if (messages.length === 1 && at !== null) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.deepEqual(messages, ['new'], 'the row past retention was removed by the process itself');
      assert.ok(at instanceof Date, 'the run is recorded, so other processes skip until the interval passes');
    } finally {
      await tel.shutdown();
    }
    const [{ n }] = await db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'pipetel-maintenance' AND datname = current_database()",
    );
    assert.equal(n, 0, 'no maintenance connection left after shutdown()');
  });

  it('a database that refuses the login stops the schedule: said once, not retried every interval', async () => {
    const warnings: string[] = [];
    const url = new URL(db.url);
    url.pathname = '/pipetel_no_such_database';
    const schedule = new MaintenanceSchedule(url.toString(), 100, (message) => warnings.push(message));
    schedule.start();
    try {
      await new Promise((r) => setTimeout(r, 1500)); // fifteen intervals
    } finally {
      await schedule.stop();
    }
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0]!, /^maintenance stopped: the database refused the connection .*does not exist/);
  });

  it('maintenance.scheduler: none leaves it to pipetel maintain (or pg_cron)', async () => {
    await db.query(
      `INSERT INTO pipeline_logs (id, experiment_id, "timestamp", level, severity_number, message)
       VALUES (gen_random_uuid(), 'other2', now() - interval '3 days', 'INFO', 9, 'old')`,
    );
    await db.query('UPDATE pipetel_settings SET last_maintenance_at = NULL');
    const tel = await register({
      serviceName: 'maint',
      experimentId: 'maint-2',
      databaseUrl: db.url,
      config: {
        retention: { logs_days: 1 },
        maintenance: { scheduler: 'none', interval: 1 },
        logging: quiet,
      },
    });
    await new Promise((r) => setTimeout(r, 2_500));
    await tel.shutdown();
    const rows = await db.query("SELECT 1 FROM pipeline_logs WHERE experiment_id = 'other2'");
    assert.equal(rows.length, 1);
  });
});
