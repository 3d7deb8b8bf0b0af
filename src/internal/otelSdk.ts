// Every constructor call into the OpenTelemetry JS SDK lives here, so a move from the 2.x line to
// 3.x (Node ≥ 22.15) touches one file. Nothing in this module knows about PostgreSQL.

import { readFileSync } from 'node:fs';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Duplex } from 'node:stream';
import { Metadata } from '@grpc/grpc-js';
import {
  type MeterProvider as ApiMeterProvider,
  context,
  defaultTextMapGetter,
  metrics,
  propagation,
  ROOT_CONTEXT,
  type SpanContext,
  type TextMapPropagator,
  trace,
} from '@opentelemetry/api';
import { logs } from '@opentelemetry/api-logs';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPLogExporter as GrpcLogExporter } from '@opentelemetry/exporter-logs-otlp-grpc';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as ProtoLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPMetricExporter as GrpcMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtoMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPTraceExporter as GrpcTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { HostMetrics } from '@opentelemetry/host-metrics';
import { type Instrumentation, registerInstrumentations } from '@opentelemetry/instrumentation';
import {
  defaultResource,
  detectResources,
  envDetector,
  hostDetector,
  osDetector,
  processDetector,
  type Resource,
  type ResourceDetector,
  resourceFromAttributes,
  serviceInstanceIdDetector,
} from '@opentelemetry/resources';
import {
  BatchLogRecordProcessor,
  LoggerProvider,
  type LogRecordProcessor,
  type ReadableLogRecord,
} from '@opentelemetry/sdk-logs';
import {
  MeterProvider,
  PeriodicExportingMetricReader,
  type PushMetricExporter,
  type ResourceMetrics,
  type ViewOptions,
} from '@opentelemetry/sdk-metrics';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  type ReadableSpan,
  type Sampler,
  SamplingDecision,
  type SamplingResult,
  type SpanProcessor,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';
import { forgetContextManager, isMonitoringDisabled, useContextManager } from '../pipeline/context.js';
import { CollectorLink, GuardedOtlpExporter, type OtlpCounts, otlpWarnings } from './OtlpGuard.js';

const RESOURCE_DETECTORS: Record<string, ResourceDetector> = {
  env: envDetector,
  host: hostDetector,
  os: osDetector,
  process: processDetector,
  serviceinstance: serviceInstanceIdDetector,
};

/**
 * The resource detectors OTEL_NODE_RESOURCE_DETECTORS names (env, host, os, process,
 * serviceinstance, all, none), as the NodeSDK reads it; unset means all. Unknown names are warned
 * about. `env` (OTEL_RESOURCE_ATTRIBUTES) stays on whatever the list says about it: pipetel has
 * always honoured that variable.
 */
export function resourceDetectors(
  env: NodeJS.ProcessEnv,
  warn: (message: string) => void = () => undefined,
): ResourceDetector[] {
  const names = (env.OTEL_NODE_RESOURCE_DETECTORS ?? 'all')
    .split(',')
    .map((n) => n.trim().toLowerCase())
    .filter(Boolean);
  if (names.includes('none')) return [envDetector];
  if (names.includes('all')) return Object.values(RESOURCE_DETECTORS);
  const chosen = new Set<ResourceDetector>([envDetector]);
  for (const name of names) {
    const detector = RESOURCE_DETECTORS[name];
    if (detector) chosen.add(detector);
    else
      warn(
        `OTEL_NODE_RESOURCE_DETECTORS: unknown detector "${name}" (known: ${Object.keys(RESOURCE_DETECTORS).join(', ')}, all, none)`,
      );
  }
  return [...chosen];
}

/**
 * What pipetel leaves out of what the detectors find: the command line, which can carry secrets
 * (`--password=…`) and is on every record; and values only known later (host.id, read from the
 * machine id asynchronously), which the PostgreSQL rows are encoded without waiting for.
 */
const OMITTED_RESOURCE_KEYS = new Set(['process.command_args', 'process.command_line', 'process.command']);

function settledOnly(detector: ResourceDetector): ResourceDetector {
  return {
    detect: (config) => {
      const found = detector.detect(config);
      const attributes = Object.entries(found.attributes ?? {}).filter(
        ([key, value]) => !OMITTED_RESOURCE_KEYS.has(key) && !(value instanceof Promise),
      );
      return { ...found, attributes: Object.fromEntries(attributes) };
    },
  };
}

export function buildResource(
  attributes: Record<string, string | number | boolean>,
  env: NodeJS.ProcessEnv = process.env,
  warn: (message: string) => void = () => undefined,
): Resource {
  // The standard detectors (OTEL_NODE_RESOURCE_DETECTORS), OTEL_RESOURCE_ATTRIBUTES among them;
  // pipetel's own attributes win over what they found.
  const detected = detectResources({ detectors: resourceDetectors(env, warn).map(settledOnly) });
  return defaultResource().merge(detected).merge(resourceFromAttributes(attributes));
}

/**
 * The sampler OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG name (the SDK environment spec's
 * values), or undefined when unset: pipetel then records every stage (always_on), not the spec's
 * parentbased_always_on, so a caller's unsampled traceparent does not silence a pipeline's stages.
 */
export function samplerFromEnvironment(
  env: NodeJS.ProcessEnv,
  warn: (message: string) => void = () => undefined,
): Sampler | undefined {
  const name = env.OTEL_TRACES_SAMPLER?.trim().toLowerCase();
  if (!name) return undefined;
  const ratio = (): number => {
    const raw = env.OTEL_TRACES_SAMPLER_ARG?.trim();
    const value = raw ? Number(raw) : 1;
    if (Number.isFinite(value) && value >= 0 && value <= 1) return value;
    warn(`OTEL_TRACES_SAMPLER_ARG: expected a ratio from 0 to 1, got "${raw}"; using 1`);
    return 1;
  };
  switch (name) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(ratio());
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio()) });
    default:
      warn(
        `OTEL_TRACES_SAMPLER: "${env.OTEL_TRACES_SAMPLER}" is not one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio; recording every span`,
      );
      return undefined;
  }
}

/** The configured sampler, except that spans started inside `withMonitoringDisabled` are never recorded. */
class MonitoringAwareSampler implements Sampler {
  constructor(private readonly inner: Sampler = new AlwaysOnSampler()) {}

  shouldSample(...args: Parameters<Sampler['shouldSample']>): SamplingResult {
    if (isMonitoringDisabled(args[0])) return { decision: SamplingDecision.NOT_RECORD };
    return this.inner.shouldSample(...args);
  }

  toString(): string {
    return 'PipetelMonitoringAwareSampler';
  }
}

export function createTracerProvider(
  resource: Resource,
  spanProcessors: SpanProcessor[],
  sampler?: Sampler,
): BasicTracerProvider {
  return new BasicTracerProvider({ resource, spanProcessors, sampler: new MonitoringAwareSampler(sampler) });
}

export function createLoggerProvider(resource: Resource, processors: LogRecordProcessor[]): LoggerProvider {
  return new LoggerProvider({ resource, processors });
}

/**
 * The SDK's periodic reader, whose interval the overhead budget can widen at run time. The SDK
 * fixes it at construction; this reaches its timer fields (2.x names), and reports false, changing
 * nothing, where they are not there.
 */
class AdjustableMetricReader extends PeriodicExportingMetricReader {
  setIntervalMs(intervalMs: number): boolean {
    const reader = this as unknown as {
      _interval?: NodeJS.Timeout;
      _exportInterval?: number;
      _runOnce?: () => Promise<void>;
    };
    if (typeof reader._runOnce !== 'function' || reader._interval === undefined) return false;
    if (reader._exportInterval === intervalMs) return true;
    clearInterval(reader._interval);
    reader._exportInterval = intervalMs;
    reader._interval = setInterval(() => void reader._runOnce!.call(this), intervalMs);
    reader._interval.unref();
    return true;
  }
}

export interface AdjustableMeterProvider {
  meterProvider: MeterProvider;
  /** Changes the collection interval from now on; false when this SDK version does not allow it. */
  setIntervalMs(intervalMs: number): boolean;
}

function createAdjustableMeterProvider(
  resource: Resource,
  exporter: PushMetricExporter,
  intervalMs: number,
  views: ViewOptions[],
): AdjustableMeterProvider {
  const reader = new AdjustableMetricReader({
    exporter,
    exportIntervalMillis: intervalMs,
    exportTimeoutMillis: Math.min(intervalMs, 30_000),
  });
  return {
    meterProvider: new MeterProvider({ resource, readers: [reader], views }),
    setIntervalMs: (ms) => reader.setIntervalMs(ms),
  };
}

/** `views`: e.g. TelemetryPolicy.view(), so attributes are redacted before aggregation. */
export function createMeterProvider(
  resource: Resource,
  exporter: PushMetricExporter,
  intervalMs: number,
  views: ViewOptions[] = [],
): MeterProvider {
  return createAdjustableMeterProvider(resource, exporter, intervalMs, views).meterProvider;
}

/**
 * Host metrics sample inside their observable callbacks, i.e. whenever their reader collects, and
 * compute utilization against the previous callback of any reader: so they get a provider with
 * exactly one reader, at resource_sample_interval.
 */
export function startHostMetrics(
  resource: Resource,
  exporter: PushMetricExporter,
  intervalMs: number,
  views: ViewOptions[] = [],
): AdjustableMeterProvider {
  const host = createAdjustableMeterProvider(resource, exporter, intervalMs, views);
  const meterProvider = host.meterProvider;
  const hostMetrics = new HostMetrics({
    meterProvider,
    name: 'pipetel.host-metrics',
    metricGroups: ['system.cpu', 'system.memory', 'process.cpu', 'process.memory'],
  });
  hostMetrics.start();
  return host;
}

/**
 * Installs the providers as the OTel globals (trace, logs, metrics, context, propagation) where
 * none is installed yet, and returns the undo: it removes only what this call installed, so an
 * application's own SDK setup survives pipetel's shutdown.
 */
/**
 * The propagators OTEL_PROPAGATORS names: tracecontext and baggage (the default, both), or none.
 * Others (b3, jaeger, xray, ottrace) need packages pipetel does not ship: warned about, skipped.
 */
export function propagatorsFromEnvironment(
  env: NodeJS.ProcessEnv,
  warn: (message: string) => void = () => undefined,
): TextMapPropagator[] {
  const names = (env.OTEL_PROPAGATORS ?? 'tracecontext,baggage')
    .split(',')
    .map((n) => n.trim().toLowerCase())
    .filter(Boolean);
  if (names.includes('none')) return [];
  const chosen: TextMapPropagator[] = [];
  for (const name of new Set(names)) {
    if (name === 'tracecontext') chosen.push(new W3CTraceContextPropagator() as TextMapPropagator);
    else if (name === 'baggage') chosen.push(new W3CBaggagePropagator() as TextMapPropagator);
    else warn(`OTEL_PROPAGATORS: "${name}" is not available here (tracecontext, baggage, none); skipped`);
  }
  return chosen;
}

/**
 * register()'s context manager, asked directly by pipetel's hot paths (activeContext) while it is
 * the global one: context.disable() — by shutdown or by an application replacing the manager —
 * disables it, and from then on they look the manager up again.
 */
class RegisteredContextManager extends AsyncLocalStorageContextManager {
  override disable(): this {
    forgetContextManager(this);
    return super.disable();
  }
}

export function registerGlobals(
  providers: {
    tracerProvider?: BasicTracerProvider;
    loggerProvider?: LoggerProvider;
    meterProvider?: ApiMeterProvider;
  },
  warn: (message: string) => void = () => undefined,
): () => void {
  const undo: Array<() => void> = [];
  const contextManager = new RegisteredContextManager();
  if (context.setGlobalContextManager(contextManager.enable())) {
    useContextManager(contextManager);
    undo.push(() => context.disable());
  } else {
    contextManager.disable();
  }
  const propagator = new CompositePropagator({ propagators: propagatorsFromEnvironment(process.env, warn) });
  if (propagation.setGlobalPropagator(propagator as TextMapPropagator)) {
    undo.push(() => propagation.disable());
  }
  if (providers.tracerProvider && trace.setGlobalTracerProvider(providers.tracerProvider)) {
    undo.push(() => trace.disable());
  }
  if (
    providers.loggerProvider &&
    logs.setGlobalLoggerProvider(providers.loggerProvider) === providers.loggerProvider
  ) {
    undo.push(() => logs.disable());
  }
  if (providers.meterProvider && metrics.setGlobalMeterProvider(providers.meterProvider)) {
    undo.push(() => metrics.disable());
  }
  return () => {
    for (const step of undo) step();
  };
}

export interface OtlpTargets {
  spanProcessor: SpanProcessor;
  logProcessor: LogRecordProcessor;
  metricExporter: PushMetricExporter;
  /** Per signal: records the collector accepted, and records not delivered (counted, warned about). */
  counts(): { spans: OtlpCounts; logs: OtlpCounts; metrics: OtlpCounts };
  /**
   * Ends the OTLP/HTTP requests still in flight (a collector that accepts and never answers would
   * hold them, and the process, for the exporter's 10 s timeout): what they carried is counted as
   * not delivered. Called at the end of shutdown.
   */
  abort(): void;
}

/**
 * Closes an OTLP/gRPC exporter's channel now, which fails the calls still waiting for a connection
 * (UNAVAILABLE, not retried). The exporter's own shutdown() first waits for those calls — until
 * their 10 s deadline when the collector accepts and never answers. The transport sits behind the
 * exporter's private fields (OTel JS 0.2xx: exporter._delegate._transport, a retrying wrapper whose
 * shutdown() closes the gRPC client); where they are not, nothing happens.
 */
function closeGrpcChannel(exporter: object): void {
  const transport = (exporter as { _delegate?: { _transport?: { shutdown?: unknown } } })._delegate
    ?._transport;
  if (typeof transport?.shutdown === 'function') transport.shutdown();
}

/** Not among the network errors the OTLP exporters retry (ECONNRESET, ECONNREFUSED, …). */
function shutDownError(): Error {
  return Object.assign(new Error('pipetel has shut down'), { code: 'PIPETEL_SHUT_DOWN' });
}

/**
 * The OTLP/HTTP exporters' connection agents, made here (as the exporters would: keep-alive, and
 * the OTEL_EXPORTER_OTLP_*CERTIFICATE / CLIENT_KEY files for https) so that shutdown can end their
 * sockets. @internal (exported for its tests)
 */
export class OtlpAgents {
  private readonly agents = new Set<HttpAgent>();
  private aborted = false;

  constructor(
    private readonly env: NodeJS.ProcessEnv,
    private readonly warn: (message: string) => void,
  ) {}

  factory(signal: Signal): (protocol: string) => HttpAgent {
    return (protocol) => {
      const agent =
        protocol === 'http:'
          ? new HttpAgent({ keepAlive: true })
          : new HttpsAgent({
              keepAlive: true,
              ca: this.file(signal, 'CERTIFICATE'),
              cert: this.file(signal, 'CLIENT_CERTIFICATE'),
              key: this.file(signal, 'CLIENT_KEY'),
            });
      // After abort() a request still queued behind a batch processor fails at once instead of
      // opening a new socket to a collector that does not answer.
      const connect = agent.createConnection.bind(agent) as (...args: unknown[]) => Duplex;
      (agent as { createConnection: unknown }).createConnection = (...args: unknown[]) => {
        const socket = connect(...args);
        // A turn later, once the request listens on it (an error before that would be unhandled).
        if (this.aborted) setImmediate(() => socket.destroy(shutDownError()));
        return socket;
      };
      this.agents.add(agent);
      return agent;
    };
  }

  abort(): void {
    this.aborted = true;
    for (const agent of this.agents) {
      // Sockets in use end with an error the exporters do not retry (ECONNRESET, which a bare
      // destroy() gives, they retry until their timeout); idle ones just close.
      for (const sockets of Object.values(agent.sockets))
        for (const socket of sockets ?? []) socket.destroy(shutDownError());
      agent.destroy();
    }
  }

  private file(signal: Signal, name: string): Buffer | undefined {
    const variable = [`OTEL_EXPORTER_OTLP_${signal}_${name}`, `OTEL_EXPORTER_OTLP_${name}`].find(
      (key) => this.env[key],
    );
    if (!variable) return undefined;
    try {
      return readFileSync(this.env[variable]!);
    } catch (error) {
      this.warn(`otlp: cannot read ${variable} (${(error as Error).message}); connecting without it`);
      return undefined;
    }
  }
}

/** The OTLP protocols of the SDK environment spec (OTEL_EXPORTER_OTLP_PROTOCOL). */
export type OtlpProtocol = 'http/protobuf' | 'http/json' | 'grpc';
const PROTOCOLS: readonly OtlpProtocol[] = ['http/protobuf', 'http/json', 'grpc'];

/** The default endpoints of the OTel specification: OTLP/HTTP on 4318, OTLP/gRPC on 4317. */
const DEFAULT_ENDPOINT: Record<'http' | 'grpc', string> = {
  http: 'http://localhost:4318',
  grpc: 'http://localhost:4317',
};

type Signal = 'TRACES' | 'LOGS' | 'METRICS';

/**
 * The protocol one signal uses: OTEL_EXPORTER_OTLP_<SIGNAL>_PROTOCOL, else `configured`
 * (otlp.protocol, which OTEL_EXPORTER_OTLP_PROTOCOL sets). An unknown per-signal value is warned
 * about and the configured one used.
 */
export function signalProtocol(
  signal: Signal,
  configured: OtlpProtocol,
  env: NodeJS.ProcessEnv,
  warn: (message: string) => void = () => undefined,
): OtlpProtocol {
  const name = `OTEL_EXPORTER_OTLP_${signal}_PROTOCOL`;
  const value = env[name]?.trim();
  if (!value) return configured;
  if ((PROTOCOLS as readonly string[]).includes(value)) return value as OtlpProtocol;
  warn(`${name}: expected one of ${PROTOCOLS.join(', ')}, got "${value}"; using ${configured}`);
  return configured;
}

/**
 * The official OTLP exporters for `protocol` — http/protobuf (the spec's default), http/json or
 * gRPC — behind the SDK's batch processors, for a collector at `endpoint` (null: the standard
 * variables, else the spec's default), each behind a GuardedOtlpExporter: counted, warned about,
 * and failing fast while the collector is down. A per-signal endpoint variable
 * (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, …) wins over `endpoint` for its signal, as the spec says;
 * compression, timeouts and certificates come from the standard variables, read by the exporters.
 */
export function createOtlpTargets(
  endpoint: string | null,
  headers: Record<string, string>,
  protocol: OtlpProtocol = 'http/protobuf',
  env: NodeJS.ProcessEnv = process.env,
  warn: (message: string) => void = () => undefined,
): OtlpTargets {
  const protocols = {
    traces: signalProtocol('TRACES', protocol, env, warn),
    logs: signalProtocol('LOGS', protocol, env, warn),
    metrics: signalProtocol('METRICS', protocol, env, warn),
  };
  const base = endpoint?.replace(/\/+$/, '');
  const ownEndpoint = (signal: Signal) => Boolean(env[`OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`]);
  // HTTP: base + /v1/<signal>; gRPC: the base itself. Undefined lets the exporter read the variables.
  const httpUrl = (signal: Signal, path: string) =>
    base && !ownEndpoint(signal) ? `${base}${path}` : undefined;
  const grpcUrl = (signal: Signal) => (base && !ownEndpoint(signal) ? base : undefined);
  const metadata = () => {
    const m = new Metadata();
    for (const [key, value] of Object.entries(headers)) m.set(key, value);
    return m;
  };
  const grpcOptions = (signal: Signal) => ({
    url: grpcUrl(signal),
    ...(Object.keys(headers).length ? { metadata: metadata() } : {}),
  });
  const transport = (p: OtlpProtocol) => (p === 'grpc' ? 'grpc' : 'http');
  const link = new CollectorLink(endpoint ?? DEFAULT_ENDPOINT[transport(protocols.traces)]);
  const agents = new OtlpAgents(env, warn);
  const warnings = otlpWarnings();
  const traceExporter =
    protocols.traces === 'grpc'
      ? new GrpcTraceExporter(grpcOptions('TRACES'))
      : new (protocols.traces === 'http/json' ? OTLPTraceExporter : ProtoTraceExporter)({
          url: httpUrl('TRACES', '/v1/traces'),
          headers,
          httpAgentOptions: agents.factory('TRACES'),
        });
  const logExporter =
    protocols.logs === 'grpc'
      ? new GrpcLogExporter(grpcOptions('LOGS'))
      : new (protocols.logs === 'http/json' ? OTLPLogExporter : ProtoLogExporter)({
          url: httpUrl('LOGS', '/v1/logs'),
          headers,
          httpAgentOptions: agents.factory('LOGS'),
        });
  const metricExporter =
    protocols.metrics === 'grpc'
      ? new GrpcMetricExporter(grpcOptions('METRICS'))
      : new (protocols.metrics === 'http/json' ? OTLPMetricExporter : ProtoMetricExporter)({
          url: httpUrl('METRICS', '/v1/metrics'),
          headers,
          httpAgentOptions: agents.factory('METRICS'),
        });
  const spans = new GuardedOtlpExporter<ReadableSpan[]>(
    traceExporter,
    'spans',
    (batch) => batch.length,
    link,
    warnings,
  );
  const logs = new GuardedOtlpExporter<ReadableLogRecord[]>(
    logExporter,
    'logs',
    (batch) => batch.length,
    link,
    warnings,
  );
  const metricsGuard = new GuardedOtlpExporter<ResourceMetrics>(
    metricExporter,
    'metrics',
    countDataPoints,
    link,
    warnings,
  );
  return {
    spanProcessor: new BatchSpanProcessor(spans),
    logProcessor: new BatchLogRecordProcessor({ exporter: logs }),
    metricExporter: {
      export: (batch, done) => metricsGuard.export(batch, done),
      forceFlush: () => metricsGuard.forceFlush(),
      shutdown: () => metricsGuard.shutdown(),
      selectAggregationTemporality: (kind) => metricExporter.selectAggregationTemporality(kind),
    },
    counts: () => ({
      spans: { ...spans.counts },
      logs: { ...logs.counts },
      metrics: { ...metricsGuard.counts },
    }),
    abort: () => {
      agents.abort();
      for (const exporter of [traceExporter, logExporter, metricExporter])
        if (
          exporter instanceof GrpcTraceExporter ||
          exporter instanceof GrpcLogExporter ||
          exporter instanceof GrpcMetricExporter
        )
          closeGrpcChannel(exporter);
    },
  };
}

function countDataPoints(metrics: ResourceMetrics): number {
  let points = 0;
  for (const scope of metrics.scopeMetrics)
    for (const metric of scope.metrics) points += metric.dataPoints.length;
  return points;
}

/**
 * Official instrumentations (http, pg, undici, …) enabled against pipetel's providers, as the
 * NodeSDK's `instrumentations` option does; returns what disables them again.
 */
export function enableInstrumentations(
  instrumentations: Instrumentation[],
  providers: {
    tracerProvider?: BasicTracerProvider;
    meterProvider?: ApiMeterProvider;
    loggerProvider?: LoggerProvider;
  },
): () => void {
  if (instrumentations.length === 0) return () => undefined;
  return registerInstrumentations({ instrumentations, ...providers });
}

export type { Instrumentation };

/**
 * The trace context a parent process handed down in the environment (TRACEPARENT, TRACESTATE: the
 * W3C headers as variables), or undefined.
 */
export function spanContextFromEnvironment(env: NodeJS.ProcessEnv): SpanContext | undefined {
  if (!env.TRACEPARENT) return undefined;
  const carrier: Record<string, string> = { traceparent: env.TRACEPARENT };
  if (env.TRACESTATE) carrier.tracestate = env.TRACESTATE;
  const extracted = new W3CTraceContextPropagator().extract(ROOT_CONTEXT, carrier, defaultTextMapGetter);
  return trace.getSpanContext(extracted);
}
