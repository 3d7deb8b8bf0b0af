// Shared helpers of the benchmarks: a database to measure against, medians, and the results
// file format that benchmarks/run.ts collects into docs/benchmarks.md.

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { resolve } from 'node:path';
import type { HrTime } from '@opentelemetry/api';
import type { Logger } from '@opentelemetry/api-logs';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { LOGS_TABLE } from '../exporters/postgres/logRows.js';
import { ensureEmbeddedPostgres } from '../src/db/embedded/index.js';

export interface Measurement {
  /** What was measured, e.g. 'log.info enabled with attributes'. */
  name: string;
  /** pipetel's figure, or the anchor's. */
  side: 'pipetel' | 'anchor';
  unit: string;
  median: number;
  runs: number[];
}

export interface BenchmarkResult {
  benchmark: string;
  description: string;
  target: string;
  /** The figure compared against the target (a ratio or an absolute median). */
  headline: { label: string; value: number; unit: string; meetsTarget: boolean };
  measurements: Measurement[];
  environment: Record<string, string | number>;
  notes?: string[];
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The commit measured (with "+dirty" when code has uncommitted changes), for every result file. */
function gitCommit(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8' }).trim();
    // Result files and the doc made from them change during a run; they are output, not code.
    const dirty = execFileSync(
      'git',
      [
        'status',
        '--porcelain',
        '--untracked-files=no',
        '--',
        '.',
        ':!benchmarks/results',
        ':!docs/benchmarks.md',
      ],
      { encoding: 'utf8' },
    ).trim();
    return dirty ? `${head}+dirty` : head;
  } catch {
    return 'unknown';
  }
}

export function environment(extra: Record<string, string | number> = {}): Record<string, string | number> {
  return {
    commit: gitCommit(),
    node: process.version,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    date: new Date().toISOString(),
    ...extra,
  };
}

export function writeResult(result: BenchmarkResult): string {
  const dir = resolve(import.meta.dirname, 'results');
  mkdirSync(dir, { recursive: true });
  const file = resolve(dir, `${result.benchmark}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  return file;
}

/** Server URL: PIPETEL_BENCH_DATABASE_URL, else the embedded server under ./.pipetel-bench. */
export async function benchServerUrl(): Promise<{ url: string; label: string }> {
  const fromEnv = process.env.PIPETEL_BENCH_DATABASE_URL;
  if (fromEnv) return { url: fromEnv, label: `external ${new URL(fromEnv).host}` };
  const server = await ensureEmbeddedPostgres({
    home: resolve(process.env.PIPETEL_BENCH_HOME ?? '.pipetel-bench'),
  });
  return { url: server.url, label: 'embedded PostgreSQL' };
}

export async function freshDatabase(serverUrl: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `pipetel_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/** COPY … FROM STDIN through pg-copy-streams, the usual way (the anchor's write; pipetel's is copyIn). */
function streamCopy(client: pg.Client, sql: string, lines: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const stream = client.query(copyFrom(sql));
    stream.on('error', reject);
    stream.on('finish', () => resolve());
    stream.end(lines.join(''));
  });
}

/** The anchor of the write benchmarks: one COPY stream of pre-encoded rows into pipeline_logs; ms. */
export async function rawCopyLogs(url: string, lines: string[]): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const started = performance.now();
  await streamCopy(
    client,
    `COPY ${LOGS_TABLE.name} (${LOGS_TABLE.columns.map((c) => `"${c}"`).join(', ')}) FROM STDIN`,
    lines,
  );
  const elapsed = performance.now() - started;
  await client.end();
  return elapsed;
}

/** Empties pipeline_logs between runs and checkpoints, so every run starts from the same state. */
export async function truncateLogs(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(`TRUNCATE ${LOGS_TABLE.name}`);
  await client.query('CHECKPOINT').catch(() => undefined);
  await client.end();
}

/** Log records shaped like an ETL's (10 % errors, four stages, a span context), for the write benchmarks. */
export function makeLogRecords(count: number, experimentId: string): ReadableLogRecord[] {
  const resource = resourceFromAttributes({ 'service.name': 'bench', 'pipetel.experiment_id': experimentId });
  const base = Math.floor(Date.now() / 1000);
  const records: ReadableLogRecord[] = [];
  for (let i = 0; i < count; i++) {
    const hrTime: HrTime = [base + Math.floor(i / 1000), (i % 1000) * 1_000_000];
    records.push({
      hrTime,
      hrTimeObserved: hrTime,
      severityNumber: i % 10 === 0 ? 17 : 9,
      severityText: i % 10 === 0 ? 'ERROR' : 'INFO',
      body: `processed batch ${i} of customer orders from s3://bucket/part-${i % 64}.parquet`,
      resource,
      instrumentationScope: { name: `etl.stage${i % 4}` },
      attributes: { 'pipetel.stage': `stage${i % 4}`, rows: i % 1000, source: 's3://bucket/x', ok: true },
      droppedAttributesCount: 0,
      spanContext: { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 },
    });
  }
  return records;
}

/** A hot-loop scenario: one loop function per scenario keeps each call site monomorphic. */
export interface LoopScenario {
  name: string;
  side: 'pipetel' | 'anchor';
  /** Runs the call `ops` times. */
  loop: (ops: number) => void;
  /** Called between timed runs, outside the clock (drain a buffer, write what was queued). */
  settle?: () => Promise<void>;
  /**
   * Times a run in chunks of this many calls with settle() between them, outside the clock: a
   * pipeline that yields every so often, so what a call queued is written before it piles up.
   */
  chunk?: number;
  ops?: number;
  runs: number[];
}

/** ns per call of one timed run of `ops` calls. */
export function timeNs(loop: (ops: number) => void, ops: number): number {
  const start = process.hrtime.bigint();
  loop(ops);
  return Number(process.hrtime.bigint() - start) / ops;
}

/** ns per call of `ops` calls made `chunk` at a time, settle() between chunks off the clock. */
async function timeChunkedNs(s: LoopScenario, ops: number): Promise<number> {
  let elapsed = 0n;
  for (let done = 0; done < ops; done += s.chunk!) {
    const n = Math.min(s.chunk!, ops - done);
    const start = process.hrtime.bigint();
    s.loop(n);
    elapsed += process.hrtime.bigint() - start;
    await s.settle?.();
  }
  return Number(elapsed) / ops;
}

/**
 * Warms every scenario up for warmupMs and sizes its runs to last about runTargetMs, then runs
 * `rounds` rounds, each scenario once per round, the order rotating so no scenario always follows
 * the same neighbour. Fills each scenario's `runs` (ns per call).
 */
export async function runInterleaved(
  scenarios: LoopScenario[],
  options: { rounds: number; warmupMs: number; runTargetMs: number; maxOps?: number },
): Promise<void> {
  for (const s of scenarios) {
    let ops = 1000;
    let nsPerOp = timeNs(s.loop, ops);
    const deadline = performance.now() + options.warmupMs;
    while (performance.now() < deadline) {
      ops = Math.min(ops * 2, options.maxOps ?? 20_000_000);
      nsPerOp = timeNs(s.loop, ops);
      await s.settle?.();
    }
    s.ops = Math.max(1000, Math.round((options.runTargetMs * 1e6) / nsPerOp));
    await s.settle?.();
  }
  for (let round = 0; round < options.rounds; round++) {
    for (let k = 0; k < scenarios.length; k++) {
      const s = scenarios[(k + round) % scenarios.length]!;
      s.runs.push(s.chunk ? await timeChunkedNs(s, s.ops!) : timeNs(s.loop, s.ops!));
      await s.settle?.();
    }
    process.stderr.write(`  round ${round + 1}/${options.rounds} done\n`);
  }
}

/**
 * The log anchor of SPEC §8: the OTel SDK's logger.emit with the fields pipetel's
 * log.info('processed %d rows', i, { source, batch }) produces (the Logs API has no printf).
 */
export function sdkEmitLoop(logger: Pick<Logger, 'emit'>): (ops: number) => void {
  return (ops) => {
    for (let i = 0; i < ops; i++)
      logger.emit({
        severityNumber: 9,
        severityText: 'INFO',
        body: `processed ${i} rows`,
        attributes: { source: 's3://bucket/x', batch: 7 },
      });
  };
}

/** Scenario runs as result measurements: median ns per call of each. */
export function toMeasurements(
  scenarios: Array<{ name: string; side: 'pipetel' | 'anchor'; runs: number[] }>,
): Measurement[] {
  return scenarios.map((s) => ({
    name: s.name,
    side: s.side,
    unit: 'ns/call',
    median: median(s.runs),
    runs: s.runs,
  }));
}
