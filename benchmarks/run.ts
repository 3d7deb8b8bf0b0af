// `npm run bench`: runs every benchmarks/*.ts module that exports `run()` — each in a child process
// of its own, so one benchmark's heap, JIT state and open handles never colour another's — writes
// benchmarks/results/<name>.json and regenerates docs/benchmarks.md from all result files.
// Flags: --only name[,name]  --quick (fewer rows and runs: a smoke test, not figures to quote)
// --docs (only regenerate docs/benchmarks.md from the result files).

import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BenchmarkResult } from './lib.js';
import { writeResult } from './lib.js';

/** One line of the summary table in docs/benchmarks.md: a figure, its anchor and its target. */
export interface SummaryRow {
  what: string;
  pipetel: { label?: string; value: number; unit: string };
  anchor?: { label: string; value: number; unit: string };
  /** pipetel / anchor, when comparing the two makes sense. */
  ratio?: number;
  target: string;
  /** null: reported for context, no target in SPEC §8. */
  met: boolean | null;
}

/** What a benchmark module may return: the shared result, optionally with its own summary rows. */
export type SummarizedResult = BenchmarkResult & { summary?: SummaryRow[] };

const BENCH_DIR = import.meta.dirname;
const RESULTS_DIR = resolve(BENCH_DIR, 'results');
const DOC_FILE = resolve(BENCH_DIR, '..', 'docs', 'benchmarks.md');
const RESULT_MARKER = '@@pipetel-bench-result@@';
const NOT_BENCHMARKS = new Set(['lib.ts', 'run.ts']);
/** Cheap ones first, so a broken setup shows up within seconds. Unknown modules follow, sorted. */
const PREFERRED_ORDER = [
  'hotpath',
  'logger',
  'progress',
  'stage',
  'throughput',
  'overhead',
  'memory',
  'latency',
  'load',
];
// A backstop for a hung module, not a time budget: each module bounds its own children. On this
// 2-core machine overhead-paired takes 5–9 min with the phase of the machine (8 min killed it once).
const MODULE_TIMEOUT_MS = 25 * 60_000;

export const isQuick = (): boolean => process.env.PIPETEL_BENCH_QUICK === '1';

/**
 * Runs `node --import tsx <file> <args>` and returns the JSON the child printed after the result
 * marker (see printChildResult). stderr passes through so progress stays visible.
 */
export function runChild<T>(
  file: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; nodeArgs?: string[] } = {},
): Promise<T> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [...(options.nodeArgs ?? []), '--import', 'tsx', file, ...args], {
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      stdout += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? MODULE_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const at = stdout.lastIndexOf(RESULT_MARKER);
      if (code !== 0 || at < 0) {
        reject(new Error(`${basename(file)} ${args.join(' ')} exited with ${signal ?? code}, no result`));
        return;
      }
      resolvePromise(JSON.parse(stdout.slice(at + RESULT_MARKER.length).split('\n')[0]!) as T);
    });
  });
}

/** The child side of runChild: prints the result after the marker, then ends the process. */
export function printChildResult(result: unknown): void {
  process.stdout.write(`\n${RESULT_MARKER}${JSON.stringify(result)}\n`, () => process.exit(0));
}

/** A module counts as a benchmark when it exports `run`; read, not imported, to avoid side effects. */
function discoverBenchmarks(): string[] {
  const exportsRun =
    /export\s+(async\s+)?function\s+run\s*\(|export\s+(const|let)\s+run\b|export\s*\{[^}]*\brun\b/;
  const names = readdirSync(BENCH_DIR)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && !NOT_BENCHMARKS.has(f))
    .filter((f) => exportsRun.test(readFileSync(resolve(BENCH_DIR, f), 'utf8')))
    .map((f) => f.slice(0, -'.ts'.length));
  const rank = (n: string) => {
    const i = PREFERRED_ORDER.indexOf(n);
    return i < 0 ? PREFERRED_ORDER.length : i;
  };
  return names.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/** Child mode of the runner: import one module, call its run(), hand the result back. */
async function runOneInThisProcess(name: string): Promise<void> {
  const module = (await import(pathToFileURL(resolve(BENCH_DIR, `${name}.ts`)).href)) as {
    run: () => Promise<SummarizedResult>;
  };
  printChildResult(await module.run());
}

// ---------------------------------------------------------------------------------------------
// docs/benchmarks.md

function formatValue(value: number, unit: string): string {
  if (!Number.isFinite(value)) return String(value);
  if (unit === '×') return `${value.toFixed(2)}×`;
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  const number = value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
  if (unit === '%') return `${value >= 0 ? '+' : ''}${number} %`;
  return `${number} ${unit}`;
}

function summaryRowsOf(result: SummarizedResult): SummaryRow[] {
  if (result.summary?.length) return result.summary;
  // Modules without their own rows: first pipetel and anchor measurement, and the headline.
  const ours = result.measurements.find((m) => m.side === 'pipetel');
  const anchor = result.measurements.find((m) => m.side === 'anchor');
  const h = result.headline;
  return [
    {
      what: `${result.benchmark}: ${h.label}`,
      pipetel: ours
        ? { label: ours.name, value: ours.median, unit: ours.unit }
        : { value: h.value, unit: h.unit },
      anchor: anchor ? { label: anchor.name, value: anchor.median, unit: anchor.unit } : undefined,
      ratio: h.unit === '×' ? h.value : undefined,
      target: result.target,
      met: h.meetsTarget,
    },
  ];
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function summaryTable(results: SummarizedResult[]): string[] {
  const lines = [
    '| what | pipetel | anchor | ratio | target | met? |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const result of results) {
    for (const row of summaryRowsOf(result)) {
      const ours = formatValue(row.pipetel.value, row.pipetel.unit);
      const anchor = row.anchor
        ? `${formatValue(row.anchor.value, row.anchor.unit)} (${row.anchor.label})`
        : '—';
      const ratio = row.ratio === undefined ? '—' : formatValue(row.ratio, '×');
      const met = row.met === null ? 'n/a' : row.met ? 'yes' : '**no**';
      lines.push(
        `| ${cell(row.what)} | ${cell(ours)} | ${cell(anchor)} | ${ratio} | ${cell(row.target)} | ${met} |`,
      );
    }
  }
  return lines;
}

function section(result: SummarizedResult): string[] {
  const lines = [`## ${result.benchmark}`, '', result.description, '', `Target: ${result.target}.`, ''];
  const h = result.headline;
  const hasTarget = summaryRowsOf(result).some((row) => row.met !== null);
  const verdict = !hasTarget
    ? 'reported for context'
    : h.meetsTarget
      ? 'meets the target'
      : '**misses the target**';
  lines.push(`Headline: ${h.label} = **${formatValue(h.value, h.unit)}** — ${verdict}.`, '');
  if (result.notes?.length) {
    lines.push('Method and notes:', '');
    for (const note of result.notes) lines.push(`- ${note}`);
    lines.push('');
  }
  lines.push('| measurement | side | median | runs |', '| --- | --- | --- | --- |');
  for (const m of result.measurements) {
    const runs = m.runs.map((v) => formatValue(v, '').trim()).join(', ');
    lines.push(`| ${cell(m.name)} | ${m.side} | ${cell(formatValue(m.median, m.unit))} | ${runs} |`);
  }
  lines.push('', 'Environment: ');
  lines.push(
    Object.entries(result.environment)
      .map(([k, v]) => `${k} \`${v}\``)
      .join(', '),
    '',
  );
  return lines;
}

function readResults(): SummarizedResult[] {
  const files = readdirSync(RESULTS_DIR).filter((f) => f.endsWith('.json'));
  const results = files.map(
    (f) => JSON.parse(readFileSync(resolve(RESULTS_DIR, f), 'utf8')) as SummarizedResult,
  );
  const rank = (n: string) => {
    const i = PREFERRED_ORDER.indexOf(n);
    return i < 0 ? PREFERRED_ORDER.length : i;
  };
  return results.sort(
    (a, b) => rank(a.benchmark) - rank(b.benchmark) || a.benchmark.localeCompare(b.benchmark),
  );
}

/** docs/benchmarks.md as the result files render it (checked in sync by scripts/check-docs.ts). */
export function renderBenchmarksDoc(): string {
  return renderDoc(readResults());
}

function renderDoc(results: SummarizedResult[]): string {
  const quick = results.filter((r) => r.environment.quick === 'yes').map((r) => r.benchmark);
  const lines = [
    '# Benchmarks',
    '',
    '<!-- Generated by benchmarks/run.ts from benchmarks/results/*.json; edit those scripts, not this file. -->',
    '',
    'Every performance claim of SPEC §8, measured by `npm run bench` with pipetel and its anchor',
    'side by side in the same run (alternating where the benchmark allows), on the machine named in',
    "each section's environment. Figures are medians of several runs; the ratios compare figures",
    'from the same run. The machine these were recorded on has 2 cores and other work running on it:',
    'absolute numbers move between runs by 10–30 %, which is why targets relative to an anchor are',
    'judged on the ratio, and why no single run is quoted.',
    '',
    'Run: `npm run bench` (everything, about 9 minutes), `npm run bench -- --only logger,stage`,',
    '`npm run bench -- --quick` (a smoke test with fewer rows and runs; its figures are not for',
    'quoting). `PIPETEL_BENCH_DATABASE_URL` points the database benchmarks at a server; without it',
    'they use the embedded server under `./.pipetel-bench`. Each benchmark also runs alone:',
    '`node --import tsx benchmarks/<name>.ts`. `node --import tsx benchmarks/run.ts --docs` rewrites this',
    'file from the result files alone.',
    '',
  ];
  if (quick.length) lines.push(`**Quick-mode results (not for quoting):** ${quick.join(', ')}.`, '');
  lines.push('## Summary', '', ...summaryTable(results), '');
  for (const result of results) lines.push(...section(result));
  return `${lines.join('\n').trimEnd()}\n`;
}

// ---------------------------------------------------------------------------------------------

function parseArgs(argv: string[]): { only: string[] | undefined; quick: boolean } {
  let only: string[] | undefined;
  const at = argv.indexOf('--only');
  if (at >= 0) only = (argv[at + 1] ?? '').split(',').filter(Boolean);
  const inline = argv.find((a) => a.startsWith('--only='));
  if (inline) only = inline.slice('--only='.length).split(',').filter(Boolean);
  return { only, quick: argv.includes('--quick') };
}

async function main(): Promise<void> {
  const childAt = process.argv.indexOf('--child');
  if (childAt >= 0) {
    await runOneInThisProcess(process.argv[childAt + 1]!);
    return;
  }
  if (process.argv.includes('--docs')) {
    writeFileSync(DOC_FILE, renderBenchmarksDoc());
    return;
  }
  const { only, quick } = parseArgs(process.argv.slice(2));
  const available = discoverBenchmarks();
  const unknown = (only ?? []).filter((n) => !available.includes(n));
  if (unknown.length) {
    process.stderr.write(`unknown benchmark(s): ${unknown.join(', ')}; available: ${available.join(', ')}\n`);
    process.exit(2);
  }
  const selected = only ? available.filter((n) => only.includes(n)) : available;
  const env: NodeJS.ProcessEnv = quick
    ? {
        PIPETEL_BENCH_QUICK: '1',
        BENCH_ROWS: process.env.BENCH_ROWS ?? '20000',
        BENCH_RUNS: process.env.BENCH_RUNS ?? '3',
      }
    : {};
  const failed: string[] = [];
  const started = performance.now();
  for (const name of selected) {
    const began = performance.now();
    process.stderr.write(`\n▶ ${name}${quick ? ' (quick)' : ''}\n`);
    try {
      const result = await runChild<SummarizedResult>(resolve(BENCH_DIR, 'run.ts'), ['--child', name], {
        env,
      });
      if (quick) result.environment.quick = 'yes';
      const file = writeResult(result);
      const seconds = ((performance.now() - began) / 1000).toFixed(0);
      process.stderr.write(
        `  ${result.headline.label}: ${formatValue(result.headline.value, result.headline.unit)} ` +
          `(${result.headline.meetsTarget ? 'meets' : 'MISSES'} ${result.target}) — ${seconds} s → ${file}\n`,
      );
    } catch (error) {
      failed.push(name);
      process.stderr.write(`  ${name} failed: ${error instanceof Error ? error.message : String(error)}\n`);
    }
  }
  writeFileSync(DOC_FILE, renderDoc(readResults()));
  const minutes = ((performance.now() - started) / 60_000).toFixed(1);
  process.stderr.write(
    `\ndocs/benchmarks.md regenerated; ${selected.length} benchmark(s) in ${minutes} min\n`,
  );
  if (failed.length) {
    process.stderr.write(`failed: ${failed.join(', ')}\n`);
    process.exit(1);
  }
}

// Not a top-level await: benchmark modules import this file's helpers, and a module still awaiting
// at the top would leave the child's import of them waiting forever.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
