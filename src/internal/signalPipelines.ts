// The signal pipelines register() builds, given where records go (PostgreSQL exporter options,
// the file sink, OTLP): logs (one LogPipeline behind pipetel's Logger and the OTel Logs API), then
// traces, metrics, host metrics and progress. Telemetry composes them; the policy (redaction,
// limits) sits in front of every sink here, once.

import type { Resource } from '@opentelemetry/resources';
import type { LoggerProvider, LogRecordProcessor } from '@opentelemetry/sdk-logs';
import type { MeterProvider } from '@opentelemetry/sdk-metrics';
import type { BasicTracerProvider, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type pg from 'pg';
import { stderrWarning } from '../../exporters/delivery/RateLimitedWarning.js';
import type { Spool } from '../../exporters/delivery/Spool.js';
import { FileLogRecordProcessor } from '../../exporters/file/index.js';
import {
  PolicyMetricExporter,
  PolicySpanProcessor,
  type TelemetryPolicy,
} from '../../exporters/policy/index.js';
import type { PostgresExporterOptions } from '../../exporters/postgres/PostgresDelivery.js';
import { PostgresLogRecordProcessor } from '../../exporters/postgres/PostgresLogRecordExporter.js';
import { PostgresMetricExporter } from '../../exporters/postgres/PostgresMetricExporter.js';
import { PostgresSpanProcessor } from '../../exporters/postgres/PostgresSpanExporter.js';
import type { Config } from '../config/index.js';
import { PostgresProgressStore } from '../db/progressStore.js';
import { SpoolingProgressWriter } from '../db/spooledRows.js';
import { isMonitoringDisabled } from '../pipeline/context.js';
import { ProgressTracker, type ProgressWriter } from '../pipeline/Progress.js';
import type { SelfCost } from '../pipeline/SelfCost.js';
import { type MonitoredSignal, SelfMonitoring } from '../pipeline/SelfMonitoring.js';
import { logFilePath } from '../sync/LogFileShipper.js';
import { FanOutMetricExporter } from './FanOutMetricExporter.js';
import { LogPipeline } from './LogPipeline.js';
import {
  createLoggerProvider,
  createMeterProvider,
  createTracerProvider,
  type OtlpTargets,
  samplerFromEnvironment,
  startHostMetrics,
} from './otelSdk.js';
import { PipetelMeterProvider } from './PipetelMeterProvider.js';

type Signal = MonitoredSignal['signal'];

export interface LogPipelines {
  logProcessor: PostgresLogRecordProcessor | undefined;
  fileProcessor: FileLogRecordProcessor | undefined;
  logPipeline: LogPipeline;
  loggerProvider: LoggerProvider;
}

/** Log records to PostgreSQL (database logging on), the file sink (file logging on) and OTLP. */
export function buildLogPipelines(input: {
  config: Config;
  experimentId: string;
  resource: Resource;
  policy: TelemetryPolicy;
  exporterOptions: ((signal: Signal) => PostgresExporterOptions) | undefined;
  logsToDatabase: boolean;
  otlp: OtlpTargets | undefined;
}): LogPipelines {
  const settings = input.config.values;
  const processors: LogRecordProcessor[] = [];
  let logProcessor: PostgresLogRecordProcessor | undefined;
  let fileProcessor: FileLogRecordProcessor | undefined;
  if (input.exporterOptions && input.logsToDatabase) {
    logProcessor = new PostgresLogRecordProcessor(input.exporterOptions('logs'));
    processors.push(logProcessor);
  }
  if (settings.logging.file.enabled && !settings.disabled) {
    fileProcessor = new FileLogRecordProcessor({
      path: logFilePath(input.config),
      maxSizeMb: settings.logging.file.max_size_mb,
      backupCount: settings.logging.file.backup_count,
      compress: settings.logging.compression,
      experimentId: input.experimentId,
      shutdownTimeoutMs: settings.shutdown.timeout * 1000,
      warn: stderrWarning, // rate-limited per kind by the sink itself
      policy: 'upstream',
    });
    processors.push(fileProcessor);
  }
  if (input.otlp) processors.push(input.otlp.logProcessor);
  const logPipeline = new LogPipeline(input.policy, processors);
  return {
    logProcessor,
    fileProcessor,
    logPipeline,
    loggerProvider: createLoggerProvider(input.resource, [logPipeline]),
  };
}

export interface MonitoringPipelines {
  tracerProvider: BasicTracerProvider;
  spanProcessor: PostgresSpanProcessor | undefined;
  meterProvider: MeterProvider;
  /** The PostgreSQL metric exporters: the app's first, then host metrics'. */
  metricExporters: PostgresMetricExporter[];
  /** The aggregation window the app's exporter starts with (monitoring.aggregate_metrics). */
  baseMetricWindowMs: number | undefined;
  hostMeterProvider: MeterProvider | undefined;
  setHostIntervalMs: ((intervalMs: number) => boolean) | undefined;
  selfMonitoring: SelfMonitoring;
  stopRuntimeMetrics: (() => void) | undefined;
  progressTracker: ProgressTracker | undefined;
}

/** Progress rows have nowhere to go without a database; the tracker's gauges still do. */
const NO_PROGRESS_ROWS: ProgressWriter = { write: async () => undefined };

/** Traces, metrics (the app's and host metrics, each reader its own), self-monitoring, progress. */
export function buildMonitoringPipelines(input: {
  config: Config;
  experimentId: string;
  resource: Resource;
  policy: TelemetryPolicy;
  exporterOptions: ((signal: Signal) => PostgresExporterOptions) | undefined;
  otlp: OtlpTargets | undefined;
  pool: pg.Pool | undefined;
  spool: Spool | undefined;
  selfCost: SelfCost;
  shedStep: () => number;
  monitoredSignals: () => MonitoredSignal[];
  warn: (message: string) => void;
}): MonitoringPipelines {
  const { resource, policy, exporterOptions, otlp } = input;
  const settings = input.config.values;
  const spanProcessors: SpanProcessor[] = [];
  const spanProcessor = exporterOptions ? new PostgresSpanProcessor(exporterOptions('spans')) : undefined;
  if (spanProcessor) spanProcessors.push(spanProcessor);
  if (otlp) spanProcessors.push(otlp.spanProcessor);
  const tracerProvider = createTracerProvider(
    resource,
    [new PolicySpanProcessor(policy, spanProcessors)],
    samplerFromEnvironment(process.env, input.warn),
  );

  const { aggregate_metrics, aggregation_window, metrics_interval } = settings.monitoring;
  const metricExporters: PostgresMetricExporter[] = [];
  // PostgreSQL is what a collection waits for; OTLP runs alongside it (see FanOutMetricExporter),
  // unless it is the only destination.
  const metricTargets = (aggregationWindowMs?: number): FanOutMetricExporter => {
    if (!exporterOptions) return new FanOutMetricExporter(otlp ? [otlp.metricExporter] : []);
    const exporter = new PostgresMetricExporter({ ...exporterOptions('metrics'), aggregationWindowMs });
    metricExporters.push(exporter);
    return new FanOutMetricExporter([exporter], otlp ? [otlp.metricExporter] : []);
  };
  const baseMetricWindowMs =
    aggregate_metrics && aggregation_window > metrics_interval ? aggregation_window * 1000 : undefined;
  const meterProvider = createMeterProvider(
    resource,
    new PolicyMetricExporter(policy, metricTargets(baseMetricWindowMs)),
    metrics_interval * 1000,
    [policy.view()],
  );
  // Through pipetel's instruments: each batch records two histogram points, and the SDK's own call
  // hashes the attribute set every time.
  const selfMonitoring = new SelfMonitoring(
    new PipetelMeterProvider(meterProvider).getMeter('pipetel'),
    input.monitoredSignals,
    {
      selfCost: input.selfCost,
      shedStep: input.shedStep,
    },
  );
  const stopRuntimeMetrics = settings.monitoring.detailed_metrics
    ? selfMonitoring.startRuntimeMetrics()
    : undefined;
  let hostMeterProvider: MeterProvider | undefined;
  let setHostIntervalMs: ((intervalMs: number) => boolean) | undefined;
  if (settings.monitoring.enable_resource_tracking) {
    const host = startHostMetrics(
      resource,
      new PolicyMetricExporter(policy, metricTargets()),
      settings.monitoring.resource_sample_interval * 1000,
      [policy.view()],
    );
    hostMeterProvider = host.meterProvider;
    setHostIntervalMs = host.setIntervalMs;
  }
  // Without a database (OTLP only) progress still goes out as its gauges (pipetel.progress.*).
  const progressTracker =
    input.pool || otlp
      ? new ProgressTracker({
          experimentId: input.experimentId,
          writer: !input.pool
            ? NO_PROGRESS_ROWS
            : input.spool
              ? new SpoolingProgressWriter(new PostgresProgressStore(input.pool), input.spool, input.warn)
              : new PostgresProgressStore(input.pool),
          updateIntervalMs: settings.monitoring.progress_update_interval * 1000,
          meter: meterProvider.getMeter('pipetel.progress'),
          warn: input.warn,
          isDisabled: () => isMonitoringDisabled(),
        })
      : undefined;
  return {
    tracerProvider,
    spanProcessor,
    meterProvider,
    metricExporters,
    baseMetricWindowMs,
    hostMeterProvider,
    setHostIntervalMs,
    selfMonitoring,
    stopRuntimeMetrics,
    progressTracker,
  };
}
