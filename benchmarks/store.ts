// The store at scale (SPEC §9): 10M log rows generated server-side in a daily-partitioned
// pipeline_logs, then the queries behind `pipetel logs` and `pipetel progress` timed by EXPLAIN
// ANALYZE (server time, index use checked); dropping a day (DETACH CONCURRENTLY + DROP) against
// deleting the same rows; and ingest through pipetel's writer into partitioned vs plain tables,
// with and without the GIN full-text index, alternating.
//
// The 10M-row database is kept between runs (pipetel_bench_store_<rows>, rebuilt when its schema
// version or row count differs): generating it takes minutes, querying it seconds.

import pg from 'pg';
import { LOGS_TABLE } from '../exporters/postgres/logRows.js';
import { loadMigrations, migrate } from '../exporters/postgres/migrate.js';
import { PostgresTableWriter } from '../exporters/postgres/TableWriter.js';
import { uuidv7 } from '../exporters/postgres/uuidv7.js';
import { RunReader } from '../src/db/runReader.js';
import { partitionTables } from '../src/db/storeMaintenance.js';
import { startUi } from '../src/ui/server.js';
import {
  type BenchmarkResult,
  benchServerUrl,
  environment,
  freshDatabase,
  type Measurement,
  median,
  writeResult,
} from './lib.js';
import type { SummaryRow } from './run.js';
import { isQuick } from './run.js';

const ROWS = isQuick() ? 1_000_000 : 10_000_000;
const DAYS = 30;
const RUNS_IN_DATA = 1000;
const QUERY_REPEATS = 7;
const INGEST_ROUNDS = isQuick() ? 2 : 5;
const INGEST_BATCHES = isQuick() ? 20 : 50;
const BATCH = 1000;
const TARGET_MS = 50;
/** The dashboard's pages and API at this scale (SPEC §11). */
const UI_TARGET_MS = 200;
/** Bumped when the generated data changes shape, so a cached database is rebuilt. */
const DATA_VERSION = '2';

interface QueryFigure {
  name: string;
  sql: string;
  params: unknown[];
  ms: number[];
  indexes: string[];
  seqScans: string[];
}

/** Log rows of RUNS_IN_DATA runs over DAYS days, runs contiguous in time; 1 % WARNING, 0.1 % ERROR. */
const GENERATE = `
INSERT INTO pipeline_logs (id, experiment_id, "timestamp", level, severity_number, logger_name, message, attributes, stage)
SELECT gen_random_uuid(),
       'run-' || lpad((g * ${RUNS_IN_DATA}::bigint / $3)::text, 4, '0'),
       now() - interval '${DAYS} days' + (g::float8 / $3) * interval '${DAYS} days',
       CASE WHEN g % 1000 = 0 THEN 'ERROR' WHEN g % 100 = 0 THEN 'WARNING' ELSE 'INFO' END,
       CASE WHEN g % 1000 = 0 THEN 17 WHEN g % 100 = 0 THEN 13 ELSE 9 END,
       'pipeline.' || (ARRAY['extract', 'transform', 'load', 'train'])[1 + g % 4],
       'item ' || g || ' ' || (ARRAY['processed', 'validated', 'written to the warehouse', 'skipped: duplicate key',
                                     'retried after a timeout', 'cached', 'enriched with geo data', 'batched'])[1 + g % 8]
         || CASE WHEN g % 5000 = 7 THEN ' checksum mismatch in shard ' || (g % 16) ELSE '' END,
       '{}'::jsonb,
       (ARRAY['extract', 'transform', 'load', 'train'])[1 + g % 4]
  FROM generate_series($1::bigint, $2::bigint) g`;

async function query<R extends pg.QueryResultRow>(
  url: string,
  sql: string,
  params: unknown[] = [],
): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/** The 10M-row database: reused when it has the current schema and row count, else (re)built. */
async function storeDatabase(serverUrl: string): Promise<{ url: string; builtMs?: number }> {
  const name = `pipetel_bench_store_${ROWS}`;
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const latest = Math.max(...loadMigrations().map((m) => m.version));
  const exists = await query(serverUrl, 'SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  if (exists.length > 0) {
    try {
      const [state] = await query<{ version: number; rows: string; data: string }>(
        url.toString(),
        `SELECT (SELECT max(version) FROM pipetel_schema_migrations) AS version,
                (SELECT value FROM pipetel_bench_meta WHERE key = 'rows') AS rows,
                (SELECT value FROM pipetel_bench_meta WHERE key = 'data') AS data`,
      );
      if (state?.version === latest && Number(state.rows) === ROWS && state.data === DATA_VERSION)
        return { url: url.toString() };
    } catch {
      // an unfinished build: start again
    }
    await query(serverUrl, `DROP DATABASE ${name} WITH (FORCE)`);
  }
  const started = performance.now();
  await query(serverUrl, `CREATE DATABASE ${name}`);
  await migrate(url.toString());
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    await partitionTables(client, 'daily');
    await client.query(
      `SELECT pipetel_ensure_partitions('pipeline_logs', now() - interval '${DAYS + 1} days', now() + interval '3 days')`,
    );
    // Load without indexes, key or trigger, then build them: how a bulk load is done.
    const { rows: defs } = await client.query<{ def: string }>(
      `SELECT pg_get_indexdef(indexrelid) AS def FROM pg_index
        WHERE indrelid = 'pipeline_logs'::regclass AND NOT indisprimary`,
    );
    const [{ pk }] = (
      await client.query<{ pk: string }>(
        "SELECT pg_get_constraintdef(oid) AS pk FROM pg_constraint WHERE conrelid = 'pipeline_logs'::regclass AND contype = 'p'",
      )
    ).rows as [{ pk: string }];
    for (const { def } of defs) await client.query(`DROP INDEX ${/INDEX (\S+) ON/.exec(def)![1]}`);
    await client.query('ALTER TABLE pipeline_logs DROP CONSTRAINT pipeline_logs_pkey');
    await client.query('ALTER TABLE pipeline_logs DISABLE TRIGGER pipetel_logs_notify');
    const chunk = 1_000_000;
    for (let from = 1; from <= ROWS; from += chunk) {
      await client.query(GENERATE, [from, Math.min(ROWS, from + chunk - 1), ROWS]);
      process.stderr.write(`  store: ${Math.min(ROWS, from + chunk - 1).toLocaleString('en-US')} rows\n`);
    }
    await client.query('ALTER TABLE pipeline_logs ENABLE TRIGGER pipetel_logs_notify');
    await client.query("SET maintenance_work_mem = '512MB'");
    await client.query(`ALTER TABLE pipeline_logs ADD CONSTRAINT pipeline_logs_pkey ${pk}`);
    for (const { def } of defs) {
      // A partitioned parent's definition reads `ON ONLY` (parent alone); built here for every partition.
      await client.query(def.replace(' ON ONLY ', ' ON '));
      process.stderr.write(`  store: ${/INDEX (\S+) ON/.exec(def)![1]} built\n`);
    }
    // Progress rows as pipetel writes them: a few nodes per run.
    await client.query(
      `INSERT INTO pipeline_progress (experiment_id, node_id, completed, total, status, rate)
       SELECT 'run-' || lpad(r::text, 4, '0'), n, 10000, 10000, 'done', 5000
         FROM generate_series(0, ${RUNS_IN_DATA - 1}) r, unnest(ARRAY['extract', 'transform', 'load', 'train']) n`,
    );
    // The runs' rows, each spanning its slice of the data, ended.
    await client.query(
      `INSERT INTO pipeline_experiments (experiment_id, service_name, status, started_at, ended_at, last_seen_at)
       SELECT 'run-' || lpad(r::text, 4, '0'), 'bench', 'succeeded',
              now() - interval '${DAYS} days' + r * (interval '${DAYS} days' / ${RUNS_IN_DATA}),
              now() - interval '${DAYS} days' + (r + 1) * (interval '${DAYS} days' / ${RUNS_IN_DATA}),
              now() - interval '${DAYS} days' + (r + 1) * (interval '${DAYS} days' / ${RUNS_IN_DATA})
         FROM generate_series(0, ${RUNS_IN_DATA - 1}) r`,
    );
    await client.query('VACUUM ANALYZE pipeline_logs');
    await client.query('ANALYZE pipeline_experiments');
    await client.query('ANALYZE pipeline_progress');
    await client.query('CREATE TABLE pipetel_bench_meta (key text PRIMARY KEY, value text)');
    await client.query("INSERT INTO pipetel_bench_meta VALUES ('rows', $1), ('data', $2)", [
      String(ROWS),
      DATA_VERSION,
    ]);
  } finally {
    await client.end();
  }
  return { url: url.toString(), builtMs: performance.now() - started };
}

/**
 * EXPLAIN ANALYZE's execution time, the indexes in its plan (a partition's index named by its
 * parent index), and the sequential scans that read more than a handful of rows (the planner
 * rightly seq-scans an empty premade partition).
 */
async function explain(client: pg.Client, sql: string, params: unknown[], parents: Map<string, string>) {
  const { rows } = await client.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${sql}`, params);
  const plan = (rows[0] as { 'QUERY PLAN': Array<{ Plan: PlanNode; 'Execution Time': number }> })[
    'QUERY PLAN'
  ][0]!;
  const indexes = new Set<string>();
  const seqScans = new Set<string>();
  const walk = (node: PlanNode) => {
    if (node['Index Name']) indexes.add(parents.get(node['Index Name']) ?? node['Index Name']);
    const read = (node['Actual Rows'] ?? 0) + (node['Rows Removed by Filter'] ?? 0);
    if (node['Node Type'].endsWith('Seq Scan') && node['Relation Name'] && read > 100)
      seqScans.add(node['Relation Name']);
    for (const child of node.Plans ?? []) walk(child);
  };
  walk(plan.Plan);
  return { ms: plan['Execution Time'], indexes: [...indexes], seqScans: [...seqScans] };
}
interface PlanNode {
  'Node Type': string;
  'Actual Rows'?: number;
  'Rows Removed by Filter'?: number;
  'Index Name'?: string;
  'Relation Name'?: string;
  Plans?: PlanNode[];
}

/** The SQL `pipetel logs` sends for a filter: RunReader's own, not restated. */
const readerSql = (filter: Parameters<typeof RunReader.logsQuery>[0]) => RunReader.logsQuery(filter);

async function timeQueries(url: string): Promise<QueryFigure[]> {
  const run = `run-${String(Math.floor(RUNS_IN_DATA / 2)).padStart(4, '0')}`;
  const cases: Array<{ name: string; sql: string; params: unknown[] }> = [
    { name: 'logs RUN (the newest 200 lines of one run)', ...readerSql({ experimentId: run, limit: 200 }) },
    {
      name: 'logs RUN --level ERROR (errors of one run, by time)',
      ...readerSql({ experimentId: run, level: 'ERROR', limit: 200 }),
    },
    {
      name: 'logs RUN --search "checksum mismatch" (full text within a run)',
      ...readerSql({ experimentId: run, search: 'checksum mismatch', limit: 200 }),
    },
    {
      name: 'logs RUN --stage train --since 20d (a stage of a run, by time)',
      ...readerSql({
        experimentId: run,
        stage: 'train',
        since: new Date(Date.now() - 20 * 86_400_000),
        limit: 200,
      }),
    },
    {
      name: 'errors of the last day across all runs (idx_logs_level_time)',
      sql: `SELECT "timestamp", experiment_id, message FROM pipeline_logs
             WHERE level IN ('ERROR', 'CRITICAL') AND "timestamp" > now() - interval '1 day'
             ORDER BY "timestamp" DESC LIMIT 100`,
      params: [],
    },
    {
      name: 'progress RUN',
      sql: `SELECT node_id, stage, completed, total, status, rate, eta_seconds, error, started_at, updated_at
              FROM pipeline_progress WHERE experiment_id = $1 ORDER BY started_at, node_id`,
      params: [run],
    },
  ];
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows: inherited } = await client.query<{ child: string; parent: string }>(
      `SELECT c.relname AS child, p.relname AS parent FROM pg_inherits i
         JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent WHERE c.relkind = 'i'`,
    );
    const parents = new Map(inherited.map((r) => [r.child, r.parent]));
    const figures: QueryFigure[] = [];
    for (const c of cases) {
      await explain(client, c.sql, c.params, parents); // warm the cache: a reader's second look
      const runs = [];
      for (let i = 0; i < QUERY_REPEATS; i++) runs.push(await explain(client, c.sql, c.params, parents));
      figures.push({
        ...c,
        ms: runs.map((r) => r.ms),
        indexes: runs[0]!.indexes,
        seqScans: runs[0]!.seqScans,
      });
      process.stderr.write(
        `  ${c.name}: ${median(runs.map((r) => r.ms)).toFixed(2)} ms (${runs[0]!.indexes.join(', ')})\n`,
      );
    }
    return figures;
  } finally {
    await client.end();
  }
}

/**
 * A full day of rows (the middle of the data) copied into a day before the data, then removed
 * twice: by DELETE inside a transaction that is rolled back, and by DETACH CONCURRENTLY + DROP.
 */
async function dropADay(url: string): Promise<{ deleteMs: number; dropMs: number; rows: number }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const target = `date_trunc('day', now() - interval '${DAYS + 1} days', 'UTC')`;
    const source = `date_trunc('day', now() - interval '${Math.floor(DAYS / 2)} days', 'UTC')`;
    await client.query(`SELECT pipetel_ensure_partitions('pipeline_logs', ${target}, ${target})`);
    const { rowCount } = await client.query(
      `INSERT INTO pipeline_logs SELECT gen_random_uuid(), experiment_id, "timestamp" - (${source} - ${target}), level,
              severity_number, logger_name, message, traceback, attributes, trace_id, span_id, stage, created_at
         FROM pipeline_logs WHERE "timestamp" >= ${source} AND "timestamp" < ${source} + interval '1 day'`,
    );
    await client.query('ANALYZE pipeline_logs');
    await client.query('BEGIN');
    let started = performance.now();
    await client.query(
      `DELETE FROM pipeline_logs WHERE "timestamp" >= ${target} AND "timestamp" < ${target} + interval '1 day'`,
    );
    const deleteMs = performance.now() - started;
    await client.query('ROLLBACK');
    const { rows } = await client.query<{ name: string }>(
      `SELECT 'pipeline_logs_' || to_char(${target} AT TIME ZONE 'UTC', 'YYYY_MM_DD') AS name`,
    );
    const part = client.escapeIdentifier(rows[0]!.name);
    started = performance.now();
    await client.query(`ALTER TABLE pipeline_logs DETACH PARTITION ${part} CONCURRENTLY`);
    await client.query(`DROP TABLE ${part}`);
    return { deleteMs, dropMs: performance.now() - started, rows: rowCount ?? 0 };
  } finally {
    await client.end();
  }
}

/** The search of one run without the GIN index (dropped inside a transaction that is rolled back). */
async function searchWithoutGin(url: string, sql: string, params: unknown[]): Promise<number[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('BEGIN');
    await client.query('DROP INDEX idx_logs_search');
    const ms: number[] = [];
    for (let i = 0; i <= QUERY_REPEATS; i++) {
      const { rows } = await client.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${sql}`, params);
      if (i > 0)
        ms.push(
          (rows[0] as { 'QUERY PLAN': Array<{ 'Execution Time': number }> })['QUERY PLAN'][0]![
            'Execution Time'
          ],
        );
    }
    await client.query('ROLLBACK');
    return ms;
  } finally {
    await client.end();
  }
}

/** Client-side time of the dashboard's page and API requests (pipetel ui), median of QUERY_REPEATS. */
async function timeDashboard(url: string): Promise<Array<{ path: string; ms: number[] }>> {
  const ui = await startUi({ url, port: 0 });
  const run = `run-${String(Math.floor(RUNS_IN_DATA / 2)).padStart(4, '0')}`;
  const paths = [
    '/',
    '/api/runs',
    `/api/runs/${run}`,
    `/api/runs/${run}/logs`,
    `/api/runs/${run}/logs?search=checksum%20mismatch`,
    `/api/runs/${run}/logs?level=ERROR`,
    `/api/runs/${run}/progress`,
  ];
  try {
    const out: Array<{ path: string; ms: number[] }> = [];
    for (const path of paths) {
      await (await fetch(new URL(path, ui.url))).arrayBuffer(); // warm
      const ms: number[] = [];
      for (let i = 0; i < QUERY_REPEATS; i++) {
        const started = performance.now();
        const res = await fetch(new URL(path, ui.url));
        await res.arrayBuffer();
        if (!res.ok) throw new Error(`${path}: ${res.status}`);
        ms.push(performance.now() - started);
      }
      out.push({ path, ms });
      process.stderr.write(`  ui ${path}: ${median(ms).toFixed(1)} ms\n`);
    }
    return out;
  } finally {
    await ui.close();
  }
}

/** Rows/s through PostgresTableWriter's COPY into three fresh databases, rounds alternating. */
async function ingest(serverUrl: string) {
  const variants = [
    { name: 'plain table, every schema index (incl. GIN)', partition: false, dropGin: false },
    { name: 'daily partitions, every schema index (incl. GIN)', partition: true, dropGin: false },
    { name: 'plain table without the GIN full-text index', partition: false, dropGin: true },
  ];
  const dbs = await Promise.all(variants.map(() => freshDatabase(serverUrl)));
  try {
    for (const [i, v] of variants.entries()) {
      await migrate(dbs[i]!.url);
      const c = new pg.Client({ connectionString: dbs[i]!.url });
      await c.connect();
      if (v.partition) await partitionTables(c, 'daily');
      if (v.dropGin) await c.query('DROP INDEX idx_logs_search');
      await c.end();
    }
    const now = Date.now();
    const batches = Array.from({ length: INGEST_BATCHES }, (_, b) =>
      Array.from({ length: BATCH }, (_, r) => {
        const n = b * BATCH + r;
        const time = new Date(now - (n % 3_600_000)).toISOString().replace('Z', '000Z');
        return `${uuidv7()}\trun-ingest\t${time}\tINFO\t9\tpipeline.load\titem ${n} written to the warehouse after ${n % 7} retries\t\\N\t{"rows":${n % 100}}\t\\N\t\\N\tload\n`;
      }),
    );
    const runs: number[][] = variants.map(() => []);
    for (let round = 0; round < INGEST_ROUNDS; round++) {
      const order = variants.map((_, i) => (i + round) % variants.length);
      for (const i of order) {
        const pool = new pg.Pool({ connectionString: dbs[i]!.url, max: 1 });
        // The databases are dropped WITH (FORCE) right after: see testPool() in the tests.
        pool.on('error', () => undefined);
        const writer = new PostgresTableWriter(pool, LOGS_TABLE);
        // Fresh ids per round, so every round inserts.
        const lines = batches.map((b) => b.map((l) => `${uuidv7()}${l.slice(36)}`));
        const started = performance.now();
        for (const batch of lines) await writer.write(batch, { idempotent: false });
        runs[i]!.push((INGEST_BATCHES * BATCH) / ((performance.now() - started) / 1000));
        await pool.end();
      }
    }
    return variants.map((v, i) => ({ name: v.name, runs: runs[i]! }));
  } finally {
    await Promise.all(dbs.map((d) => d.drop()));
  }
}

export async function run(): Promise<BenchmarkResult & { summary: SummaryRow[] }> {
  const server = await benchServerUrl();
  const store = await storeDatabase(server.url);
  const queries = await timeQueries(store.url);
  const dashboard = await timeDashboard(store.url);
  const day = await dropADay(store.url);
  const search = queries.find((q) => q.name.includes('--search'))!;
  const noGinSearch = await searchWithoutGin(store.url, search.sql, search.params);
  const ingestRuns = await ingest(server.url);

  const measurements: Measurement[] = queries.map((q) => ({
    name: `${q.name} — server time (EXPLAIN ANALYZE); indexes: ${q.indexes.join(', ') || 'none'}${q.seqScans.length ? `; seq scans: ${q.seqScans.join(', ')}` : ''}`,
    side: 'pipetel',
    unit: 'ms',
    median: median(q.ms),
    runs: q.ms,
  }));
  for (const d of dashboard) {
    measurements.push({
      name: `pipetel ui GET ${d.path} (client time, page or JSON)`,
      side: 'pipetel',
      unit: 'ms',
      median: median(d.ms),
      runs: d.ms,
    });
  }
  measurements.push(
    {
      name: `drop one day (${day.rows.toLocaleString('en-US')} rows): DETACH CONCURRENTLY + DROP`,
      side: 'pipetel',
      unit: 'ms',
      median: day.dropMs,
      runs: [day.dropMs],
    },
    {
      name: 'the same day by DELETE (rolled back)',
      side: 'anchor',
      unit: 'ms',
      median: day.deleteMs,
      runs: [day.deleteMs],
    },
  );
  measurements.push({
    name: 'logs RUN --search "checksum mismatch" without idx_logs_search (dropped in a rolled-back transaction): what searching a partition without the index costs',
    side: 'anchor',
    unit: 'ms',
    median: median(noGinSearch),
    runs: noGinSearch,
  });
  for (const v of ingestRuns) {
    measurements.push({
      name: `ingest via PostgresTableWriter COPY, ${BATCH}-row batches: ${v.name}`,
      side: v.name.startsWith('daily') ? 'pipetel' : 'anchor',
      unit: 'rows/s',
      median: median(v.runs),
      runs: v.runs,
    });
  }
  const plain = median(ingestRuns[0]!.runs);
  const partitioned = median(ingestRuns[1]!.runs);
  const noGin = median(ingestRuns[2]!.runs);
  const slowest = Math.max(...queries.map((q) => median(q.ms)));
  const logQueries = queries.filter((q) => q.name.startsWith('logs') || q.name.startsWith('errors'));
  const allIndexed = queries.every((q) => q.seqScans.length === 0 && q.indexes.length > 0);
  const met = slowest < TARGET_MS && allIndexed;

  const slowestUi = Math.max(...dashboard.map((d) => median(d.ms)));
  const summary: SummaryRow[] = [
    {
      what: `slowest dashboard request at ${ROWS.toLocaleString('en-US')} log rows (${dashboard.length} pages and API calls of pipetel ui, client time)`,
      pipetel: { value: slowestUi, unit: 'ms' },
      target: `< ${UI_TARGET_MS} ms`,
      met: slowestUi < UI_TARGET_MS,
    },
    {
      what: `slowest reading query at ${ROWS.toLocaleString('en-US')} log rows (${queries.length} queries behind logs and progress, each on an index)`,
      pipetel: { value: slowest, unit: 'ms' },
      target: `< ${TARGET_MS} ms server time, indexes used`,
      met,
    },
    {
      what: `drop a day of logs (${day.rows.toLocaleString('en-US')} rows)`,
      pipetel: { label: 'DETACH CONCURRENTLY + DROP', value: day.dropMs, unit: 'ms' },
      anchor: { label: 'DELETE of the same rows', value: day.deleteMs, unit: 'ms' },
      ratio: day.dropMs / day.deleteMs,
      target: 'O(1): independent of the rows in the day',
      met: null,
    },
    {
      what: 'ingest into daily partitions vs a plain table (all indexes)',
      pipetel: { value: partitioned, unit: 'rows/s' },
      anchor: { label: 'plain table', value: plain, unit: 'rows/s' },
      ratio: partitioned / plain,
      target: 'none (context)',
      met: null,
    },
    {
      what: "ingest with the seed's GIN full-text index vs without it (plain table)",
      pipetel: { value: plain, unit: 'rows/s' },
      anchor: { label: 'without idx_logs_search', value: noGin, unit: 'rows/s' },
      ratio: plain / noGin,
      target: 'none (choice of the full-text index)',
      met: null,
    },
  ];
  return {
    benchmark: 'store',
    description: `The store at scale: ${ROWS.toLocaleString('en-US')} log rows of ${RUNS_IN_DATA} runs over ${DAYS} days in daily partitions (generated server-side), the queries behind \`pipetel logs\` and \`pipetel progress\` timed by EXPLAIN ANALYZE (median of ${QUERY_REPEATS} after one warm-up), dropping a day, and ingest through pipetel's writer with and without partitions and the GIN index (${INGEST_ROUNDS} alternating rounds of ${(INGEST_BATCHES * BATCH).toLocaleString('en-US')} rows).`,
    target: `each reading query < ${TARGET_MS} ms server time on an index; dropping a day O(1)`,
    headline: { label: 'slowest reading query', value: slowest, unit: 'ms', meetsTarget: met },
    measurements,
    summary,
    environment: environment({
      server: server.label,
      rows: ROWS,
      runsInData: RUNS_IN_DATA,
      days: DAYS,
      ...(store.builtMs ? { storeBuiltS: Math.round(store.builtMs / 1000) } : {}),
    }),
    notes: [
      `Queries: the SQL of RunReader.logs() (what \`pipetel logs\` sends) for one run of ${ROWS / RUNS_IN_DATA} rows in the middle of the data, plus the errors-across-runs query the partial index idx_logs_level_time serves and the progress read. Server time is EXPLAIN ANALYZE's execution time; the plan's indexes are listed with each row, and a sequential scan anywhere fails the target.`,
      `Log queries: ${logQueries.map((q) => `${q.name.split(' (')[0]} ${median(q.ms).toFixed(1)} ms`).join('; ')}.`,
      "Dropping a day: a day of rows copied into a partition before the data, then deleted inside a transaction that is rolled back (what an unpartitioned table's retention does, row by row), then detached CONCURRENTLY and dropped (what maintenance does with partitions).",
      `GIN full-text index (the seed's idx_logs_search, kept on every partition): ingest with it runs at ${((plain / noGin) * 100).toFixed(0)} % of the rate without it (${Math.round(plain).toLocaleString('en-US')} against ${Math.round(noGin).toLocaleString('en-US')} rows/s through one connection); a search within one run of ${(ROWS / RUNS_IN_DATA).toLocaleString('en-US')} rows takes ${median(search.ms).toFixed(2)} ms with it and ${median(noGinSearch).toFixed(2)} ms without (every row of the run re-parsed), growing with the run. Building the index only when a partition closes would leave exactly the newest day — what a user searches while a run is live — on that slower path (pg_trgm was not measured: it answers substring matches, a different question from word search); the write rate with the index stays far above what a pipeline logs (see the throughput and load benchmarks), so the index stays.`,
    ],
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await run();
  process.stdout.write(`${JSON.stringify(result.headline)}\n`);
  writeResult(result);
}
