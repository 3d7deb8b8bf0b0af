// `pipetel demo [--items N]`: runs the example pipeline through register() on the configured or
// embedded database, then prints what was stored, read back from the database.

import { parseArgs } from 'node:util';
import pg from 'pg';
import { loadConfig } from '../config/index.js';
import { connect } from '../db/DatabaseConnectError.js';
import { experimentSummary, latestPoint } from '../db/queries.js';
import { runExamplePipeline } from '../demo/examplePipeline.js';
import { register } from '../registry.js';
import { resolveDatabaseUrl } from '../telemetry.js';
import { connecting } from './reading.js';

/** Short intervals so a demo of a few seconds shows resource samples and progress history. */
const DEMO_CONFIG = {
  logging: { level: 'DEBUG' as const },
  monitoring: {
    resource_sample_interval: 1,
    metrics_interval: 1,
    progress_update_interval: 1,
    aggregate_metrics: false,
  },
};

export async function demo(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { items: { type: 'string', default: '20000' }, 'experiment-id': { type: 'string' } },
  });
  const items = Number(values.items);
  if (!Number.isInteger(items) || items <= 0) {
    process.stderr.write(`pipetel demo: --items expects a positive integer, got "${values.items}"\n`);
    return 2;
  }
  const config = loadConfig({
    serviceName: 'pipetel-demo',
    experimentId: values['experiment-id'],
    config: DEMO_CONFIG,
  });
  // The embedded server's first start (initdb) takes seconds the pipeline did not: timed apart.
  const resolving = Date.now();
  const databaseUrl = await resolveDatabaseUrl(config);
  const embeddedStartMs = config.values.database.url ? undefined : Date.now() - resolving;
  if (!databaseUrl) {
    process.stderr.write(
      config.values.database.enabled
        ? 'pipetel demo: no database to write to: set database.url (or PIPETEL_DATABASE_URL), or let the embedded server start (see any warning above)\n'
        : 'pipetel demo: database.enabled is false (PIPETEL_DATABASE_ENABLED): the demo writes to and reads from a database, so it needs it on\n',
    );
    return 1;
  }
  // A database.url that does not answer fails here, naming the setting, before the pipeline runs
  // (register() would carry on and spool everything, and the summary fail only at the end).
  await connecting(config, async () => {
    const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 10_000 });
    client.on('error', () => undefined);
    await connect(client, databaseUrl);
    await client.end();
  });
  const started = Date.now();
  const tel = await register({
    serviceName: 'pipetel-demo',
    experimentId: values['experiment-id'],
    databaseUrl,
    config: DEMO_CONFIG,
  });
  process.stdout.write(`experiment ${tel.experimentId}: running the example pipeline on ${items} items…\n`);
  await runExamplePipeline(tel, { items });
  const ownCost = tel.profile();
  await tel.shutdown();
  const stats = tel.stats();
  process.stdout.write(
    printSummary(
      await experimentSummary(databaseUrl, tel.experimentId),
      Date.now() - started,
      embeddedStartMs,
      stats,
    ),
  );
  process.stdout.write(
    `pipetel's own cost during the run (tel.profile(), estimated): ${ownCost.cpuOverheadPercent.toFixed(2)} % ` +
      `of the pipeline's CPU time (${ownCost.ownCpuMs.toFixed(1)} of ${ownCost.processCpuMs.toFixed(0)} ms)\n`,
  );
  process.stdout.write(nextSteps(tel.experimentId));
  return 0;
}

/** The embedded server's start, when there was one to wait for (it is reused from then on). */
function startedFirst(embeddedStartMs: number | undefined): string {
  if (embeddedStartMs === undefined || embeddedStartMs < 100) return '';
  return ` (after ${(embeddedStartMs / 1000).toFixed(1)} s starting the embedded PostgreSQL, reused by later runs)`;
}

/** The reading commands, for the run just made. */
function nextSteps(run: string): string {
  const steps: Array<[command: string, what: string]> = [
    [`npx pipetel show ${run}`, 'stage tree, CPU and peak RSS, progress, errors'],
    [
      `npx pipetel logs ${run} --level WARNING`,
      'log lines (--stage S, --search TEXT, --follow on a live run)',
    ],
    [`npx pipetel progress ${run}`, 'progress bars with rate and ETA (--watch on a live run)'],
    [`npx pipetel export ${run} --format csv`, "the run's logs as CSV (--table spans|metrics|progress)"],
    ['npx pipetel runs', 'every run, newest first (RUN defaults to the latest)'],
    ['npx pipetel stats; npx pipetel doctor', 'pipetel itself: throughput, sizes, health'],
  ];
  const width = Math.max(...steps.map(([command]) => command.length));
  const lines = steps.map(([command, what]) => `  ${command.padEnd(width)}  # ${what}`);
  return `\nRead this run again without SQL:\n${lines.join('\n')}\n`;
}

function printSummary(
  s: Awaited<ReturnType<typeof experimentSummary>>,
  elapsedMs: number,
  embeddedStartMs: number | undefined,
  stats: ReturnType<Awaited<ReturnType<typeof register>>['stats']>,
): string {
  const out: string[] = [];
  const e = s.experiment;
  out.push(
    '',
    `Experiment ${e?.experiment_id}  service=${e?.service_name}  status=${e?.status}${e?.status_reason ? ` (${e.status_reason})` : ''}`,
  );
  out.push(`  finished in ${(elapsedMs / 1000).toFixed(1)} s${startedFirst(embeddedStartMs)}`);
  // The demo's validate stage fails on purpose and the pipeline carries on: say so, or the
  // ERROR row below reads as contradicting the run's status.
  out.push(
    "  (the 'validate' stage fails on purpose: its span is ERROR, its error logged with the stack trace,",
    '   and the pipeline catches it and carries on, so the run itself succeeds)',
    '',
  );
  out.push('Stages (from pipeline_spans)');
  out.push(
    `  ${'stage'.padEnd(22)} ${'duration'.padStart(10)} ${'cpu user'.padStart(9)} ${'cpu sys'.padStart(8)} ${'peak rss'.padStart(9)}  status`,
  );
  for (const st of s.stages) {
    const name = `${'  '.repeat(st.depth)}${st.name}`;
    out.push(
      `  ${name.padEnd(22)} ${fmtMs(st.duration_ms).padStart(10)} ${fmtMs(st.cpu_user_ms).padStart(9)} ${fmtMs(st.cpu_system_ms).padStart(8)} ${(st.rss_peak_mb === null ? '-' : `${st.rss_peak_mb} MB`).padStart(9)}  ${st.status_code}`,
    );
  }
  out.push('', 'Progress (from pipeline_progress)');
  for (const p of s.progress) {
    const total = p.total === null ? '?' : String(p.total);
    const rate = p.rate === null ? '' : `  ${Math.round(p.rate).toLocaleString('en-US')} items/s`;
    out.push(
      `  ${p.node_id.padEnd(12)} ${`${p.completed}/${total}`.padStart(14)}  ${p.status.padEnd(7)}${rate}`,
    );
  }
  out.push('', 'Logs by level (from pipeline_logs)');
  out.push(`  ${s.logsByLevel.map((l) => `${l.level} ${l.count}`).join('   ')}`);
  for (const err of s.errors) {
    out.push(
      `  ${err.level} ${err.logger_name}: ${err.message}${err.traceback_lines ? ` [traceback: ${err.traceback_lines} lines]` : ''}`,
    );
  }
  out.push('', 'Metrics (from pipeline_metrics)');
  for (const m of s.metrics) {
    const latest = latestPoint(m);
    const last = latest === undefined ? `  ${m.series} series` : `  latest ${latest}`;
    out.push(`  ${m.name.padEnd(36)} ${m.kind.padEnd(9)} ${String(m.points).padStart(4)} points${last}`);
  }
  out.push('', 'Rows stored for this experiment');
  for (const [table, n] of Object.entries(s.rowsPerTable)) out.push(`  ${table.padEnd(20)} ${n}`);
  out.push('', `Exporter stats: ${JSON.stringify(stats)}`, '');
  return out.join('\n');
}

function fmtMs(ms: number | null): string {
  if (ms === null || ms === undefined) return '-';
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`;
}
