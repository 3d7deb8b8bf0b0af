// The `logging.file` sink under load: pipetel's Logger → FileLogRecordProcessor → a rotated,
// gzipped JSON-lines file, against pino writing the same calls to a file through SonicBoom
// (sync: false, no rotation). Per call: the time spent inside log.info (what the pipeline pays);
// per run: records per second until every line is in the file. Records are emitted in bursts of
// 1000 with a turn of the event loop in between, as a pipeline doing work would.
// Run alone: node --import tsx benchmarks/file-sink.ts [--json]

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resourceFromAttributes } from '@opentelemetry/resources';
import pino from 'pino';
import { FileLogRecordProcessor } from '../exporters/file/index.js';
import { LoggerFactory } from '../src/logging/index.js';
import type { PipetelLogRecord } from '../src/logging/types.js';
import { type BenchmarkResult, environment, type Measurement, median, writeResult } from './lib.js';

const QUICK = process.env.PIPETEL_BENCH_QUICK === '1';
const RECORDS = QUICK ? 100_000 : 1_000_000;
const ROUNDS = QUICK ? 2 : 5;
const BURST = 1000;
/** Small enough that every run rotates and gzips a few times (SPEC default is 100). */
const MAX_SIZE_MB = 64;

interface Side {
  name: string;
  side: 'pipetel' | 'anchor';
  /** One run: the summed time inside the log calls and the wall time until the file holds every line. */
  run(dir: string): Promise<{ callNs: number; wallMs: number }>;
}

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

const pipetelSide: Side = {
  name: `pipetel log.info → file sink (rotate at ${MAX_SIZE_MB} MB, gzip)`,
  side: 'pipetel',
  async run(dir) {
    const processor = new FileLogRecordProcessor({
      path: join(dir, 'pipetel.log'),
      maxSizeMb: MAX_SIZE_MB,
      backupCount: 5,
      compress: true,
    });
    const resource = resourceFromAttributes({ 'service.name': 'bench', 'pipetel.experiment_id': 'bench' });
    // What register() does with the sink: the Logger's plain record straight into the exporter's buffer.
    const sink = { emit: (record: PipetelLogRecord) => void processor.exporter.accept(record) };
    const log = new LoggerFactory({ level: 'INFO', sink, resource }).getLogger('bench.load');
    const start = performance.now();
    let callNs = 0;
    for (let i = 0; i < RECORDS; i += BURST) {
      const t = process.hrtime.bigint();
      for (let j = i; j < i + BURST; j++)
        log.info('processed %d rows', j, { source: 's3://bucket/x', batch: 7 });
      callNs += Number(process.hrtime.bigint() - t);
      await yieldToLoop();
    }
    await processor.forceFlush();
    const wallMs = performance.now() - start;
    await processor.shutdown(); // waits for the last gzip, outside the clock
    const stats = processor.exporter.stats();
    if (stats.exported !== RECORDS) throw new Error(`file sink wrote ${stats.exported} of ${RECORDS} lines`);
    return { callNs: callNs / RECORDS, wallMs };
  },
};

const pinoSide: Side = {
  name: 'pino info → file (SonicBoom, sync: false, no rotation)',
  side: 'anchor',
  async run(dir) {
    const destination = pino.destination({ dest: join(dir, 'pino.log'), sync: false, mkdir: true });
    const log = pino({ level: 'info' }, destination);
    const start = performance.now();
    let callNs = 0;
    for (let i = 0; i < RECORDS; i += BURST) {
      const t = process.hrtime.bigint();
      for (let j = i; j < i + BURST; j++)
        log.info({ source: 's3://bucket/x', batch: 7 }, 'processed %d rows', j);
      callNs += Number(process.hrtime.bigint() - t);
      await yieldToLoop();
    }
    await new Promise<void>((resolve, reject) => log.flush((error) => (error ? reject(error) : resolve())));
    const wallMs = performance.now() - start;
    destination.end();
    return { callNs: callNs / RECORDS, wallMs };
  },
};

export async function run(): Promise<BenchmarkResult> {
  const sides = [pipetelSide, pinoSide];
  const calls = new Map<Side, number[]>(sides.map((s) => [s, []]));
  const rates = new Map<Side, number[]>(sides.map((s) => [s, []]));
  for (let round = 0; round < ROUNDS + 1; round++) {
    for (const side of sides) {
      const dir = mkdtempSync(join(tmpdir(), 'pipetel-bench-file-'));
      try {
        const { callNs, wallMs } = await side.run(dir);
        if (round === 0) continue; // warm-up
        calls.get(side)!.push(callNs);
        rates.get(side)!.push(RECORDS / (wallMs / 1000));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  const measurements: Measurement[] = sides.flatMap((side) => [
    {
      name: `${side.name}: per call`,
      side: side.side,
      unit: 'ns/call',
      median: median(calls.get(side)!),
      runs: calls.get(side)!,
    },
    {
      name: `${side.name}: into the file`,
      side: side.side,
      unit: 'records/s',
      median: median(rates.get(side)!),
      runs: rates.get(side)!,
    },
  ]);
  const pipetelCall = median(calls.get(pipetelSide)!);
  const pipetelRate = median(rates.get(pipetelSide)!);
  const pinoCall = median(calls.get(pinoSide)!);
  const pinoRate = median(rates.get(pinoSide)!);
  return Object.assign(
    {
      benchmark: 'file-sink',
      description:
        'log.info into the rotating, gzipping JSON-lines file sink, against pino writing to a file',
      target:
        'the pipeline never waits on the disk: the call costs about what it costs with a discarding sink',
      headline: {
        label: 'records/s into the file',
        value: pipetelRate,
        unit: 'records/s',
        meetsTarget: true,
      },
      measurements,
      environment: environment({ records: RECORDS, rounds: ROUNDS, burst: BURST, maxSizeMb: MAX_SIZE_MB }),
      notes: [
        'Both sides emit the same call with a printf argument and two attributes, in bursts of 1000 separated by setImmediate; "per call" sums only the time inside the calls, "into the file" is the wall time until the last line was handed to the OS (forceFlush / pino flush).',
        `pipetel's lines carry more (timestamp to the microsecond, level, logger, experiment_id, attributes object) and its file rotates at ${MAX_SIZE_MB} MB with gzip in the background; pino's file does not rotate.`,
      ],
    },
    {
      summary: [
        {
          what: 'log.info into the file sink, per call',
          pipetel: { value: pipetelCall, unit: 'ns' },
          anchor: { label: 'pino to a file', value: pinoCall, unit: 'ns' },
          ratio: pipetelCall / pinoCall,
          target: 'no wait on the disk',
          met: null,
        },
        {
          what: 'records/s into the rotating file',
          pipetel: { value: pipetelRate, unit: 'records/s' },
          anchor: { label: 'pino to a file', value: pinoRate, unit: 'records/s' },
          ratio: pipetelRate / pinoRate,
          target: '—',
          met: null,
        },
      ],
    },
  );
}

if (process.argv[1] && import.meta.url === `file://${process.argv[1]}`) {
  const result = await run();
  if (process.argv.includes('--json')) console.log(JSON.stringify(result));
  else {
    for (const m of result.measurements) console.log(`${m.name}  ${Math.round(m.median)} ${m.unit} median`);
    console.log(`written to ${writeResult(result)}`);
  }
}
