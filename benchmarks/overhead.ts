// Wall-time overhead of the balanced profile on a reference CPU-bound pipeline (SPEC §8 ≤ 1 %,
// the seed promises < 2 %): the same pipeline code run with pipetel registered into PostgreSQL and
// with a no-op shim of the same shape, each run in a fresh child process, alternating ABBA.
// register() and shutdown() are timed separately, outside the pipeline's wall time.
// Run alone: node --import tsx benchmarks/overhead.ts [--json]

import { benchServerUrl, environment, freshDatabase, type Measurement, median } from './lib.js';
import { isQuick, printChildResult, runChild, type SummarizedResult } from './run.js';

const OVERHEAD_TARGET_PCT = 1;
const SEED_PROMISE_PCT = 2;
/** Rounds of one run per variant, the order rotating each round. */
const ROUNDS = isQuick() ? 2 : 8;
const ITEMS_PER_STAGE = isQuick() ? 20_000 : 100_000;
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

/** The part of pipetel's Telemetry the reference pipeline uses; the no-op shim has the same shape. */
export interface PipelineTelemetry {
  stage<T>(name: string, fn: () => Promise<T>): Promise<T>;
  getLogger(name: string): { info(message: string, ...args: unknown[]): void };
  progress(nodeId: string, options?: { total?: number }): { advance(n?: number): void; done(): void };
  getMeter(name: string): {
    createCounter(name: string): { add(value: number, attributes?: Record<string, string>): void };
  };
}

const noopLogger = { info(): void {} };
const noopProgress = { advance(): void {}, done(): void {} };
const noopCounter = { add(): void {} };
/** The uninstrumented variant: the same calls, doing nothing. */
export const uninstrumented: PipelineTelemetry = {
  stage: (_name, fn) => fn(),
  getLogger: () => noopLogger,
  progress: () => noopProgress,
  getMeter: () => ({ createCounter: () => noopCounter }),
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

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * The reference pipeline: five stages of CPU work; per item a progress.advance(); per 1000 items
 * an INFO summary with printf args and attributes, a counter add, and a yield to the event loop
 * (as an async pipeline reading its input would).
 */
export async function referencePipeline(tel: PipelineTelemetry, itemsPerStage: number): Promise<number> {
  const log = tel.getLogger('bench.pipeline');
  const processed = tel.getMeter('bench.pipeline').createCounter('bench.items_processed');
  let checksum = 0;
  for (const [name, weight] of STAGES) {
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
          await yieldToEventLoop();
        }
      }
      progress.done();
      return acc;
    });
  }
  return checksum;
}

/**
 * plain: no pipetel at all. registered: pipetel registered but the pipeline calls the no-op shim,
 * which isolates what merely having pipetel in the process costs (context manager, timers,
 * connections). instrumented: pipetel registered and the pipeline calling it.
 */
type Variant = 'plain' | 'registered' | 'instrumented';
const VARIANTS: Variant[] = ['plain', 'instrumented', 'registered'];

interface ChildReport {
  variant: Variant;
  wallMs: number;
  cpuMs: number;
  registerMs?: number;
  shutdownMs?: number;
  logsExported?: number;
  logsDropped?: number;
  checksum: number;
}

async function child(variant: Variant): Promise<ChildReport> {
  const items = Number(process.env.PIPETEL_BENCH_ITEMS);
  if (variant === 'plain') {
    const cpu = process.cpuUsage();
    const started = performance.now();
    const checksum = await referencePipeline(uninstrumented, items);
    const wallMs = performance.now() - started;
    const used = process.cpuUsage(cpu);
    return { variant, wallMs, cpuMs: (used.user + used.system) / 1000, checksum };
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
  const cpu = process.cpuUsage();
  const started = performance.now();
  const checksum = await referencePipeline(variant === 'instrumented' ? tel : uninstrumented, items);
  const wallMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  const shutdownStarted = performance.now();
  await tel.shutdown();
  const shutdownMs = performance.now() - shutdownStarted;
  const stats = tel.stats();
  return {
    variant,
    wallMs,
    cpuMs: (used.user + used.system) / 1000,
    registerMs,
    shutdownMs,
    logsExported: stats.logs.exported,
    logsDropped: stats.logs.dropped,
    checksum,
  };
}

export async function run(): Promise<SummarizedResult> {
  const server = await benchServerUrl();
  const db = await freshDatabase(server.url);
  const file = new URL(import.meta.url).pathname;
  const env = { PIPETEL_BENCH_DB_URL: db.url, PIPETEL_BENCH_ITEMS: String(ITEMS_PER_STAGE) };
  const runVariant = (variant: Variant) =>
    runChild<ChildReport>(file, ['--child', variant], { env, timeoutMs: 120_000 });
  const reports: Record<Variant, ChildReport[]> = { plain: [], registered: [], instrumented: [] };
  try {
    const { migrate } = await import('../src/db/migrate.js');
    await migrate(db.url);
    // One unrecorded round first: tsx's transform cache and the page cache warm up for all.
    if (!isQuick()) for (const variant of VARIANTS) await runVariant(variant);
    for (let round = 0; round < ROUNDS; round++) {
      // The order rotates, so a drift in machine load does not always hit the same variant.
      for (let k = 0; k < VARIANTS.length; k++) {
        const variant = VARIANTS[(k + round) % VARIANTS.length]!;
        reports[variant].push(await runVariant(variant));
      }
      const p = reports.plain.at(-1)!;
      const r = reports.registered.at(-1)!;
      const i = reports.instrumented.at(-1)!;
      const pct = (x: ChildReport) => `${((x.wallMs / p.wallMs - 1) * 100).toFixed(2)} %`;
      process.stderr.write(
        `  round ${round + 1}/${ROUNDS}: plain ${p.wallMs.toFixed(0)} ms, registered ${r.wallMs.toFixed(0)} ms (${pct(r)}), ` +
          `instrumented ${i.wallMs.toFixed(0)} ms (${pct(i)}); register ${i.registerMs!.toFixed(0)} ms, ` +
          `shutdown ${i.shutdownMs!.toFixed(0)} ms, logs ${i.logsExported} exported / ${i.logsDropped} dropped\n`,
      );
    }
  } finally {
    await db.drop();
  }

  const { plain, registered, instrumented } = reports;
  const wall = (rs: ChildReport[]) => rs.map((r) => r.wallMs);
  const cpu = (rs: ChildReport[]) => rs.map((r) => r.cpuMs);
  const pctOver = (rs: ChildReport[], of: (r: ChildReport[]) => number[]) =>
    (median(of(rs)) / median(of(plain)) - 1) * 100;
  const ratioOfMediansPct = pctOver(instrumented, wall);
  const registeredPct = pctOver(registered, wall);
  const cpuOverheadPct = pctOver(instrumented, cpu);
  // The pipeline is CPU-bound on one thread, so extra CPU time in the process shows up as wall
  // time unless it runs on another core. When load from other work swamps the wall figure, the
  // CPU figure still bounds it: the target counts as met only when both are within it.
  const met = (wallPct: number) => wallPct <= OVERHEAD_TARGET_PCT && cpuOverheadPct <= OVERHEAD_TARGET_PCT;
  const registeredCpuPct = pctOver(registered, cpu);
  const perRound = instrumented.map((r, k) => (r.wallMs / plain[k]!.wallMs - 1) * 100);
  // The headline pairs each instrumented run with the plain run of the same round: runs minutes
  // apart see different load from other work on the machine, runs seconds apart mostly the same,
  // and on this machine the ratio of the two medians swung from +3 % to +34 % between runs while
  // the per-round median stayed within +4 … +9 %.
  const overheadPct = median(perRound);
  // Other load on the machine only ever adds time, so the fastest runs are the least disturbed.
  const minPct = (Math.min(...wall(instrumented)) / Math.min(...wall(plain)) - 1) * 100;
  const plainSpreadPct = ((Math.max(...wall(plain)) - Math.min(...wall(plain))) / median(wall(plain))) * 100;
  const expectedLogs = STAGES.length * Math.floor(ITEMS_PER_STAGE / LOG_EVERY);
  const series = (name: string, side: 'pipetel' | 'anchor', unit: string, runs: number[]): Measurement => ({
    name,
    side,
    unit,
    median: median(runs),
    runs,
  });
  const measurements: Measurement[] = [
    series('pipeline wall time, uninstrumented (no-op shim)', 'anchor', 'ms', wall(plain)),
    series(
      'pipeline wall time, pipetel registered, pipeline calling the no-op shim',
      'pipetel',
      'ms',
      wall(registered),
    ),
    series(
      'pipeline wall time, pipetel balanced profile (instrumented)',
      'pipetel',
      'ms',
      wall(instrumented),
    ),
    series('wall-time overhead per round (instrumented / plain − 1)', 'pipetel', '%', perRound),
    series('fastest instrumented run vs fastest plain run', 'pipetel', '%', [minPct]),
    series(
      'process CPU time (user + system) during the pipeline, uninstrumented',
      'anchor',
      'ms',
      cpu(plain),
    ),
    series('process CPU time during the pipeline, registered, no-op calls', 'pipetel', 'ms', cpu(registered)),
    series('process CPU time during the pipeline, instrumented', 'pipetel', 'ms', cpu(instrumented)),
    series(
      'register() until it resolves (config, pool, migration check, experiment row)',
      'pipetel',
      'ms',
      instrumented.map((r) => r.registerMs!),
    ),
    series(
      'shutdown() (flush everything, end the experiment, close the pool)',
      'pipetel',
      'ms',
      instrumented.map((r) => r.shutdownMs!),
    ),
  ];
  const signed = (pct: number) => `${pct >= 0 ? '+' : ''}${pct.toFixed(2)} %`;
  const notes = [
    `Reference pipeline (referencePipeline in benchmarks/overhead.ts): ${STAGES.length} stages (${STAGES.map(([n]) => n).join(', ')}) of xorshift/sqrt CPU work, ${ITEMS_PER_STAGE.toLocaleString('en-US')} items each; per item one progress.advance(); every ${LOG_EVERY} items (every 4–5 ms of work here) one log.info with printf args and two attributes, one counter add and a yield to the event loop (setImmediate). ${expectedLogs} log records, ${STAGES.length} stage spans, ${(STAGES.length * ITEMS_PER_STAGE).toLocaleString('en-US')} advance() calls per run.`,
    'Variants: "instrumented" = register({ config: { profile: "balanced", logging: { console: off, file: off } } }) against a fresh database on the server named below (log records to pipeline_logs in batches of 100 or every 5 s, metrics every 30 s, progress every 10 s, resource tracking on) and the pipeline calling it; "plain" = no pipetel, the pipeline calling a no-op object with the same methods, so all variants run identical pipeline code; "registered" = pipetel registered, the pipeline calling the no-op object: what merely having pipetel in the process costs. The database server runs on the same 2 cores.',
    `Each run is a fresh child process; ${ROUNDS} rounds of one run per variant, the order rotating${isQuick() ? '' : ', after one unrecorded warm-up round'}. Wall time covers only the pipeline; register() and shutdown() are reported on their own rows.`,
    `Headline: the median over rounds of (instrumented wall time / plain wall time of the same round − 1) = ${signed(overheadPct)}; pairing within a round cancels most of the load that other work puts on the machine, which moves between rounds. Beside it: median instrumented / median plain − 1 = ${signed(ratioOfMediansPct)}; registered-only ${signed(registeredPct)}; fastest vs fastest ${signed(minPct)}; process CPU time (user + system, all threads, so it includes encoding and sending the rows) instrumented ${signed(cpuOverheadPct)}, registered-only ${signed(registeredCpuPct)}.`,
    `Noise: the plain runs alone spread over ${plainSpreadPct.toFixed(1)} % of their median (max − min) in this run, because other work shares the 2 cores; a wall-time difference of 1 % is below what ${ROUNDS} rounds resolve here. CPU time, which other processes disturb less, is the sharper check of the same claim, and the verdict requires both figures within the target: extra CPU on the pipeline's thread is extra wall time whatever the noise does to the wall figure.`,
    "What the extra time is. The registered-only variant shows that having pipetel in the process costs nothing measurable; the cost comes with the calls. A CPU profile of one instrumented run (inspector, pipeline window only, taken while writing this benchmark) put about a third of the extra CPU in the 500 log.info calls, an eighth each in the OTel SDK metrics Counter.add (attribute hashing) and the AsyncLocalStorage promise hooks the context manager turns on, and the rest in the pg socket, span and exporter work on the event loop. Switching the call kinds on one at a time (logs, counter, progress, stages; 4 runs each, one-off) left each within the ±1.5 % noise of this machine, so no single feature dominates. These calls are cold — a few hundred, one every ~4 ms of unrelated work. The logger benchmark's cold rows measure such a call in isolation at 5–35 µs depending on the load on the machine, for pipetel and pino alike (0.4 µs in a hot loop); inside this pipeline the profile saw ~90 µs per log.info including its enqueue, a gap this benchmark does not explain. The overhead therefore scales with how often a pipeline calls pipetel per unit of work; this reference pipeline logs, counts and yields every 1000 items of ~4 µs each.",
    `Logs delivered in the last instrumented run: ${instrumented.at(-1)?.logsExported} exported, ${instrumented.at(-1)?.logsDropped} dropped (expected ${expectedLogs}).`,
  ];
  return {
    benchmark: 'overhead',
    description:
      'Wall-time overhead of pipetel (balanced profile, into PostgreSQL) on a CPU-bound reference pipeline, against the same pipeline uninstrumented.',
    target: `≤ ${OVERHEAD_TARGET_PCT} % wall time (the seed promises < ${SEED_PROMISE_PCT} %)`,
    headline: {
      label: 'wall-time overhead, balanced profile',
      value: overheadPct,
      unit: '%',
      meetsTarget: met(overheadPct),
    },
    measurements,
    summary: [
      {
        what: 'wall-time overhead, reference pipeline, balanced profile',
        pipetel: { value: median(wall(instrumented)) / 1000, unit: 's' },
        anchor: { label: 'uninstrumented', value: median(wall(plain)) / 1000, unit: 's' },
        ratio: median(wall(instrumented)) / median(wall(plain)),
        target: `≤ 1 % (seed < 2 %): measured ${signed(overheadPct)}`,
        met: met(overheadPct),
      },
      {
        what: 'CPU-time overhead, same runs (less disturbed by other load)',
        pipetel: { value: median(cpu(instrumented)) / 1000, unit: 's CPU' },
        anchor: { label: 'uninstrumented', value: median(cpu(plain)) / 1000, unit: 's CPU' },
        ratio: median(cpu(instrumented)) / median(cpu(plain)),
        target: `context: ${signed(cpuOverheadPct)}; registered but not called ${signed(registeredCpuPct)}`,
        met: null,
      },
      {
        what: 'register() + shutdown(), outside the pipeline',
        pipetel: {
          value:
            median(instrumented.map((r) => r.registerMs!)) + median(instrumented.map((r) => r.shutdownMs!)),
          unit: 'ms',
        },
        target: 'none (reported separately)',
        met: null,
      },
    ],
    environment: environment({
      server: server.label,
      rounds: ROUNDS,
      itemsPerStage: ITEMS_PER_STAGE,
    }),
    notes,
  };
}

if (process.argv[1] && import.meta.url === `file://${process.argv[1]}`) {
  const at = process.argv.indexOf('--child');
  if (at >= 0) {
    printChildResult(await child(process.argv[at + 1] as Variant));
  } else {
    const result = await run();
    if (process.argv.includes('--json')) printChildResult(result);
    else console.log(result.notes?.join('\n'), '\n', JSON.stringify(result.headline));
  }
}
