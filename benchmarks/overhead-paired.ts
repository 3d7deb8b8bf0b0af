// The per-item pipeline's overhead, resolved: in one process with pipetel registered, two compiled
// copies of the same pipeline — one calling pipetel, one a no-op shim — alternate pass by pass, so
// each ratio compares passes seconds apart on the same warm process. Across processes (the overhead
// benchmark) the plain runs alone spread by 30–60 % on this 2-core machine, far more than the 1 %
// to resolve; passes within one process spread by a few percent. Ablations (one call kind at a
// time) say where the overhead goes. What this leaves out, by construction: the cost of merely
// having pipetel registered (its context manager, timers), which both copies pay — the overhead
// benchmark's "registered" row measures that across processes.
// Run alone: node --import tsx benchmarks/overhead-paired.ts

import { benchServerUrl, environment, freshDatabase, type Measurement, median, writeResult } from './lib.js';
import {
  ALL_PER_ITEM_CALLS,
  compilePerItemPipeline,
  PER_ITEM_CALLS,
  type PipelineTelemetry,
  uninstrumented,
} from './overhead.js';
import { isQuick, printChildResult, runChild, type SummarizedResult } from './run.js';

const TARGET_PCT = 1;
const ITEMS_PER_STAGE = isQuick() ? 30_000 : 150_000;
const WARMUP_ITEMS = 30_000;
/**
 * Pass pairs per child process, and child processes per variant. Each child's JIT outcome differs
 * and the spread between children is larger than between pairs within one, so the pairs are spread
 * over more children (6 × 4 rather than 2 × 8).
 */
const PAIRS = isQuick() ? 3 : 4;
const CHILDREN = isQuick() ? 1 : 6;

const VARIANTS: Array<{ name: string; calls: number }> = [
  { name: 'every call (the per-item pipeline)', calls: ALL_PER_ITEM_CALLS },
  { name: 'counter.add(1, { stage }) per item only', calls: PER_ITEM_CALLS.counter },
  { name: 'log.info every 500 items only (batches of 100 into PostgreSQL)', calls: PER_ITEM_CALLS.info },
  { name: 'histogram.record every 100 items only', calls: PER_ITEM_CALLS.histogram },
  {
    name: 'progress.advance(1) + below-level log.debug per item only',
    calls: PER_ITEM_CALLS.advance | PER_ITEM_CALLS.debug,
  },
  // Not a null: the pipetel copy still runs inside tel.stage (a span, its context across the
  // loop's awaits, CPU/RSS sampling at the edges) where the shim calls fn() directly.
  { name: 'stages only, no call inside (tel.stage around the same loop)', calls: 0 },
];

interface ChildResult {
  wall: number[];
  cpu: number[];
  logsExported: number;
}

async function child(calls: number): Promise<ChildResult> {
  const { register } = await import('../src/index.js');
  const tel = await register({
    serviceName: 'bench-overhead-paired',
    databaseUrl: process.env.PIPETEL_BENCH_DB_URL,
    config: { profile: 'balanced', logging: { console: { enabled: false }, file: { enabled: false } } },
  });
  const plain = compilePerItemPipeline(calls);
  const instrumented = compilePerItemPipeline(calls);
  const pass = async (copy: typeof plain, target: PipelineTelemetry) => {
    const cpu = process.cpuUsage();
    const started = performance.now();
    await copy(target, ITEMS_PER_STAGE);
    const used = process.cpuUsage(cpu);
    return { wall: performance.now() - started, cpu: (used.user + used.system) / 1000 };
  };
  await plain(uninstrumented, WARMUP_ITEMS);
  await instrumented(tel, WARMUP_ITEMS);
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let pair = 0; pair < PAIRS; pair++) {
    // Alternate which copy goes first, so a drift within the pair does not favour one side.
    const first = pair % 2 === 0;
    const a = first ? await pass(plain, uninstrumented) : undefined;
    const b = await pass(instrumented, tel);
    const p = a ?? (await pass(plain, uninstrumented));
    wall.push((b.wall / p.wall - 1) * 100);
    cpu.push((b.cpu / p.cpu - 1) * 100);
  }
  await tel.shutdown();
  return { wall, cpu, logsExported: tel.stats().logs.exported };
}

export async function run(): Promise<SummarizedResult> {
  const server = await benchServerUrl();
  const db = await freshDatabase(server.url);
  const file = new URL(import.meta.url).pathname;
  const results = VARIANTS.map(() => ({ wall: [] as number[], cpu: [] as number[] }));
  try {
    const { migrate } = await import('../exporters/postgres/migrate.js');
    await migrate(db.url);
    for (let c = 0; c < CHILDREN; c++) {
      for (const [i, variant] of VARIANTS.entries()) {
        const r = await runChild<ChildResult>(file, ['--child', String(variant.calls)], {
          env: { PIPETEL_BENCH_DB_URL: db.url },
          timeoutMs: 240_000,
        });
        results[i]!.wall.push(...r.wall);
        results[i]!.cpu.push(...r.cpu);
        process.stderr.write(
          `  ${variant.name}: wall ${median(r.wall).toFixed(2)} %, cpu ${median(r.cpu).toFixed(2)} % (${r.wall.map((x) => x.toFixed(1)).join(' ')})\n`,
        );
      }
    }
  } finally {
    await db.drop();
  }
  const measurements: Measurement[] = [];
  for (const [i, variant] of VARIANTS.entries()) {
    const r = results[i]!;
    measurements.push(
      {
        name: `${variant.name}: wall-time overhead per pass pair`,
        side: 'pipetel',
        unit: '%',
        median: median(r.wall),
        runs: r.wall,
      },
      {
        name: `${variant.name}: CPU-time overhead per pass pair`,
        side: 'pipetel',
        unit: '%',
        median: median(r.cpu),
        runs: r.cpu,
      },
    );
  }
  const all = results[0]!;
  const none = results[VARIANTS.length - 1]!;
  const wallPct = median(all.wall);
  const cpuPct = median(all.cpu);
  const met = wallPct <= TARGET_PCT && cpuPct <= TARGET_PCT;
  const spread = (xs: number[]) => Math.max(...xs) - Math.min(...xs);
  const pairs = all.wall.length;
  const breakdown = VARIANTS.slice(1, -1)
    .map((v, k) => `${v.name.replace(' only', '')} ${median(results[k + 1]!.wall).toFixed(2)} %`)
    .join('; ');
  return {
    benchmark: 'overhead-paired',
    description: `Per-item pipeline (${ITEMS_PER_STAGE.toLocaleString('en-US')} items × 3 stages per pass), pipetel's calls against the same calls on a no-op shim, alternating within one registered process: ${PAIRS} pass pairs in each of ${CHILDREN} child processes per variant, after a warm-up of both copies.`,
    target: `≤ ${TARGET_PCT} % wall and CPU time (SPEC §8; the seed promises < 2 %)`,
    headline: {
      label: 'per-item pipeline, wall-time overhead, in-process paired',
      value: wallPct,
      unit: '%',
      meetsTarget: met,
    },
    measurements,
    summary: [
      {
        what: `wall-time overhead, per-item pipeline, in-process paired (median of ${pairs} pass pairs; of it, stages alone: ${median(none.wall).toFixed(2)} %, spread ${spread(none.wall).toFixed(1)} pts)`,
        pipetel: { value: wallPct, unit: '%' },
        target: `≤ ${TARGET_PCT} %`,
        met: wallPct <= TARGET_PCT,
      },
      {
        what: `CPU-time overhead, per-item pipeline, in-process paired (median of ${pairs} pass pairs)`,
        pipetel: { value: cpuPct, unit: '%' },
        target: `≤ ${TARGET_PCT} %`,
        met: cpuPct <= TARGET_PCT,
      },
    ],
    environment: environment({
      server: server.label,
      itemsPerStage: ITEMS_PER_STAGE,
      pairs: PAIRS,
      children: CHILDREN,
    }),
    notes: [
      "Method: one child process per variant registers pipetel (balanced profile, PostgreSQL sink, console and file off) and compiles the per-item pipeline twice from one source, so each copy has its own type feedback; one copy drives pipetel, the other the no-op shim. Passes alternate (which goes first alternates too); each pair gives one ratio. The \"stages only\" variant has no call inside the loop, but its pipetel copy runs inside tel.stage (span, context across the loop's awaits) where the shim calls fn() directly: it is pipetel's cost of stages, not a null. Each child's JIT outcome differs, so the pairs are spread over 6 children.",
      `Where the overhead goes (median wall per variant, one call kind at a time): ${breakdown}.`,
      'Not included: the cost of having pipetel registered at all (both copies pay it); the overhead benchmark measures that across processes ("registered" row).',
    ],
  };
}

// Only when run as a file: under `npm run bench` this module is imported by run.ts's own child
// (`run.ts --child overhead-paired`), whose --child is not this one's.
if (process.argv[1] && import.meta.url === `file://${process.argv[1]}`) {
  const at = process.argv.indexOf('--child');
  if (at >= 0) printChildResult(await child(Number(process.argv[at + 1])));
  else {
    const result = await run();
    process.stdout.write(`${JSON.stringify(result.headline)}\n`);
    writeResult(result);
  }
}
