// What may change while a registered process runs: the keys tel.config.set() accepts (LIVE_KEYS),
// and the overhead budget's load shedding (monitoring.overhead_budget_percent), which moves the
// same knobs — log sampling, progress interval, metric aggregation window, resource sampling.
// Both end in one place (tune()), so a config change made while shedding keeps the shed step, and
// restoring a step brings back what the config says now.

import type { Config } from '../config/index.js';
import type { LoggerFactory } from '../logging/index.js';
import { OverheadBudget, SHED_STEPS, shedSettings } from '../pipeline/OverheadBudget.js';
import type { ProgressTracker } from '../pipeline/Progress.js';

/**
 * The keys tel.config.set() changes in a running process; the config refuses the others, naming
 * them (they shape what register() built: sinks, pools, providers).
 */
export const LIVE_KEYS = [
  'logging.level',
  'logging.sampling',
  'logging.database.batch_size',
  'logging.database.flush_interval',
  'monitoring.overhead_budget_percent',
  'monitoring.progress_update_interval',
  'monitoring.resource_sample_interval',
  'monitoring.aggregate_metrics',
  'monitoring.aggregation_window',
] as const;

/** The parts of a run that tuning reaches; those built after the tuner are attached later. */
export interface TunedParts {
  logExporter?: { setBatching(batchSize: number, flushIntervalMs: number): void };
  progressTracker?: ProgressTracker;
  /** The PostgreSQL metric exporter whose aggregation window the budget widens. */
  metricExporter?: { setAggregationWindowMs(windowMs: number | undefined): void };
  /** The configured aggregation window (undefined: rows per collection). */
  baseMetricWindowMs?: number;
  /** The host-metrics reader's interval. */
  setHostIntervalMs?: (intervalMs: number) => boolean;
}

export interface LiveTuningOptions {
  config: Config;
  loggers: LoggerFactory;
  /** pipetel's estimated CPU share over the window since the last call, % (SelfCost). */
  measurePercent: () => number;
  /** The run records its shed step here (the experiment row's attributes). */
  recordShedStep: (step: number, highestStep: number) => void;
  warn: (message: string) => void;
  /** After shutdown nothing may restart a timer of ours (e.g. config.set of the budget). */
  isShutDown: () => boolean;
}

export class LiveTuning {
  readonly budget: OverheadBudget;
  private parts: TunedParts = {};
  /** The batching last given to the log exporter (the configured one until a step or a change). */
  private batching: { size: number; intervalMs: number };

  constructor(private readonly options: LiveTuningOptions) {
    const { config } = options;
    const { batch_size, flush_interval } = config.values.logging.database;
    this.batching = { size: batch_size, intervalMs: flush_interval * 1000 };
    this.budget = new OverheadBudget({
      budgetPercent: config.values.monitoring.overhead_budget_percent,
      checkIntervalMs: config.values.monitoring.overhead_check_interval * 1000,
      measurePercent: options.measurePercent,
      apply: (step, measured, budget) => this.applyShedStep(step, measured, budget),
    });
    config.onChange((path, value) => this.applyLiveChange(path, value));
    config.restrictToLiveKeys(LIVE_KEYS);
  }

  attach(parts: TunedParts): void {
    this.parts = { ...this.parts, ...parts };
  }

  /** tel.config.set() of a key in LIVE_KEYS (the others are refused by the config itself). */
  private applyLiveChange(path: string, value: unknown): void {
    if (this.options.isShutDown()) return;
    const { config, loggers } = this.options;
    if (path === 'logging.level') loggers.setLevel(value as never);
    else if (path === 'monitoring.overhead_budget_percent') this.budget.setBudget(value as number | null);
    else if (path.startsWith('logging.database.')) {
      this.tune(this.budget.step); // a shed step's larger batches stay on top of the new setting
    } else {
      const { aggregate_metrics, aggregation_window, metrics_interval } = config.values.monitoring;
      if (this.parts.metricExporter) {
        this.parts.baseMetricWindowMs =
          aggregate_metrics && aggregation_window > metrics_interval ? aggregation_window * 1000 : undefined;
      }
      this.tune(this.budget.step);
    }
  }

  /** Batching, sampling, progress, aggregation and resource intervals: the configuration, less what `step` sheds. */
  private tune(step: number) {
    const { logging, monitoring } = this.options.config.values;
    const shed = shedSettings(step, {
      batchSize: logging.database.batch_size,
      // No PostgreSQL log sink (file or OTLP only): nothing to batch more.
      maxBatchSize: this.parts.logExporter
        ? Math.min(monitoring.database.max_batch_size, Math.floor(logging.database.max_queue_size / 2))
        : logging.database.batch_size,
      sampling: logging.sampling,
      progressIntervalMs: monitoring.progress_update_interval * 1000,
      metricWindowMs: this.parts.baseMetricWindowMs,
      metricsIntervalMs: monitoring.metrics_interval * 1000,
      resourceIntervalMs: monitoring.resource_sample_interval * 1000,
    });
    // Only on a change: setBatching restarts the flush timer, and tune() also runs on other keys.
    const flushIntervalMs = logging.database.flush_interval * 1000;
    if (shed.batchSize !== this.batching.size || flushIntervalMs !== this.batching.intervalMs) {
      this.batching = { size: shed.batchSize, intervalMs: flushIntervalMs };
      this.parts.logExporter?.setBatching(shed.batchSize, flushIntervalMs);
    }
    this.options.loggers.setSampling(shed.sampling);
    this.parts.progressTracker?.setUpdateIntervalMs(shed.progressIntervalMs);
    this.parts.metricExporter?.setAggregationWindowMs(shed.metricWindowMs);
    this.parts.setHostIntervalMs?.(shed.resourceIntervalMs);
    return shed;
  }

  /**
   * Applies a step of the overhead budget (SHED_STEPS): larger log batches, log sampling on top of
   * logging.sampling, wider progress and metric windows, a slower resource sampler. Records what it did: a warning,
   * the pipetel.overhead.shed_step metric, and the experiment row's attributes.
   */
  private applyShedStep(step: number, measuredPercent: number, budgetPercent: number): void {
    if (this.options.isShutDown()) return;
    const shed = this.tune(step);
    this.options.warn(
      Number.isNaN(budgetPercent)
        ? 'overhead budget turned off: everything restored'
        : `overhead budget: pipetel's estimated CPU share ${measuredPercent.toFixed(2)} % (budget ${budgetPercent} %); ` +
            `shedding step ${step} of ${SHED_STEPS.length - 1}: ${shed.description}`,
    );
    this.options.recordShedStep(step, this.budget.highestStep);
  }
}
