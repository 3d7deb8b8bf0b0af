// `pipetel progress [RUN] [--watch] [--json]`: a run's progress nodes as bars with rate and ETA.
// --watch redraws them in place on a terminal (a new block per change when piped) every second
// until the run ends or Ctrl-C; progress rows are upserted by the writer every
// progress_update_interval, so a faster redraw would show nothing new.

import { parseArgs } from 'node:util';
import type { ProgressRow, RunReader, RunRow } from '../db/runReader.js';
import { formatDuration, printable, UsageError, withReader, writeJson } from './reading.js';

const WATCH_INTERVAL_MS = 1_000;
const BAR_WIDTH = 24;

export async function progress(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      watch: { type: 'boolean', short: 'w', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  if (positionals.length > 1) throw new UsageError(`expects at most one RUN, got ${positionals.length}`);
  return withReader(async (reader) => {
    const run = await reader.resolveRun(positionals[0]);
    if (!values.watch) {
      const rows = await reader.progress(run.experiment_id);
      if (values.json) writeJson(rows);
      else process.stdout.write(progressText(run, rows));
      return 0;
    }
    await watch(reader, run.experiment_id, values.json === true);
    return 0;
  });
}

async function watch(reader: RunReader, experimentId: string, json: boolean): Promise<void> {
  const tty = process.stdout.isTTY === true && !json;
  let drawnLines = 0;
  let last = '';
  let stopped = false;
  const stop = () => {
    stopped = true;
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    while (!stopped) {
      const run = await reader.resolveRun(experimentId);
      const rows = await reader.progress(experimentId);
      const text = json
        ? `${JSON.stringify({ run: run.experiment_id, status: run.status, nodes: rows })}\n`
        : progressText(run, rows);
      if (text !== last) {
        // Move the cursor up over the previous block and clear to the end of the screen.
        if (tty && drawnLines > 0) process.stdout.write(`\x1b[${drawnLines}A\x1b[J`);
        process.stdout.write(text);
        drawnLines = text.split('\n').length - 1;
        last = text;
      }
      if (run.status !== 'running') return;
      await new Promise<void>((resolve) => setTimeout(resolve, WATCH_INTERVAL_MS).unref());
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

export function progressText(run: RunRow, rows: ProgressRow[]): string {
  const head = `run ${printable(run.experiment_id)}  ${run.status}  ${formatDuration(run.duration_ms)}\n`;
  if (rows.length === 0) return `${head}  no progress reported\n`;
  const nameWidth = Math.max(...rows.map((r) => printable(r.node_id).length));
  return (
    head +
    rows
      .map((r) => {
        const fraction = r.total ? Math.min(1, r.completed / r.total) : undefined;
        const filled = fraction === undefined ? 0 : Math.round(fraction * BAR_WIDTH);
        const bar =
          fraction === undefined
            ? ' '.repeat(BAR_WIDTH)
            : '█'.repeat(filled) + '░'.repeat(BAR_WIDTH - filled);
        const percent = fraction === undefined ? '   ?' : `${Math.floor(fraction * 100)}%`.padStart(4);
        const counts = `${fmt(r.completed)}/${r.total === null ? '?' : fmt(r.total)}`;
        const rate = r.rate === null ? '' : `  ${fmt(Math.round(r.rate))}/s`;
        const eta =
          r.status === 'running' && r.eta_seconds !== null
            ? `  ETA ${formatDuration(r.eta_seconds * 1000)}`
            : '';
        return `  ${printable(r.node_id).padEnd(nameWidth)} ${bar} ${percent}  ${counts}${rate}${eta}  ${r.status}${r.error ? `: ${printable(r.error)}` : ''}\n`;
      })
      .join('')
  );
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}
