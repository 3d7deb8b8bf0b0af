import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import pg from 'pg';
import { encodeLogRecord, LOGS_TABLE } from '../exporters/postgres/logRows.js';
import { migrate } from '../exporters/postgres/migrate.js';
import { PostgresLogRecordExporter } from '../exporters/postgres/PostgresLogRecordExporter.js';
import { ResourceInfoCache } from '../exporters/postgres/resourceInfo.js';
import {
  type BenchmarkResult,
  benchServerUrl,
  environment,
  freshDatabase,
  type Measurement,
  makeLogRecords,
  median,
  rawCopyLogs,
  truncateLogs,
  writeResult,
} from './lib.js';

const ROWS = Number(process.env.BENCH_ROWS ?? 100_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const SDK_EXPORT_BATCH = 512;

/**
 * The other sound bulk path (NOTES: multi-row VALUES breaks at 65535 parameters, arrays do not):
 * INSERT … SELECT FROM unnest() with one array parameter per column, 1000 rows per statement,
 * arrays built before timing — measured to choose the write path, not as the target's anchor.
 */
async function arrayInsert(url: string, records: ReadableLogRecord[]): Promise<number> {
  const resources = new ResourceInfoCache(undefined);
  const batches: unknown[][][] = [];
  for (let i = 0; i < records.length; i += 1000) {
    const columns: unknown[][] = LOGS_TABLE.columns.map(() => []);
    for (const record of records.slice(i, i + 1000)) {
      // Decode our own COPY line so both paths store identical values.
      const fields = encodeLogRecord(record, resources).slice(0, -1).split('\t');
      fields.forEach((field, c) => {
        columns[c]!.push(field === '\\N' ? null : field.replace(/\\t/g, '\t').replace(/\\n/g, '\n'));
      });
    }
    batches.push(columns);
  }
  const types = [
    'uuid',
    'text',
    'timestamptz',
    'text',
    'smallint',
    'text',
    'text',
    'text',
    'jsonb',
    'text',
    'text',
    'text',
  ];
  const names = LOGS_TABLE.columns.map((c) => `"${c}"`).join(', ');
  const sql = `INSERT INTO ${LOGS_TABLE.name} (${names}) SELECT * FROM unnest(${types.map((t, i) => `$${i + 1}::${t}[]`).join(', ')})`;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const started = performance.now();
  for (const columns of batches) await client.query({ name: 'bench_unnest', text: sql, values: columns });
  const elapsed = performance.now() - started;
  await client.end();
  return elapsed;
}

async function viaExporter(
  url: string,
  records: ReadableLogRecord[],
  settings: { maxBatchSize: number; concurrency: number },
): Promise<number> {
  const exporter = new PostgresLogRecordExporter({
    connectionString: url,
    batchSize: 100,
    flushIntervalMs: 5000,
    maxQueueSize: records.length,
    poolSize: settings.concurrency + 1,
    ...settings,
  });
  // Open the pool's connections before timing, as a running pipeline would have them.
  const started = performance.now();
  for (let i = 0; i < records.length; i += SDK_EXPORT_BATCH) {
    exporter.export(records.slice(i, i + SDK_EXPORT_BATCH), () => undefined);
    // The SDK processor hands over the next batch on a later tick.
    if ((i / SDK_EXPORT_BATCH) % 8 === 7) await new Promise((r) => setImmediate(r));
  }
  await exporter.forceFlush(600_000);
  const elapsed = performance.now() - started;
  const stats = exporter.stats();
  await exporter.shutdown();
  if (stats.exported !== records.length)
    throw new Error(`exporter stored ${stats.exported} of ${records.length}`);
  return elapsed;
}

export async function run(): Promise<BenchmarkResult> {
  const server = await benchServerUrl();
  const db = await freshDatabase(server.url);
  try {
    await migrate(db.url);
    const records = makeLogRecords(ROWS, 'bench');
    const resources = new ResourceInfoCache(undefined);
    const encoded = records.map((r) => encodeLogRecord(r, resources)); // anchor gets pre-encoded rows
    const settings = { maxBatchSize: 1000, concurrency: 2 };
    const anchorRuns: number[] = [];
    const oursRuns: number[] = [];
    const arrayRuns: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      await truncateLogs(db.url);
      anchorRuns.push((ROWS / (await rawCopyLogs(db.url, encoded))) * 1000);
      await truncateLogs(db.url);
      oursRuns.push((ROWS / (await viaExporter(db.url, records, settings))) * 1000);
      await truncateLogs(db.url);
      arrayRuns.push((ROWS / (await arrayInsert(db.url, records))) * 1000);
      process.stderr.write(
        `  run ${r + 1}/${RUNS}: raw COPY ${Math.round(anchorRuns.at(-1)!)} rows/s, pipetel ${Math.round(oursRuns.at(-1)!)} rows/s, array INSERT ${Math.round(arrayRuns.at(-1)!)} rows/s\n`,
      );
    }
    const measurements: Measurement[] = [
      {
        name: 'raw COPY, pre-encoded rows, one stream',
        side: 'anchor',
        unit: 'rows/s',
        median: median(anchorRuns),
        runs: anchorRuns,
      },
      {
        name: 'PostgresLogRecordExporter (encode + COPY, from export() to committed)',
        side: 'pipetel',
        unit: 'rows/s',
        median: median(oursRuns),
        runs: oursRuns,
      },
      {
        name: 'array-parameter INSERT … SELECT FROM unnest(), 1000 rows per statement, one connection (write-path choice)',
        side: 'anchor',
        unit: 'rows/s',
        median: median(arrayRuns),
        runs: arrayRuns,
      },
    ];
    const ratio = median(oursRuns) / median(anchorRuns);
    return {
      benchmark: 'throughput',
      description: `${ROWS.toLocaleString('en-US')} log rows into pipeline_logs with all schema indexes (incl. the GIN full-text index), ${RUNS} alternating runs`,
      target: 'pipetel ≥ 0.9 × raw COPY',
      headline: { label: 'pipetel / raw COPY', value: ratio, unit: '×', meetsTarget: ratio >= 0.9 },
      measurements,
      environment: environment({
        server: server.label,
        rows: ROWS,
        maxBatchSize: settings.maxBatchSize,
        concurrency: settings.concurrency,
      }),
    };
  } finally {
    await db.drop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await run();
  process.stdout.write(`${JSON.stringify(result.headline)}\n`);
  writeResult(result);
}
