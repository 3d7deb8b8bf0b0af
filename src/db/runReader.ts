// The read side of a pipetel database: what `pipetel runs | show | logs | progress | stats |
// export` print and what the dashboard serves. Every query is parameterized and each one is shaped
// for an index of the schema (experiment + time on logs, spans and metrics; started_at on runs),
// so reading a run costs the same whatever else the database holds.

import pg from 'pg';
import { isStatementError } from '../../exporters/postgres/TableWriter.js';
import { LEVEL_NAMES, type LevelName, severityOf } from '../logging/levels.js';
import { connect, DatabaseConnectError } from './DatabaseConnectError.js';
import { GATEWAY_QUIET_SECONDS, STALE_AFTER_MS } from './experimentStore.js';
import { type ExperimentSummary, summarizeExperiment } from './queries.js';

export interface RunRow {
  experiment_id: string;
  service_name: string;
  status: string;
  started_at: Date;
  ended_at: Date | null;
  last_seen_at: Date;
  status_reason: string | null;
  /**
   * Ended runs: end − start; running ones and gateway runs whose records still arrive: now − start;
   * a running one whose heartbeat stopped (its process taken as dead): last heartbeat − start.
   */
  duration_ms: number;
  errors: number;
  /**
   * Records may still arrive: the run is `running` and its process's heartbeat is fresh (see
   * STALE_AFTER_MS), or it is a run seen through the gateway whose
   * records arrived within the last GATEWAY_QUIET_SECONDS and whose workers have not all said
   * their run ended (pipetel workers do; OTLP itself has no end signal).
   */
  live: boolean;
}

export { GATEWAY_QUIET_SECONDS };

/**
 * A `running` run whose heartbeat stopped is followed (`logs -f`, the dashboard's live view) this
 * much longer than readers call it live (STALE_AFTER_MS): a pipeline blocked in a long synchronous
 * step sends no heartbeat either, and comes back; one that died (SIGKILL, OOM) is let go after it.
 */
export const FOLLOW_SILENT_RUN_MS = 5 * 60_000;

/** Whether a follower keeps following `run`: live, or running and silent for less than FOLLOW_SILENT_RUN_MS. */
export function stillFollowed(
  run: Pick<RunRow, 'live' | 'status' | 'last_seen_at'>,
  now = Date.now(),
): boolean {
  return run.live || (run.status === 'running' && now - run.last_seen_at.getTime() < FOLLOW_SILENT_RUN_MS);
}

/**
 * A gateway run whose workers all said they ended is followed this much longer: its last records
 * (the end records among them) are written by the gateway's queues a moment after its row.
 */
const ENDED_GRACE_SECONDS = 10;

export interface RunFilter {
  status?: string;
  since?: Date;
  limit?: number;
}

export interface LogRow {
  id: string;
  timestamp: Date;
  level: string;
  logger_name: string;
  message: string;
  traceback: string | null;
  attributes: Record<string, unknown>;
  trace_id: string | null;
  span_id: string | null;
  stage: string | null;
  created_at: Date;
}

export interface LogFilter {
  experimentId: string;
  /** The lowest level shown (WARNING shows WARNING, ERROR and CRITICAL). */
  level?: LevelName;
  stage?: string;
  /** One worker of a gateway fleet (the `pipetel.worker` the gateway stamps on its records). */
  worker?: string;
  /** Full-text search of the message (PostgreSQL websearch syntax: words, "phrases", -not, or). */
  search?: string;
  since?: Date;
  /** Rows stored after this moment (the live tail's cursor). */
  storedAfter?: Date;
  /** The newest `limit` rows matching, returned oldest first (a tail). */
  limit?: number;
}

export interface MetricSeries {
  attributes: Record<string, unknown>;
  /** [epoch milliseconds, value] */
  points: Array<[number, number]>;
}

export interface ProgressRow {
  node_id: string;
  stage: string | null;
  completed: number;
  total: number | null;
  status: string;
  rate: number | null;
  eta_seconds: number | null;
  error: string | null;
  started_at: Date;
  updated_at: Date;
}

export interface MonitoringStats {
  logsPerMinute: Array<{
    minute: Date;
    logs: number;
    avg_message_size: number;
    max_traceback_size: number | null;
  }>;
  batchEfficiency: Array<{ minute: Date; records: number; batches: number; avg_batch_size: number }>;
  /** pipetel's own counters (pipetel.records.*), per signal, of the processes reporting in the window (since their start). */
  records: Array<{ signal: string; exported: number; spooled: number; dropped: number; failed: number }>;
  /** pipetel.export.duration: write time per batch, per process reporting in the window (since its start). */
  writeLatency: Array<{ signal: string; batches: number; avg_ms: number | null; max_ms: number | null }>;
  tables: Array<{ table: string; rows: number; table_bytes: number; index_bytes: number }>;
  indexes: Array<{ index: string; table: string; bytes: number; scans: number }>;
}

/** Tables export can write, with their time column (the order rows come out in). */
export const EXPORT_TABLES = {
  logs: { table: 'pipeline_logs', time: '"timestamp"' },
  spans: { table: 'pipeline_spans', time: 'start_time' },
  metrics: { table: 'pipeline_metrics', time: '"timestamp"' },
  progress: { table: 'pipeline_progress', time: 'started_at' },
} as const;
export type ExportTable = keyof typeof EXPORT_TABLES;

/** A level name given on the command line or in a query string, or undefined. */
export function levelNamed(name: string): LevelName | undefined {
  const upper = name.toUpperCase();
  if (upper === 'WARN') return 'WARNING';
  if (upper === 'FATAL') return 'CRITICAL';
  return (LEVEL_NAMES as readonly string[]).includes(upper) ? (upper as LevelName) : undefined;
}

/** A running run whose process still sends its heartbeat (one older than STALE_AFTER_MS: taken as dead). */
const BEATING = `(e.status = 'running' AND e.last_seen_at > now() - interval '${STALE_AFTER_MS / 1000} seconds')`;

/** A gateway run whose records still arrive (and whose workers have not all said they ended). */
const GATEWAY_ARRIVING = `(e.attributes ? 'pipetel.source' AND NOT e.attributes ? 'pipetel.ended'
  AND e.last_seen_at > now() - interval '${GATEWAY_QUIET_SECONDS} seconds')`;

/** A run with its duration and error count; $1 is the lowest severity counted as an error. */
const RUN_SELECT = `
  SELECT e.experiment_id, e.service_name, e.status, e.started_at, e.ended_at, e.last_seen_at, e.status_reason,
         extract(epoch FROM CASE WHEN ${BEATING} OR ${GATEWAY_ARRIVING} THEN greatest(now(), e.started_at)
                                 ELSE coalesce(e.ended_at, greatest(e.last_seen_at, e.started_at)) END
                            - e.started_at)::float8 * 1000
           AS duration_ms,
         (SELECT count(*)::int FROM pipeline_logs l
           WHERE l.experiment_id = e.experiment_id AND l.severity_number >= $1) AS errors,
         (${BEATING} OR ${GATEWAY_ARRIVING}
           -- ended by its workers: followed a few seconds more, for its last batches to land
           OR (e.attributes ? 'pipetel.source' AND e.attributes ? 'pipetel.ended'
               AND e.last_seen_at > now() - interval '${ENDED_GRACE_SECONDS} seconds')) AS live
    FROM pipeline_experiments e`;

/**
 * A pool whose connections have JIT off, as open() sets it: SET once per connection, before its
 * first query (not in the pool's `connect` event, where it would overlap that query — which pg
 * deprecates — nor as the `options` startup parameter, which overrides PGOPTIONS and PgBouncer
 * refuses).
 */
class JitOffPool {
  private readonly ready = new WeakSet<pg.PoolClient>();

  constructor(private readonly pool: pg.Pool) {}

  async query(text: string, params?: unknown[]): Promise<pg.QueryResult> {
    const client = await this.pool.connect();
    let healthy = true;
    try {
      if (!this.ready.has(client)) {
        await client.query('SET jit = off');
        this.ready.add(client);
      }
      return await client.query(text, params);
    } catch (error) {
      // A connection the server ended (a restart) is not handed out again.
      healthy = isStatementError(error);
      throw error;
    } finally {
      client.release(healthy ? undefined : true);
    }
  }

  end(): Promise<void> {
    return this.pool.end();
  }
}

export class RunReader {
  private constructor(private readonly client: pg.Client | pg.Pool) {}

  /** One connection, for a CLI command (which may LISTEN or COPY on it: `connection`). */
  static async open(connectionString: string): Promise<RunReader> {
    const client = new pg.Client({ connectionString, application_name: 'pipetel-read' });
    client.on('error', () => undefined);
    await connect(client, connectionString);
    // Every read here is short and indexed; at millions of rows the planner's cost estimates
    // would otherwise switch on JIT compilation, which alone took 385 ms of a 1 ms query.
    await client.query('SET jit = off');
    return new RunReader(client);
  }

  /**
   * A small pool, for a long-lived reader (`pipetel ui`): a connection the server ended (a
   * restart) is replaced on the next read instead of failing every read after it. Connects now,
   * so a wrong URL is said at start.
   */
  static async pooled(connectionString: string, applicationName = 'pipetel-ui'): Promise<RunReader> {
    const pool = new pg.Pool({
      connectionString,
      application_name: applicationName,
      max: 4,
      idleTimeoutMillis: 30_000,
    });
    pool.on('error', () => undefined);
    const reader = new RunReader(new JitOffPool(pool) as unknown as pg.Pool);
    try {
      await reader.client.query('SELECT 1');
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw new DatabaseConnectError(connectionString, error);
    }
    return reader;
  }

  /** The connection, for LISTEN (the live tail) and streaming COPY (export); not for a pooled reader. */
  get connection(): pg.Client {
    if (!(this.client instanceof pg.Client)) throw new Error('a pooled RunReader has no single connection');
    return this.client;
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => undefined);
  }

  async runs(filter: RunFilter = {}): Promise<RunRow[]> {
    const { rows } = await this.client.query<RunRow>(
      `${RUN_SELECT}
        WHERE ($2::text IS NULL OR e.status = $2) AND ($3::timestamptz IS NULL OR e.started_at >= $3)
        ORDER BY e.started_at DESC
        LIMIT $4`,
      [severityOf('ERROR'), filter.status ?? null, filter.since ?? null, filter.limit ?? 20],
    );
    return rows;
  }

  /**
   * The run a command names: an exact experiment id, else the one run whose id starts with `ref`;
   * without `ref`, the latest run. Throws a message that says which when none or several match.
   */
  async resolveRun(ref?: string): Promise<RunRow> {
    if (ref === undefined) {
      const [latest] = await this.runs({ limit: 1 });
      if (!latest) throw new ReadError('no runs in this database yet (run your pipeline, or `pipetel demo`)');
      return latest;
    }
    const { rows } = await this.client.query<{ experiment_id: string }>(
      `SELECT experiment_id FROM pipeline_experiments
        WHERE experiment_id = $1 OR starts_with(experiment_id, $1)
        ORDER BY experiment_id = $1 DESC, started_at DESC LIMIT 6`,
      [ref],
    );
    const exact = rows.find((r) => r.experiment_id === ref);
    if (!exact && rows.length > 1) {
      const candidates = rows.slice(0, 5).map((r) => r.experiment_id);
      throw new AmbiguousRunError(
        `run '${ref}' is ambiguous: it starts ${candidates.join(', ')}${rows.length > 5 ? ' and more (the newest shown)' : ''}`,
        candidates,
      );
    }
    const id = (exact ?? rows[0])?.experiment_id;
    if (id === undefined) throw new ReadError(`no run '${ref}' (\`pipetel runs\` lists them)`);
    const [run] = await this.runsById(id);
    return run!;
  }

  private async runsById(id: string): Promise<RunRow[]> {
    const { rows } = await this.client.query<RunRow>(`${RUN_SELECT} WHERE e.experiment_id = $2`, [
      severityOf('ERROR'),
      id,
    ]);
    return rows;
  }

  /** Stage tree with durations, CPU and peak RSS; progress; metrics; the first errors. */
  summary(experimentId: string): Promise<ExperimentSummary> {
    return summarizeExperiment(this.client, experimentId);
  }

  /**
   * The workers (`pipetel.worker`, stamped by the gateway) that wrote log lines of a run, at most
   * `limit`. Reads the run's lines: for a hint when a --worker matched none, not for every call.
   */
  async workers(experimentId: string, limit = 20): Promise<string[]> {
    const { rows } = await this.client.query<{ worker: string }>(
      `SELECT DISTINCT attributes->>'pipetel.worker' AS worker FROM pipeline_logs
        WHERE experiment_id = $1 AND attributes ? 'pipetel.worker' ORDER BY 1 LIMIT $2`,
      [experimentId, limit],
    );
    return rows.map((r) => r.worker);
  }

  /**
   * Log rows of one run, oldest first. With `limit`, the newest `limit` matches (what a tail
   * shows). Reads idx_logs_experiment_time; a search adds the GIN index on the message.
   */
  async logs(filter: LogFilter): Promise<LogRow[]> {
    const { sql, params } = RunReader.logsQuery(filter);
    return (await this.client.query<LogRow>(sql, params)).rows;
  }

  /**
   * The statement logs() sends (the scale benchmark times exactly this). The inner order is the
   * index's own (experiment_id, timestamp DESC), so a tail reads 200 index entries, not the run.
   */
  static logsQuery(filter: LogFilter): { sql: string; params: unknown[] } {
    const params: unknown[] = [filter.experimentId];
    const where = ['experiment_id = $1'];
    const add = (clause: (n: string) => string, value: unknown) => {
      params.push(value);
      where.push(clause(`$${params.length}`));
    };
    if (filter.level) add((p) => `severity_number >= ${p}`, severityOf(filter.level));
    if (filter.stage !== undefined) add((p) => `stage = ${p}`, filter.stage);
    if (filter.worker !== undefined) add((p) => `attributes->>'pipetel.worker' = ${p}`, filter.worker);
    if (filter.since) add((p) => `"timestamp" >= ${p}`, filter.since);
    if (filter.storedAfter) add((p) => `created_at > ${p}`, filter.storedAfter);
    if (filter.search) {
      // The expression of idx_logs_search, so the planner can use it.
      add((p) => `to_tsvector('english', message) @@ websearch_to_tsquery('english', ${p})`, filter.search);
    }
    params.push(filter.limit ?? 1000);
    const sql = `SELECT * FROM (
         SELECT id, "timestamp", level, logger_name, message, traceback, attributes, trace_id, span_id,
                stage, created_at
           FROM pipeline_logs WHERE ${where.join(' AND ')}
          ORDER BY "timestamp" DESC LIMIT $${params.length}) newest
        ORDER BY "timestamp", id`;
    return { sql, params };
  }

  /**
   * One metric of a run as series: a point per collection, one series per attribute set (the
   * first `maxSeries`), oldest first. Gauges and sums give their value (sums are cumulative, as
   * stored); histograms their mean (sum / count). Reads idx_metrics_experiment_time.
   */
  async metricSeries(experimentId: string, name: string, maxSeries = 8): Promise<MetricSeries[]> {
    const { rows } = await this.client.query<{
      attributes: Record<string, unknown>;
      points: Array<[number, number]>;
    }>(
      `SELECT attributes,
              json_agg(json_build_array(extract(epoch FROM "timestamp") * 1000,
                         CASE WHEN kind = 'histogram' THEN sum / nullif(count, 0) ELSE value END)
                       ORDER BY "timestamp") AS points
         FROM (SELECT * FROM pipeline_metrics WHERE experiment_id = $1 AND name = $2
                ORDER BY "timestamp" DESC LIMIT 20000) recent
        GROUP BY attributes
        ORDER BY count(*) DESC
        LIMIT $3`,
      [experimentId, name, maxSeries],
    );
    return rows.map((r) => ({ attributes: r.attributes, points: r.points.filter((p) => p[1] !== null) }));
  }

  async progress(experimentId: string): Promise<ProgressRow[]> {
    const { rows } = await this.client.query<ProgressRow>(
      `SELECT node_id, stage, completed, total, status, rate, eta_seconds, error, started_at, updated_at
         FROM pipeline_progress WHERE experiment_id = $1 ORDER BY started_at, node_id`,
      [experimentId],
    );
    return rows;
  }

  /** The seed's "Monitoring the Monitoring System" queries, plus pipetel's own counters and sizes. */
  async stats(windowMinutes = 60): Promise<MonitoringStats> {
    const window = [windowMinutes];
    const logsPerMinute = await this.client.query(
      `SELECT date_trunc('minute', created_at) AS minute, count(*)::int AS logs,
              round(avg(length(message)), 1)::float8 AS avg_message_size,
              max(length(traceback)) AS max_traceback_size
         FROM pipeline_logs WHERE created_at > now() - make_interval(mins => $1)
        GROUP BY minute ORDER BY minute DESC`,
      window,
    );
    // Rows of one batch share created_at (the transaction's now()): distinct values count batches.
    const batchEfficiency = await this.client.query(
      `SELECT date_trunc('minute', created_at) AS minute, count(*)::int AS records,
              count(DISTINCT created_at)::int AS batches,
              round(count(*)::numeric / nullif(count(DISTINCT created_at), 0), 1)::float8 AS avg_batch_size
         FROM pipeline_logs WHERE created_at > now() - make_interval(mins => $1)
        GROUP BY minute ORDER BY minute DESC`,
      window,
    );
    // Self-metrics are cumulative sums per process: the largest point of each series in the window,
    // summed over series, is what the processes in the window did.
    const records = await this.client.query(
      `WITH latest AS (
         SELECT name, attributes->>'signal' AS signal, attributes, max(coalesce(value, sum)) AS total
           FROM pipeline_metrics
          WHERE name IN ('pipetel.records.exported', 'pipetel.records.spooled', 'pipetel.records.dropped',
                         'pipetel.records.failed')
            AND "timestamp" > now() - make_interval(mins => $1)
          GROUP BY name, attributes, experiment_id)
       SELECT coalesce(signal, '-') AS signal,
              coalesce(sum(total) FILTER (WHERE name = 'pipetel.records.exported'), 0)::float8 AS exported,
              coalesce(sum(total) FILTER (WHERE name = 'pipetel.records.spooled'), 0)::float8 AS spooled,
              coalesce(sum(total) FILTER (WHERE name = 'pipetel.records.dropped'), 0)::float8 AS dropped,
              coalesce(sum(total) FILTER (WHERE name = 'pipetel.records.failed'), 0)::float8 AS failed
         FROM latest GROUP BY signal ORDER BY signal`,
      window,
    );
    // Histograms are cumulative too: the newest point of each process's series holds its totals.
    const writeLatency = await this.client.query(
      `WITH latest AS (
         SELECT DISTINCT ON (experiment_id, attributes) attributes->>'signal' AS signal, count, sum, max
           FROM pipeline_metrics
          WHERE name = 'pipetel.export.duration' AND kind = 'histogram'
            AND "timestamp" > now() - make_interval(mins => $1)
          ORDER BY experiment_id, attributes, "timestamp" DESC)
       SELECT coalesce(signal, '-') AS signal, sum(count)::float8 AS batches,
              round((sum(sum) / nullif(sum(count), 0))::numeric, 2)::float8 AS avg_ms, round(max(max)::numeric, 2)::float8 AS max_ms
         FROM latest GROUP BY 1 ORDER BY 1`,
      window,
    );
    const tables = await this.client.query(
      `SELECT c.relname AS table, coalesce(s.n_live_tup, greatest(c.reltuples, 0))::float8 AS rows,
              pg_table_size(c.oid)::float8 AS table_bytes, pg_indexes_size(c.oid)::float8 AS index_bytes
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
        WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relname LIKE 'pipeline\\_%'
        ORDER BY pg_total_relation_size(c.oid) DESC`,
    );
    const indexes = await this.client.query(
      `SELECT s.indexrelname AS index, s.relname AS table, pg_relation_size(s.indexrelid)::float8 AS bytes,
              s.idx_scan::float8 AS scans
         FROM pg_stat_user_indexes s
        WHERE s.schemaname = current_schema() AND s.relname LIKE 'pipeline\\_%'
        ORDER BY bytes DESC`,
    );
    return {
      logsPerMinute: logsPerMinute.rows,
      batchEfficiency: batchEfficiency.rows,
      records: records.rows,
      writeLatency: writeLatency.rows,
      tables: tables.rows,
      indexes: indexes.rows,
    };
  }

  /** The SELECT that `export` streams: one run's rows of one table, in time order. */
  static exportQuery(table: ExportTable, format: 'csv' | 'jsonl'): string {
    const { table: name, time } = EXPORT_TABLES[table];
    // experiment_id is a text literal built by the caller through pg's escapeLiteral.
    const select = `SELECT * FROM ${name} WHERE experiment_id = %RUN% ORDER BY ${time}`;
    return format === 'csv'
      ? `COPY (${select}) TO STDOUT WITH (FORMAT csv, HEADER)`
      : `COPY (SELECT row_to_json(r)::text FROM (${select}) r) TO STDOUT WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')`;
  }
}

/** A problem with what the user asked to read (no such run, an ambiguous prefix): exit 1, no stack. */
export class ReadError extends Error {}

/** A run prefix that starts several run ids (the newest five in `candidates`). */
export class AmbiguousRunError extends ReadError {
  constructor(
    message: string,
    readonly candidates: string[],
  ) {
    super(message);
  }
}
