// progress.advance() on the hot path (SPEC §8 target: ≤ 50 ns median): 7 runs of 10M calls after
// a warm-up, median ns per call, beside a bare field increment (the floor) and the disabled handle.
// Run standalone: node --import tsx benchmarks/progress.ts

import { pathToFileURL } from 'node:url';
import { type Progress, ProgressTracker } from '../src/pipeline/Progress.js';

const CALLS_PER_RUN = 10_000_000;
const RUNS = 7;
export const ADVANCE_TARGET_NS = 50;

export interface ProgressBenchmarkResult {
  /** Median ns per Progress.advance() on a live handle. */
  advanceNs: number;
  /** Median ns per advance() on the handle given out inside withMonitoringDisabled. */
  disabledAdvanceNs: number;
  /** Median ns per `counter.count += 1` on a plain object: what a loop costs without pipetel. */
  bareIncrementNs: number;
  runs: number;
  callsPerRun: number;
}

// One loop function per scenario, so each call site stays monomorphic as it is in a user's loop.
function liveNsPerCall(progress: Progress): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < CALLS_PER_RUN; i++) progress.advance(1);
  return Number(process.hrtime.bigint() - start) / CALLS_PER_RUN;
}

function disabledNsPerCall(progress: Progress): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < CALLS_PER_RUN; i++) progress.advance(1);
  return Number(process.hrtime.bigint() - start) / CALLS_PER_RUN;
}

function bareNsPerCall(counter: { count: number }): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < CALLS_PER_RUN; i++) counter.count += 1;
  return Number(process.hrtime.bigint() - start) / CALLS_PER_RUN;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function measure(run: () => number): number {
  run(); // warm-up: lets the optimizing compiler settle on the loop before anything counts
  return median(Array.from({ length: RUNS }, run));
}

export async function benchmarkProgress(): Promise<ProgressBenchmarkResult> {
  let disabled = false;
  const tracker = new ProgressTracker({
    experimentId: 'bench',
    writer: { write: async () => undefined },
    updateIntervalMs: 1000,
    isDisabled: () => disabled,
  });
  const live = tracker.progress('bench-node', { total: RUNS * CALLS_PER_RUN });
  disabled = true;
  const noop = tracker.progress('bench-node-disabled');
  const counter = { count: 0 };

  const result: ProgressBenchmarkResult = {
    advanceNs: measure(() => liveNsPerCall(live)),
    disabledAdvanceNs: measure(() => disabledNsPerCall(noop)),
    bareIncrementNs: measure(() => bareNsPerCall(counter)),
    runs: RUNS,
    callsPerRun: CALLS_PER_RUN,
  };
  if (live.completed !== (RUNS + 1) * CALLS_PER_RUN) throw new Error('advance() lost counts');
  await tracker.shutdown();
  return result;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await benchmarkProgress();
  const verdict = result.advanceNs <= ADVANCE_TARGET_NS ? 'within' : 'OVER';
  console.log(
    `progress.advance()          ${result.advanceNs.toFixed(2)} ns median (${verdict} target ${ADVANCE_TARGET_NS} ns)`,
  );
  console.log(`advance() while disabled    ${result.disabledAdvanceNs.toFixed(2)} ns median`);
  console.log(`bare field increment        ${result.bareIncrementNs.toFixed(2)} ns median`);
  console.log(
    `(${result.runs} runs × ${result.callsPerRun.toLocaleString('en')} calls after a warm-up run; node ${process.version})`,
  );
}
