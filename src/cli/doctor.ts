// `pipetel doctor [--json]`: is this installation able to store and show runs? Checks the database
// (reachable, migrations applied, the schema's indexes and live-tail trigger present), the
// embedded server, and the spool backlog, and prints one line per check. Exit 1 when a check
// fails; warnings (records waiting in the spool, pending migrations that register() will apply)
// leave it 0.

import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { spoolDirectory } from '../../exporters/delivery/Spool.js';
import { redactUrl, safeErrorMessage } from '../../exporters/postgres/connectionSecrets.js';
import { migrationStatus } from '../../exporters/postgres/migrate.js';
import { loadConfig } from '../config/index.js';
import type { PartitioningMode } from '../config/types.js';
import { embeddedStatus, ensureEmbeddedPostgres } from '../db/embedded/index.js';
import { currentPartitioning } from '../db/storeMaintenance.js';
import { formatBytes, writeJson } from './reading.js';

type Verdict = 'ok' | 'warn' | 'fail';
interface Check {
  check: string;
  verdict: Verdict;
  detail: string;
}

/** What migration 0001 and 0003 create and reading relies on. */
const EXPECTED_INDEXES = [
  'idx_logs_experiment_time',
  'idx_logs_level_time',
  'idx_logs_logger_time',
  'idx_logs_search',
  'idx_progress_experiment_node',
  'idx_metrics_experiment_time',
  'idx_spans_experiment_time',
  'idx_spans_parent',
  'idx_experiments_started',
  'idx_logs_experiment_errors',
];
const CONNECT_TIMEOUT_MS = 5_000;

export async function doctor(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { json: { type: 'boolean', default: false } } });
  const config = loadConfig();
  const checks: Check[] = [];
  const add = (check: string, verdict: Verdict, detail: string) => checks.push({ check, verdict, detail });

  let url = config.values.database.url;
  if (!config.values.database.enabled) {
    // A worker behind a Collector / pipetel gateway: nothing of its own to check (and no embedded
    // server to make in its directory).
    const { otlp } = config.values;
    if (otlp.enabled || otlp.endpoint !== null)
      add('database', 'ok', 'disabled (database.enabled: false): telemetry goes to OTLP only');
    else
      add(
        'database',
        'warn',
        'disabled (database.enabled: false) and OTLP is off: traces, metrics and progress go nowhere',
      );
    if (url) add('database.url', 'warn', `${redactUrl(url)} has no effect: database.enabled is false`);
    url = null;
  } else if (url) add('database', 'ok', `configured: ${redactUrl(url)}`);
  else {
    const before = await embeddedStatus({ home: config.home });
    if (!before.initialized) {
      // Run outside the pipeline's directory (or before its first run): nothing to check, and a
      // health check must not make a server here.
      add(
        'database',
        'warn',
        `none here: no database.url and no embedded server under ${config.home} (the first register() or \`pipetel db start\` makes it; or run this in the pipeline's directory, or set PIPETEL_HOME / PIPETEL_DATABASE_URL)`,
      );
    } else
      try {
        url = (await ensureEmbeddedPostgres({ home: config.home })).url;
        add(
          'embedded server',
          'ok',
          `${before.running ? 'running' : before.initialized ? 'started' : 'initialized and started'} (data in ${before.dataDir})`,
        );
      } catch (error) {
        add(
          'embedded server',
          'fail',
          `cannot start: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
  }
  if (url)
    await checkDatabase(url, config.values.database.auto_migrate, config.values.database.partitioning, add);
  await checkSpool(spoolDirectory(config.home), add);

  if (values.json) writeJson(checks);
  else {
    const mark = { ok: 'ok  ', warn: 'warn', fail: 'FAIL' };
    for (const c of checks) process.stdout.write(`${mark[c.verdict]}  ${c.check.padEnd(16)} ${c.detail}\n`);
  }
  return checks.some((c) => c.verdict === 'fail') ? 1 : 0;
}

async function checkDatabase(
  url: string,
  autoMigrate: boolean,
  partitioning: PartitioningMode,
  add: (check: string, verdict: Verdict, detail: string) => void,
): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    add('reachable', 'fail', `cannot connect to ${redactUrl(url)}: ${safeErrorMessage(error, url)}`);
    return;
  }
  try {
    const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
    add('reachable', 'ok', `PostgreSQL ${rows[0]?.server_version}`);
    const migrations = await migrationStatus(client);
    const pending = migrations.filter((m) => !m.applied);
    if (pending.length === 0) add('migrations', 'ok', `all ${migrations.length} applied`);
    else {
      const names = pending.map((m) => `${String(m.version).padStart(4, '0')} ${m.name}`).join(', ');
      add(
        'migrations',
        autoMigrate ? 'warn' : 'fail',
        `pending: ${names} (${autoMigrate ? 'register() applies them at start' : 'database.auto_migrate is off: run `pipetel migrate`'})`,
      );
      if (pending.length === migrations.length) return; // no schema yet: nothing more to check
    }
    const present = new Set(
      (
        await client.query<{ indexname: string }>(
          'SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND indexname = ANY($1)',
          [EXPECTED_INDEXES],
        )
      ).rows.map((r) => r.indexname),
    );
    const missing = EXPECTED_INDEXES.filter((name) => !present.has(name));
    add(
      'indexes',
      missing.length ? 'fail' : 'ok',
      missing.length ? `missing: ${missing.join(', ')}` : `${EXPECTED_INDEXES.length} present`,
    );
    const trigger = await client.query(
      "SELECT 1 FROM pg_trigger WHERE tgname = 'pipetel_logs_notify' AND NOT tgisinternal AND tgenabled <> 'D'",
    );
    if (pending.length === 0) {
      add(
        'live tail',
        trigger.rowCount ? 'ok' : 'fail',
        trigger.rowCount
          ? 'pipeline_logs notifies new batches'
          : 'trigger pipetel_logs_notify missing or disabled',
      );
    }
    if (pending.length === 0) await checkPartitions(client, partitioning, add);
  } catch (error) {
    add('schema', 'fail', safeErrorMessage(error, url));
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Tables partitioned as configured, with a partition for the current period (writers make missing ones on demand). */
async function checkPartitions(
  client: pg.Client,
  configured: PartitioningMode,
  add: (check: string, verdict: Verdict, detail: string) => void,
): Promise<void> {
  const current = await currentPartitioning(client);
  if (current === 'none') {
    if (configured === 'none') add('partitioning', 'ok', 'none (database.partitioning: none)');
    else
      add(
        'partitioning',
        'warn',
        `database.partitioning is ${configured} but the tables are not partitioned: run \`pipetel migrate --partitioning ${configured}\``,
      );
    return;
  }
  const { rows } = await client.query<{ parent: string; partitions: number; ahead: number }>(
    `SELECT t AS parent, count(p.partition)::int AS partitions,
            count(p.partition) FILTER (WHERE p.upper_bound > now())::int AS ahead
       FROM unnest(ARRAY['pipeline_logs', 'pipeline_spans', 'pipeline_metrics']) t
       LEFT JOIN LATERAL pipetel_partitions_before(t, 'infinity') p ON true
      GROUP BY t ORDER BY t`,
  );
  const missing = rows.filter((r) => r.ahead === 0).map((r) => r.parent);
  const detail = rows.map((r) => `${r.parent} ${r.partitions} (${r.ahead} current or ahead)`).join(', ');
  const mismatch =
    configured !== current && configured !== 'none'
      ? ` (database.partitioning says ${configured}; the period cannot change)`
      : '';
  add(
    'partitioning',
    missing.length > 0 || mismatch ? 'warn' : 'ok',
    `${current}: ${detail}${mismatch}${missing.length ? `; none for today in ${missing.join(', ')}: writers make it on demand, \`pipetel maintain\` ahead of time` : ''}`,
  );
}

/** Segment files waiting under $PIPETEL_HOME/spool (one directory per writing process). */
async function checkSpool(directory: string, add: (check: string, verdict: Verdict, detail: string) => void) {
  let segments = 0;
  let bytes = 0;
  const entries = await readdir(directory, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    const files = await readdir(join(directory, entry.name)).catch(() => [] as string[]);
    for (const file of files) {
      if (!file.startsWith('segment-')) continue;
      const size = (await stat(join(directory, entry.name, file)).catch(() => undefined))?.size ?? 0;
      if (size === 0) continue;
      segments++;
      bytes += size;
    }
  }
  if (segments === 0) add('spool', 'ok', `empty (${directory})`);
  else
    add(
      'spool',
      'warn',
      `${segments} segment${segments === 1 ? '' : 's'} (${formatBytes(bytes)}) not yet in the database: a running process replays them, or run \`pipetel sync\` (it names any written for another database: sync against that one, or \`--any-database\` takes them here)`,
    );
}
