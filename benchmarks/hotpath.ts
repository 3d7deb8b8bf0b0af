// Per-call cost of what a per-item pipeline calls, measured through register() with its real sinks
// (PostgreSQL on, file off, balanced profile) beside the OTel SDK anchors of SPEC §8 in the same
// process: counter.add / histogram.record on a meter from metrics.getMeter() against the same
// calls on a plain @opentelemetry/sdk-metrics MeterProvider, and log.info through the registered
// log pipeline against the SDK's logger.emit into a no-op processor. Rounds interleave the
// scenarios; what a call queued is written to the database between timed runs, off the clock.
// Run alone: node --import tsx benchmarks/hotpath.ts [--json]

import { type Attributes, metrics } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { LoggerProvider, type LogRecordProcessor } from '@opentelemetry/sdk-logs';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { register } from '../src/index.js';
import {
  benchServerUrl,
  environment,
  freshDatabase,
  type LoopScenario,
  type Measurement,
  median,
  runInterleaved,
  sdkEmitLoop,
  toMeasurements,
} from './lib.js';
import { transformRecord } from './overhead.js';
import { isQuick, printChildResult, type SummarizedResult } from './run.js';

const ROUNDS = isQuick() ? 3 : 9;
const RUN_TARGET_MS = isQuick() ? 20 : 60;
const WARMUP_MS = isQuick() ? 100 : 300;
export const METER_RATIO_TARGET = 0.5;
export const LOG_RATIO_TARGET = 0.75;
const BELOW_LEVEL_TARGET_NS = 20;
const ADVANCE_TARGET_NS = 10;
/** Log calls between two yields of the timed log scenario, as the reference pipelines yield. */
const LOG_CHUNK = 1000;

let sink: unknown;
const noopProcessor: LogRecordProcessor = {
  onEmit(record) {
    sink = record;
  },
  forceFlush: async () => {},
  shutdown: async () => {},
};

/** Three stage names, as the per-item pipeline passes them; one attribute per call. */
const STAGES: Attributes[] = [{ stage: 'extract' }, { stage: 'transform' }, { stage: 'load' }];
const stageAttributes = (i: number): Attributes => ({ stage: STAGES[i % 3]!.stage as string });

function meterScenarios(
  side: 'pipetel' | 'anchor',
  label: string,
  meterOf: () => ReturnType<typeof metrics.getMeter>,
) {
  const meter = meterOf();
  const counter = meter.createCounter(`bench.items.${side}`);
  const histogram = meter.createHistogram(`bench.latency.${side}`, { unit: 'ms' });
  return [
    {
      name: `${label} counter.add(1, { stage })`,
      side,
      loop: (ops: number) => {
        for (let i = 0; i < ops; i++) counter.add(1, stageAttributes(i >> 10));
      },
      runs: [],
    },
    {
      name: `${label} histogram.record(v, { stage })`,
      side,
      loop: (ops: number) => {
        for (let i = 0; i < ops; i++) histogram.record(i & 1023, stageAttributes(i >> 10));
      },
      runs: [],
    },
  ] satisfies LoopScenario[];
}

/** Items of the per-item pipeline's work between two cold calls, and calls timed per round. */
const COLD_EVERY = 100;
const COLD_CALLS = isQuick() ? 200 : 1000;

interface ColdScenario {
  name: string;
  side: 'pipetel' | 'anchor';
  call: (value: number, stage: string) => void;
  runs: number[];
}

/**
 * The same meter calls timed one at a time from outside, each after COLD_EVERY items of the
 * per-item pipeline's work (parse a JSON line, total it): the state a call meets inside such a
 * loop, whose own work evicts the caches between calls. A call a hot loop measures at a few ns
 * costs what its cache misses cost here. Each round's figure is the median call, clock included;
 * the no-op row is that floor.
 */
function coldCalls(scenarios: ColdScenario[], rounds: number): void {
  let acc = 0;
  let item = 0;
  const timeRound = (s: ColdScenario, calls: number) => {
    const times = new Float64Array(calls);
    for (let i = 0; i < calls; i++) {
      for (let k = 0; k < COLD_EVERY; k++) acc += transformRecord(item++);
      const started = performance.now();
      s.call(acc & 1023, 'extract');
      times[i] = performance.now() - started;
    }
    times.sort();
    return times[calls >> 1]! * 1e6;
  };
  for (const s of scenarios) timeRound(s, COLD_CALLS); // warm-up: optimized code, series created
  for (let round = 0; round < rounds; round++) {
    for (const s of round % 2 === 0 ? scenarios : [...scenarios].reverse())
      s.runs.push(timeRound(s, COLD_CALLS));
  }
  sink = acc;
}

export async function run(): Promise<SummarizedResult> {
  const server = await benchServerUrl();
  const database = await freshDatabase(server.url);
  const tel = await register({
    serviceName: 'bench-hotpath',
    databaseUrl: database.url,
    config: {
      profile: 'balanced',
      logging: {
        file: { enabled: false },
        console: { enabled: false },
        database: { max_queue_size: 5_000_000 },
      },
      // The budget would start sampling the log calls this benchmark times (they are all it does).
      monitoring: { enable_resource_tracking: false, overhead_budget_percent: null },
    },
  });
  const log = tel.getLogger('bench.hotpath');
  const logInfoLoop = (ops: number) => {
    for (let i = 0; i < ops; i++) log.info('processed %d rows', i, { source: 's3://bucket/x', batch: 7 });
  };
  const progress = tel.progress('bench', { total: 1e12 });
  const flush = () => tel.forceFlush();

  const plainReader = new PeriodicExportingMetricReader({
    exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
    exportIntervalMillis: 3_600_000,
  });
  const plain = new MeterProvider({ readers: [plainReader] });
  const noReader = new MeterProvider();
  const otelLogger = new LoggerProvider({
    resource: resourceFromAttributes({ 'service.name': 'bench' }),
    processors: [noopProcessor],
  }).getLogger('bench.hotpath');

  const scenarios: LoopScenario[] = [
    ...meterScenarios('pipetel', 'pipetel (registered, metrics.getMeter)', () => metrics.getMeter('bench')),
    ...meterScenarios('anchor', 'OTel SDK MeterProvider with a reader', () => plain.getMeter('bench')),
    ...meterScenarios('anchor', 'OTel SDK MeterProvider, no reader (records nothing)', () =>
      noReader.getMeter('bench'),
    ),
    {
      name: 'pipetel log.info, printf arg + attributes (registered, PostgreSQL sink on)',
      side: 'pipetel',
      loop: logInfoLoop,
      settle: flush,
      chunk: LOG_CHUNK,
      runs: [],
    },
    {
      name: 'pipetel log.info, same call, a whole run without yielding (records pile up in the queue)',
      side: 'pipetel',
      loop: logInfoLoop,
      settle: flush,
      runs: [],
    },
    {
      name: 'OTel SDK logger.emit, body + attributes (no-op processor)',
      side: 'anchor',
      loop: sdkEmitLoop(otelLogger),
      runs: [],
    },
    {
      name: 'pipetel log.debug below the level (registered)',
      side: 'pipetel',
      loop: (ops) => {
        for (let i = 0; i < ops; i++) log.debug('row %d', i, { source: 's3://bucket/x' });
      },
      runs: [],
    },
    {
      name: 'pipetel progress.advance(1) (registered)',
      side: 'pipetel',
      loop: (ops) => {
        for (let i = 0; i < ops; i++) progress.advance(1);
      },
      runs: [],
    },
  ];

  await runInterleaved(scenarios, { rounds: ROUNDS, warmupMs: WARMUP_MS, runTargetMs: RUN_TARGET_MS });

  const coldMeters = (
    side: 'pipetel' | 'anchor',
    label: string,
    meter: ReturnType<typeof metrics.getMeter>,
  ) => {
    const counter = meter.createCounter(`bench.cold.items.${side}`);
    const histogram = meter.createHistogram(`bench.cold.value.${side}`);
    return [
      {
        name: `cold: ${label} counter.add(1, { stage })`,
        side,
        call: (_v: number, stage: string) => counter.add(1, { stage }),
        runs: [],
      },
      {
        name: `cold: ${label} histogram.record(v, { stage })`,
        side,
        call: (v: number, stage: string) => histogram.record(v, { stage }),
        runs: [],
      },
    ] satisfies ColdScenario[];
  };
  let noopSink: unknown;
  const cold: ColdScenario[] = [
    ...coldMeters('pipetel', 'pipetel', metrics.getMeter('bench')),
    ...coldMeters('anchor', 'OTel SDK MeterProvider with a reader', plain.getMeter('bench')),
    {
      name: 'cold: a no-op call (the clock floor)',
      side: 'anchor',
      call: (v, stage) => {
        noopSink = { v, stage };
      },
      runs: [],
    },
  ];
  coldCalls(cold, ROUNDS);
  void noopSink;
  const stats = tel.stats();
  await tel.shutdown();
  await plain.shutdown();
  await database.drop();

  const measurements: Measurement[] = [
    ...toMeasurements(scenarios),
    ...cold.map((c) => ({ name: c.name, side: c.side, unit: 'ns', median: median(c.runs), runs: c.runs })),
  ];
  const find = (prefix: string) => measurements.find((m) => m.name.startsWith(prefix))!;
  const ours = (what: string, label = 'pipetel (registered, metrics.getMeter)') => find(`${label} ${what}`);
  const sdk = (what: string, label = 'OTel SDK MeterProvider with a reader') => find(`${label} ${what}`);
  const bare = (what: string) => find(`OTel SDK MeterProvider, no reader (records nothing) ${what}`);
  const counterRatio = ours('counter').median / sdk('counter').median;
  const histogramRatio = ours('histogram').median / sdk('histogram').median;
  const logOurs = find('pipetel log.info, printf');
  const logPiledUp = find('pipetel log.info, same call, a whole run');
  const logSdk = find('OTel SDK logger.emit');
  const logRatio = logOurs.median / logSdk.median;
  const below = find('pipetel log.debug below');
  const advance = find('pipetel progress.advance');
  const ns = (m: Measurement) => ({ value: m.median, unit: 'ns' });
  const meterRow = (what: string, m: Measurement, anchor: Measurement, ratio: number) => ({
    what,
    pipetel: ns(m),
    anchor: { label: 'plain SDK MeterProvider with a reader', ...ns(anchor) },
    ratio,
    target: `≤ ${METER_RATIO_TARGET} × the SDK call`,
    met: ratio <= METER_RATIO_TARGET,
  });
  const allMet =
    counterRatio <= METER_RATIO_TARGET &&
    histogramRatio <= METER_RATIO_TARGET &&
    logRatio <= LOG_RATIO_TARGET &&
    below.median <= BELOW_LEVEL_TARGET_NS &&
    advance.median <= ADVANCE_TARGET_NS;
  return {
    benchmark: 'hotpath',
    description:
      'Per-call cost of the calls a per-item pipeline makes, through register() with its real sinks, ' +
      `beside the OTel SDK anchors in the same process; ${ROUNDS} interleaved rounds, ns per call.`,
    target: `meter calls ≤ ${METER_RATIO_TARGET} × SDK; log.info ≤ ${LOG_RATIO_TARGET} × SDK emit; below-level log ≤ ${BELOW_LEVEL_TARGET_NS} ns; advance ≤ ${ADVANCE_TARGET_NS} ns`,
    headline: {
      label: 'counter.add / plain SDK counter.add',
      value: counterRatio,
      unit: '×',
      meetsTarget: allMet,
    },
    measurements,
    summary: [
      meterRow('counter.add(1, { stage }) after register()', ours('counter'), sdk('counter'), counterRatio),
      meterRow(
        'histogram.record(v, { stage }) after register()',
        ours('histogram'),
        sdk('histogram'),
        histogramRatio,
      ),
      {
        what: 'log.info, printf arg + attributes, through register() (PostgreSQL sink on)',
        pipetel: ns(logOurs),
        anchor: { label: 'OTel SDK logger.emit, no-op processor', ...ns(logSdk) },
        ratio: logRatio,
        target: `≤ ${LOG_RATIO_TARGET} × the anchor`,
        met: logRatio <= LOG_RATIO_TARGET,
      },
      {
        what: 'log call below the level (registered)',
        pipetel: ns(below),
        target: `≤ ${BELOW_LEVEL_TARGET_NS} ns`,
        met: below.median <= BELOW_LEVEL_TARGET_NS,
      },
      {
        what: 'progress.advance(1) (registered)',
        pipetel: ns(advance),
        target: `≤ ${ADVANCE_TARGET_NS} ns`,
        met: advance.median <= ADVANCE_TARGET_NS,
      },
    ],
    environment: environment({ rounds: ROUNDS, runTargetMs: RUN_TARGET_MS, database: server.label }),
    notes: [
      'pipetel side: one process that called register() (balanced profile, PostgreSQL sink on, file sink off, resource tracking off so no sampling lands in a timed run); meters come from the global metrics.getMeter(), the logger from tel.getLogger(). After every timed run the queued log records are written to the database (tel.forceFlush()), outside the clock: the call only enqueues, encoding and COPY happen between runs as they happen between items in a pipeline.',
      'Meter anchor: a plain @opentelemetry/sdk-metrics MeterProvider with one PeriodicExportingMetricReader (the smallest provider that records anything). The row without a reader is context only: with no reader the SDK keeps no series and its call is nearly empty.',
      `Attributes: { stage } with one of three stage names, a new object per call as a pipeline writes it; the stage changes every 1024 calls. Histogram values 0–1023.`,
      `Log anchor: @opentelemetry/sdk-logs LoggerProvider with a processor that keeps the last record; the message built by a template literal.`,
      `The registered log.info is timed ${LOG_CHUNK} calls at a time, the records written to the database between chunks off the clock, as in a pipeline that yields every ${LOG_CHUNK} items (the reference pipelines do): records then leave the queue before the next young-generation GC. A second row makes the whole run without yielding (~100k calls), so every record survives GCs until the run's end and is copied by each: ${logPiledUp.median.toFixed(0)} ns here; its rounds fall as V8 starts allocating such records straight in the old generation.`,
      `Counters after the run: logs exported ${stats.logs.exported}, dropped ${stats.logs.dropped}, spooled ${stats.logs.spooled}.`,
      `Cold calls (rows starting "cold:"): the meter calls timed one at a time from outside, each after ${COLD_EVERY} items of the per-item pipeline's work, ${COLD_CALLS} calls per round, the round's median call, clock included (the no-op row is that floor, ${median(cold.at(-1)!.runs).toFixed(0)} ns here). Over the floor: pipetel counter.add ${(ours('counter', 'cold: pipetel').median - median(cold.at(-1)!.runs)).toFixed(0)} ns against the SDK's ${(sdk('counter', 'cold: OTel SDK MeterProvider with a reader').median - median(cold.at(-1)!.runs)).toFixed(0)} ns, histogram.record ${(ours('histogram', 'cold: pipetel').median - median(cold.at(-1)!.runs)).toFixed(0)} ns against ${(sdk('histogram', 'cold: OTel SDK MeterProvider with a reader').median - median(cold.at(-1)!.runs)).toFixed(0)} ns. A hot loop's few ns per call is not what a per-item loop pays: there each call costs its cache misses.`,
      `Floor figures for context: SDK without a reader: counter.add ${bare('counter').median.toFixed(1)} ns, histogram.record ${bare('histogram').median.toFixed(1)} ns.`,
    ],
  };
}

if (process.argv[1] && import.meta.url === `file://${process.argv[1]}`) {
  const result = await run();
  if (process.argv.includes('--json')) printChildResult(result);
  else {
    const width = Math.max(...result.measurements.map((m) => m.name.length));
    for (const m of result.measurements)
      console.log(`${m.name.padEnd(width)}  ${m.median.toFixed(1).padStart(8)} ns/call median`);
    for (const row of result.summary ?? [])
      console.log(
        `${row.what}: ${row.ratio === undefined ? '' : `${row.ratio.toFixed(2)}× `}${row.met ? 'met' : 'MISSED'}`,
      );
    void sink;
    process.exit(0);
  }
}
