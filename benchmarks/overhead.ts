// Wall-time and CPU-time overhead of the balanced profile on two reference CPU-bound pipelines
// (SPEC §8 ≤ 1 % each, the seed promises < 2 %): *light*, which calls pipetel every ~1000 items,
// and *per-item*, which calls it on every item of ~3 µs. The same pipeline code runs with pipetel
// registered into PostgreSQL and with a no-op shim of the same shape, each run in a fresh child
// process, the order rotating each round; its figure is the median of per-round paired ratios.
// register() and shutdown() are timed separately, outside the pipeline's wall time. Across
// processes this 2-core VM moves a pipeline's speed by up to 50 % between phases lasting seconds,
// so these rounds cannot resolve 1 %: the verdict on the target comes from overhead-paired.ts
// (the same pipelines alternating pass by pass inside one process); this benchmark adds what that
// one cannot see — a cold start, and the cost of merely having pipetel registered.
// Run alone: node --import tsx benchmarks/overhead.ts [--json]

import { type ProfileBreakdown, profileParts } from './cpuProfile.js';
import { benchServerUrl, environment, freshDatabase, type Measurement, median } from './lib.js';
import { isQuick, printChildResult, runChild, type SummarizedResult } from './run.js';

const OVERHEAD_TARGET_PCT = 1;
const SEED_PROMISE_PCT = 2;
/** Rounds of one run per variant, the order rotating each round. */
const ROUNDS = isQuick() ? 2 : 10;
export const ITEMS_PER_STAGE = isQuick() ? 20_000 : 100_000;
/** xorshift rounds per item and stage weight: ~2.5 s of CPU in total for 100k items per stage here. */
const ROUNDS_PER_ITEM = 1500;
const STAGES: Array<[name: string, weight: number]> = [
  ['extract', 1],
  ['clean', 0.5],
  ['featurize', 1.5],
  ['train', 1.5],
  ['evaluate', 0.5],
];
const LOG_EVERY = 1000;
/** Per-item pipeline: three stages, ~3 µs of CPU per item (parsing one JSON line here). */
const PER_ITEM_STAGES = ['extract', 'transform', 'load'];
export const PER_ITEM_ITEMS_PER_STAGE = isQuick() ? 30_000 : 150_000;
const PER_ITEM_HISTOGRAM_EVERY = 100;
const PER_ITEM_INFO_EVERY = 500;

/** The part of pipetel's Telemetry the reference pipeline uses; the no-op shim has the same shape. */
export interface PipelineTelemetry {
  stage<T>(name: string, fn: () => Promise<T>): Promise<T>;
  getLogger(name: string): {
    info(message: string, ...args: unknown[]): void;
    debug(message: string, ...args: unknown[]): void;
  };
  progress(nodeId: string, options?: { total?: number }): { advance(n?: number): void; done(): void };
  getMeter(name: string): {
    createCounter(name: string): { add(value: number, attributes?: Record<string, string>): void };
    createHistogram(name: string): { record(value: number, attributes?: Record<string, string>): void };
  };
}

const noopLogger = { info(): void {}, debug(): void {} };
const noopProgress = { advance(): void {}, done(): void {} };
const noopCounter = { add(): void {} };
const noopHistogram = { record(): void {} };
/** The uninstrumented variant: the same calls, doing nothing. */
export const uninstrumented: PipelineTelemetry = {
  stage: (_name, fn) => fn(),
  getLogger: () => noopLogger,
  progress: () => noopProgress,
  getMeter: () => ({ createCounter: () => noopCounter, createHistogram: () => noopHistogram }),
};

function workOn(item: number, rounds: number): number {
  let x = item | 1;
  let acc = 0;
  for (let k = 0; k < rounds; k++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    acc += Math.sqrt((x >>> 0) % 10_007);
  }
  return acc;
}

/**
 * The reference pipeline: five stages of CPU work; per item a progress.advance(); per 1000 items
 * an INFO summary with printf args and attributes, a counter add, and a yield to the event loop
 * (as an async pipeline reading its input would). Compiled per copy like the per-item pipeline
 * (compileLightPipeline), so copies driving pipetel and the no-op shim keep their own type feedback.
 */
const LIGHT_SOURCE = `return async function referencePipeline(tel, itemsPerStage, stages = STAGES) {
  const log = tel.getLogger('bench.pipeline');
  const processed = tel.getMeter('bench.pipeline').createCounter('bench.items_processed');
  let checksum = 0;
  for (const [name, weight] of stages) {
    checksum += await tel.stage(name, async () => {
      const progress = tel.progress(name, { total: itemsPerStage });
      const rounds = Math.round(ROUNDS_PER_ITEM * weight);
      let acc = 0;
      for (let i = 0; i < itemsPerStage; i++) {
        acc += workOn(i, rounds);
        progress.advance();
        if (i % LOG_EVERY === LOG_EVERY - 1) {
          log.info('%s: %d of %d items, checksum %d', name, i + 1, itemsPerStage, Math.round(acc), {
            stage_items: i + 1,
            source: 's3://bench/input.parquet',
          });
          processed.add(LOG_EVERY, { stage: name });
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
      progress.done();
      return acc;
    });
  }
  return checksum;
}`;

/** A light pipeline run: `stages` (default all five) of `itemsPerStage` items each. */
export type LightPipeline = (
  tel: PipelineTelemetry,
  itemsPerStage: number,
  stages?: ReadonlyArray<readonly [name: string, weight: number]>,
) => Promise<number>;
export const LIGHT_STAGES: ReadonlyArray<readonly [name: string, weight: number]> = STAGES;

/** A fresh copy of the light reference pipeline (its own type feedback). */
export function compileLightPipeline(): LightPipeline {
  const source = LIGHT_SOURCE.replaceAll('LOG_EVERY', String(LOG_EVERY))
    .replace('ROUNDS_PER_ITEM', String(ROUNDS_PER_ITEM))
    .replace('STAGES', JSON.stringify(STAGES));
  return new Function('workOn', source)(workOn);
}

export const referencePipeline = compileLightPipeline();

/** Log records one light stage of `itemsPerStage` items emits. */
export const lightLogsPerStage = (itemsPerStage: number) => Math.floor(itemsPerStage / LOG_EVERY);
/** Log records (log.info) one per-item stage of `itemsPerStage` items emits. */
export const perItemLogsPerStage = (itemsPerStage: number) => Math.floor(itemsPerStage / PER_ITEM_INFO_EVERY);

/** Input of the per-item pipeline: JSON lines shaped like an order export, parsed one per item. */
const ORDER_LINES = Array.from({ length: 256 }, (_, i) =>
  JSON.stringify({
    id: i,
    user: `user-${i}`,
    ts: 1_764_500_000_000 + i,
    amount: i * 1.25,
    tags: ['a', 'b', `t${i % 7}`],
    country: ['DE', 'FR', 'US'][i % 3],
    items: Array.from({ length: 6 }, (_, k) => ({ sku: `sku-${k}`, qty: k + 1, price: 2.5 * k })),
  }),
);

/** One item of an ETL: parse a JSON line, total its order lines, build a key (~2.7 µs here). */
export function transformRecord(item: number): number {
  const row = JSON.parse(ORDER_LINES[item & 255]!) as {
    user: string;
    country: string;
    tags: string[];
    items: Array<{ qty: number; price: number }>;
  };
  let total = 0;
  for (const line of row.items) total += line.qty * line.price;
  const key = `${row.country}:${row.user}`.toLowerCase();
  return total + key.length + row.tags.length;
}

/** The per-item pipeline's calls, as bits: which ones a compiled copy makes (for ablations). */
export const PER_ITEM_CALLS = { advance: 1, counter: 2, debug: 4, histogram: 8, info: 16 } as const;
export const ALL_PER_ITEM_CALLS = 31;

/**
 * The per-item pipeline: three stages of ~3 µs items (an ETL transform: parse a JSON line, total
 * it, build a key); per item progress.advance(1), a counter add with the stage as attribute and a
 * log.debug below the level (balanced logs at INFO); a histogram record every 100 items, a
 * log.info every 500, a yield to the event loop every 1000.
 *
 * Kept as source and compiled per copy (compilePerItemPipeline): V8 keeps type feedback per
 * function literal, so two copies — one driving pipetel, one the no-op shim — can alternate in one
 * process without either making the other's call sites polymorphic. `CALLS` is replaced by a
 * constant, so a copy without a call kind has no trace of it.
 */
const PER_ITEM_SOURCE = `return async function perItemPipeline(tel, itemsPerStage, stages = STAGES) {
  const log = tel.getLogger('bench.per_item');
  const meter = tel.getMeter('bench.per_item');
  const items = meter.createCounter('bench.items');
  const workValue = meter.createHistogram('bench.item_value');
  let checksum = 0;
  for (const name of stages) {
    checksum += await tel.stage(name, async () => {
      const progress = tel.progress(name, { total: itemsPerStage });
      let acc = 0;
      for (let i = 0; i < itemsPerStage; i++) {
        const value = transformRecord(i);
        acc += value;
        if (CALLS & ${PER_ITEM_CALLS.advance}) progress.advance(1);
        if (CALLS & ${PER_ITEM_CALLS.counter}) items.add(1, { stage: name });
        if (CALLS & ${PER_ITEM_CALLS.debug}) log.debug('item %d of %s: %d', i, name, value);
        if (CALLS & ${PER_ITEM_CALLS.histogram} && i % HISTOGRAM_EVERY === 0) workValue.record(value, { stage: name });
        if (CALLS & ${PER_ITEM_CALLS.info} && i % INFO_EVERY === INFO_EVERY - 1) {
          log.info('%s: %d of %d items', name, i + 1, itemsPerStage, { stage_items: i + 1 });
        }
        if (i % YIELD_EVERY === YIELD_EVERY - 1) await new Promise((resolve) => setImmediate(resolve));
      }
      progress.done();
      return acc;
    });
  }
  return checksum;
}`;

/** A per-item pipeline run: `stages` (default all three) of `itemsPerStage` items each. */
export type PerItemPipeline = (
  tel: PipelineTelemetry,
  itemsPerStage: number,
  stages?: readonly string[],
) => Promise<number>;
export const PER_ITEM_STAGE_NAMES: readonly string[] = PER_ITEM_STAGES;

/** A fresh copy of the per-item pipeline making the calls in `calls` (bits of PER_ITEM_CALLS). */
export function compilePerItemPipeline(calls = ALL_PER_ITEM_CALLS): PerItemPipeline {
  const source = PER_ITEM_SOURCE.replaceAll('CALLS', String(calls))
    .replace('HISTOGRAM_EVERY', String(PER_ITEM_HISTOGRAM_EVERY))
    .replaceAll('INFO_EVERY', String(PER_ITEM_INFO_EVERY))
    .replaceAll('YIELD_EVERY', String(LOG_EVERY))
    .replace('STAGES', JSON.stringify(PER_ITEM_STAGES));
  return new Function('transformRecord', source)(transformRecord);
}

export const perItemPipeline = compilePerItemPipeline();

type PipelineName = 'light' | 'per-item';
/**
 * warmupItems: an untimed pass first, in the same process, so the timed passes are the steady
 * state a long pipeline spends its time in; timedRuns: passes per child, their median counts. The
 * per-item loop gets both: run cold and once, its plain runs alone spread over 28 % of their median
 * in one bench run, far more than the 1 % to be resolved. The light pipeline stays cold and single,
 * as it always was.
 */
const PIPELINES: Record<
  PipelineName,
  {
    run: (tel: PipelineTelemetry, itemsPerStage: number) => Promise<number>;
    items: number;
    warmupItems: number;
    timedRuns: number;
  }
> = {
  light: {
    run: (tel, items) => referencePipeline(tel, items),
    items: ITEMS_PER_STAGE,
    warmupItems: 0,
    timedRuns: 1,
  },
  'per-item': {
    run: (tel, items) => perItemPipeline(tel, items),
    items: PER_ITEM_ITEMS_PER_STAGE,
    warmupItems: Math.round(PER_ITEM_ITEMS_PER_STAGE / 5),
    timedRuns: 3,
  },
};

/**
 * plain: no pipetel at all. registered: pipetel registered but the pipeline calls the no-op shim,
 * which isolates what merely having pipetel in the process costs (context manager, timers,
 * connections). instrumented: pipetel registered and the pipeline calling it.
 */
type Variant = 'plain' | 'registered' | 'instrumented';

interface ChildReport {
  variant: Variant;
  pipeline: PipelineName;
  wallMs: number;
  cpuMs: number;
  registerMs?: number;
  shutdownMs?: number;
  logsExported?: number;
  logsDropped?: number;
  /** tel.profile() over the pipeline: pipetel's estimate of its own CPU share, in %. */
  selfEstimatePct?: number;
  /** With PIPETEL_BENCH_PROFILE=1: where the timed passes' CPU went, ms of samples per part. */
  profile?: ProfileBreakdown;
  checksum: number;
}

/**
 * Times `timedRuns` passes of the pipeline after the warm-up pass; wall and CPU are the medians of
 * the passes (the median, not the minimum: pipetel's timers fire in some passes and not others,
 * and the minimum would leave their work out).
 */
async function timePasses(
  pipeline: (typeof PIPELINES)[PipelineName],
  calls: PipelineTelemetry,
): Promise<{ wallMs: number; cpuMs: number; checksum: number }> {
  if (pipeline.warmupItems) await pipeline.run(calls, pipeline.warmupItems);
  const walls: number[] = [];
  const cpus: number[] = [];
  let checksum = 0;
  for (let pass = 0; pass < pipeline.timedRuns; pass++) {
    const cpu = process.cpuUsage();
    const started = performance.now();
    checksum = await pipeline.run(calls, pipeline.items);
    walls.push(performance.now() - started);
    const used = process.cpuUsage(cpu);
    cpus.push((used.user + used.system) / 1000);
  }
  return { wallMs: median(walls), cpuMs: median(cpus), checksum };
}

/** timePasses, under the CPU profiler when PIPETEL_BENCH_PROFILE=1. */
async function measurePasses(
  pipeline: (typeof PIPELINES)[PipelineName],
  calls: PipelineTelemetry,
): Promise<{ wallMs: number; cpuMs: number; checksum: number; profile?: ProfileBreakdown }> {
  if (process.env.PIPETEL_BENCH_PROFILE !== '1') return timePasses(pipeline, calls);
  let timed: Awaited<ReturnType<typeof timePasses>> | undefined;
  const profile = await profileParts(async () => {
    timed = await timePasses(pipeline, calls);
  }, 'benchmarks/overhead.ts');
  return { ...timed!, profile };
}

async function child(variant: Variant, pipelineName: PipelineName): Promise<ChildReport> {
  const pipeline = PIPELINES[pipelineName];
  if (variant === 'plain') {
    return { variant, pipeline: pipelineName, ...(await measurePasses(pipeline, uninstrumented)) };
  }
  // Imported here, not at the top, so the uninstrumented child never loads pipetel or the OTel SDK.
  const { register } = await import('../src/index.js');
  const registerStarted = performance.now();
  const tel = await register({
    serviceName: 'bench-overhead',
    databaseUrl: process.env.PIPETEL_BENCH_DB_URL,
    config: { profile: 'balanced', logging: { console: { enabled: false }, file: { enabled: false } } },
  });
  const registerMs = performance.now() - registerStarted;
  const calls = variant === 'instrumented' ? tel : uninstrumented;
  tel.profile(); // starts the window that the profile() call after the passes closes
  const timed = await measurePasses(pipeline, calls);
  const selfEstimatePct = tel.profile().cpuOverheadPercent;
  const shutdownStarted = performance.now();
  await tel.shutdown();
  const shutdownMs = performance.now() - shutdownStarted;
  const stats = tel.stats();
  return {
    variant,
    pipeline: pipelineName,
    ...timed,
    registerMs,
    shutdownMs,
    logsExported: stats.logs.exported,
    logsDropped: stats.logs.dropped,
    selfEstimatePct,
  };
}

interface PipelineFigures {
  overheadPct: number;
  cpuOverheadPct: number;
  cpuPerRound: number[];
  perRound: number[];
  ratioOfMediansPct: number;
  registeredPct?: number;
  registeredCpuPct?: number;
  minPct: number;
  plainSpreadPct: number;
  selfEstimatePct: number;
  met: boolean;
}

function analyze(
  plain: ChildReport[],
  instrumented: ChildReport[],
  registered: ChildReport[],
): PipelineFigures {
  const wall = (rs: ChildReport[]) => rs.map((r) => r.wallMs);
  const cpu = (rs: ChildReport[]) => rs.map((r) => r.cpuMs);
  const pctOver = (rs: ChildReport[], of: (r: ChildReport[]) => number[]) =>
    (median(of(rs)) / median(of(plain)) - 1) * 100;
  // Each instrumented run is paired with the plain run of the same round: runs minutes apart see
  // different load from other work on the machine, runs seconds apart mostly the same.
  const perRound = instrumented.map((r, k) => (r.wallMs / plain[k]!.wallMs - 1) * 100);
  const cpuPerRound = instrumented.map((r, k) => (r.cpuMs / plain[k]!.cpuMs - 1) * 100);
  const overheadPct = median(perRound);
  const cpuOverheadPct = median(cpuPerRound);
  return {
    overheadPct,
    cpuOverheadPct,
    perRound,
    cpuPerRound,
    ratioOfMediansPct: pctOver(instrumented, wall),
    registeredPct: registered.length ? pctOver(registered, wall) : undefined,
    registeredCpuPct: registered.length ? pctOver(registered, cpu) : undefined,
    // Other load on the machine only ever adds time, so the fastest runs are the least disturbed.
    minPct: (Math.min(...wall(instrumented)) / Math.min(...wall(plain)) - 1) * 100,
    plainSpreadPct: ((Math.max(...wall(plain)) - Math.min(...wall(plain))) / median(wall(plain))) * 100,
    selfEstimatePct: median(instrumented.map((r) => r.selfEstimatePct ?? Number.NaN)),
    // The pipeline is CPU-bound on one thread, so extra CPU time in the process shows up as wall
    // time unless it runs on another core. When load from other work swamps the wall figure, the
    // CPU figure still bounds it: the target counts as met only when both are within it.
    met: overheadPct <= OVERHEAD_TARGET_PCT && cpuOverheadPct <= OVERHEAD_TARGET_PCT,
  };
}

const JOBS: Array<[Variant, PipelineName]> = [
  ['plain', 'light'],
  ['instrumented', 'light'],
  ['registered', 'light'],
  ['plain', 'per-item'],
  ['instrumented', 'per-item'],
];

export async function run(): Promise<SummarizedResult> {
  const server = await benchServerUrl();
  const db = await freshDatabase(server.url);
  const file = new URL(import.meta.url).pathname;
  const env = { PIPETEL_BENCH_DB_URL: db.url };
  const runJob = ([variant, pipeline]: [Variant, PipelineName]) =>
    runChild<ChildReport>(file, ['--child', variant, pipeline], { env, timeoutMs: 120_000 });
  const reports = new Map<string, ChildReport[]>(JOBS.map(([v, p]) => [`${v}/${p}`, []]));
  const of = (variant: Variant, pipeline: PipelineName) => reports.get(`${variant}/${pipeline}`)!;
  const profiles = new Map<Variant, ProfileBreakdown>();
  try {
    const { migrate } = await import('../exporters/postgres/migrate.js');
    await migrate(db.url);
    // One unrecorded round first: tsx's transform cache and the page cache warm up for all.
    if (!isQuick()) for (const job of JOBS) await runJob(job);
    for (let round = 0; round < ROUNDS; round++) {
      // The order rotates, so a drift in machine load does not always hit the same variant.
      for (let k = 0; k < JOBS.length; k++) {
        const job = JOBS[(k + round) % JOBS.length]!;
        of(...job).push(await runJob(job));
      }
      const line = (pipeline: PipelineName) => {
        const p = of('plain', pipeline).at(-1)!;
        const i = of('instrumented', pipeline).at(-1)!;
        const pct = (x: ChildReport, y: ChildReport, key: 'wallMs' | 'cpuMs') =>
          `${((x[key] / y[key] - 1) * 100).toFixed(2)} %`;
        return `${pipeline}: plain ${p.wallMs.toFixed(0)} ms, instrumented ${i.wallMs.toFixed(0)} ms (wall ${pct(i, p, 'wallMs')}, cpu ${pct(i, p, 'cpuMs')}, self-estimate ${i.selfEstimatePct?.toFixed(2)} %)`;
      };
      process.stderr.write(`  round ${round + 1}/${ROUNDS}: ${line('light')}; ${line('per-item')}\n`);
    }
    // One more child per per-item variant under the CPU profiler: where the time goes (not timed).
    const profiledEnv = { ...env, PIPETEL_BENCH_PROFILE: '1' };
    for (const variant of ['plain', 'instrumented'] as const) {
      const report = await runChild<ChildReport>(file, ['--child', variant, 'per-item'], {
        env: profiledEnv,
        timeoutMs: 180_000,
      });
      profiles.set(variant, report.profile!);
    }
  } finally {
    await db.drop();
  }

  const light = analyze(of('plain', 'light'), of('instrumented', 'light'), of('registered', 'light'));
  const perItem = analyze(of('plain', 'per-item'), of('instrumented', 'per-item'), []);
  const wall = (rs: ChildReport[]) => rs.map((r) => r.wallMs);
  const cpu = (rs: ChildReport[]) => rs.map((r) => r.cpuMs);
  const series = (name: string, side: 'pipetel' | 'anchor', unit: string, runs: number[]): Measurement => ({
    name,
    side,
    unit,
    median: median(runs),
    runs,
  });
  const signed = (pct: number) => `${pct >= 0 ? '+' : ''}${pct.toFixed(2)} %`;
  const instrumentedLight = of('instrumented', 'light');
  const measurements: Measurement[] = [];
  for (const pipeline of ['light', 'per-item'] as const) {
    const figures = pipeline === 'light' ? light : perItem;
    measurements.push(
      series(
        `${pipeline}: pipeline wall time, uninstrumented (no-op shim)`,
        'anchor',
        'ms',
        wall(of('plain', pipeline)),
      ),
      series(
        `${pipeline}: pipeline wall time, pipetel balanced profile (instrumented)`,
        'pipetel',
        'ms',
        wall(of('instrumented', pipeline)),
      ),
      series(
        `${pipeline}: wall-time overhead per round (instrumented / plain − 1)`,
        'pipetel',
        '%',
        figures.perRound,
      ),
      series(
        `${pipeline}: process CPU time (user + system) during the pipeline, uninstrumented`,
        'anchor',
        'ms',
        cpu(of('plain', pipeline)),
      ),
      series(
        `${pipeline}: process CPU time during the pipeline, instrumented`,
        'pipetel',
        'ms',
        cpu(of('instrumented', pipeline)),
      ),
      series(
        `${pipeline}: CPU-time overhead per round (instrumented / plain − 1)`,
        'pipetel',
        '%',
        figures.cpuPerRound,
      ),
      series(
        `${pipeline}: pipetel's own estimate of its CPU share (tel.profile())`,
        'pipetel',
        '%',
        of('instrumented', pipeline).map((r) => r.selfEstimatePct ?? Number.NaN),
      ),
    );
  }
  measurements.push(
    series(
      'light: pipeline wall time, pipetel registered, pipeline calling the no-op shim',
      'pipetel',
      'ms',
      wall(of('registered', 'light')),
    ),
    series(
      'register() until it resolves (config, pool, migration check, experiment row)',
      'pipetel',
      'ms',
      instrumentedLight.map((r) => r.registerMs!),
    ),
    series(
      'shutdown() (flush everything, end the experiment, close the pool)',
      'pipetel',
      'ms',
      instrumentedLight.map((r) => r.shutdownMs!),
    ),
  );
  for (const [variant, profile] of profiles) {
    const total = Object.values(profile).reduce((a, b) => a + b, 0);
    for (const [part, ms] of Object.entries(profile)) {
      const share = (100 * ms) / total;
      measurements.push(
        series(
          `per-item, CPU profile, ${variant}: ${part} share`,
          variant === 'plain' ? 'anchor' : 'pipetel',
          '%',
          [share],
        ),
      );
    }
  }
  const shares = (variant: Variant) => {
    const profile = profiles.get(variant);
    if (!profile) return 'not measured';
    const total = Object.values(profile).reduce((a, b) => a + b, 0);
    return Object.entries(profile)
      .map(([part, ms]) => `${part} ${((100 * ms) / total).toFixed(1)} %`)
      .join(', ');
  };
  const expectedLogs = STAGES.length * Math.floor(ITEMS_PER_STAGE / LOG_EVERY);
  const describeFigures = (name: string, f: PipelineFigures) =>
    `${name}: median of per-round paired ratios, wall ${signed(f.overheadPct)}, CPU ${signed(f.cpuOverheadPct)}; median instrumented / median plain − 1 = ${signed(f.ratioOfMediansPct)}; fastest vs fastest ${signed(f.minPct)}` +
    (f.registeredPct === undefined
      ? ''
      : `; registered-only ${signed(f.registeredPct)} wall, ${signed(f.registeredCpuPct!)} CPU`) +
    `; the plain runs spread over ${f.plainSpreadPct.toFixed(1)} % of their median (max − min). pipetel's own estimate (tel.profile()): ${f.selfEstimatePct.toFixed(2)} %.`;
  const notes = [
    `Light pipeline (referencePipeline): ${STAGES.length} stages (${STAGES.map(([n]) => n).join(', ')}) of xorshift/sqrt CPU work, ${ITEMS_PER_STAGE.toLocaleString('en-US')} items each; per item one progress.advance(); every ${LOG_EVERY} items one log.info with printf args and two attributes, one counter add and a yield to the event loop (setImmediate). ${expectedLogs} log records, ${STAGES.length} stage spans per run.`,
    `Per-item pipeline (perItemPipeline): ${PER_ITEM_STAGES.length} stages of ${PER_ITEM_ITEMS_PER_STAGE.toLocaleString('en-US')} items of ~3 µs (transformRecord: JSON.parse of an order line, a total over its lines, a lower-cased key); per item progress.advance(1), counter.add(1, { stage }) on a meter from tel.getMeter() (= metrics.getMeter()) and a log.debug below the level; a histogram.record every ${PER_ITEM_HISTOGRAM_EVERY} items, a log.info every ${PER_ITEM_INFO_EVERY}, a yield every ${LOG_EVERY}. Each child first runs an untimed pass of ${PIPELINES['per-item'].warmupItems.toLocaleString('en-US')} items per stage (both variants), then ${PIPELINES['per-item'].timedRuns} timed passes whose median wall and CPU time are the child's figures: the steady state, with less of one pass's noise.`,
    'Variants: "instrumented" = register({ config: { profile: "balanced", logging: { console: off, file: off } } }) against a fresh database on the server named below (log records to pipeline_logs in batches of 100 or every 5 s, metrics every 30 s, progress every 10 s, resource tracking on) and the pipeline calling it; "plain" = no pipetel, the pipeline calling a no-op object with the same methods, so all variants run identical pipeline code; "registered" (light only) = pipetel registered, the pipeline calling the no-op object. The database server runs on the same 2 cores.',
    `Each run is a fresh child process; ${ROUNDS} rounds, each running every job once (light plain / instrumented / registered, per-item plain / instrumented), the order rotating${isQuick() ? '' : ', after one unrecorded warm-up round'}. Wall and CPU time cover only the pipeline; register() and shutdown() are reported on their own rows. Its figure per pipeline is the median over rounds of (instrumented / plain of the same round − 1), wall and CPU time alike. On this machine those rounds spread too widely to resolve 1 % (see the plain runs' spread below); the verdict on the target is overhead-paired's, which alternates the two sides pass by pass inside one process.`,
    describeFigures('Light', light),
    describeFigures('Per-item', perItem),
    "Where the per-item time goes (one-off ablations while writing this, same machine; child processes alternating, warm-up then the median of 3 passes): the SDK's own meter calls cost this pipeline +39 % (it hashes the attribute set on every call: sort + JSON.stringify, ~1.2 µs a call inside this loop, ~0.4 µs in a tight loop); pipetel's meters ~19 ns a call in a tight loop (the direct path caches the SDK's accumulation per attribute set, and a loop that repeats its attribute values compares two interned strings). Before this work the per-item pipeline measured 1.41× (issue 7). Turning the call kinds on one at a time (stages, logs, progress, metrics) moved each by less than the ±3 % that the loop's own code generation moves between variants: a registered process making no calls ran −2.8 % against one without pipetel, and a variant with no calls at all ran slower than variants with below-level log calls. What remains is pipetel's own estimate (a little over 2 %: logger calls timed, metric calls, stages, encoding) plus a part no ablation here could pin to one call kind.",
    `Where the per-item CPU goes, profiled: one more child per variant runs the same passes under V8's sampling profiler (every 200 µs; node:inspector), each sample attributed to the first frame from the leaf up that is the pipeline's code, pipetel (src/, exporters/), the OTel SDK or the pg driver (builtins such as JSON.parse count for their caller), with GC and V8's unattributed time apart. Now — instrumented: ${shares('instrumented')}; plain: ${shares('plain')}. Before issue 7 (commit 6fd1c88, the same pipeline, one-off run on the same machine with other work running): pipeline 76.6 %, OTel SDK 18.1 % (its attribute hashing alone 10.2 %: hashAttributes 844 ms, HashMap.get 141 ms, _record 198 ms of 8.3 s), pipetel 1.2 % (its meter wrapper's context lookup), GC 1.6 %, V8 other 1.6 %, pg 0.6 %. The difference between the instrumented and plain shares is pipetel's cost in this pipeline as the profiler sees it; the pipetel part is mostly the log.info calls (writeRecord, formatting, the record's attribute copy) and the meter calls' cell lookups, the pg part the socket writes of the batches, the extra GC the queued log records.`,
    "Why the per-item kernel parses JSON instead of the light pipeline's xorshift loop: with that arithmetic loop inlined into the item loop, any call V8 cannot elide slowed the loop itself by ~30 % — a no-op shim 747 ms, the same shim with one extra `if (process.argv[3]) last = a` 996 ms, the plain SDK counter 1110 ms, pipetel 1009 ms — so it measured V8's code generation for the benchmark, not the instrumentation. With a parse per item (realistic ETL work that V8 does not fold into the loop) the same shim variants differ by 1–2 %.",
    `Logs delivered in the last light instrumented run: ${instrumentedLight.at(-1)?.logsExported} exported, ${instrumentedLight.at(-1)?.logsDropped} dropped (expected ${expectedLogs}).`,
  ];
  const row = (name: string, f: PipelineFigures, pipeline: PipelineName) => [
    {
      what: `wall-time overhead, ${name} pipeline, balanced profile`,
      pipetel: { value: median(wall(of('instrumented', pipeline))) / 1000, unit: 's' },
      anchor: { label: 'uninstrumented', value: median(wall(of('plain', pipeline))) / 1000, unit: 's' },
      ratio: median(wall(of('instrumented', pipeline))) / median(wall(of('plain', pipeline))),
      target: `≤ 1 % (seed < 2 %): paired median ${signed(f.overheadPct)}`,
      met: f.met,
    },
    {
      what: `CPU-time overhead, ${name} pipeline, same runs`,
      pipetel: { value: median(cpu(of('instrumented', pipeline))) / 1000, unit: 's CPU' },
      anchor: { label: 'uninstrumented', value: median(cpu(of('plain', pipeline))) / 1000, unit: 's CPU' },
      ratio: median(cpu(of('instrumented', pipeline))) / median(cpu(of('plain', pipeline))),
      target: `≤ 1 %: paired median ${signed(f.cpuOverheadPct)}; pipetel's own estimate ${signed(f.selfEstimatePct)}`,
      met: f.cpuOverheadPct <= OVERHEAD_TARGET_PCT,
    },
  ];
  return {
    benchmark: 'overhead',
    description:
      'Wall- and CPU-time overhead of pipetel (balanced profile, into PostgreSQL) on two CPU-bound reference pipelines — light (calls every ~1000 items) and per-item — against the same pipelines uninstrumented.',
    target: `≤ ${OVERHEAD_TARGET_PCT} % wall and CPU time on each pipeline (the seed promises < ${SEED_PROMISE_PCT} %)`,
    headline: {
      label: 'wall-time overhead, per-item pipeline, balanced profile',
      value: perItem.overheadPct,
      unit: '%',
      meetsTarget: light.met && perItem.met,
    },
    measurements,
    summary: [
      ...row('light', light, 'light'),
      ...row('per-item', perItem, 'per-item'),
      {
        what: 'register() + shutdown(), outside the pipeline',
        pipetel: {
          value:
            median(instrumentedLight.map((r) => r.registerMs!)) +
            median(instrumentedLight.map((r) => r.shutdownMs!)),
          unit: 'ms',
        },
        target: 'none (reported separately)',
        met: null,
      },
    ],
    environment: environment({
      server: server.label,
      rounds: ROUNDS,
      lightItemsPerStage: ITEMS_PER_STAGE,
      perItemItemsPerStage: PER_ITEM_ITEMS_PER_STAGE,
    }),
    notes,
  };
}

if (process.argv[1] && import.meta.url === `file://${process.argv[1]}`) {
  const at = process.argv.indexOf('--child');
  if (at >= 0) {
    printChildResult(await child(process.argv[at + 1] as Variant, process.argv[at + 2] as PipelineName));
  } else {
    const result = await run();
    if (process.argv.includes('--json')) printChildResult(result);
    else console.log(result.notes?.join('\n'), '\n', JSON.stringify(result.headline));
  }
}
