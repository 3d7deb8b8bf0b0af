// The cost of spool.mode: always (SPEC §8: ≥ 0.8 × the throughput of fallback): the same burst of
// log records through register() into PostgreSQL, timed from the first emit until every record is
// stored, once with every record journaled to disk first (always) and once without (fallback).
// Alternating child processes, median of the rounds.
// Run alone: node --import tsx benchmarks/spool-always.ts [--json]

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchServerUrl, environment, freshDatabase, type Measurement, median } from './lib.js';
import { isQuick, printChildResult, runChild, type SummarizedResult } from './run.js';

const RECORDS = isQuick() ? 50_000 : 200_000;
const ROUNDS = isQuick() ? 2 : 5;
const CHUNK = 1000;
const TARGET = 0.8;

type Mode = 'fallback' | 'always';

interface ChildReport {
  mode: Mode;
  ms: number;
  exported: number;
  spooled: number;
  dropped: number;
  journalBytes?: number;
}

async function child(mode: Mode, databaseUrl: string): Promise<ChildReport> {
  const { register } = await import('../src/index.js');
  const tel = await register({
    serviceName: 'bench-spool-always',
    databaseUrl,
    config: {
      spool: { mode },
      // A queue that holds the burst: the records go to the database, not to the overflow spool.
      logging: {
        console: { enabled: false },
        file: { enabled: false },
        database: { max_queue_size: 1_000_000 },
      },
      monitoring: { enable_resource_tracking: false, overhead_budget_percent: null },
    },
  });
  const log = tel.getLogger('bench.spool_always');
  const started = performance.now();
  for (let i = 0; i < RECORDS; i += CHUNK) {
    for (let k = i; k < i + CHUNK; k++) log.info('row %d loaded', k, { seq: k, table: 'orders' });
    await new Promise((resolve) => setImmediate(resolve));
  }
  await tel.forceFlush();
  const settled = () => {
    const s = tel.stats().logs;
    return s.exported + s.spooled + s.dropped + s.failed;
  };
  while (settled() < RECORDS) await new Promise((resolve) => setTimeout(resolve, 5));
  const ms = performance.now() - started;
  const stats = tel.stats().logs;
  await tel.shutdown();
  return { mode, ms, exported: stats.exported, spooled: stats.spooled, dropped: stats.dropped };
}

export async function run(): Promise<SummarizedResult> {
  const server = await benchServerUrl();
  const db = await freshDatabase(server.url);
  const file = new URL(import.meta.url).pathname;
  const runs: Record<Mode, number[]> = { fallback: [], always: [] };
  const problems: string[] = [];
  try {
    const { migrate } = await import('../exporters/postgres/migrate.js');
    await migrate(db.url);
    for (let round = 0; round < ROUNDS; round++) {
      const order: Mode[] = round % 2 === 0 ? ['fallback', 'always'] : ['always', 'fallback'];
      for (const mode of order) {
        const home = mkdtempSync(join(tmpdir(), 'pipetel-bench-always-'));
        try {
          const report = await runChild<ChildReport>(file, ['--child', mode, db.url], {
            env: { PIPETEL_HOME: home },
            timeoutMs: 300_000,
          });
          runs[mode].push((RECORDS / report.ms) * 1000);
          if (report.spooled || report.dropped)
            problems.push(`${mode}: ${report.spooled} spooled, ${report.dropped} dropped`);
        } finally {
          rmSync(home, { recursive: true, force: true });
        }
      }
      process.stderr.write(
        `  round ${round + 1}/${ROUNDS}: fallback ${Math.round(runs.fallback.at(-1)!)} records/s, always ${Math.round(runs.always.at(-1)!)} records/s\n`,
      );
    }
  } finally {
    await db.drop();
  }
  const ratio = median(runs.always) / median(runs.fallback);
  const measurements: Measurement[] = [
    {
      name: 'spool.mode: fallback (no journal)',
      side: 'anchor',
      unit: 'records/s',
      median: median(runs.fallback),
      runs: runs.fallback,
    },
    {
      name: 'spool.mode: always (every record journaled first)',
      side: 'pipetel',
      unit: 'records/s',
      median: median(runs.always),
      runs: runs.always,
    },
  ];
  return {
    benchmark: 'spool-always',
    description: `${RECORDS.toLocaleString('en-US')} log.info records (printf argument, two attributes) through register() into PostgreSQL, emitted in chunks of ${CHUNK} with a yield between, timed until every record is stored; spool.mode always against fallback, alternating fresh child processes, ${ROUNDS} rounds.`,
    target: `always ≥ ${TARGET} × the throughput of fallback`,
    headline: {
      label: 'always / fallback throughput',
      value: ratio,
      unit: '×',
      meetsTarget: ratio >= TARGET && problems.length === 0,
    },
    measurements,
    summary: [
      {
        what: 'spool.mode: always, records/s stored',
        pipetel: { value: median(runs.always), unit: 'records/s' },
        anchor: { label: 'spool.mode: fallback', value: median(runs.fallback), unit: 'records/s' },
        ratio,
        target: `≥ ${TARGET} × fallback`,
        met: ratio >= TARGET && problems.length === 0,
      },
    ],
    environment: environment({ server: server.label, records: RECORDS, rounds: ROUNDS }),
    notes: [
      'always: each queue encodes the records that entered it every spool.flush_ms (100 ms) and appends them to the journal (one write per tick, no fsync per tick; fsync is spool.fsync_interval), then writes the same lines to PostgreSQL; settled journal segments are deleted as the queues move on, and the journal is deleted at shutdown.',
      problems.length
        ? `Records not stored directly: ${problems.join('; ')}.`
        : 'Every record was stored directly in every run (none spooled or dropped).',
    ],
  };
}

if (process.argv[1] && import.meta.url === `file://${process.argv[1]}`) {
  const at = process.argv.indexOf('--child');
  if (at >= 0) printChildResult(await child(process.argv[at + 1] as Mode, process.argv[at + 2]!));
  else {
    const result = await run();
    if (process.argv.includes('--json')) printChildResult(result);
    else for (const m of result.measurements) console.log(`${m.name}: ${Math.round(m.median)} ${m.unit}`);
  }
}
