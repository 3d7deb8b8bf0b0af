// Memory for pipetel's buffers at 10k logs/s (SPEC §8: ≤ 50 MB RSS over baseline): a child process
// registers pipetel (balanced profile) into PostgreSQL, idles to give the baseline, then emits
// 10,000 log records per second for 20 s while RSS is sampled every 250 ms. The anchor is the same
// loop into pino writing to /dev/null. Run alone: node --import tsx benchmarks/memory.ts [--json]

import pino from 'pino';
import { benchServerUrl, environment, freshDatabase, type Measurement, median } from './lib.js';
import { isQuick, printChildResult, runChild, type SummarizedResult } from './run.js';

const TARGET_MB = 50;
const RATE_PER_S = 10_000;
const EMIT_MS = isQuick() ? 5_000 : 20_000;
const IDLE_MS = isQuick() ? 1_500 : 3_000;
const SAMPLE_MS = 250;
const RUNS = isQuick() ? 1 : 3;
const MB = 2 ** 20;

type Variant = 'pipetel' | 'pino';

interface ChildReport {
  variant: Variant;
  /** RSS once modules are loaded, before the logger exists. */
  startRssMb: number;
  /** Median RSS over the idle phase, logger ready (pipetel: registered, connected, migrated). */
  baselineRssMb: number;
  peakRssMb: number;
  /** Median RSS over the second half of the emitting phase. */
  steadyRssMb: number;
  baselineHeapMb: number;
  peakHeapMb: number;
  peakExternalMb: number;
  emitted: number;
  achievedRate: number;
  exported?: number;
  dropped?: number;
}

interface Sample {
  atMs: number;
  rss: number;
  heapUsed: number;
  external: number;
}

interface EmittingLogger {
  info(message: string, ...args: unknown[]): void;
}

function startSampling(): { samples: Sample[]; stop: () => void } {
  const samples: Sample[] = [];
  const take = () => {
    const m = process.memoryUsage();
    samples.push({ atMs: performance.now(), rss: m.rss, heapUsed: m.heapUsed, external: m.external });
  };
  take();
  const timer = setInterval(take, SAMPLE_MS);
  return { samples, stop: () => clearInterval(timer) };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Emits at RATE_PER_S for EMIT_MS, catching up every 10 ms tick so the rate holds on average. */
function emitAtRate(log: EmittingLogger): Promise<{ emitted: number; elapsedMs: number }> {
  return new Promise((resolve) => {
    const started = performance.now();
    let emitted = 0;
    const timer = setInterval(() => {
      const elapsed = performance.now() - started;
      const due = Math.floor((Math.min(elapsed, EMIT_MS) * RATE_PER_S) / 1000);
      while (emitted < due) {
        log.info('processed record %d of partition %s', emitted, `part-${emitted % 64}`, {
          seq: emitted,
          source: 's3://bench/input.parquet',
          rows: emitted % 1000,
        });
        emitted++;
      }
      if (elapsed >= EMIT_MS) {
        clearInterval(timer);
        resolve({ emitted, elapsedMs: performance.now() - started });
      }
    }, 10);
  });
}

async function child(variant: Variant): Promise<ChildReport> {
  const startRss = process.memoryUsage.rss();
  let log: EmittingLogger;
  let finish: () => Promise<{ exported?: number; dropped?: number }>;
  if (variant === 'pipetel') {
    const { register } = await import('../src/index.js');
    const tel = await register({
      serviceName: 'bench-memory',
      databaseUrl: process.env.PIPETEL_BENCH_DB_URL,
      config: {
        profile: 'balanced',
        logging: { console: { enabled: false }, file: { enabled: false } },
        // Memory at the full 10k records/s: the overhead budget must not sample the load down.
        monitoring: { overhead_budget_percent: null },
      },
    });
    log = tel.getLogger('bench.memory');
    finish = async () => {
      await tel.forceFlush();
      const stats = tel.stats();
      await tel.shutdown();
      return { exported: stats.logs.exported, dropped: stats.logs.dropped };
    };
  } else {
    const destination = pino.destination({ dest: '/dev/null', sync: false });
    const logger = pino({ level: 'info' }, destination);
    log = { info: (message, ...args) => logger.info(args.at(-1) as object, message, ...args.slice(0, -1)) };
    finish = async () => {
      await new Promise<void>((resolve) => {
        destination.once('close', () => resolve());
        destination.end();
      });
      return {};
    };
  }
  const sampling = startSampling();
  await sleep(IDLE_MS);
  const idleSamples = [...sampling.samples];
  const { emitted, elapsedMs } = await emitAtRate(log);
  sampling.stop();
  const emitting = sampling.samples.slice(idleSamples.length);
  const secondHalf = emitting.filter((s) => s.atMs >= emitting[0]!.atMs + EMIT_MS / 2);
  const delivery = await finish();
  const mb = (bytes: number) => bytes / MB;
  return {
    variant,
    startRssMb: mb(startRss),
    baselineRssMb: mb(median(idleSamples.map((s) => s.rss))),
    peakRssMb: mb(Math.max(...emitting.map((s) => s.rss))),
    steadyRssMb: mb(median(secondHalf.map((s) => s.rss))),
    baselineHeapMb: mb(median(idleSamples.map((s) => s.heapUsed))),
    peakHeapMb: mb(Math.max(...emitting.map((s) => s.heapUsed))),
    peakExternalMb: mb(Math.max(...emitting.map((s) => s.external))),
    emitted,
    achievedRate: emitted / (elapsedMs / 1000),
    ...delivery,
  };
}

export async function run(): Promise<SummarizedResult> {
  const server = await benchServerUrl();
  const db = await freshDatabase(server.url);
  const file = new URL(import.meta.url).pathname;
  const reports: Record<Variant, ChildReport[]> = { pipetel: [], pino: [] };
  try {
    const { migrate } = await import('../exporters/postgres/migrate.js');
    await migrate(db.url);
    for (let r = 0; r < RUNS; r++) {
      const order: Variant[] = r % 2 === 0 ? ['pipetel', 'pino'] : ['pino', 'pipetel'];
      for (const variant of order) {
        const report = await runChild<ChildReport>(file, ['--child', variant], {
          env: { PIPETEL_BENCH_DB_URL: db.url },
          timeoutMs: EMIT_MS + 120_000,
        });
        reports[variant].push(report);
        process.stderr.write(
          `  run ${r + 1}/${RUNS} ${variant}: baseline ${report.baselineRssMb.toFixed(1)} MB, peak +${(report.peakRssMb - report.baselineRssMb).toFixed(1)} MB, ` +
            `steady +${(report.steadyRssMb - report.baselineRssMb).toFixed(1)} MB, ${Math.round(report.achievedRate)} logs/s` +
            (variant === 'pipetel' ? `, ${report.exported} exported / ${report.dropped} dropped` : '') +
            '\n',
        );
      }
    }
  } finally {
    await db.drop();
  }

  const over = (rs: ChildReport[], key: 'peakRssMb' | 'steadyRssMb') =>
    rs.map((r) => r[key] - r.baselineRssMb);
  const ours = reports.pipetel;
  const anchor = reports.pino;
  const peakOver = median(over(ours, 'peakRssMb'));
  const anchorPeakOver = median(over(anchor, 'peakRssMb'));
  const measurements: Measurement[] = [
    {
      name: 'pipetel: peak RSS over its registered-idle baseline',
      side: 'pipetel',
      unit: 'MB',
      median: peakOver,
      runs: over(ours, 'peakRssMb'),
    },
    {
      name: 'pipetel: steady RSS (median, 2nd half) over baseline',
      side: 'pipetel',
      unit: 'MB',
      median: median(over(ours, 'steadyRssMb')),
      runs: over(ours, 'steadyRssMb'),
    },
    {
      name: 'pipetel: peak V8 heap used over idle heap',
      side: 'pipetel',
      unit: 'MB',
      median: median(ours.map((r) => r.peakHeapMb - r.baselineHeapMb)),
      runs: ours.map((r) => r.peakHeapMb - r.baselineHeapMb),
    },
    {
      name: 'pipetel: baseline RSS, registered and idle',
      side: 'pipetel',
      unit: 'MB',
      median: median(ours.map((r) => r.baselineRssMb)),
      runs: ours.map((r) => r.baselineRssMb),
    },
    {
      name: 'pipetel: register() cost in RSS (idle baseline − RSS before register, modules not yet loaded)',
      side: 'pipetel',
      unit: 'MB',
      median: median(ours.map((r) => r.baselineRssMb - r.startRssMb)),
      runs: ours.map((r) => r.baselineRssMb - r.startRssMb),
    },
    {
      name: 'pipetel: achieved emit rate',
      side: 'pipetel',
      unit: 'logs/s',
      median: median(ours.map((r) => r.achievedRate)),
      runs: ours.map((r) => r.achievedRate),
    },
    {
      name: 'pipetel: records dropped (queue full)',
      side: 'pipetel',
      unit: 'records',
      median: median(ours.map((r) => r.dropped ?? 0)),
      runs: ours.map((r) => r.dropped ?? 0),
    },
    {
      name: 'pino → /dev/null: peak RSS over its idle baseline',
      side: 'anchor',
      unit: 'MB',
      median: anchorPeakOver,
      runs: over(anchor, 'peakRssMb'),
    },
    {
      name: 'pino → /dev/null: steady RSS (median, 2nd half) over baseline',
      side: 'anchor',
      unit: 'MB',
      median: median(over(anchor, 'steadyRssMb')),
      runs: over(anchor, 'steadyRssMb'),
    },
  ];
  const last = ours.at(-1)!;
  return {
    benchmark: 'memory',
    description: `RSS over baseline while logging ${RATE_PER_S.toLocaleString('en-US')} records/s for ${EMIT_MS / 1000} s through register() into PostgreSQL (balanced profile), ${RUNS} run(s), each in a fresh child process.`,
    target: `≤ ${TARGET_MB} MB RSS over baseline (seed: 50–100 MB)`,
    headline: {
      label: 'peak RSS over baseline at 10k logs/s',
      value: peakOver,
      unit: 'MB',
      meetsTarget: peakOver <= TARGET_MB,
    },
    measurements,
    summary: [
      {
        what: 'memory at 10k logs/s (peak RSS over baseline)',
        pipetel: { value: peakOver, unit: 'MB' },
        anchor: { label: 'pino → /dev/null, same loop', value: anchorPeakOver, unit: 'MB' },
        ratio: peakOver / anchorPeakOver,
        target: `≤ ${TARGET_MB} MB`,
        met: peakOver <= TARGET_MB,
      },
    ],
    environment: environment({
      server: server.label,
      runs: RUNS,
      emitSeconds: EMIT_MS / 1000,
      ratePerSecond: RATE_PER_S,
    }),
    notes: [
      `Baseline: the same child process with pipetel registered (pool connected, experiment row written) but idle for ${IDLE_MS / 1000} s — median RSS of the idle samples. So the figure is what the logging traffic adds: queued records, batches being encoded and sent, and the garbage the calls leave for V8 to collect. The RSS before register() is also recorded, to show what register() itself costs.`,
      `RSS and heap sampled every ${SAMPLE_MS} ms with process.memoryUsage(); "peak" is the highest sample while emitting, "steady" the median of the second half. Records go out in 10 ms ticks of 100, each log.info with two printf args and three attributes; logging.max_queue_size is the default 10,000.`,
      'Anchor: the identical loop into pino({ level: "info" }, pino.destination({ dest: "/dev/null", sync: false })), baseline likewise idle with the logger created. It has no database and no queue; it shows how much of the figure is the garbage of 10k calls/s alone.',
      `Last pipetel run: ${last.emitted.toLocaleString('en-US')} records emitted, ${last.exported} exported, ${last.dropped} dropped; peak external memory ${last.peakExternalMb.toFixed(1)} MB.`,
    ],
  };
}

if (process.argv[1] && import.meta.url === `file://${process.argv[1]}`) {
  const at = process.argv.indexOf('--child');
  if (at >= 0) printChildResult(await child(process.argv[at + 1] as Variant));
  else {
    const result = await run();
    if (process.argv.includes('--json')) printChildResult(result);
    else for (const m of result.measurements) console.log(`${m.name}: ${m.median.toFixed(1)} ${m.unit}`);
  }
}
