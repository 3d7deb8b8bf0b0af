// The overhead budget (monitoring.overhead_budget_percent): when pipetel's own CPU share, as
// SelfCost estimates it, stays above the budget, pipetel sheds load one step at a time in a
// documented order and restores it, one step at a time, once it is well under again. The first
// step loses nothing (larger log batches: a batch costs ~1 ms of CPU whatever its size up to
// hundreds of rows); then DEBUG, INFO, windows and resource sampling. WARNING and above are never
// shed. The steps are data (SHED_STEPS); Telemetry applies them.

/** What each step keeps: log sampling factors and how much wider progress and metric windows get. */
export interface ShedStep {
  /** Multiplies logging.database.batch_size (at most monitoring.database.max_batch_size). */
  batches: number;
  /** Multiplies the configured DEBUG sampling ratio. */
  debug: number;
  /** Multiplies the configured INFO sampling ratio. */
  info: number;
  /** Multiplies progress_update_interval and the metric aggregation window. */
  windows: number;
  /** Multiplies resource_sample_interval (host metrics). */
  resources: number;
}

/**
 * Step 0 sheds nothing; step 1 only writes log batches 5× larger (lossless; the flush interval
 * still bounds how long a record waits); each later step sheds more: DEBUG, then INFO, then
 * windows, then resources.
 */
export const SHED_STEPS: readonly ShedStep[] = [
  { batches: 1, debug: 1, info: 1, windows: 1, resources: 1 },
  { batches: 5, debug: 1, info: 1, windows: 1, resources: 1 },
  { batches: 5, debug: 0.1, info: 1, windows: 1, resources: 1 },
  { batches: 5, debug: 0.01, info: 0.5, windows: 1, resources: 1 },
  { batches: 5, debug: 0.01, info: 0.1, windows: 4, resources: 1 },
  { batches: 5, debug: 0.01, info: 0.1, windows: 4, resources: 4 },
];

/**
 * Checks in a row under half the budget before one step is restored. Restoring often brings the
 * cost back, so each shed that follows a restore doubles the calm needed next time (no flapping).
 */
const CALM_CHECKS_TO_RESTORE = 2;
/** Checks in a row over the budget before a step is shed: the cost must stay above it. */
const OVER_CHECKS_TO_SHED = 2;
const MAX_CALM_CHECKS = 64;

export interface OverheadBudgetOptions {
  budgetPercent: number | null;
  checkIntervalMs: number;
  /** pipetel's CPU share in % since the previous call. */
  measurePercent: () => number;
  /** Applies a step (index into SHED_STEPS); called only on a change. */
  apply: (step: number, measuredPercent: number, budgetPercent: number) => void;
}

export class OverheadBudget {
  private stepIndex = 0;
  private highest = 0;
  private calmChecks = 0;
  private overChecks = 0;
  private calmNeeded = CALM_CHECKS_TO_RESTORE;
  private restoredOnce = false;
  private budget: number | null;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: OverheadBudgetOptions) {
    this.budget = options.budgetPercent;
  }

  get step(): number {
    return this.stepIndex;
  }

  /** The highest step reached so far in this run. */
  get highestStep(): number {
    return this.highest;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.check(), this.options.checkIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** A new budget (config.set); null restores everything and stops shedding. */
  setBudget(budgetPercent: number | null): void {
    this.budget = budgetPercent;
    // A new budget starts its judgement afresh: checks counted against the old one do not carry.
    this.overChecks = 0;
    this.calmChecks = 0;
    this.calmNeeded = CALM_CHECKS_TO_RESTORE;
    this.restoredOnce = false;
    // NaN budget: the apply callback reports a restore because the budget was turned off.
    if (budgetPercent === null && this.stepIndex > 0) this.moveTo(0, 0, Number.NaN);
  }

  /** One check: shed a step after checks in a row over budget, restore one after calm checks under half of it. */
  check(): void {
    const measured = this.options.measurePercent();
    const budget = this.budget;
    if (budget === null) return;
    if (measured > budget) {
      this.calmChecks = 0;
      if (++this.overChecks < OVER_CHECKS_TO_SHED) return;
      this.overChecks = 0;
      if (this.stepIndex < SHED_STEPS.length - 1) {
        if (this.restoredOnce) this.calmNeeded = Math.min(this.calmNeeded * 2, MAX_CALM_CHECKS);
        this.moveTo(this.stepIndex + 1, measured, budget);
      }
      return;
    }
    this.overChecks = 0;
    if (this.stepIndex === 0) return;
    this.calmChecks = measured < budget / 2 ? this.calmChecks + 1 : 0;
    if (this.calmChecks >= this.calmNeeded) {
      this.calmChecks = 0;
      this.restoredOnce = true;
      this.moveTo(this.stepIndex - 1, measured, budget);
    }
  }

  private moveTo(step: number, measured: number, budget: number): void {
    this.stepIndex = step;
    this.highest = Math.max(this.highest, step);
    this.options.apply(step, measured, budget);
  }
}

/** The configured values a step scales. */
export interface ShedBase {
  /**
   * logging.database.batch_size, and the largest batch a step may make of it: the most rows one
   * write carries, and no more than half of what the queue holds (so a write still starts long
   * before the queue is full); equal to batchSize where a larger one would change nothing.
   */
  batchSize: number;
  maxBatchSize: number;
  sampling: Partial<Record<'DEBUG' | 'INFO' | 'WARNING' | 'ERROR' | 'CRITICAL', number>>;
  progressIntervalMs: number;
  /** The metric aggregation window, undefined when points are not aggregated. */
  metricWindowMs: number | undefined;
  metricsIntervalMs: number;
  resourceIntervalMs: number;
}

export interface ShedSettings {
  batchSize: number;
  sampling: ShedBase['sampling'];
  progressIntervalMs: number;
  metricWindowMs: number | undefined;
  resourceIntervalMs: number;
  /** One line for the warning. */
  description: string;
}

/** What a step means for the configured values: a pure function, so every step is testable. */
export function shedSettings(stepIndex: number, base: ShedBase): ShedSettings {
  const step = SHED_STEPS[stepIndex] ?? SHED_STEPS[0]!;
  const sampling = { ...base.sampling };
  sampling.DEBUG = (sampling.DEBUG ?? 1) * step.debug;
  sampling.INFO = (sampling.INFO ?? 1) * step.info;
  // Never smaller than configured: a batch_size above the largest is the user's own choice.
  const batchSize = Math.max(base.batchSize, Math.min(base.batchSize * step.batches, base.maxBatchSize));
  const batches = Math.round((batchSize / base.batchSize) * 10) / 10;
  return {
    batchSize,
    sampling,
    progressIntervalMs: base.progressIntervalMs * step.windows,
    // Points not aggregated so far get a window once windows widen: the collection interval × factor.
    metricWindowMs:
      step.windows === 1
        ? base.metricWindowMs
        : (base.metricWindowMs ?? base.metricsIntervalMs) * step.windows,
    resourceIntervalMs: base.resourceIntervalMs * step.resources,
    description:
      stepIndex === 0
        ? 'everything restored'
        : `log batches ×${batches}${batches < step.batches ? ` (of ×${step.batches}: no larger batch possible)` : ''}, DEBUG kept ×${step.debug}, INFO ×${step.info}, windows ×${step.windows}, resource sampling ×1/${step.resources}`,
  };
}
