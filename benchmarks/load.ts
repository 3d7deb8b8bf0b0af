// Load held (issue 8): 20,000 log records/s for 30 s through register() at default settings, into
// PostgreSQL through a TCP proxy this benchmark controls — once with the database up throughout,
// once with it unreachable for 5 s in the middle (the proxy drops every connection and refuses new
// ones). Every record must be stored exactly once and none dropped, buffers must stay within the
// seed's 50–100 MB, the event loop must never stall for more than 100 ms; reported: the lag from
// emit to stored, peak memory, time to recover.
// Run alone: node --import tsx benchmarks/load.ts [--json]   (PIPETEL_BENCH_QUICK=1: 10 s)

import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import pg from 'pg';
import { migrate } from '../exporters/postgres/migrate.js';
import { register } from '../src/index.js';
import { benchServerUrl, environment, freshDatabase, type Measurement } from './lib.js';
import { isQuick, printChildResult, runChild, type SummarizedResult, type SummaryRow } from './run.js';

const RATE_PER_S = 20_000;
const EMIT_S = isQuick() ? 10 : 30;
const OUTAGE_S = 5;
/** Records are emitted in ticks of this many ms (RATE_PER_S / 100 records each). */
const TICK_MS = 10;
const LOGGER = 'bench.load';
const STALL_LIMIT_MS = 100;
const MEMORY_LIMIT_MB = 100;
/** After the last emit, how long the run may take to have everything stored. */
const SETTLE_TIMEOUT_MS = 120_000;

type ScenarioName = 'up' | 'outage';

interface ScenarioReport {
  scenario: ScenarioName;
  emitted: number;
  stored: number;
  distinct: number;
  stats: { queued: number; exported: number; dropped: number; spooled: number; failed: number };
  /** created_at − timestamp (server clock = emitter clock, same machine), ms. */
  lagP50: number;
  lagP99: number;
  lagMax: number;
  maxStallMs: number;
  peakRssOverBaselineMb: number;
  peakHeapOverBaselineMb: number;
  /** From the last emit until every record was stored (including spool replay), ms. */
  settleMs: number;
  shutdownMs: number;
}

/** A TCP proxy in front of PostgreSQL that can be cut (drop every connection, refuse new ones). */
class CuttableProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async start(port = 0): Promise<void> {
    this.server = createServer((client) => {
      const upstream = tcpConnect(this.targetPort, this.targetHost);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  /** Stops listening (new connections are refused) and drops every open connection. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }

  async restore(): Promise<void> {
    await this.start(this.port);
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

async function scenario(name: ScenarioName, databaseUrl: string): Promise<ScenarioReport> {
  const target = new URL(databaseUrl);
  const proxy = new CuttableProxy(target.hostname, Number(target.port || 5432));
  await proxy.start();
  const viaProxy = new URL(databaseUrl);
  viaProxy.hostname = '127.0.0.1';
  viaProxy.port = String(proxy.port);
  const experimentId = `bench-load-${name}-${Date.now().toString(36)}`;

  global.gc?.();
  const baseline = process.memoryUsage();
  const tel = await register({
    serviceName: 'bench-load',
    experimentId,
    databaseUrl: viaProxy.toString(),
    config: {
      logging: { console: { enabled: false } },
      // Every record is counted in the database: none may be sampled away by the overhead budget.
      monitoring: { overhead_budget_percent: null },
    },
  });
  const log = tel.getLogger(LOGGER);
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  let peakRss = 0;
  let peakHeap = 0;
  const sampler = setInterval(() => {
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed);
  }, 100);

  const total = RATE_PER_S * EMIT_S;
  const outageAt = ((EMIT_S - OUTAGE_S) / 2) * 1000;
  let outage: Promise<void> | undefined;
  let emitted = 0;
  const started = performance.now();
  await new Promise<void>((resolve) => {
    const tick = () => {
      const elapsed = performance.now() - started;
      if (name === 'outage' && !outage && elapsed >= outageAt) {
        outage = proxy
          .cut()
          .then(
            () =>
              new Promise<void>((done) =>
                setTimeout(() => void proxy.restore().then(done, done), OUTAGE_S * 1000),
              ),
          );
      }
      const due = Math.min(total, Math.floor((elapsed * RATE_PER_S) / 1000));
      while (emitted < due) {
        log.info('row %d loaded', emitted, { seq: emitted, table: 'orders' });
        emitted++;
      }
      if (emitted >= total) resolve();
      else setTimeout(tick, TICK_MS);
    };
    tick();
  });
  const emitEnd = performance.now();
  await outage;

  // Everything stored: counted on a connection of our own, straight to the server.
  const reader = new pg.Client({ connectionString: databaseUrl });
  await reader.connect();
  const count = async () =>
    Number(
      (
        await reader.query<{ n: string }>(
          'SELECT count(*) AS n FROM pipeline_logs WHERE experiment_id = $1 AND logger_name = $2',
          [experimentId, LOGGER],
        )
      ).rows[0]!.n,
    );
  let stored = await count();
  while (stored < emitted && performance.now() - emitEnd < SETTLE_TIMEOUT_MS) {
    await new Promise((r) => setTimeout(r, 250));
    stored = await count();
  }
  const settleMs = performance.now() - emitEnd;
  clearInterval(sampler);
  loop.disable();
  const stats = tel.stats().logs;
  const shutdownStarted = performance.now();
  await tel.shutdown();
  const shutdownMs = performance.now() - shutdownStarted;
  const { rows } = await reader.query<{ distinct: string; n: string }>(
    `SELECT count(DISTINCT (attributes->>'seq')::int) AS distinct, count(*) AS n
       FROM pipeline_logs WHERE experiment_id = $1 AND logger_name = $2`,
    [experimentId, LOGGER],
  );
  const lags = (
    await reader.query<{ ms: number }>(
      `SELECT EXTRACT(EPOCH FROM created_at - "timestamp") * 1000 AS ms FROM pipeline_logs
        WHERE experiment_id = $1 AND logger_name = $2 ORDER BY 1`,
      [experimentId, LOGGER],
    )
  ).rows.map((r) => Number(r.ms));
  await reader.end();
  await proxy.cut();
  return {
    scenario: name,
    emitted,
    stored: Number(rows[0]!.n),
    distinct: Number(rows[0]!.distinct),
    stats: { ...stats },
    lagP50: percentile(lags, 50),
    lagP99: percentile(lags, 99),
    lagMax: lags[lags.length - 1] ?? Number.NaN,
    maxStallMs: loop.max / 1e6,
    peakRssOverBaselineMb: (peakRss - baseline.rss) / 2 ** 20,
    peakHeapOverBaselineMb: (peakHeap - baseline.heapUsed) / 2 ** 20,
    settleMs,
    shutdownMs,
  };
}

export async function run(): Promise<SummarizedResult> {
  const server = await benchServerUrl();
  const db = await freshDatabase(server.url);
  const reports: ScenarioReport[] = [];
  try {
    await migrate(db.url);
    for (const name of ['up', 'outage'] as const) {
      // Each scenario in a fresh process: its memory peak and pauses are its own.
      const report = await runChild<ScenarioReport>(import.meta.filename, ['--scenario', name, db.url], {
        timeoutMs: 6 * 60_000,
      });
      reports.push(report);
      process.stderr.write(
        `  ${name}: ${report.emitted} emitted, ${report.stored} stored (${report.distinct} distinct), dropped ${report.stats.dropped}, lag p99 ${Math.round(report.lagP99)} ms, stall max ${Math.round(report.maxStallMs)} ms, RSS +${report.peakRssOverBaselineMb.toFixed(1)} MB, settled in ${Math.round(report.settleMs)} ms\n`,
      );
    }
  } finally {
    await db.drop();
  }

  const measurements: Measurement[] = [];
  const summary: SummaryRow[] = [];
  let allMet = true;
  for (const r of reports) {
    const label = r.scenario === 'up' ? 'database up' : `database unreachable ${OUTAGE_S} s mid-run`;
    const exactlyOnce = r.stored === r.emitted && r.distinct === r.emitted;
    const met =
      exactlyOnce &&
      r.stats.dropped === 0 &&
      r.maxStallMs <= STALL_LIMIT_MS &&
      r.peakRssOverBaselineMb <= MEMORY_LIMIT_MB;
    allMet &&= met;
    const m = (what: string, unit: string, value: number): Measurement => ({
      name: `${label}: ${what}`,
      side: 'pipetel',
      unit,
      median: value,
      runs: [value],
    });
    measurements.push(
      m('records emitted', 'records', r.emitted),
      m('records stored (distinct seq)', 'records', r.distinct),
      m('rows stored', 'rows', r.stored),
      m('dropped', 'records', r.stats.dropped),
      m('emit → stored lag, p50', 'ms', r.lagP50),
      m('emit → stored lag, p99', 'ms', r.lagP99),
      m('emit → stored lag, max', 'ms', r.lagMax),
      m('longest event-loop stall', 'ms', r.maxStallMs),
      m('peak RSS over baseline', 'MB', r.peakRssOverBaselineMb),
      m('peak heap over baseline', 'MB', r.peakHeapOverBaselineMb),
      m('last emit → everything stored', 'ms', r.settleMs),
      m('shutdown()', 'ms', r.shutdownMs),
    );
    summary.push({
      what: `${RATE_PER_S / 1000}k records/s for ${EMIT_S} s, ${label}: stored once / emitted (dropped ${r.stats.dropped}, stall max ${Math.round(r.maxStallMs)} ms, RSS +${Math.round(r.peakRssOverBaselineMb)} MB, lag p99 ${Math.round(r.lagP99)} ms)`,
      pipetel: { value: r.distinct, unit: `of ${r.emitted}` },
      target: `all, none dropped, stalls ≤ ${STALL_LIMIT_MS} ms, buffers ≤ ${MEMORY_LIMIT_MB} MB`,
      met,
    });
  }
  const outage = reports.find((r) => r.scenario === 'outage')!;
  return {
    benchmark: 'load',
    description: `Sustained load: ${RATE_PER_S.toLocaleString('en-US')} log records/s for ${EMIT_S} s through register() at default settings (log.info with a printf argument and two attributes, in ${TICK_MS} ms ticks), into PostgreSQL through a TCP proxy the benchmark controls; once with the database up, once unreachable for ${OUTAGE_S} s in the middle.`,
    target: `every record stored exactly once, none dropped, no event-loop stall over ${STALL_LIMIT_MS} ms, buffers within ${MEMORY_LIMIT_MB} MB`,
    headline: {
      label: `records stored exactly once with the database unreachable ${OUTAGE_S} s`,
      value: outage.distinct / outage.emitted,
      unit: '×',
      meetsTarget: allMet,
    },
    measurements,
    summary,
    environment: environment({ server: server.label, ratePerSecond: RATE_PER_S, emitSeconds: EMIT_S }),
    notes: [
      'Default settings except the console sink (off, so the terminal is not the bottleneck) and monitoring.overhead_budget_percent (null): at 20k records/s the budget may sample INFO records by design, and this benchmark counts every record in the database.',
      `The outage: the proxy stops listening and destroys every open connection at ${(EMIT_S - OUTAGE_S) / 2} s, and listens again ${OUTAGE_S} s later. Records that cannot be written meanwhile go to the spool (PIPETEL_HOME) and are replayed by the same process once the database answers.`,
      'Lag: created_at − timestamp per row (created_at is now() of the inserting transaction; same machine, same clock); for the outage run it includes the replay of the spooled records.',
      'Memory: RSS and heap sampled every 100 ms in the emitting process, over their values before register(); the event-loop stall is the maximum of monitorEventLoopDelay (10 ms resolution).',
    ],
  };
}

if (process.argv[1] && import.meta.url === `file://${process.argv[1]}`) {
  const at = process.argv.indexOf('--scenario');
  if (at >= 0) {
    printChildResult(await scenario(process.argv[at + 1] as ScenarioName, process.argv[at + 2]!));
  } else {
    const result = await run();
    if (process.argv.includes('--json')) printChildResult(result);
    else for (const row of result.summary ?? []) console.log(`${row.what}: ${row.met ? 'met' : 'MISSED'}`);
  }
}
