// The Telemetry instance that register() returns: it owns the database connection, the OTel
// providers and pipetel's own pieces (loggers, stages, progress), and ends the run — flushing
// everything within shutdown.timeout and marking the experiment succeeded or failed.

import { context, type Meter, metrics, propagation, type SpanContext, trace } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { LoggerProvider } from '@opentelemetry/sdk-logs';
import type { MeterProvider } from '@opentelemetry/sdk-metrics';
import type { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import type pg from 'pg';
import type { Journal } from '../exporters/delivery/Journal.js';
import { RateLimitedWarning, stderrWarning } from '../exporters/delivery/RateLimitedWarning.js';
import type { Spool } from '../exporters/delivery/Spool.js';
import { TelemetryPolicy } from '../exporters/policy/index.js';
import { safeErrorMessage } from '../exporters/postgres/connectionSecrets.js';
import { closePool } from '../exporters/postgres/pool.js';
import { EXPERIMENT_ID_ATTRIBUTE } from '../exporters/shared/conventions.js';
import { type Config, ineffectiveSettings } from './config/index.js';
import type { ExperimentStore } from './db/experimentStore.js';
import { MaintenanceSchedule } from './db/MaintenanceSchedule.js';
import { setUpPartitioning, syncStoreSettings } from './db/storeMaintenance.js';
import { ExperimentLifecycle } from './internal/ExperimentLifecycle.js';
import { LiveTuning } from './internal/LiveTuning.js';
import type { LogPipeline } from './internal/LogPipeline.js';
import {
  buildResource,
  createOtlpTargets,
  enableInstrumentations,
  type Instrumentation,
  registerGlobals,
  spanContextFromEnvironment,
} from './internal/otelSdk.js';
import { PipetelMeterProvider } from './internal/PipetelMeterProvider.js';
import { attachProcessHooks } from './internal/processHooks.js';
import { RunSinks, type TelemetryStats } from './internal/RunSinks.js';
import { generateExperimentId, runExporterOptions } from './internal/runOptions.js';
import { openRunStorage } from './internal/runStorage.js';
import { buildLogPipelines, buildMonitoringPipelines } from './internal/signalPipelines.js';
import { bindGlobalLogging, unbindGlobalLogging } from './logging/global.js';
import { type Logger, type LoggerFactory, resolveConsoleEnabled } from './logging/index.js';
import { withMonitoringDisabledContext } from './pipeline/context.js';
import { type Progress, ProgressTracker } from './pipeline/Progress.js';
import { type OwnWork, type ProfileReport, SelfCost } from './pipeline/SelfCost.js';
import type { MonitoredSignal, SelfMonitoring } from './pipeline/SelfMonitoring.js';
import { type StageOptions, StageRunner } from './pipeline/Stages.js';
import type { LogSynchronizer } from './sync/LogSynchronizer.js';

export type { TelemetryStats } from './internal/RunSinks.js';
export type { StageOptions } from './pipeline/Stages.js';

const HEARTBEAT_INTERVAL_MS = 15_000;
/** A running experiment whose heartbeat is this many intervals old is taken as dead. */
const STALE_AFTER_HEARTBEATS = 4;

export { LIVE_KEYS } from './internal/LiveTuning.js';

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
  private readonly tracerProvider: BasicTracerProvider | undefined;
  private readonly loggerProvider: LoggerProvider | undefined;
  private readonly meterProvider: MeterProvider | undefined;
  private readonly hostMeterProvider: MeterProvider | undefined;
  private readonly spool: Spool | undefined;
  private readonly synchronizer: LogSynchronizer | undefined;
  private readonly loggers: LoggerFactory;
  private readonly sinks = new RunSinks();
  private readonly logPipeline: LogPipeline;
  /** The global MeterProvider (the SDK's, with pipetel's instruments), for its call count. */
  private readonly pipetelMeterProvider: PipetelMeterProvider | undefined;
  private readonly stages: StageRunner;
  private readonly selfCost: SelfCost;
  private readonly tuning: LiveTuning;
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
      onDelivered: (table, records) => this.sinks.countDelivered(table, records),
      warn: (message) => this.warn(message),
    }));
    const exporterOptions = this.pool
      ? runExporterOptions(settings, {
          pool: this.pool,
          experimentId: this.experimentId,
          spool: this.spool,
          journal: this.journal,
          shutdownDeadline: () => this.shutdownDeadline,
          // Already rate-limited per kind of trouble, with running counts: not limited again here.
          warn: this.sinkWarning,
        })
      : undefined;
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
    this.sinks.otlp = otlp;

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
    this.sinks.logProcessor = logs.logProcessor;
    this.sinks.fileProcessor = logs.fileProcessor;
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
    this.tuning = new LiveTuning({
      config,
      loggers: this.loggers,
      measurePercent: () => budgetWindow.next().cpuOverheadPercent,
      recordShedStep: (step, highestStep) =>
        void this.experiments
          ?.mergeAttributes(this.experimentId, {
            'pipetel.overhead.shed_step': step,
            'pipetel.overhead.max_shed_step': highestStep,
          })
          .catch(() => undefined),
      warn: (message) => this.warn(message),
      isShutDown: () => this.shutdownPromise !== undefined,
    });
    this.tuning.attach({ logExporter: this.sinks.logProcessor?.exporter });

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
        shedStep: () => this.tuning.budget.step,
        monitoredSignals: () => this.sinks.monitoredSignals(),
        warn: (message) => this.warn(message),
      });
      this.tracerProvider = pipelines.tracerProvider;
      this.sinks.spanProcessor = pipelines.spanProcessor;
      this.meterProvider = pipelines.meterProvider;
      this.sinks.metricExporters.push(...pipelines.metricExporters);
      this.tuning.attach({
        progressTracker: pipelines.progressTracker,
        metricExporter: pipelines.metricExporters[0],
        baseMetricWindowMs: pipelines.baseMetricWindowMs,
        setHostIntervalMs: pipelines.setHostIntervalMs,
      });
      this.hostMeterProvider = pipelines.hostMeterProvider;
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
    this.stages = new StageRunner(
      trace.getTracer('pipetel'),
      () => this.getLogger('pipetel.stage'),
      this.parentSpanContext,
    );

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
    if (!settings.disabled) this.tuning.budget.start();
    this.detachProcessHooks = attachProcessHooks({
      forceFlush: () => this.forceFlush(),
      shutdown: () => this.shutdown(),
      interrupt: (signal) => this.interrupt(signal),
      fail: (error) => this.fail(error),
    });
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
      return await this.stages.run(name, fn, options);
    } finally {
      // logging.database.wait_for_flush: back-pressure at stage boundaries — a stage resolves only
      // once what it recorded is stored, instead of letting a fast producer outrun the queue.
      if (this.config.values.logging.database.wait_for_flush) await this.forceFlush();
    }
  }

  /**
   * Ctrl-C or SIGTERM with no handler of the application's: the stages still running end as
   * ERROR (so their spans are stored), running progress nodes as interrupted, and the run as
   * failed — each with "interrupted by <signal>" — before shutdown flushes them.
   */
  private interrupt(signal: NodeJS.Signals): void {
    const reason = `interrupted by ${signal}`;
    this.stages.interrupt(signal, reason);
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

  stats(): TelemetryStats {
    const sinceStart = this.selfCost.sinceStart();
    return this.sinks.stats({
      cpuRatio: sinceStart.cpuOverheadPercent / 100,
      bufferBytes: this.selfCost.bufferBytes(),
    });
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
    return {
      apiLogRecords: () => this.logPipeline.apiRecords,
      loggerCalls: () => this.loggers.callTiming(),
      metricCalls: () => this.pipetelMeterProvider?.callCount() ?? 0,
      stages: () => this.stages?.started ?? 0, // read once before the runner exists
      spans: () => this.sinks.spansRecorded(),
      timedWorkMs: () => this.sinks.timedWorkMs(),
      buffered: () => this.sinks.buffered(),
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
    await this.sinks.forceFlushExporters(remaining);
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
    this.tuning.budget.stop();
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.lifecycle?.stop();
    await this.maintenance?.stop();
    this.stopRuntimeMetrics?.();
    // A setup still connecting (a server that accepts and never answers) gets a small share; then
    // the database counts as down and nothing below waits for it: the queues spool what they hold.
    const setUp = await settlesWithin(this.ready, Math.min(remaining() / 10, 500));
    const answering = () => setUp && (this.lifecycle?.isSetUp ?? false) && this.sinks.answering();
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
    this.sinks.printShutdownSummary();
    unbindGlobalLogging();
    this.disableInstrumentations?.();
    this.unregisterGlobals?.();
    // pg's end() waits for clients still connecting; closePool ends them at its deadline.
    if (this.pool) await closePool(this.pool, answering() ? Math.max(remaining(), 500) : 0);
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

  private warn(message: string): void {
    this.warning.warn(message);
  }
}

export { resolveDatabaseUrl } from './internal/runOptions.js';

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
