// The composition root of a registered run: from the configuration to the parts that record it —
// the policy and resource, the database pool, spool and journal (runStorage), the sinks, the log
// pipeline and pipetel's loggers, the trace/metric/progress/resource pipelines, pipetel's own cost
// and live tuning, the stage runner, the experiment row's lifecycle, and the OTel globals. Built
// once by Telemetry's constructor; endRun.ts takes the same parts down in order.

import type { SpanContext } from '@opentelemetry/api';
import { trace } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { LoggerProvider } from '@opentelemetry/sdk-logs';
import type { MeterProvider } from '@opentelemetry/sdk-metrics';
import type { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import type pg from 'pg';
import type { Journal } from '../../exporters/delivery/Journal.js';
import { stderrWarning, TextKeyedWarnings } from '../../exporters/delivery/RateLimitedWarning.js';
import type { Spool } from '../../exporters/delivery/Spool.js';
import { targetAddress } from '../../exporters/delivery/spoolTarget.js';
import { TelemetryPolicy } from '../../exporters/policy/index.js';
import { EXPERIMENT_ID_ATTRIBUTE } from '../../exporters/shared/conventions.js';
import { type Config, ineffectiveSettings } from '../config/index.js';
import { type ExperimentStore, HEARTBEAT_INTERVAL_MS, STALE_AFTER_MS } from '../db/experimentStore.js';
import { MaintenanceSchedule } from '../db/MaintenanceSchedule.js';
import { setUpPartitioning, syncStoreSettings } from '../db/storeMaintenance.js';
import { bindGlobalLogging } from '../logging/global.js';
import { type LoggerFactory, resolveConsoleEnabled } from '../logging/index.js';
import type { ProgressTracker } from '../pipeline/Progress.js';
import { type OwnWork, SelfCost } from '../pipeline/SelfCost.js';
import type { MonitoredSignal, SelfMonitoring } from '../pipeline/SelfMonitoring.js';
import { StageRunner } from '../pipeline/Stages.js';
import type { LogSynchronizer } from '../sync/LogSynchronizer.js';
import { ExperimentLifecycle } from './ExperimentLifecycle.js';
import { LiveTuning } from './LiveTuning.js';
import type { LogPipeline } from './LogPipeline.js';
import {
  buildResource,
  createOtlpTargets,
  enableInstrumentations,
  type Instrumentation,
  registerGlobals,
  spanContextFromEnvironment,
} from './otelSdk.js';
import { PipetelMeterProvider } from './PipetelMeterProvider.js';
import { RunSinks } from './RunSinks.js';
import { generateExperimentId, runExporterOptions } from './runOptions.js';
import { openRunStorage } from './runStorage.js';
import { buildLogPipelines, buildMonitoringPipelines } from './signalPipelines.js';

/** Connections opened at setup: the batches a signal writes at once plus one for progress. */
const WARM_CONNECTIONS = 3;
/**
 * A server that has not completed a connection within this long is taken for one that does not
 * answer: register() stops waiting for setup, and the writers stop waiting for it too.
 */
export const CONNECT_WAIT_MS = 1000;
/** The longest the writers wait for setup: twice register()'s own wait (registry.ts). */
const SETUP_GATE_MAX_MS = 10_000;

/** What the run's parts read of its facade's state (Telemetry sets it as shutdown begins). */
export interface RunState {
  shuttingDown: boolean;
  /** The absolute time (ms since epoch) shutdown must be done by, once it has begun. */
  shutdownDeadline: number | undefined;
}

export interface RunInit {
  config: Config;
  /** A resolved URL, or none (no database: logs to the console / file / OTLP only). */
  databaseUrl: string | undefined;
  attributes: Record<string, string | number | boolean>;
  instrumentations: Instrumentation[];
  state: RunState;
}

/** The parts of one registered run. */
export interface Run {
  readonly experimentId: string;
  /** Every signal's resource (through the policy). */
  readonly resource: Resource;
  /** Secrets and limits, in front of every sink. */
  readonly policy: TelemetryPolicy;
  /** This process joined a run another owns (PIPETEL_JOIN_RUN): it neither restarts nor ends it. */
  readonly member: boolean;
  /** The trace context a parent process passed in TRACEPARENT (tel.childEnv()), if any. */
  readonly parentSpanContext: SpanContext | undefined;
  readonly pool: pg.Pool | undefined;
  readonly experiments: ExperimentStore | undefined;
  readonly spool: Spool | undefined;
  /** spool.mode: always: the journal every queued record is written to first. */
  readonly journal: Journal | undefined;
  readonly synchronizer: LogSynchronizer | undefined;
  readonly sinks: RunSinks;
  readonly loggers: LoggerFactory;
  readonly loggerProvider: LoggerProvider | undefined;
  readonly tracerProvider: BasicTracerProvider | undefined;
  readonly meterProvider: MeterProvider | undefined;
  readonly hostMeterProvider: MeterProvider | undefined;
  readonly progressTracker: ProgressTracker | undefined;
  readonly stopRuntimeMetrics: (() => void) | undefined;
  readonly selfCost: SelfCost;
  readonly tuning: LiveTuning;
  readonly stages: StageRunner;
  readonly lifecycle: ExperimentLifecycle | undefined;
  /** Resolves when the schema is migrated and the experiment row exists (or setup gave up). */
  readonly ready: Promise<void>;
  /** Resolves once the server completed a first connection. */
  readonly connected: Promise<void>;
  readonly heartbeat: NodeJS.Timeout | undefined;
  /** maintenance.scheduler: app — premaking partitions and retention, from this process. */
  maintenance: MaintenanceSchedule | undefined;
  readonly unregisterGlobals: (() => void) | undefined;
  readonly disableInstrumentations: (() => void) | undefined;
  /** pipetel's own warnings, one of each kind per 10 s at most. */
  readonly warning: TextKeyedWarnings;
}

export function buildRun({ config, databaseUrl, attributes, instrumentations, state }: RunInit): Run {
  const settings = config.values;
  const startedAt = new Date();
  // One limit per kind of message: a flood of one kind (maintenance failing) never hides another
  // (the database refusing the connection, said once).
  const warning = new TextKeyedWarnings(stderrWarning, 10_000);
  const warn = (message: string) => warning.warn(message);
  const experimentId = settings.experiment_id ?? generateExperimentId(settings.service_name);
  const member = process.env.PIPETEL_JOIN_RUN === '1' && settings.experiment_id !== null;
  const parentSpanContext = spanContextFromEnvironment(process.env);
  // Settings the seed has but that change nothing here: said once, never silently ignored.
  const ineffective = ineffectiveSettings(settings);
  if (ineffective.length > 0)
    // Once, straight to stderr: through the rate-limited warning it would hold back the next one.
    stderrWarning(`settings with no effect: ${ineffective.map((i) => `${i.key} (${i.reason})`).join('; ')}`);
  /** Secrets and limits, applied once in front of every sink (PostgreSQL, file, OTLP). */
  const policy = new TelemetryPolicy({
    redactKeys: settings.redaction.enabled ? settings.redaction.keys : [],
  });
  // Redacted here, so no sink — nor the experiment row — ever sees a secret resource attribute.
  const resource: Resource = policy.resource(
    buildResource(
      {
        ...attributes,
        'service.name': settings.service_name,
        [EXPERIMENT_ID_ATTRIBUTE]: experimentId,
        'process.pid': process.pid,
      },
      process.env,
      warn,
    ),
  );
  // OTEL_SDK_DISABLED=true: nothing is recorded anywhere and nothing is installed.
  const monitoring = settings.monitoring.enabled && !settings.disabled;
  const logsToDatabase = settings.logging.database.enabled && !settings.disabled;

  const sinks = new RunSinks();
  let lifecycle: ExperimentLifecycle | undefined;
  let selfMonitoring: SelfMonitoring | undefined;
  let stages: StageRunner | undefined;
  let pipetelMeterProvider: PipetelMeterProvider | undefined;
  const { pool, experiments, spool, journal, synchronizer } = openRunStorage(config, databaseUrl, {
    experimentId,
    storesToDatabase: monitoring || logsToDatabase,
    identity: () => lifecycle?.identity,
    shuttingDown: () => state.shuttingDown,
    onDelivered: (table, records) => sinks.countDelivered(table, records),
    warn,
  });
  // The writers' batches wait for the store's setup (schema, partitions) below, which register()
  // may not wait out: a migration waiting for another process's, say. Not for a server that has
  // not even completed a connection within CONNECT_WAIT_MS, though, nor for more than
  // SETUP_GATE_MAX_MS in all (a server gone silent in the middle of setup never answers it): the
  // writers must find out the database does not answer and spool (SPEC §5), not hold records in
  // memory for as long as setup hangs.
  let markConnected: () => void = () => undefined;
  const connected = new Promise<void>((resolve) => {
    markConnected = resolve;
  });
  let setUpSettled: () => void = () => undefined;
  const setUp = new Promise<void>((resolve) => {
    setUpSettled = resolve;
  });
  const unanswered = setTimeout(setUpSettled, CONNECT_WAIT_MS);
  unanswered.unref();
  void connected.then(() => clearTimeout(unanswered));
  const gateCap = setTimeout(setUpSettled, SETUP_GATE_MAX_MS);
  gateCap.unref();
  void setUp.then(() => clearTimeout(gateCap));
  const exporterOptions = pool
    ? runExporterOptions(settings, {
        pool,
        experimentId,
        spool,
        journal,
        shutdownDeadline: () => state.shutdownDeadline,
        setUp,
        // Whoever meets a refused login first — setup or a write — it is said once, by setup.
        onRefused: (error) => lifecycle?.refusedByServer(error),
        // Already rate-limited per kind of trouble, with running counts: not limited again here.
        // A message another sink printed in the last 10 s word for word (the host-metrics and the
        // app-metrics queue) is not printed again.
        warn: dedupeWarnings(stderrWarning, 10_000),
      })
    : undefined;
  // Each signal's exporter options, with the self-monitoring of its batch writes (which pipetel's
  // estimate of its own cost counts too).
  const written = { batches: 0, rows: 0 };
  const forSignal = exporterOptions
    ? (signal: MonitoredSignal['signal']) => {
        // Self-monitoring is made after the sinks: its observer is looked up at the first batch.
        let observe: ((rows: number, ms: number) => void) | undefined;
        return {
          ...exporterOptions,
          onBatchWritten: (rows: number, ms: number) => {
            written.batches++;
            written.rows += rows;
            observe ??= selfMonitoring?.batchObserver(signal);
            observe?.(rows, ms);
          },
        };
      }
    : undefined;

  // Also to an OTLP collector when asked: the SDK's batch processors and OTLP/HTTP exporters.
  const otlp =
    (settings.otlp.enabled || settings.otlp.endpoint !== null) && !settings.disabled
      ? createOtlpTargets(
          settings.otlp.endpoint,
          settings.otlp.headers,
          settings.otlp.protocol,
          process.env,
          warn,
        )
      : undefined;
  sinks.otlp = otlp;

  // Logs: pipetel's Logger and the OTel Logs API share one pipeline.
  const logs = buildLogPipelines({
    config,
    experimentId,
    resource,
    policy,
    exporterOptions: forSignal,
    logsToDatabase,
    otlp,
  });
  sinks.logProcessor = logs.logProcessor;
  sinks.fileProcessor = logs.fileProcessor;
  const logPipeline: LogPipeline = logs.logPipeline;
  const loggers = bindGlobalLogging({
    level: settings.logging.level,
    sampling: settings.logging.sampling,
    sink: logPipeline,
    resource,
    policy,
    console: {
      enabled: resolveConsoleEnabled(settings.logging.console.enabled),
      level: settings.logging.console.level,
    },
    isDisabled: settings.disabled ? () => true : undefined,
    // spool.mode always promises a record on disk within spool.flush_ms of the call: no staging.
    deferBuild: settings.spool.mode !== 'always',
  });
  logPipeline.drainStaged = () => loggers.drain();
  sinks.buildStaged = () => loggers.drain();
  sinks.stagedLogs = () => loggers.stagedCount();
  // pipetel's own cost: reads the loggers, so it comes after them.
  const ownWork: OwnWork = {
    apiLogRecords: () => logPipeline.apiRecords,
    loggerCalls: () => loggers.callTiming(),
    metricCalls: () => pipetelMeterProvider?.callCount() ?? 0,
    stages: () => stages?.started ?? 0, // read once before the runner exists
    spans: () => sinks.spansRecorded(),
    timedWorkMs: () => sinks.timedWorkMs(),
    batchesWritten: () => written,
    buffered: () => sinks.buffered(),
  };
  const selfCost = new SelfCost(ownWork);
  const budgetWindow = selfCost.window();
  const tuning = new LiveTuning({
    config,
    loggers,
    measurePercent: () => budgetWindow.next().cpuOverheadPercent,
    recordShedStep: (step, highestStep) =>
      void experiments
        ?.mergeAttributes(experimentId, {
          'pipetel.overhead.shed_step': step,
          'pipetel.overhead.max_shed_step': highestStep,
        })
        .catch(() => undefined),
    warn,
    isShutDown: () => state.shuttingDown,
  });
  tuning.attach({ logExporter: sinks.logProcessor?.exporter });

  // Traces, metrics, progress and resources only when monitoring is on; else the globals stay no-op.
  const pipelines =
    monitoring && (exporterOptions || otlp)
      ? buildMonitoringPipelines({
          config,
          experimentId,
          resource,
          policy,
          exporterOptions: forSignal,
          otlp,
          pool,
          spool,
          selfCost,
          shedStep: () => tuning.budget.step,
          monitoredSignals: () => sinks.monitoredSignals(),
          warn,
        })
      : undefined;
  if (pipelines) {
    sinks.spanProcessor = pipelines.spanProcessor;
    sinks.metricExporters.push(...pipelines.metricExporters);
    selfMonitoring = pipelines.selfMonitoring;
    tuning.attach({
      progressTracker: pipelines.progressTracker,
      metricExporter: pipelines.metricExporters[0],
      baseMetricWindowMs: pipelines.baseMetricWindowMs,
      setHostIntervalMs: pipelines.setHostIntervalMs,
    });
  }
  const tracerProvider = pipelines?.tracerProvider;
  const meterProvider = pipelines?.meterProvider;
  const loggerProvider = logs.loggerProvider;
  /** The global MeterProvider (the SDK's, with pipetel's instruments), for its call count. */
  pipetelMeterProvider = meterProvider && new PipetelMeterProvider(meterProvider);
  let unregisterGlobals: (() => void) | undefined;
  let disableInstrumentations: (() => void) | undefined;
  if (!settings.disabled) {
    const providers = { tracerProvider, loggerProvider, meterProvider: pipetelMeterProvider };
    unregisterGlobals = registerGlobals(providers, warn);
    // Official instrumentations record into the same providers, so their spans, metrics and
    // log records pass the same policy into the same sinks.
    disableInstrumentations = enableInstrumentations(instrumentations, providers);
  }
  stages = new StageRunner(
    trace.getTracer('pipetel'),
    () => loggers.getLogger('pipetel.stage'),
    parentSpanContext,
  );

  if (pool && experiments) {
    lifecycle = new ExperimentLifecycle({
      pool,
      experiments,
      spool,
      autoMigrate: settings.database.auto_migrate,
      run: () => ({
        experimentId,
        serviceName: settings.service_name,
        // The resource attributes (already through the policy) and the script — not its
        // arguments, which may carry credentials.
        attributes: { ...resource.attributes, 'process.pid': process.pid, script: process.argv[1] ?? null },
        startedAt,
      }),
      staleAfterMs: STALE_AFTER_MS,
      warmConnections: Math.min(WARM_CONNECTIONS, settings.monitoring.database.connection_pool_size),
      // The replay and maintenance start with the first setup that succeeds (see below).
      onLateSetUp: () => startBackgroundWork(),
      onConnected: () => markConnected(),
      // One warning for a refused login (the lifecycle's, naming database.url), not one per signal.
      onRefused: (error) => sinks.refuse(error),
      member,
      address: targetAddress(databaseUrl),
      url: databaseUrl,
      prepareStore: async (setUpPool) => {
        await syncStoreSettings(setUpPool, settings);
        const note = await setUpPartitioning(setUpPool, settings.database.partitioning);
        if (note) warn(note);
      },
      warn,
    });
  }
  const ready = lifecycle?.setUp() ?? Promise.resolve();
  ready.then(setUpSettled, setUpSettled);
  // The run's owner keeps it alive; a member's heartbeat would reopen a run the owner ended.
  let heartbeat: NodeJS.Timeout | undefined;
  if (experiments && !member) {
    heartbeat = setInterval(() => {
      experiments.heartbeat(experimentId).catch(() => undefined);
    }, HEARTBEAT_INTERVAL_MS);
    heartbeat.unref();
  }
  const run: Run = {
    experimentId,
    resource,
    policy,
    member,
    parentSpanContext,
    pool,
    experiments,
    spool,
    journal,
    synchronizer,
    sinks,
    loggers,
    loggerProvider,
    tracerProvider,
    meterProvider,
    hostMeterProvider: pipelines?.hostMeterProvider,
    progressTracker: pipelines?.progressTracker,
    stopRuntimeMetrics: pipelines?.stopRuntimeMetrics,
    selfCost,
    tuning,
    stages,
    lifecycle,
    ready,
    connected,
    heartbeat,
    maintenance: undefined,
    unregisterGlobals,
    disableInstrumentations,
    warning,
  };
  // Spool replay and in-app maintenance, once the store is set up: after the first attempt, or
  // after the retry that succeeds (onLateSetUp) when the database did not answer at first —
  // replaying before would only fail, and warn, every sync_interval meanwhile.
  function startBackgroundWork(): void {
    if (state.shuttingDown) return;
    synchronizer?.start();
    if (databaseUrl && settings.maintenance.scheduler === 'app' && !run.maintenance) {
      run.maintenance = new MaintenanceSchedule(databaseUrl, settings.maintenance.interval * 1000, warn);
      run.maintenance.start();
    }
  }
  void ready.then(() => {
    // Refused by the server (role, password, database): a replay would be refused the same way.
    if (lifecycle?.refused) return;
    if (!lifecycle) synchronizer?.start();
    else if (lifecycle.isSetUp) startBackgroundWork();
  });
  if (!settings.disabled) tuning.budget.start();
  return run;
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
