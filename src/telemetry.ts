// The Telemetry instance that register() returns: it owns the database connection, the OTel
// providers and pipetel's own pieces (loggers, stages, progress), and ends the run — flushing
// everything within shutdown.timeout and marking the experiment succeeded or failed.

import { randomBytes } from 'node:crypto';
import {
  context,
  type Meter,
  metrics,
  propagation,
  type Span,
  type SpanContext,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { LoggerProvider } from '@opentelemetry/sdk-logs';
import type { MeterProvider } from '@opentelemetry/sdk-metrics';
import type { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import type pg from 'pg';
import type { Journal } from '../exporters/delivery/Journal.js';
import { RateLimitedWarning, stderrWarning } from '../exporters/delivery/RateLimitedWarning.js';
import type { Spool } from '../exporters/delivery/Spool.js';
import type { DeliveryStats } from '../exporters/delivery/types.js';
import type { FileLogRecordProcessor } from '../exporters/file/index.js';
import { TelemetryPolicy } from '../exporters/policy/index.js';
import { safeErrorMessage } from '../exporters/postgres/connectionSecrets.js';
import type { PostgresExporterOptions } from '../exporters/postgres/PostgresDelivery.js';
import type { PostgresLogRecordProcessor } from '../exporters/postgres/PostgresLogRecordExporter.js';
import type { PostgresMetricExporter } from '../exporters/postgres/PostgresMetricExporter.js';
import type { PostgresSpanProcessor } from '../exporters/postgres/PostgresSpanExporter.js';
import { closePool } from '../exporters/postgres/pool.js';
import { EXPERIMENT_ID_ATTRIBUTE, STAGE_ATTRIBUTE } from '../exporters/shared/conventions.js';
import { type Config, ineffectiveSettings } from './config/index.js';
import { ensureEmbeddedPostgres } from './db/embedded/index.js';
import type { ExperimentStore } from './db/experimentStore.js';
import { MaintenanceSchedule } from './db/MaintenanceSchedule.js';
import { setUpPartitioning, syncStoreSettings } from './db/storeMaintenance.js';
import { ExperimentLifecycle } from './internal/ExperimentLifecycle.js';
import type { LogPipeline } from './internal/LogPipeline.js';
import type { OtlpCounts } from './internal/OtlpGuard.js';
import {
  buildResource,
  createOtlpTargets,
  enableInstrumentations,
  type Instrumentation,
  type OtlpTargets,
  registerGlobals,
  spanContextFromEnvironment,
} from './internal/otelSdk.js';
import { PipetelMeterProvider } from './internal/PipetelMeterProvider.js';
import { attachProcessHooks } from './internal/processHooks.js';
import { openRunStorage } from './internal/runStorage.js';
import { buildLogPipelines, buildMonitoringPipelines } from './internal/signalPipelines.js';
import { bindGlobalLogging, unbindGlobalLogging } from './logging/global.js';
import { type Logger, type LoggerFactory, resolveConsoleEnabled } from './logging/index.js';
import { withMonitoringDisabledContext, withStage } from './pipeline/context.js';
import { OverheadBudget, SHED_STEPS, shedSettings } from './pipeline/OverheadBudget.js';
import { type Progress, ProgressTracker } from './pipeline/Progress.js';
import { type OwnWork, type ProfileReport, SelfCost } from './pipeline/SelfCost.js';
import type { MonitoredSignal, SelfMonitoring } from './pipeline/SelfMonitoring.js';
import { measureStage, type StageResourceUsage } from './pipeline/StageResources.js';
import type { LogSynchronizer } from './sync/LogSynchronizer.js';

export interface TelemetryStats {
  spans: DeliveryStats;
  logs: DeliveryStats;
  metrics: DeliveryStats;
  /** pipetel's own cost since register(): estimated CPU share (0.01 = 1 %) and buffered bytes. */
  overhead: { cpuRatio: number; bufferBytes: number };
  /** With OTLP on: per signal, records the collector accepted and records it did not get. */
  otlp?: { spans: OtlpCounts; logs: OtlpCounts; metrics: OtlpCounts };
  /** With logging.file on: the log file sink's lines (spooled is always 0). */
  file?: DeliveryStats;
}

export interface StageOptions {
  attributes?: Record<string, string | number | boolean>;
}

const EMPTY_STATS: DeliveryStats = Object.freeze({
  queued: 0,
  exported: 0,
  dropped: 0,
  spooled: 0,
  failed: 0,
});
const HEARTBEAT_INTERVAL_MS = 15_000;
/** A running experiment whose heartbeat is this many intervals old is taken as dead. */
const STALE_AFTER_HEARTBEATS = 4;
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

/** Connections opened at setup: the batches a signal writes at once plus one for progress. */
const WARM_CONNECTIONS = 3;
/** How long register() waits for a server to complete a first connection before carrying on. */
const CONNECT_WAIT_MS = 1000;

export class Telemetry {
  readonly experimentId: string;
  readonly config: Config;
  /** Resolves when the schema is migrated and the experiment row exists (or setup gave up). */
  readonly ready: Promise<void>;
  /** Resolves once the server completed a first connection (see waitForSetup). */
  private readonly connected: Promise<void>;
  private markConnected: () => void = () => undefined;

  private readonly resource: Resource;
  /** Secrets and limits, applied once in front of every sink (PostgreSQL, file, OTLP). */
  private readonly policy: TelemetryPolicy;
  private readonly pool: pg.Pool | undefined;
  private readonly experiments: ExperimentStore | undefined;
  private readonly tracer: Tracer;
  private readonly tracerProvider: BasicTracerProvider | undefined;
  private readonly loggerProvider: LoggerProvider | undefined;
  private readonly meterProvider: MeterProvider | undefined;
  private readonly hostMeterProvider: MeterProvider | undefined;
  private readonly spanProcessor: PostgresSpanProcessor | undefined;
  private readonly logProcessor: PostgresLogRecordProcessor | undefined;
  private readonly fileProcessor: FileLogRecordProcessor | undefined;
  private readonly spool: Spool | undefined;
  private readonly otlp: OtlpTargets | undefined;
  private readonly synchronizer: LogSynchronizer | undefined;
  private readonly metricExporters: PostgresMetricExporter[] = [];
  private readonly loggers: LoggerFactory;
  private readonly logPipeline: LogPipeline;
  /** The global MeterProvider (the SDK's, with pipetel's instruments), for its call count. */
  private readonly pipetelMeterProvider: PipetelMeterProvider | undefined;
  private stagesRun = 0;
  /** Stage spans not yet ended, with the resource measurement each ends with (see interrupt()). */
  private readonly openStages = new Map<Span, { name: string; endMeasurement: () => StageResourceUsage }>();
  private readonly selfCost: SelfCost;
  private readonly overheadBudget: OverheadBudget;
  private mainMetricExporter: PostgresMetricExporter | undefined;
  private baseMetricWindowMs: number | undefined;
  private setHostIntervalMs: ((intervalMs: number) => boolean) | undefined;
  private readonly progressTracker: ProgressTracker | undefined;
  private readonly selfMonitoring: SelfMonitoring | undefined;
  private readonly stopRuntimeMetrics: (() => void) | undefined;
  private readonly warning = new RateLimitedWarning(stderrWarning, 10_000);
  /**
   * The sinks' warnings (rate-limited per kind by each sink): a message another sink printed in
   * the last 10 s word for word (the host-metrics and the app-metrics queue) is not printed again.
   */
  private readonly sinkWarning = dedupeWarnings(stderrWarning, 10_000);
  private readonly heartbeat: NodeJS.Timeout | undefined;
  /** maintenance.scheduler: app — premaking partitions and retention, from this process. */
  private maintenance: MaintenanceSchedule | undefined;
  private failure: string | null = null;
  private readonly startedAt = new Date();
  private readonly lifecycle: ExperimentLifecycle | undefined;
  /** spool.mode: always: the journal every queued record is written to first. */
  private readonly journal: Journal | undefined;
  private shutdownPromise: Promise<void> | undefined;
  private readonly shutdownListeners: Array<() => void> = [];
  private shutdownDeadline: number | undefined;
  /** Migrations and the experiment row are in place: the database answered at least once. */
  /** Records this process spooled and then replayed itself, per signal: no longer "spooled". */
  private readonly delivered = { logs: 0, spans: 0, metrics: 0 };
  private readonly unregisterGlobals: (() => void) | undefined;
  private readonly disableInstrumentations: (() => void) | undefined;
  /** The trace context a parent process passed in TRACEPARENT (tel.childEnv()), if any. */
  private readonly parentSpanContext: SpanContext | undefined;
  /** This process joined a run another owns (PIPETEL_JOIN_RUN): it neither restarts nor ends it. */
  private readonly member: boolean;
  private readonly detachProcessHooks: () => void;

  /** Use register(); the constructor expects a resolved database URL (or none). */
  constructor(
    config: Config,
    databaseUrl: string | undefined,
    attributes: Record<string, string | number | boolean> = {},
    instrumentations: Instrumentation[] = [],
  ) {
    this.config = config;
    const settings = config.values;
    this.experimentId = settings.experiment_id ?? generateExperimentId(settings.service_name);
    this.member = process.env.PIPETEL_JOIN_RUN === '1' && settings.experiment_id !== null;
    this.parentSpanContext = spanContextFromEnvironment(process.env);
    // Settings the seed has but that change nothing here: said once, never silently ignored.
    const ineffective = ineffectiveSettings(settings);
    if (ineffective.length > 0)
      // Once, straight to stderr: through the rate-limited warning it would hold back the next one.
      stderrWarning(
        `settings with no effect: ${ineffective.map((i) => `${i.key} (${i.reason})`).join('; ')}`,
      );
    this.policy = new TelemetryPolicy({
      redactKeys: settings.redaction.enabled ? settings.redaction.keys : [],
    });
    // Redacted here, so no sink — nor the experiment row — ever sees a secret resource attribute.
    const resource = buildResource(
      {
        ...attributes,
        'service.name': settings.service_name,
        [EXPERIMENT_ID_ATTRIBUTE]: this.experimentId,
        'process.pid': process.pid,
      },
      process.env,
      (message) => this.warn(message),
    );
    this.resource = this.policy.resource(resource);
    // OTEL_SDK_DISABLED=true: nothing is recorded anywhere and nothing is installed.
    const monitoring = settings.monitoring.enabled && !settings.disabled;
    const logsToDatabase = settings.logging.database.enabled && !settings.disabled;

    ({
      pool: this.pool,
      experiments: this.experiments,
      spool: this.spool,
      journal: this.journal,
      synchronizer: this.synchronizer,
    } = openRunStorage(config, databaseUrl, {
      experimentId: this.experimentId,
      storesToDatabase: monitoring || logsToDatabase,
      identity: () => this.lifecycle?.identity,
      shuttingDown: () => this.shutdownPromise !== undefined,
      onDelivered: (table, records) => this.countDelivered(table, records),
      warn: (message) => this.warn(message),
    }));
    const exporterOptions = this.pool ? this.exporterOptions(this.pool) : undefined;
    // Each signal's exporter options, with the self-monitoring of its batch writes.
    const forSignal = exporterOptions
      ? (signal: MonitoredSignal['signal']) => ({
          ...exporterOptions,
          onBatchWritten: (rows: number, ms: number) => this.selfMonitoring?.batchObserver(signal)(rows, ms),
        })
      : undefined;

    // Also to an OTLP collector when asked: the SDK's batch processors and OTLP/HTTP exporters.
    const otlp =
      (settings.otlp.enabled || settings.otlp.endpoint !== null) && !settings.disabled
        ? createOtlpTargets(
            settings.otlp.endpoint,
            settings.otlp.headers,
            settings.otlp.protocol,
            process.env,
            (m) => this.warn(m),
          )
        : undefined;
    this.otlp = otlp;

    // Logs: pipetel's Logger and the OTel Logs API share one pipeline.
    const logs = buildLogPipelines({
      config,
      experimentId: this.experimentId,
      resource: this.resource,
      policy: this.policy,
      exporterOptions: forSignal,
      logsToDatabase,
      otlp,
    });
    this.logProcessor = logs.logProcessor;
    this.fileProcessor = logs.fileProcessor;
    this.logPipeline = logs.logPipeline;
    this.loggerProvider = logs.loggerProvider;
    const logPipeline = logs.logPipeline;
    this.loggers = bindGlobalLogging({
      level: settings.logging.level,
      sampling: settings.logging.sampling,
      sink: logPipeline,
      resource: this.resource,
      policy: this.policy,
      console: {
        enabled: resolveConsoleEnabled(settings.logging.console.enabled),
        level: settings.logging.console.level,
      },
      isDisabled: settings.disabled ? () => true : undefined,
    });
    // pipetel's own cost: reads the loggers, so it comes after them.
    this.selfCost = new SelfCost(this.ownWork());
    const budgetWindow = this.selfCost.window();
    this.overheadBudget = new OverheadBudget({
      budgetPercent: settings.monitoring.overhead_budget_percent,
      checkIntervalMs: settings.monitoring.overhead_check_interval * 1000,
      measurePercent: () => budgetWindow.next().cpuOverheadPercent,
      apply: (step, measured, budget) => this.applyShedStep(step, measured, budget),
    });
    config.onChange((path, value) => this.applyLiveChange(path, value));
    config.restrictToLiveKeys(LIVE_KEYS);

    // Traces, metrics, progress and resources only when monitoring is on; else the globals stay no-op.
    if (monitoring && (exporterOptions || otlp)) {
      const pipelines = buildMonitoringPipelines({
        config,
        experimentId: this.experimentId,
        resource: this.resource,
        policy: this.policy,
        exporterOptions: forSignal,
        otlp,
        pool: this.pool,
        spool: this.spool,
        selfCost: this.selfCost,
        shedStep: () => this.overheadBudget.step,
        monitoredSignals: () => this.monitoredSignals(),
        warn: (message) => this.warn(message),
      });
      this.tracerProvider = pipelines.tracerProvider;
      this.spanProcessor = pipelines.spanProcessor;
      this.meterProvider = pipelines.meterProvider;
      this.metricExporters.push(...pipelines.metricExporters);
      this.mainMetricExporter = pipelines.metricExporters[0];
      this.baseMetricWindowMs = pipelines.baseMetricWindowMs;
      this.hostMeterProvider = pipelines.hostMeterProvider;
      this.setHostIntervalMs = pipelines.setHostIntervalMs;
      this.selfMonitoring = pipelines.selfMonitoring;
      this.stopRuntimeMetrics = pipelines.stopRuntimeMetrics;
      this.progressTracker = pipelines.progressTracker;
    }
    this.pipetelMeterProvider = this.meterProvider && new PipetelMeterProvider(this.meterProvider);
    if (!settings.disabled) {
      this.unregisterGlobals = registerGlobals(
        {
          tracerProvider: this.tracerProvider,
          loggerProvider: this.loggerProvider,
          meterProvider: this.pipetelMeterProvider,
        },
        (message) => this.warn(message),
      );
      // Official instrumentations record into the same providers, so their spans, metrics and
      // log records pass the same policy into the same sinks.
      this.disableInstrumentations = enableInstrumentations(instrumentations, {
        tracerProvider: this.tracerProvider,
        loggerProvider: this.loggerProvider,
        meterProvider: this.pipetelMeterProvider,
      });
    }
    this.tracer = trace.getTracer('pipetel');

    if (this.pool && this.experiments) {
      this.lifecycle = new ExperimentLifecycle({
        pool: this.pool,
        experiments: this.experiments,
        spool: this.spool,
        autoMigrate: settings.database.auto_migrate,
        run: () => ({
          experimentId: this.experimentId,
          serviceName: settings.service_name,
          attributes: this.experimentAttributes(),
          startedAt: this.startedAt,
        }),
        staleAfterMs: STALE_AFTER_HEARTBEATS * HEARTBEAT_INTERVAL_MS,
        warmConnections: Math.min(WARM_CONNECTIONS, settings.monitoring.database.connection_pool_size),
        onLateSetUp: () =>
          this.synchronizer
            ?.syncOnce()
            .catch((e) => this.warn(`spool replay failed: ${safeErrorMessage(e)}`)),
        onConnected: () => this.markConnected(),
        member: this.member,
        prepareStore: async (pool) => {
          await syncStoreSettings(pool, settings);
          const note = await setUpPartitioning(pool, settings.database.partitioning);
          if (note) this.warn(note);
        },
        warn: (message) => this.warn(message),
      });
    }
    this.connected = new Promise((resolve) => {
      this.markConnected = resolve;
    });
    this.ready = this.lifecycle?.setUp() ?? Promise.resolve();
    void this.ready.then(() => {
      if (this.shutdownPromise) return;
      this.synchronizer?.start();
      if (databaseUrl && this.lifecycle?.isSetUp && settings.maintenance.scheduler === 'app') {
        this.maintenance = new MaintenanceSchedule(databaseUrl, settings.maintenance.interval * 1000, (m) =>
          this.warn(m),
        );
        this.maintenance.start();
      }
    });
    // The run's owner keeps it alive; a member's heartbeat would reopen a run the owner ended.
    if (this.experiments && !this.member) {
      this.heartbeat = setInterval(() => {
        this.experiments!.heartbeat(this.experimentId).catch(() => undefined);
      }, HEARTBEAT_INTERVAL_MS);
      this.heartbeat.unref();
    }
    if (!settings.disabled) this.overheadBudget.start();
    this.detachProcessHooks = attachProcessHooks({
      forceFlush: () => this.forceFlush(),
      shutdown: () => this.shutdown(),
      interrupt: (signal) => this.interrupt(signal),
      fail: (error) => this.fail(error),
    });
  }

  /**
   * Applies a step of the overhead budget (SHED_STEPS): log sampling on top of logging.sampling,
   * wider progress and metric windows, a slower resource sampler. Records what it did: a warning,
   * the pipetel.overhead.shed_step metric, and the experiment row's attributes.
   */
  /** tel.config.set() of a key in LIVE_KEYS (the others are refused by the config itself). */
  private applyLiveChange(path: string, value: unknown): void {
    if (this.shutdownPromise) return;
    if (path === 'logging.level') this.loggers.setLevel(value as never);
    else if (path === 'monitoring.overhead_budget_percent')
      this.overheadBudget.setBudget(value as number | null);
    else if (path.startsWith('logging.database.')) {
      const { batch_size, flush_interval } = this.config.values.logging.database;
      this.logProcessor?.exporter.setBatching(batch_size, flush_interval * 1000);
    } else {
      const { aggregate_metrics, aggregation_window, metrics_interval } = this.config.values.monitoring;
      if (this.mainMetricExporter) {
        this.baseMetricWindowMs =
          aggregate_metrics && aggregation_window > metrics_interval ? aggregation_window * 1000 : undefined;
      }
      this.applyTuning(this.overheadBudget.step);
    }
  }

  /** Sampling, progress, aggregation and resource intervals: the configuration, less what `step` sheds. */
  private applyTuning(step: number) {
    const { logging, monitoring } = this.config.values;
    const shed = shedSettings(step, {
      sampling: logging.sampling,
      progressIntervalMs: monitoring.progress_update_interval * 1000,
      metricWindowMs: this.baseMetricWindowMs,
      metricsIntervalMs: monitoring.metrics_interval * 1000,
      resourceIntervalMs: monitoring.resource_sample_interval * 1000,
    });
    this.loggers.setSampling(shed.sampling);
    this.progressTracker?.setUpdateIntervalMs(shed.progressIntervalMs);
    this.mainMetricExporter?.setAggregationWindowMs(shed.metricWindowMs);
    this.setHostIntervalMs?.(shed.resourceIntervalMs);
    return shed;
  }

  private applyShedStep(step: number, measuredPercent: number, budgetPercent: number): void {
    // After shutdown (e.g. config.set of the budget) nothing may restart a timer of ours.
    if (this.shutdownPromise) return;
    const shed = this.applyTuning(step);
    this.warn(
      Number.isNaN(budgetPercent)
        ? 'overhead budget turned off: everything restored'
        : `overhead budget: pipetel's estimated CPU share ${measuredPercent.toFixed(2)} % (budget ${budgetPercent} %); ` +
            `shedding step ${step} of ${SHED_STEPS.length - 1}: ${shed.description}`,
    );
    void this.experiments
      ?.mergeAttributes(this.experimentId, {
        'pipetel.overhead.shed_step': step,
        'pipetel.overhead.max_shed_step': this.overheadBudget.highestStep,
      })
      .catch(() => undefined);
  }

  getLogger(name: string): Logger {
    return this.loggers.getLogger(name);
  }

  /** A meter for the pipeline's own metrics (same as `metrics.getMeter(name)` after register()). */
  getMeter(name: string): Meter {
    return metrics.getMeter(name);
  }

  /**
   * Runs fn inside an active span named after the stage. Logs, metrics and progress inside carry
   * the stage; an error marks the span ERROR, is recorded and logged with its stack, and re-thrown.
   */
  async stage<T>(name: string, fn: () => T | Promise<T>, options: StageOptions = {}): Promise<T> {
    try {
      return await this.runStage(name, fn, options);
    } finally {
      // logging.database.wait_for_flush: back-pressure at stage boundaries — a stage resolves only
      // once what it recorded is stored, instead of letting a fast producer outrun the queue.
      if (this.config.values.logging.database.wait_for_flush) await this.forceFlush();
    }
  }

  private runStage<T>(name: string, fn: () => T | Promise<T>, options: StageOptions): Promise<T> {
    this.stagesRun++;
    const active = context.active();
    // A worker started with tel.childEnv(): its top-level stages continue the parent's stage.
    const base =
      this.parentSpanContext && !trace.getSpan(active)
        ? trace.setSpanContext(active, this.parentSpanContext)
        : active;
    const parent = withStage(base, name);
    const attributes = { ...options.attributes, [STAGE_ATTRIBUTE]: name };
    return this.tracer.startActiveSpan(name, { attributes }, parent, async (span: Span) => {
      const endMeasurement = measureStage();
      this.openStages.set(span, { name, endMeasurement });
      try {
        const result = await fn();
        span.setStatus({ code: SpanStatusCode.OK });
        return result;
      } catch (error) {
        const err = error instanceof Error ? error : new Error(String(error));
        span.recordException(err);
        span.setStatus({ code: SpanStatusCode.ERROR, message: err.message });
        this.getLogger('pipetel.stage').exception(`stage ${name} failed: ${err.message}`, err);
        throw error;
      } finally {
        // An interrupted stage (SIGINT/SIGTERM) was already ended and stored by interrupt().
        if (this.openStages.delete(span)) {
          span.setAttributes({ ...endMeasurement() });
          span.end();
        }
      }
    });
  }

  /**
   * Ctrl-C or SIGTERM with no handler of the application's: the stages still running end as
   * ERROR (so their spans are stored), running progress nodes as interrupted, and the run as
   * failed — each with "interrupted by <signal>" — before shutdown flushes them.
   */
  private interrupt(signal: NodeJS.Signals): void {
    const reason = `interrupted by ${signal}`;
    for (const [span, { endMeasurement }] of this.openStages) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: reason });
      span.setAttributes({ ...endMeasurement(), 'pipetel.interrupted': signal });
      span.end();
    }
    if (this.openStages.size > 0) {
      const names = [...this.openStages.values()].map((stage) => stage.name);
      this.getLogger('pipetel.stage').error(`${reason} during stage ${names.join(', ')}`);
    }
    this.openStages.clear();
    this.progressTracker?.interrupt(reason);
    this.fail(reason);
  }

  /** Progress of one node of the pipeline; `advance()` does no I/O. */
  /**
   * Environment for a worker process that should join this run: the experiment id, the active
   * trace context as W3C `TRACEPARENT` / `TRACESTATE` (the worker's top-level stages become
   * children of the stage this is called in) and `PIPETEL_JOIN_RUN=1`, so the worker adds to the
   * run without restarting or ending it. `spawn(cmd, args, { env: { ...process.env, ...tel.childEnv() } })`.
   */
  childEnv(): Record<string, string> {
    const carrier: Record<string, string> = {};
    propagation.inject(context.active(), carrier);
    const env: Record<string, string> = { PIPETEL_EXPERIMENT_ID: this.experimentId, PIPETEL_JOIN_RUN: '1' };
    if (carrier.traceparent) env.TRACEPARENT = carrier.traceparent;
    else if (this.parentSpanContext && process.env.TRACEPARENT) env.TRACEPARENT = process.env.TRACEPARENT;
    if (carrier.tracestate) env.TRACESTATE = carrier.tracestate;
    return env;
  }

  progress(nodeId: string, options: { total?: number } = {}): Progress {
    if (!this.progressTracker) return ProgressTracker.noop(nodeId);
    return this.progressTracker.progress(nodeId, options);
  }

  /** Nothing inside fn is traced, logged to the sinks or measured. */
  withMonitoringDisabled<T>(fn: () => T): T {
    return context.with(withMonitoringDisabledContext(context.active()), fn);
  }

  private monitoredSignals(): MonitoredSignal[] {
    const signals: MonitoredSignal[] = [];
    if (this.logProcessor) signals.push({ signal: 'logs', stats: () => this.logProcessor!.exporter.stats() });
    if (this.spanProcessor)
      signals.push({ signal: 'spans', stats: () => this.spanProcessor!.exporter.stats() });
    for (const exporter of this.metricExporters)
      signals.push({ signal: 'metrics', stats: () => exporter.stats() });
    return signals;
  }

  stats(): TelemetryStats {
    const metricStats = this.metricExporters.map((e) => e.stats());
    const sinceStart = this.selfCost.sinceStart();
    const replayed = (stats: DeliveryStats, records: number): DeliveryStats => ({
      ...stats,
      exported: stats.exported + records,
      spooled: stats.spooled - records,
    });
    return {
      spans: replayed(this.spanProcessor?.exporter.stats() ?? { ...EMPTY_STATS }, this.delivered.spans),
      logs: replayed(this.logProcessor?.exporter.stats() ?? { ...EMPTY_STATS }, this.delivered.logs),
      metrics: replayed(
        metricStats.length > 0 ? sumStats(metricStats) : { ...EMPTY_STATS },
        this.delivered.metrics,
      ),
      overhead: { cpuRatio: sinceStart.cpuOverheadPercent / 100, bufferBytes: this.selfCost.bufferBytes() },
      ...(this.otlp && { otlp: this.otlp.counts() }),
      ...(this.fileProcessor && { file: this.fileProcessor.exporter.stats() }),
    };
  }

  /**
   * The seed's MonitoringProfiler: pipetel's estimated CPU overhead (% of the rest of the
   * process's CPU time) and buffer memory over the window since the previous profile() call
   * (the first window starts at register()). Each call starts a new window.
   */
  profile(): ProfileReport {
    return this.selfCost.profile();
  }

  /** Running totals of pipetel's own work, read by SelfCost. */
  private ownWork(): OwnWork {
    const total = (s: DeliveryStats | undefined) =>
      s ? s.queued + s.exported + s.dropped + s.spooled + s.failed : 0;
    return {
      apiLogRecords: () => this.logPipeline.apiRecords,
      loggerCalls: () => this.loggers.callTiming(),
      metricCalls: () => this.pipetelMeterProvider?.callCount() ?? 0,
      stages: () => this.stagesRun,
      spans: () => total(this.spanProcessor?.exporter.stats()),
      timedWorkMs: () =>
        (this.logProcessor?.exporter.workMs() ?? 0) +
        (this.spanProcessor?.exporter.workMs() ?? 0) +
        this.metricExporters.reduce((sum, e) => sum + e.workMs(), 0),
      buffered: () => ({
        logs: this.logProcessor?.exporter.stats().queued ?? 0,
        spans: this.spanProcessor?.exporter.stats().queued ?? 0,
        metrics: this.metricExporters.reduce((sum, e) => sum + e.stats().queued, 0),
      }),
    };
  }

  /** Writes everything recorded so far to the database and waits for it. */
  async forceFlush(timeoutMs = this.config.values.shutdown.timeout * 1000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const remaining = () => Math.max(0, deadline - Date.now());
    await withTimeout(this.progressTracker?.flush(), remaining());
    await withTimeout(
      Promise.all([
        this.tracerProvider?.forceFlush(),
        this.meterProvider?.forceFlush(),
        this.hostMeterProvider?.forceFlush(),
      ]),
      remaining(),
    );
    await Promise.all([
      this.spanProcessor?.exporter.forceFlush(remaining()),
      this.logProcessor?.exporter.forceFlush(remaining()),
      this.fileProcessor?.exporter.forceFlush(remaining()),
      ...this.metricExporters.map((e) => e.forceFlush(remaining())),
    ]);
  }

  /** Marks the run failed; shutdown() will then end the experiment as `failed` with this reason. */
  fail(error: unknown): void {
    this.failure = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  }

  /**
   * Flushes everything within `shutdown.timeout` seconds, ends the experiment (succeeded unless
   * fail() was called) and releases the database. Safe to call more than once.
   */
  shutdown(): Promise<void> {
    this.shutdownPromise ??= this.doShutdown().finally(() => {
      for (const listener of this.shutdownListeners.splice(0)) listener();
    });
    return this.shutdownPromise;
  }

  /** @internal Called when shutdown() has finished, before its promise resolves (the registry forgets this instance). */
  onShutdown(listener: () => void): void {
    this.shutdownListeners.push(listener);
  }

  private async doShutdown(): Promise<void> {
    const timeoutMs = this.config.values.shutdown.timeout * 1000;
    this.shutdownDeadline = Date.now() + timeoutMs;
    const deadline = this.shutdownDeadline;
    const remaining = () => Math.max(0, deadline - Date.now());
    this.detachProcessHooks();
    this.overheadBudget.stop();
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.lifecycle?.stop();
    await this.maintenance?.stop();
    this.stopRuntimeMetrics?.();
    // A setup still connecting (a server that accepts and never answers) gets a small share; then
    // the database counts as down and nothing below waits for it: the queues spool what they hold.
    const setUp = await settlesWithin(this.ready, Math.min(remaining() / 10, 500));
    const answering = () => setUp && (this.lifecycle?.isSetUp ?? false) && this.exportersAnswering();
    await withTimeout(this.synchronizer?.stop(), answering() ? remaining() / 5 : 0);
    // Progress rows are a handful of small writes: a database that answers takes them at once.
    await withTimeout(this.progressTracker?.shutdown(), answering() ? Math.min(remaining() / 5, 1000) : 0);
    // Spans and logs written first, while the database answers and within a share of the budget:
    // the meter's last collection then reads pipetel's own counters (records exported, write
    // latency) with the final batches in, so `pipetel stats` shows a short run's real counts.
    await withTimeout(
      Promise.all([this.tracerProvider?.forceFlush(), this.loggerProvider?.forceFlush()]),
      answering() ? remaining() / 4 : 0,
    );
    // Shutting a provider down hands its last spans / metric points / log records to our
    // processors and shuts those down; every queue is bounded by shutdownDeadline.
    await withTimeout(
      Promise.all([
        this.meterProvider?.shutdown(),
        this.hostMeterProvider?.shutdown(),
        this.tracerProvider?.shutdown(),
        this.loggerProvider?.shutdown(),
      ]),
      remaining(),
    );
    // Every queue has settled its records (stored, spooled or counted): the journal can go. One
    // still holding records (its shutdown ran out of time) keeps it, to be replayed later.
    if (this.journal) {
      const stats = this.stats();
      const unsettled = stats.logs.queued + stats.spans.queued + stats.metrics.queued;
      await withTimeout(this.journal.close({ keep: unsettled > 0 }), Math.max(remaining(), 500));
    }
    // Before the spool ends: a final row the database cannot take (or is known not to answer)
    // goes to the spool, and is replayed with the rest.
    await this.lifecycle?.finish(
      this.failure ? 'failed' : 'succeeded',
      this.failure,
      answering() ? Math.max(remaining(), 1000) : 0,
    );
    await withTimeout(this.spool?.end(), Math.max(remaining(), 500));
    // What this process spooled (a full queue, an outage that ended) is delivered now, before the
    // exit, within the shutdown budget; the rest stays spooled.
    if (answering() && remaining() > 500) {
      await withTimeout(this.synchronizer?.replayOwn(deadline - 250), remaining());
    }
    this.warning.flush(); // the newest suppressed warning, so its counts are the final ones
    this.printShutdownSummary();
    unbindGlobalLogging();
    this.disableInstrumentations?.();
    this.unregisterGlobals?.();
    // pg's end() waits for clients still connecting; closePool ends them at its deadline.
    if (this.pool) await closePool(this.pool, answering() ? Math.max(remaining(), 500) : 0);
  }

  /** No exporter has found the database unreachable. */
  private exportersAnswering(): boolean {
    return (
      (this.logProcessor?.exporter.sinkAvailable() ?? true) &&
      (this.spanProcessor?.exporter.sinkAvailable() ?? true) &&
      this.metricExporters.every((e) => e.sinkAvailable())
    );
  }

  private countDelivered(table: string, records: number): void {
    const signal = { pipeline_logs: 'logs', pipeline_spans: 'spans', pipeline_metrics: 'metrics' }[table];
    if (signal) this.delivered[signal as keyof Telemetry['delivered']] += records;
  }

  /** One line on stderr when anything was dropped or is left in the spool (SPEC §5). */
  private printShutdownSummary(): void {
    const stats = this.stats();
    const parts: string[] = [];
    for (const signal of ['logs', 'spans', 'metrics'] as const) {
      const { exported, dropped, spooled, failed } = stats[signal];
      if (dropped === 0 && spooled === 0) continue;
      parts.push(
        `${signal} ${exported} stored, ${spooled} left in the spool, ${dropped} dropped` +
          (failed > 0 ? `, ${failed} rejected` : ''),
      );
    }
    if (stats.file && stats.file.dropped > 0) parts.push(`log file ${stats.file.dropped} lines dropped`);
    for (const signal of ['spans', 'logs', 'metrics'] as const) {
      const dropped = stats.otlp?.[signal].dropped ?? 0;
      if (dropped > 0) parts.push(`otlp ${signal} ${dropped} not delivered`);
    }
    if (parts.length === 0) return;
    const spooled = stats.logs.spooled + stats.spans.spooled + stats.metrics.spooled;
    const later = spooled > 0 ? ' (the spool is replayed by the next run or `pipetel sync`)' : '';
    stderrWarning(`shutdown: ${parts.join('; ')}${later}`);
  }

  /**
   * Waits for setup (migrations, the experiment row) at most maxMs — and only about a second when
   * the server has not even completed a connection by then (it accepts and never answers): the
   * pipeline does not wait on the database, the records go to the queue and the spool meanwhile.
   */
  async waitForSetup(maxMs: number): Promise<void> {
    const after = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
    const never = new Promise<void>(() => undefined);
    await Promise.race([
      this.ready,
      after(maxMs),
      Promise.race([this.connected.then(() => never), after(CONNECT_WAIT_MS)]),
    ]);
  }

  /**
   * What the experiment row records about the run: the resource attributes (already through the
   * policy) and the script — not its arguments, which may carry credentials.
   */
  private experimentAttributes(): Record<string, unknown> {
    return { ...this.resource.attributes, 'process.pid': process.pid, script: process.argv[1] ?? null };
  }

  private exporterOptions(pool: pg.Pool): PostgresExporterOptions {
    const s = this.config.values;
    return {
      pool,
      experimentId: this.experimentId,
      batchSize: s.logging.database.batch_size,
      flushIntervalMs: s.logging.database.flush_interval * 1000,
      maxBatchSize: s.monitoring.database.max_batch_size,
      maxQueueSize: s.logging.database.max_queue_size,
      concurrency: Math.max(1, Math.min(3, s.monitoring.database.connection_pool_size - 1)),
      usePreparedStatements: s.monitoring.database.use_prepared_statements,
      policy: 'upstream', // applied in front of every sink (this.policy)
      spill: this.spool,
      overflowToSpill: this.spool !== undefined,
      journal: this.journal,
      journalFlushMs: s.spool.flush_ms,
      shutdownTimeoutMs: s.shutdown.timeout * 1000,
      shutdownDeadline: () => this.shutdownDeadline,
      // Already rate-limited per kind of trouble, with running counts: not limited again here.
      warn: this.sinkWarning,
    };
  }

  private warn(message: string): void {
    this.warning.warn(message);
  }
}

/** Resolves a database URL: the configured one, else the embedded server (started if needed). */
export async function resolveDatabaseUrl(config: Config): Promise<string | undefined> {
  const settings = config.values;
  if (!settings.monitoring.enabled && !settings.logging.database.enabled) return undefined;
  if (settings.database.url) return settings.database.url;
  try {
    return (await ensureEmbeddedPostgres({ home: config.home })).url;
  } catch (error) {
    stderrWarning(
      `embedded PostgreSQL could not start, telemetry will not be stored: ${safeErrorMessage(error)}`,
    );
    return undefined;
  }
}

function generateExperimentId(serviceName: string): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${serviceName}-${stamp}-${randomBytes(3).toString('hex')}`;
}

function sumStats(list: DeliveryStats[]): DeliveryStats {
  const total = { ...EMPTY_STATS };
  for (const s of list) {
    total.queued += s.queued;
    total.exported += s.exported;
    total.dropped += s.dropped;
    total.spooled += s.spooled;
    total.failed += s.failed;
  }
  return total;
}

/** Whether the promise settled within ms (it is not waited for after that). */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let settled = false;
  await withTimeout(
    promise.finally(() => {
      settled = true;
    }),
    ms,
  );
  return settled;
}

async function withTimeout(promise: Promise<unknown> | undefined, ms: number): Promise<void> {
  if (!promise) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    promise.catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}

/** `warn`, minus messages identical to one it printed within `windowMs`. */
function dedupeWarnings(warn: (message: string) => void, windowMs: number): (message: string) => void {
  const printedAt = new Map<string, number>();
  return (message) => {
    const now = Date.now();
    const last = printedAt.get(message);
    if (last !== undefined && now - last < windowMs) return;
    if (printedAt.size > 100) printedAt.clear();
    printedAt.set(message, now);
    warn(message);
  };
}
