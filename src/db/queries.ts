// Read-side queries used by the CLI (demo summary, status): kept together so that SQL stays in
// the db layer, next to the writers.

import pg from 'pg';
import { connect } from './DatabaseConnectError.js';

export interface ExperimentSummary {
  experiment:
    | {
        experiment_id: string;
        service_name: string;
        status: string;
        started_at: Date;
        ended_at: Date | null;
        status_reason: string | null;
      }
    | undefined;
  rowsPerTable: Record<string, number>;
  logsByLevel: Array<{ level: string; count: number }>;
  stages: Array<{
    name: string;
    depth: number;
    /** When the stage's span started (the dashboard's timeline). */
    start_time: Date;
    span_id: string;
    duration_ms: number;
    status_code: string;
    cpu_user_ms: number | null;
    cpu_system_ms: number | null;
    rss_peak_mb: number | null;
    /**
     * The process that ran it, `host.name:process.pid` from the span's resource (the gateway's
     * `pipetel.worker`), else its `service.instance.id`: tells a fleet's stages apart.
     */
    worker: string | null;
  }>;
  progress: Array<{
    node_id: string;
    completed: number;
    total: number | null;
    status: string;
    rate: number | null;
  }>;
  metrics: Array<{
    name: string;
    kind: string;
    points: number;
    series: number;
    /** A single series' latest point: its value (gauge, sum) or, for a histogram, its mean. */
    last_value: number | null;
    /** A single histogram series' latest count (cumulative: the whole run's); null otherwise. */
    last_count: number | null;
  }>;
  errors: Array<{ level: string; logger_name: string; message: string; traceback_lines: number }>;
}

export async function experimentSummary(url: string, experimentId: string): Promise<ExperimentSummary> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => undefined);
  await connect(client, url);
  try {
    return await summarizeExperiment(client, experimentId);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The summary of one experiment, read on a connection the caller owns. */
export async function summarizeExperiment(
  client: pg.ClientBase | pg.Pool,
  experimentId: string,
): Promise<ExperimentSummary> {
  const one = async <R extends pg.QueryResultRow>(sql: string) =>
    (await client.query<R>(sql, [experimentId])).rows;
  const [experiment] = await one<NonNullable<ExperimentSummary['experiment']>>(
    'SELECT experiment_id, service_name, status, started_at, ended_at, status_reason FROM pipeline_experiments WHERE experiment_id = $1',
  );
  const counts = await one<{ t: string; n: string }>(
    `SELECT 'pipeline_spans' AS t, count(*) AS n FROM pipeline_spans WHERE experiment_id = $1
     UNION ALL SELECT 'pipeline_logs', count(*) FROM pipeline_logs WHERE experiment_id = $1
     UNION ALL SELECT 'pipeline_metrics', count(*) FROM pipeline_metrics WHERE experiment_id = $1
     UNION ALL SELECT 'pipeline_progress', count(*) FROM pipeline_progress WHERE experiment_id = $1`,
  );
  const logsByLevel = await one<{ level: string; count: string }>(
    `SELECT level, count(*) AS count FROM pipeline_logs WHERE experiment_id = $1
     GROUP BY level ORDER BY min(severity_number)`,
  );
  // Siblings by start, then end: OTel JS takes a span's start from Date.now() (whole
  // milliseconds) and its end from the performance clock, so two quick stages in a row can share a
  // start; the one that ended first ran first.
  const stages = await one<ExperimentSummary['stages'][number]>(
    `WITH RECURSIVE tree AS (
       SELECT s.*, 0 AS depth, ARRAY[s.start_time, s.end_time] AS path FROM pipeline_spans s
        WHERE s.experiment_id = $1 AND s.stage IS NOT NULL
          AND (s.parent_span_id IS NULL OR NOT EXISTS (
               SELECT 1 FROM pipeline_spans p WHERE p.trace_id = s.trace_id AND p.span_id = s.parent_span_id AND p.stage IS NOT NULL))
       UNION ALL
       SELECT c.*, t.depth + 1, t.path || ARRAY[c.start_time, c.end_time] FROM pipeline_spans c
         JOIN tree t ON c.trace_id = t.trace_id AND c.parent_span_id = t.span_id
        WHERE c.stage IS NOT NULL)
     SELECT name, depth, start_time, span_id, duration_ms, status_code,
            (attributes->>'pipetel.cpu.user_ms')::float8 AS cpu_user_ms,
            (attributes->>'pipetel.cpu.system_ms')::float8 AS cpu_system_ms,
            round(((attributes->>'pipetel.memory.rss_peak_bytes')::float8 / 1048576)::numeric, 1)::float8 AS rss_peak_mb,
            coalesce((resource->>'host.name') || ':' || (resource->>'process.pid'), resource->>'service.instance.id') AS worker
       FROM tree ORDER BY path`,
  );
  const progress = await one<ExperimentSummary['progress'][number]>(
    'SELECT node_id, completed, total, status, rate FROM pipeline_progress WHERE experiment_id = $1 ORDER BY started_at, node_id',
  );
  const metrics = await one<{
    name: string;
    kind: string;
    points: string;
    series: string;
    last_value: number | null;
    last_count: string | null;
  }>(
    // A histogram's sum is not a value of it: its mean is (the sum of 100 values of 0…99 read as
    // "LAST 4950").
    `SELECT name, kind, count(*) AS points, count(DISTINCT attributes) AS series,
            CASE WHEN count(DISTINCT attributes) = 1
                 THEN (array_agg(CASE WHEN kind = 'histogram' THEN sum / nullif(count, 0) ELSE value END
                                 ORDER BY "timestamp" DESC))[1] END AS last_value,
            CASE WHEN count(DISTINCT attributes) = 1 AND kind = 'histogram'
                 THEN (array_agg(count ORDER BY "timestamp" DESC))[1] END AS last_count
       FROM pipeline_metrics WHERE experiment_id = $1 GROUP BY name, kind ORDER BY name`,
  );
  const errors = await one<ExperimentSummary['errors'][number]>(
    `SELECT level, logger_name, message, coalesce(array_length(string_to_array(traceback, E'\\n'), 1), 0) AS traceback_lines
       FROM pipeline_logs WHERE experiment_id = $1 AND level IN ('ERROR', 'CRITICAL') ORDER BY "timestamp" LIMIT 5`,
  );
  return {
    experiment,
    rowsPerTable: Object.fromEntries(counts.map((r) => [r.t, Number(r.n)])),
    logsByLevel: logsByLevel.map((r) => ({ level: r.level, count: Number(r.count) })),
    stages,
    progress,
    metrics: metrics.map((m) => ({
      ...m,
      points: Number(m.points),
      series: Number(m.series),
      last_count: m.last_count === null ? null : Number(m.last_count),
    })),
    errors,
  };
}

/** A metric's latest point as `show` and the demo print it: `42`, or `mean 49.5 of 100` for a histogram. */
export function latestPoint(m: ExperimentSummary['metrics'][number]): string | undefined {
  if (m.last_count !== null) {
    return m.last_value === null
      ? `${m.last_count} values`
      : `mean ${round3(m.last_value)} of ${m.last_count}`;
  }
  return m.last_value === null ? undefined : String(round3(m.last_value));
}

const round3 = (n: number) => Number(n.toFixed(3));
