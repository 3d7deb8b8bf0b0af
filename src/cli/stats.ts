// `pipetel stats [--window MINUTES] [--json]`: the monitoring system watching itself — the seed's
// "Monitoring the Monitoring System" queries (logs per minute, batch efficiency) plus pipetel's own
// counters (exported, spooled, dropped, failed), batch write latency, and table and index sizes.

import { parseArgs } from 'node:util';
import type { MonitoringStats } from '../db/runReader.js';
import { formatBytes, formatTime, indent, parseLimit, table, withReader, writeJson } from './reading.js';

export async function stats(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { window: { type: 'string' }, json: { type: 'boolean', default: false } },
  });
  const windowMinutes = parseLimit(values.window, 60, '--window');
  return withReader(async (reader) => {
    const s = await reader.stats(windowMinutes);
    if (values.json) writeJson(s);
    else process.stdout.write(statsText(s, windowMinutes));
    return 0;
  });
}

function statsText(s: MonitoringStats, windowMinutes: number): string {
  const out: string[] = [`last ${windowMinutes} minutes`, ''];
  const recent = s.logsPerMinute.slice(0, 10);
  out.push('logs per minute (newest first)');
  if (recent.length === 0) out.push('  none stored in the window');
  else {
    const batches = new Map(s.batchEfficiency.map((b) => [b.minute.getTime(), b]));
    out.push(
      indent(
        table(
          ['MINUTE', 'LOGS', 'AVG MESSAGE', 'MAX TRACEBACK', 'BATCHES', 'AVG BATCH'],
          recent.map((m) => {
            const b = batches.get(m.minute.getTime());
            return [
              formatTime(m.minute).slice(0, 16),
              String(m.logs),
              `${m.avg_message_size} chars`,
              m.max_traceback_size === null ? '-' : `${m.max_traceback_size} chars`,
              String(b?.batches ?? '-'),
              String(b?.avg_batch_size ?? '-'),
            ];
          }),
          [1, 2, 3, 4, 5],
        ),
      ),
    );
  }
  out.push('', "records (pipetel's own counters, processes reporting in the window)");
  if (s.records.length === 0)
    out.push('  no self-metrics in the window (they are written every metrics_interval)');
  else
    out.push(
      indent(
        table(
          ['SIGNAL', 'EXPORTED', 'SPOOLED', 'DROPPED', 'FAILED'],
          s.records.map((r) => [
            r.signal,
            String(r.exported),
            String(r.spooled),
            String(r.dropped),
            String(r.failed),
          ]),
          [1, 2, 3, 4],
        ),
      ),
    );
  if (s.writeLatency.length > 0) {
    out.push('', 'batch write latency');
    out.push(
      indent(
        table(
          ['SIGNAL', 'BATCHES', 'AVG', 'MAX'],
          s.writeLatency.map((w) => [
            w.signal,
            String(w.batches),
            w.avg_ms === null ? '-' : `${w.avg_ms} ms`,
            w.max_ms === null ? '-' : `${w.max_ms} ms`,
          ]),
          [1, 2, 3],
        ),
      ),
    );
  }
  out.push('', 'tables');
  out.push(
    indent(
      table(
        ['TABLE', 'ROWS (EST.)', 'TABLE SIZE', 'INDEX SIZE'],
        s.tables.map((t) => [
          t.table,
          String(Math.round(t.rows)),
          formatBytes(t.table_bytes),
          formatBytes(t.index_bytes),
        ]),
        [1, 2, 3],
      ),
    ),
  );
  out.push('', 'indexes');
  out.push(
    indent(
      table(
        ['INDEX', 'TABLE', 'SIZE', 'SCANS'],
        s.indexes.map((i) => [i.index, i.table, formatBytes(i.bytes), String(i.scans)]),
        [2, 3],
      ),
    ),
  );
  return `${out.join('\n')}\n`;
}
