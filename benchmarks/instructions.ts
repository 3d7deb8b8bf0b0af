// The per-item pipeline's overhead in what the machine's noise cannot move: instructions executed,
// and the cache and branch misses of callgrind's model, per item. Each variant runs twice under
// `valgrind --tool=callgrind` (a short and a long pass after the same warm-up, in one child each);
// the difference divided by the difference in items is its cost per item, with start-up, warm-up
// and shutdown cancelled out. Node runs with --predictable (one thread, no concurrent compilation
// or GC), so two runs of the same variant count the same to a few instructions per item.
// Variants: the no-op shim (the calls compiled in and inlined away: the uninstrumented pipeline),
// pipetel (register(), PostgreSQL sink, every call) and the hand-wired anchor (handwired.ts).
// Needs valgrind (Debian's package); without it the benchmark says so and measures nothing.
// Run alone: node --import tsx benchmarks/instructions.ts

import { execFile, spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { register } from '../src/index.js';
import { handWired } from './handwired.js';
import { benchServerUrl, environment, freshDatabase, type Measurement, writeResult } from './lib.js';
import {
  ALL_PER_ITEM_CALLS,
  compilePerItemPipeline,
  type PipelineTelemetry,
  uninstrumented,
} from './overhead.js';
import { isQuick, printChildResult, type SummarizedResult } from './run.js';

const VARIANTS = ['shim', 'pipetel', 'hand-wired'] as const;
type Variant = (typeof VARIANTS)[number];
const WARM_ITEMS = isQuick() ? 5_000 : 20_000;
const SHORT_ITEMS = isQuick() ? 5_000 : 20_000;
const LONG_ITEMS = isQuick() ? 15_000 : 80_000;
/** callgrind's events, as it names them, and what this benchmark calls them. */
const EVENTS = {
  Ir: 'instructions',
  I1mr: 'L1 instruction-cache misses',
  D1mr: 'L1 data-cache read misses',
  Bcm: 'mispredicted conditional branches',
} as const;
type EventName = keyof typeof EVENTS;
const CHILD_TIMEOUT_MS = 20 * 60_000;

// ---------------------------------------------------------------------------------------------
// Child: one variant, a warm-up pass and one pass of `items`, under callgrind.

async function child(variant: Variant, items: number): Promise<void> {
  const url = process.env.PIPETEL_BENCH_INSTRUCTIONS_URL!;
  let tel: PipelineTelemetry = uninstrumented;
  let end = async () => {};
  if (variant === 'pipetel') {
    const registered = await register({
      serviceName: 'bench-instructions',
      databaseUrl: url,
      // Time-driven work (timed flushes, collections, samples, checks) runs ~50× as often per item
      // under valgrind as at full speed, where a pass of the reference pipeline is ~0.3 s: pushed
      // past the run here, as the paired benchmark leaves it out of its ratio. Batches of 100 still
      // go as they fill.
      config: {
        logging: {
          console: { enabled: false },
          file: { enabled: false },
          database: { flush_interval: 3600 },
        },
        monitoring: {
          metrics_interval: 3600,
          progress_update_interval: 3600,
          resource_sample_interval: 3600,
          overhead_check_interval: 3600,
        },
      },
    });
    tel = registered as unknown as PipelineTelemetry;
    end = () => registered.shutdown();
  } else if (variant === 'hand-wired') {
    const wired = await handWired(url, 'bench-instructions-hand-wired');
    tel = wired.tel;
    end = async () => {
      await wired.flush();
      await wired.close();
    };
  }
  const pipeline = compilePerItemPipeline(ALL_PER_ITEM_CALLS);
  await pipeline(tel, WARM_ITEMS, ['warm-up']);
  await pipeline(tel, items, ['transform']);
  await end();
  printChildResult({ variant, items });
}

// ---------------------------------------------------------------------------------------------
// Parent.

const run$ = promisify(execFile);

async function valgrindVersion(): Promise<string | undefined> {
  try {
    return (await run$('valgrind', ['--version'])).stdout.trim();
  } catch {
    return undefined;
  }
}

/** One child under callgrind; its event totals (all threads: --predictable keeps it to one). */
function counted(variant: Variant, items: number, url: string): Promise<Record<EventName, number>> {
  const out = join(tmpdir(), `pipetel-bench-callgrind-${process.pid}-${variant}-${items}`);
  return new Promise((resolve, reject) => {
    const proc = spawn(
      'valgrind',
      [
        '--tool=callgrind',
        '--cache-sim=yes',
        '--branch-sim=yes',
        '--smc-check=all-non-file',
        `--callgrind-out-file=${out}`,
        process.execPath,
        '--predictable',
        '--import',
        'tsx',
        import.meta.filename,
        '--child',
        variant,
        String(items),
      ],
      { env: { ...process.env, PIPETEL_BENCH_INSTRUCTIONS_URL: url }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    proc.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4000);
    });
    const timer = setTimeout(() => proc.kill('SIGKILL'), CHILD_TIMEOUT_MS);
    proc.on('error', reject);
    proc.on('close', (code) => {
      clearTimeout(timer);
      try {
        if (code !== 0) throw new Error(`callgrind child ${variant} ${items} exited with ${code}: ${stderr}`);
        const text = readFileSync(out, 'utf8');
        const names = /^events: (.*)$/m.exec(text)![1]!.split(' ');
        const values = /^summary: (.*)$/m.exec(text)![1]!.split(' ').map(Number);
        const totals = Object.fromEntries(names.map((n, i) => [n, values[i] ?? 0]));
        resolve(
          Object.fromEntries(Object.keys(EVENTS).map((e) => [e, totals[e] ?? 0])) as Record<
            EventName,
            number
          >,
        );
      } catch (error) {
        reject(error);
      } finally {
        rmSync(out, { force: true });
      }
    });
  });
}

type PerItem = Record<EventName, number>;

export async function run(): Promise<SummarizedResult> {
  const version = await valgrindVersion();
  const description =
    'The per-item pipeline (overhead.ts) under callgrind: instructions, L1 cache misses and mispredicted branches per item, from a short and a long pass of each variant (the difference over the difference in items), node --predictable.';
  const target = 'none (context for the overhead verdict: counts the machine noise cannot move)';
  if (!version) {
    const result: SummarizedResult = {
      benchmark: 'instructions',
      description,
      target,
      headline: {
        label: 'not measured: valgrind is not installed',
        value: Number.NaN,
        unit: '%',
        meetsTarget: false,
      },
      measurements: [],
      environment: environment(),
      notes: [
        'valgrind was not found; install it (Debian: apt-get install valgrind) to measure instructions.',
      ],
      summary: [],
    };
    return result;
  }
  const server = await benchServerUrl();
  const db = await freshDatabase(server.url);
  const perItem = {} as Record<Variant, PerItem>;
  try {
    // Two children at a time (the machine has two cores); counts do not depend on the load.
    for (const variant of VARIANTS) {
      const [short, long] = await Promise.all([
        counted(variant, SHORT_ITEMS, db.url),
        counted(variant, LONG_ITEMS, db.url),
      ]);
      perItem[variant] = Object.fromEntries(
        (Object.keys(EVENTS) as EventName[]).map((e) => [
          e,
          (long[e] - short[e]) / (LONG_ITEMS - SHORT_ITEMS),
        ]),
      ) as PerItem;
      process.stderr.write(
        `  ${variant}: ${(Object.keys(EVENTS) as EventName[]).map((e) => `${e} ${perItem[variant][e].toFixed(1)}`).join(', ')} per item\n`,
      );
    }
  } finally {
    await db.drop();
  }
  const pct = (variant: Variant, e: EventName) => (perItem[variant][e] / perItem.shim[e] - 1) * 100;
  const measurements: Measurement[] = [];
  for (const variant of VARIANTS) {
    for (const e of Object.keys(EVENTS) as EventName[]) {
      measurements.push({
        name: `${EVENTS[e]} per item, ${variant}`,
        side: variant === 'pipetel' ? 'pipetel' : 'anchor',
        unit: 'per item',
        median: perItem[variant][e],
        runs: [perItem[variant][e]],
      });
    }
  }
  const extra = (variant: Variant, e: EventName) => perItem[variant][e] - perItem.shim[e];
  const line = (variant: Variant) =>
    (Object.keys(EVENTS) as EventName[])
      .map(
        (e) =>
          `${EVENTS[e]} ${extra(variant, e) >= 0 ? '+' : ''}${extra(variant, e).toFixed(1)} (${pct(variant, e) >= 0 ? '+' : ''}${pct(variant, e).toFixed(2)} %)`,
      )
      .join(', ');
  return {
    benchmark: 'instructions',
    description,
    target,
    headline: {
      label: 'per-item pipeline, instructions per item over the no-op shim',
      value: pct('pipetel', 'Ir'),
      unit: '%',
      meetsTarget: pct('pipetel', 'Ir') <= 1,
    },
    measurements,
    environment: environment({
      valgrind: version,
      server: server.label,
      warmItems: WARM_ITEMS,
      shortItems: SHORT_ITEMS,
      longItems: LONG_ITEMS,
    }),
    notes: [
      `Per item, the shim (uninstrumented): ${(Object.keys(EVENTS) as EventName[]).map((e) => `${EVENTS[e]} ${perItem.shim[e].toFixed(1)}`).join(', ')}.`,
      `pipetel over the shim, per item: ${line('pipetel')}.`,
      `The hand-wired anchor over the shim, per item: ${line('hand-wired')}.`,
      "The caches are callgrind's model of this machine's (L1: as the CPU reports them), not the CPU's own: its misses say where time can go that instructions do not show, not how much.",
    ],
    summary: [
      {
        what: 'per-item pipeline: instructions executed per item, over the uninstrumented pipeline (callgrind, node --predictable)',
        pipetel: { value: pct('pipetel', 'Ir'), unit: '%' },
        anchor: { label: 'hand-wired anchor', value: pct('hand-wired', 'Ir'), unit: '%' },
        target: 'none (context: the part of the overhead noise cannot move)',
        met: null,
      },
      {
        what: "per-item pipeline: L1 instruction-cache misses per item, over the uninstrumented pipeline (callgrind's cache model)",
        pipetel: { value: pct('pipetel', 'I1mr'), unit: '%' },
        anchor: { label: 'hand-wired anchor', value: pct('hand-wired', 'I1mr'), unit: '%' },
        target: 'none (context)',
        met: null,
      },
    ],
  };
}

if (process.argv[2] === '--child') {
  await child(process.argv[3] as Variant, Number(process.argv[4]));
} else if (import.meta.filename === process.argv[1]) {
  const result = await run();
  console.log(writeResult(result));
}
