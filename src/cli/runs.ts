// `pipetel runs` (the latest runs, newest first) and `pipetel show [RUN]` (one run: its stage tree
// with durations, CPU and peak RSS, progress, metrics and first errors).

import { parseArgs } from 'node:util';
import { type ExperimentSummary, latestPoint } from '../db/queries.js';
import type { RunRow } from '../db/runReader.js';
import {
  formatDuration,
  formatTime,
  indent,
  parseLimit,
  parseSince,
  printable,
  statusText,
  table,
  UsageError,
  withReader,
  writeJson,
} from './reading.js';

const STATUSES = ['running', 'succeeded', 'failed'];

export async function runs(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      status: { type: 'string' },
      since: { type: 'string' },
      limit: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  if (values.status !== undefined && !STATUSES.includes(values.status)) {
    throw new UsageError(`--status expects one of ${STATUSES.join(', ')}, got "${values.status}"`);
  }
  const filter = {
    status: values.status,
    since: parseSince(values.since),
    limit: parseLimit(values.limit, 20),
  };
  return withReader(async (reader) => {
    const rows = await reader.runs(filter);
    if (values.json) writeJson(rows);
    else if (rows.length === 0) process.stdout.write('no runs match\n');
    else process.stdout.write(runsTable(rows));
    return 0;
  });
}

function runsTable(rows: RunRow[]): string {
  return table(
    ['RUN', 'SERVICE', 'STATUS', 'STARTED', 'DURATION', 'ERRORS'],
    rows.map((r) => [
      printable(r.experiment_id),
      printable(r.service_name),
      statusText(r, false),
      formatTime(r.started_at),
      formatDuration(r.duration_ms),
      String(r.errors),
    ]),
    [4, 5],
  );
}

export async function show(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { json: { type: 'boolean', default: false } },
  });
  if (positionals.length > 1) throw new UsageError(`expects at most one RUN, got ${positionals.length}`);
  return withReader(async (reader) => {
    const run = await reader.resolveRun(positionals[0]);
    const summary = await reader.summary(run.experiment_id);
    if (values.json) writeJson({ run, ...summary });
    else process.stdout.write(showText(run, summary));
    return 0;
  });
}

export function showText(run: RunRow, s: ExperimentSummary): string {
  const out: string[] = [];
  out.push(
    `run ${printable(run.experiment_id)}  service ${printable(run.service_name)}  ${statusText(run)}` +
      (run.status_reason ? ` (${printable(run.status_reason)})` : ''),
    `started ${formatTime(run.started_at)}  ${
      run.live && run.status !== 'running'
        ? `last record ${formatTime(run.ended_at ?? run.last_seen_at)}`
        : run.ended_at
          ? `ended ${formatTime(run.ended_at)}`
          : `last seen ${formatTime(run.last_seen_at)}`
    }  duration ${formatDuration(run.duration_ms)}`,
    '',
  );
  if (s.stages.length > 0) {
    // A fleet's run (several processes, through a gateway or not): which one ran each stage.
    const fleet = new Set(s.stages.map((st) => st.worker)).size > 1;
    out.push('stages');
    out.push(
      indent(
        table(
          ['STAGE', 'DURATION', 'CPU USER', 'CPU SYS', 'PEAK RSS', 'STATUS', ...(fleet ? ['WORKER'] : [])],
          s.stages.map((st) => [
            `${'  '.repeat(st.depth)}${printable(st.name)}`,
            formatDuration(st.duration_ms),
            formatDuration(st.cpu_user_ms),
            formatDuration(st.cpu_system_ms),
            st.rss_peak_mb === null ? '-' : `${st.rss_peak_mb} MB`,
            st.status_code,
            ...(fleet ? [st.worker === null ? '-' : printable(st.worker)] : []),
          ]),
          [1, 2, 3, 4],
        ),
      ),
      '',
    );
  }
  if (s.progress.length > 0) {
    out.push('progress');
    out.push(
      indent(
        table(
          ['NODE', 'DONE', 'TOTAL', 'STATUS', 'RATE'],
          s.progress.map((p) => [
            printable(p.node_id),
            String(p.completed),
            p.total === null ? '?' : String(p.total),
            p.status,
            p.rate === null ? '-' : `${Math.round(p.rate).toLocaleString('en-US')}/s`,
          ]),
          [1, 2, 4],
        ),
      ),
      '',
    );
  }
  out.push(`logs  ${s.logsByLevel.map((l) => `${l.level} ${l.count}`).join('  ') || 'none'}`);
  for (const e of s.errors) {
    out.push(
      `  ${e.level} ${printable(e.logger_name)}: ${printable(e.message)}${e.traceback_lines ? ` [traceback: ${e.traceback_lines} lines]` : ''}`,
    );
  }
  if (s.metrics.length > 0) {
    out.push('', 'metrics');
    out.push(
      indent(
        table(
          ['NAME', 'KIND', 'POINTS', 'SERIES', 'LATEST'],
          s.metrics.map((m) => [
            printable(m.name),
            m.kind,
            String(m.points),
            String(m.series),
            latestPoint(m) ?? '-',
          ]),
          [2, 3, 4],
        ),
      ),
    );
  }
  const id = printable(run.experiment_id);
  out.push(
    '',
    `more: pipetel logs ${id} [--level ERROR] [--search TEXT]   pipetel export ${id} --format csv`,
    '',
  );
  return out.join('\n');
}
