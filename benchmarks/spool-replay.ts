// How long a full spool takes to come back (issue 4 item 8): 100k log rows spooled to disk the way
// the delivery queue spills them (batches through Spool.append), then one LogSynchronizer.syncOnce()
// replaying them into pipeline_logs of a fresh database through the idempotent path (staging
// table + INSERT … ON CONFLICT DO NOTHING). A raw COPY of the same rows is the anchor.
// Run alone: node --import tsx benchmarks/spool-replay.ts [--json]

import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Spool, spoolDirectory } from '../exporters/delivery/Spool.js';
import { encodeLogRecord, LOGS_TABLE } from '../exporters/postgres/logRows.js';
import { migrate } from '../exporters/postgres/migrate.js';
import { ResourceInfoCache } from '../exporters/postgres/resourceInfo.js';
import { LogSynchronizer } from '../src/sync/LogSynchronizer.js';
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
} from './lib.js';
import { isQuick, printChildResult, type SummarizedResult } from './run.js';

const ROWS = Number(process.env.BENCH_ROWS ?? (isQuick() ? 20_000 : 100_000));
const RUNS = Number(process.env.BENCH_RUNS ?? (isQuick() ? 1 : 3));
/** spool.batch_size default, and the delivery queue's default max batch (what one spill holds). */
const REPLAY_BATCH = 1000;
const SPILL_BATCH = 1000;

function encodedRows(count: number): string[] {
  const resources = new ResourceInfoCache(undefined);
  return makeLogRecords(count, 'bench-spool').map((record) => encodeLogRecord(record, resources));
}

async function spoolAll(home: string, lines: string[]): Promise<number> {
  const spool = new Spool({ dir: spoolDirectory(home) });
  const started = performance.now();
  for (let i = 0; i < lines.length; i += SPILL_BATCH)
    await spool.append(LOGS_TABLE.name, lines.slice(i, i + SPILL_BATCH));
  await spool.close();
  return performance.now() - started;
}

async function replay(home: string, url: string): Promise<{ ms: number; segments: number }> {
  const sync = new LogSynchronizer({ home, connectionString: url, batchSize: REPLAY_BATCH });
  try {
    const started = performance.now();
    const result = await sync.syncOnce();
    const ms = performance.now() - started;
    if (result.replayed !== ROWS || result.corrupt !== 0 || result.remaining !== 0)
      throw new Error(`replay stored ${result.replayed} of ${ROWS}: ${JSON.stringify(result)}`);
    return { ms, segments: result.segments };
  } finally {
    await sync.stop();
  }
}

export async function run(): Promise<SummarizedResult> {
  const server = await benchServerUrl();
  const db = await freshDatabase(server.url);
  const home = await mkdtemp(join(tmpdir(), 'pipetel-bench-spool-'));
  await chmod(home, 0o700);
  try {
    await migrate(db.url);
    const lines = encodedRows(ROWS);
    const replaySeconds: number[] = [];
    const replayRate: number[] = [];
    const spoolRate: number[] = [];
    const copyRate: number[] = [];
    let segments = 0;
    for (let r = 0; r < RUNS; r++) {
      await truncateLogs(db.url);
      spoolRate.push((ROWS / (await spoolAll(home, lines))) * 1000);
      const replayed = await replay(home, db.url);
      segments = replayed.segments;
      replaySeconds.push(replayed.ms / 1000);
      replayRate.push((ROWS / replayed.ms) * 1000);
      await truncateLogs(db.url);
      copyRate.push((ROWS / (await rawCopyLogs(db.url, lines))) * 1000);
      process.stderr.write(
        `  run ${r + 1}/${RUNS}: spool ${Math.round(spoolRate.at(-1)!)} rows/s, replay ${replaySeconds.at(-1)!.toFixed(2)} s` +
          ` (${Math.round(replayRate.at(-1)!)} rows/s), raw COPY ${Math.round(copyRate.at(-1)!)} rows/s\n`,
      );
    }
    const measurements: Measurement[] = [
      {
        name: `full replay of ${ROWS} spooled rows (syncOnce)`,
        side: 'pipetel',
        unit: 's',
        median: median(replaySeconds),
        runs: replaySeconds,
      },
      {
        name: 'replay rate (claim, read, verify, staging COPY, INSERT … ON CONFLICT, delete)',
        side: 'pipetel',
        unit: 'rows/s',
        median: median(replayRate),
        runs: replayRate,
      },
      {
        name: 'spooling rate (Spool.append, batches of 1000)',
        side: 'pipetel',
        unit: 'rows/s',
        median: median(spoolRate),
        runs: spoolRate,
      },
      {
        name: 'raw COPY of the same rows, one stream',
        side: 'anchor',
        unit: 'rows/s',
        median: median(copyRate),
        runs: copyRate,
      },
    ];
    const seconds = median(replaySeconds);
    const result: BenchmarkResult = {
      benchmark: 'spool-replay',
      description: `${ROWS.toLocaleString('en-US')} log rows spooled to disk, then replayed by one LogSynchronizer.syncOnce() into pipeline_logs (all schema indexes, incl. the GIN full-text index), ${RUNS} runs; raw COPY of the same rows as the anchor.`,
      target: 'none in SPEC §8: reported for context (issue 4 item 8)',
      headline: {
        label: `full replay of ${ROWS.toLocaleString('en-US')} rows`,
        value: seconds,
        unit: 's',
        meetsTarget: true,
      },
      measurements,
      environment: environment({
        server: server.label,
        rows: ROWS,
        replayBatch: REPLAY_BATCH,
        segments,
        quick: isQuick() ? 'yes' : 'no',
      }),
      notes: [
        'Replay goes through the idempotent path on purpose: a spooled batch may have been committed before the connection broke, so every replayed row is deduplicated against the table (COPY into a per-connection staging table, then INSERT … ON CONFLICT DO NOTHING), two batches in flight.',
        'The replay time covers claiming each segment (rename), reading and checksumming every line, writing, and deleting the segment after its last commit.',
      ],
    };
    return {
      ...result,
      summary: [
        {
          what: `spool replay: ${ROWS.toLocaleString('en-US')} rows`,
          pipetel: { label: 'syncOnce', value: median(replayRate), unit: 'rows/s' },
          anchor: { label: 'raw COPY', value: median(copyRate), unit: 'rows/s' },
          ratio: median(replayRate) / median(copyRate),
          target: `none (${seconds.toFixed(1)} s for the full spool)`,
          met: null,
        },
      ],
    };
  } finally {
    await rm(home, { recursive: true, force: true });
    await db.drop();
  }
}

if (process.argv[1] && import.meta.url === `file://${process.argv[1]}`) {
  const result = await run();
  if (process.argv.includes('--json')) printChildResult(result);
  else for (const m of result.measurements) console.log(`${m.name}: ${m.median.toFixed(2)} ${m.unit}`);
}
