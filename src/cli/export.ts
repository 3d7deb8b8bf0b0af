// `pipetel export [RUN] [--format jsonl|csv] [--table logs|spans|metrics|progress] [--output FILE]`:
// one run's rows of one table (logs by default), in time order, streamed from the server with
// COPY … TO STDOUT so a run of millions of rows never sits in memory.

import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { to as copyTo } from 'pg-copy-streams';
import { EXPORT_TABLES, type ExportTable, RunReader } from '../db/runReader.js';
import { UsageError, withReader } from './reading.js';

const FORMATS = ['jsonl', 'csv'] as const;

export async function exportRun(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      format: { type: 'string', default: 'jsonl' },
      table: { type: 'string', default: 'logs' },
      output: { type: 'string', short: 'o' },
    },
  });
  if (positionals.length > 1) throw new UsageError(`expects at most one RUN, got ${positionals.length}`);
  const format = values.format as (typeof FORMATS)[number];
  if (!FORMATS.includes(format))
    throw new UsageError(`--format expects jsonl or csv, got "${values.format}"`);
  const tables = Object.keys(EXPORT_TABLES);
  if (!tables.includes(values.table!)) {
    throw new UsageError(`--table expects one of ${tables.join(', ')}, got "${values.table}"`);
  }
  return withReader(async (reader) => {
    const run = await reader.resolveRun(positionals[0]);
    const client = reader.connection;
    const sql = RunReader.exportQuery(values.table as ExportTable, format).replace(
      '%RUN%',
      client.escapeLiteral(run.experiment_id),
    );
    const target: Writable = values.output ? createWriteStream(values.output) : process.stdout;
    await pipeline(client.query(copyTo(sql)), target, { end: values.output !== undefined });
    if (values.output)
      process.stderr.write(`wrote ${values.table} of run ${run.experiment_id} to ${values.output}\n`);
    return 0;
  });
}
