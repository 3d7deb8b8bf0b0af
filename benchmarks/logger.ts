// Micro-benchmark of the Logger hot path against its anchors (SPEC §8): the OTel SDK's
// logger.emit() with a no-op processor, and pino to /dev/null when it happens to be installed.
// Prints the median ns/op of 7 timed runs after a warm-up. `--save` also writes
// benchmarks/results/logger.json. Run: node --import tsx benchmarks/logger.ts

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { LoggerProvider, type LogRecordProcessor } from '@opentelemetry/sdk-logs';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { LoggerFactory } from '../src/logging/index.js';
import type { PipetelLogRecord } from '../src/logging/types.js';
import { withStage } from '../src/pipeline/context.js';

const RUNS = 7;
const OPS_PER_RUN = 200_000;
const WARMUP_OPS = 300_000;

interface Result {
  name: string;
  medianNs: number;
  minNs: number;
  maxNs: number;
}

// Sinks keep the last record so the optimizer cannot drop the work that builds it.
let lastRecord: unknown;
const keepingSink = {
  emit(record: PipetelLogRecord): void {
    lastRecord = record;
  },
};
const resource = resourceFromAttributes({ 'service.name': 'bench', 'pipetel.experiment_id': 'bench' });

function measure(name: string, op: (i: number) => void): Result {
  for (let i = 0; i < WARMUP_OPS; i++) op(i);
  const perOp: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < OPS_PER_RUN; i++) op(i);
    perOp.push(Number(process.hrtime.bigint() - start) / OPS_PER_RUN);
  }
  perOp.sort((a, b) => a - b);
  return { name, medianNs: perOp[RUNS >> 1], minNs: perOp[0], maxNs: perOp[RUNS - 1] };
}

function pipetelScenarios(): Result[] {
  const factory = new LoggerFactory({ level: 'INFO', sink: keepingSink, resource });
  const log = factory.getLogger('bench.extract');
  const child = log.child({ run: 'r-17', worker: 3, dataset: 's3://bucket/part-0001.parquet' });
  const results = [
    measure('pipetel log.info, printf arg + attributes', (i) =>
      log.info('processed %d rows', i, { source: 's3://bucket/x', batch: 7 }),
    ),
    measure('pipetel log.debug below level', (i) => log.debug('row %d', i, { source: 's3://bucket/x' })),
    measure('pipetel child logger info (3 bindings) + attribute', (i) =>
      child.info('row done', { rowId: i }),
    ),
    measure('pipetel log.info, plain message', () => log.info('heartbeat')),
  ];
  // Realistic context: an AsyncLocalStorage context manager, an active span and a stage.
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  const tracer = new BasicTracerProvider().getTracer('bench');
  tracer.startActiveSpan('stage', (span) => {
    context.with(withStage(context.active(), 'extract'), () => {
      results.push(
        measure('pipetel log.info + attributes, in a span and stage (ALS)', (i) =>
          log.info('processed %d rows', i, { source: 's3://bucket/x', batch: 7 }),
        ),
      );
    });
    span.end();
  });
  context.disable();
  return results;
}

function otelSdkScenario(): Result {
  const noopProcessor: LogRecordProcessor = {
    onEmit(record) {
      lastRecord = record;
    },
    forceFlush: async () => {},
    shutdown: async () => {},
  };
  const provider = new LoggerProvider({ resource, processors: [noopProcessor] });
  const otelLogger = provider.getLogger('bench.extract');
  return measure('OTel SDK logger.emit (no-op processor)', (i) =>
    otelLogger.emit({
      severityNumber: 9,
      severityText: 'INFO',
      body: `processed ${i} rows`,
      attributes: { source: 's3://bucket/x', batch: 7 },
    }),
  );
}

async function pinoScenario(): Promise<Result | string> {
  const moduleName = 'pino'; // a variable, so TypeScript does not require the (absent) package
  let pino: (options: object, stream: unknown) => { info: (...args: unknown[]) => void };
  try {
    const imported = (await import(moduleName)) as {
      default: typeof pino;
      destination: (path: string) => unknown;
    };
    pino = imported.default;
    const logger = pino({ level: 'info' }, imported.destination('/dev/null'));
    return measure('pino log.info + attributes → /dev/null', (i) =>
      logger.info({ source: 's3://bucket/x', batch: 7 }, 'processed %d rows', i),
    );
  } catch {
    return 'pino: not installed, skipped';
  }
}

const results = [...pipetelScenarios(), otelSdkScenario()];
const pino = await pinoScenario();
if (typeof pino !== 'string') results.push(pino);

console.log(`node ${process.version}, ${RUNS} runs × ${OPS_PER_RUN} ops after ${WARMUP_OPS} warm-up ops`);
const width = Math.max(...results.map((r) => r.name.length));
for (const r of results) {
  console.log(
    `${r.name.padEnd(width)}  ${r.medianNs.toFixed(1).padStart(8)} ns/op median  (min ${r.minNs.toFixed(1)}, max ${r.maxNs.toFixed(1)})`,
  );
}
if (typeof pino === 'string') console.log(pino);

if (process.argv.includes('--save')) {
  const out = join(dirname(fileURLToPath(import.meta.url)), 'results', 'logger.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(
    out,
    `${JSON.stringify({ node: process.version, date: new Date().toISOString(), results }, null, 2)}\n`,
  );
  console.log(`written ${out}`);
}
void lastRecord;
