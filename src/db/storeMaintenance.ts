// Operations on the store (SPEC §9) from the application side: the configuration maintenance
// reads (pipetel_settings), converting the tables to partitions, and one maintenance run. The work
// itself is in SQL (migration 0004: pipetel_ensure_partitions, pipetel_partition_tables,
// monitoring_maintenance) so that pg_cron, `pipetel maintain` and the in-app timer share it; what
// only a client can do is here: DETACH PARTITION … CONCURRENTLY, which no function may run.

import pg from 'pg';
import { sqlState } from '../../exporters/delivery/RetryPolicy.js';
import type { PartitioningMode, PipetelSettings } from '../config/types.js';
import { connect } from './DatabaseConnectError.js';

/** Advisory lock held while one process maintains a database (the bytes of 'pipemain'). */
const MAINTENANCE_LOCK_KEY = '8100128985731656046';

type Queryable = pg.ClientBase | pg.Pool;

/** Writes premake and retention into pipetel_settings, where monitoring_maintenance() reads them. */
export async function syncStoreSettings(db: Queryable, settings: PipetelSettings): Promise<void> {
  const r = settings.retention;
  await db.query(
    `UPDATE pipetel_settings
        SET premake = $1, logs_days = $2, spans_days = $3, metrics_days = $4, archive_metrics_after_days = $5,
            updated_at = now()
      WHERE (premake, logs_days, spans_days, metrics_days, archive_metrics_after_days)
            IS DISTINCT FROM ($1, $2, $3, $4, $5)`,
    [settings.database.premake, r.logs_days, r.spans_days, r.metrics_days, r.archive_metrics_after_days],
  );
}

/** How the tables are partitioned now ('none' before migration 0004's conversion). */
export async function currentPartitioning(db: Queryable): Promise<PartitioningMode> {
  const { rows } = await db.query<{ partitioning: PartitioningMode }>(
    'SELECT partitioning FROM pipetel_settings',
  );
  return rows[0]?.partitioning ?? 'none';
}

/**
 * What register() converts to partitions on its own: at most this many rows and bytes (tables
 * and indexes) in all, moved in well under a second; more, and converting waits for a user who
 * starts it on purpose (`pipetel migrate --partitioning`).
 */
export const AUTO_CONVERT_MAX_ROWS = 10_000;
export const AUTO_CONVERT_MAX_BYTES = 16 * 2 ** 20;
/**
 * How long register()'s conversion waits for each table's lock. Writers queue behind a lock
 * request that waits, so one held up by a long reader (a dashboard query, a session idle in a
 * transaction) gives up soon and leaves the conversion to the next process instead.
 */
const AUTO_CONVERT_LOCK_TIMEOUT_MS = 500;

/** SQLSTATE 55P03, lock_not_available: lock_timeout ran out. */
const LOCK_NOT_AVAILABLE = '55P03';

/**
 * At register(): partitions as configured. Small tables (AUTO_CONVERT_MAX_ROWS and _BYTES) are
 * converted at once — among them a fresh install whose first batches (this run's own, or a fleet
 * member's) landed between its migration and this call. Larger ones are left alone, since
 * converting moves every row under a lock, and the returned message says how; so do tables
 * another process holds (the next register() tries again) and tables another process converted
 * to another period meanwhile. Partitions are premade either way.
 */
export async function setUpPartitioning(db: Queryable, mode: PartitioningMode): Promise<string | undefined> {
  const current = await currentPartitioning(db);
  let note: string | undefined;
  if (mode !== 'none' && current === 'none') {
    // Counts stop at the limit: a large table is not scanned to learn that it is large.
    const { rows } = await db.query<{ rows: number; bytes: string }>(
      `SELECT (SELECT count(*) FROM (SELECT FROM pipeline_logs LIMIT $1) l)
            + (SELECT count(*) FROM (SELECT FROM pipeline_spans LIMIT $1) s)
            + (SELECT count(*) FROM (SELECT FROM pipeline_metrics LIMIT $1) m) AS rows,
              pg_total_relation_size('pipeline_logs') + pg_total_relation_size('pipeline_spans')
            + pg_total_relation_size('pipeline_metrics') AS bytes`,
      [AUTO_CONVERT_MAX_ROWS + 1],
    );
    const small =
      Number(rows[0]?.rows) <= AUTO_CONVERT_MAX_ROWS && Number(rows[0]?.bytes) <= AUTO_CONVERT_MAX_BYTES;
    if (small) note = await convertSmallTables(db, mode);
    else
      note = `database.partitioning is ${mode} but the tables hold more than ${AUTO_CONVERT_MAX_ROWS} rows or ${AUTO_CONVERT_MAX_BYTES / 2 ** 20} MB and are not partitioned: run \`pipetel migrate --partitioning ${mode}\` to convert them (rows are moved under a lock)`;
  } else if (mode !== 'none' && current !== mode) {
    note = periodNote(mode, current);
  }
  await premake(db);
  return note;
}

async function convertSmallTables(db: Queryable, mode: PartitioningMode): Promise<string | undefined> {
  try {
    await partitionTables(db, mode, { lockTimeoutMs: AUTO_CONVERT_LOCK_TIMEOUT_MS });
    return undefined;
  } catch (error) {
    if (sqlState(error) === LOCK_NOT_AVAILABLE)
      return `database.partitioning is ${mode} but the tables are busy (another session holds them): not partitioned yet, the next register() tries again (or run \`pipetel migrate --partitioning ${mode}\`)`;
    // Another process converted them to another period since currentPartitioning() looked.
    const now = await currentPartitioning(db);
    if (now !== 'none' && now !== mode) return periodNote(mode, now);
    throw error;
  }
}

const periodNote = (mode: PartitioningMode, current: PartitioningMode) =>
  `database.partitioning is ${mode} but the tables are partitioned ${current}; changing the period is not supported, ${current} stays`;

/**
 * Converts the three telemetry tables (one transaction, read committed: the settings row is the
 * claim, see migration 0007); lines say what moved. `lockTimeoutMs`: give up (SQLSTATE 55P03)
 * rather than wait longer for a table's lock.
 */
export async function partitionTables(
  db: Queryable,
  mode: PartitioningMode,
  options: { lockTimeoutMs?: number } = {},
): Promise<string[]> {
  if (mode === 'none') throw new Error('converting partitioned tables back to plain ones is not supported');
  const client = db instanceof pg.Pool ? await db.connect() : db;
  try {
    await client.query('BEGIN ISOLATION LEVEL READ COMMITTED');
    if (options.lockTimeoutMs !== undefined)
      await client.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.round(options.lockTimeoutMs))}`);
    const { rows } = await client.query<{ line: string }>('SELECT pipetel_partition_tables($1) AS line', [
      mode,
    ]);
    await client.query('COMMIT');
    return rows.map((r) => r.line);
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    if (db instanceof pg.Pool) (client as pg.PoolClient).release();
  }
}

/** Partitions from now through `premake` periods ahead, for each table (no-op when unpartitioned). */
export async function premake(db: Queryable): Promise<string[]> {
  const { rows } = await db.query<{ made: string }>(
    `SELECT pipetel_ensure_partitions(t, now(),
              now() + CASE s.partitioning WHEN 'daily' THEN interval '1 day' ELSE interval '1 month' END * s.premake) AS made
       FROM pipetel_settings s, unnest(ARRAY['pipeline_logs', 'pipeline_spans', 'pipeline_metrics']) t
      WHERE s.partitioning <> 'none'`,
  );
  return rows.map((r) => r.made);
}

export interface MaintenanceRun {
  /** What was done (or, dry, would be done), one line per action. */
  actions: string[];
  /** Why nothing ran: another process holds the lock, or the last run is more recent than minIntervalMs. */
  skipped?: string;
}

export interface MaintenanceOptions {
  dryRun?: boolean;
  /** Skip when the last run in this database is more recent (the in-app timer); default: always run. */
  minIntervalMs?: number;
  /** Called with the connection while it runs, so shutdown can end it (the transaction rolls back). */
  onClient?: (client: pg.Client | undefined) => void;
  /**
   * The configuration to maintain by (`pipetel maintain`): written to pipetel_settings first — for
   * a dry run only inside a transaction that is rolled back, so the database keeps what it had.
   */
  settings?: PipetelSettings;
}

/**
 * One maintenance run on its own connection, under an advisory lock (one process at a time per
 * database): monitoring_maintenance() for everything a transaction can do, then each expired
 * partition detached CONCURRENTLY (no lock that blocks writers) and dropped.
 */
/** A maintenance connection not made within this long fails the run (the next one tries again). */
const MAINTENANCE_CONNECT_TIMEOUT_MS = 30_000;

export async function runMaintenance(url: string, options: MaintenanceOptions = {}): Promise<MaintenanceRun> {
  const client = new pg.Client({
    connectionString: url,
    application_name: 'pipetel-maintenance',
    connectionTimeoutMillis: MAINTENANCE_CONNECT_TIMEOUT_MS,
  });
  client.on('error', () => undefined);
  // Handed over before connecting: a shutdown that comes while the server does not answer ends it too.
  options.onClient?.(client);
  try {
    await connect(client, url);
    const { rows: locked } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [
      MAINTENANCE_LOCK_KEY,
    ]);
    if (!locked[0]?.ok) return { actions: [], skipped: 'another process is maintaining this database' };
    try {
      if (options.minIntervalMs !== undefined && !options.dryRun) {
        const { rows } = await client.query<{ due: boolean }>(
          `SELECT last_maintenance_at IS NULL OR last_maintenance_at < now() - make_interval(secs => $1) AS due
             FROM pipetel_settings`,
          [options.minIntervalMs / 1000],
        );
        if (!rows[0]?.due)
          return { actions: [], skipped: 'maintenance ran here less than maintenance.interval ago' };
      }
      const dryRun = options.dryRun === true;
      if (dryRun) await client.query('BEGIN');
      if (options.settings) await syncStoreSettings(client, options.settings);
      const { rows } = await client.query<{ line: string }>(
        'SELECT monitoring_maintenance($1, false) AS line',
        [dryRun],
      );
      if (dryRun) await client.query('ROLLBACK');
      const actions = rows.map((r) => r.line).filter((line) => !line.startsWith('expired partition'));
      if (!dryRun) {
        const expired = await client.query<{ parent: string; partition: string; days: number }>(
          'SELECT parent, partition, days FROM pipetel_expired_partitions() ORDER BY upper_bound',
        );
        for (const p of expired.rows)
          actions.push(await dropPartition(client, p.parent, p.partition, p.days));
        await client.query('UPDATE pipetel_settings SET last_maintenance_at = now()');
      }
      return { actions };
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MAINTENANCE_LOCK_KEY]).catch(() => undefined);
    }
  } finally {
    // Handed back only once ended: a stop() that comes meanwhile still destroys it.
    await client.end().catch(() => undefined);
    options.onClient?.(undefined);
  }
}

async function dropPartition(
  client: pg.Client,
  parent: string,
  partition: string,
  days: number,
): Promise<string> {
  const table = client.escapeIdentifier(parent);
  const part = client.escapeIdentifier(partition);
  try {
    await client.query(`ALTER TABLE ${table} DETACH PARTITION ${part} CONCURRENTLY`);
  } catch (error) {
    // A detach interrupted earlier leaves the partition "pending": finish that one instead.
    if (!/pending detach|FINALIZE/i.test(String((error as Error).message))) throw error;
    await client.query(`ALTER TABLE ${table} DETACH PARTITION ${part} FINALIZE`);
  }
  await client.query(`DROP TABLE ${part}`);
  return `dropped partition ${partition} (retention ${days} days)`;
}
