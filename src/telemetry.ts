// The Telemetry instance that register() returns: the facade of one registered run. Its parts are
// built by buildRun (the composition root) and taken down by endRun; this class holds the public
// API — loggers, meters, stages, progress, stats, flush and shutdown — and the process hooks that
// end the run on exit, Ctrl-C or an uncaught error.

import { context, type Meter, metrics, propagation } from '@opentelemetry/api';
import type { Config } from './config/index.js';
import { buildRun, CONNECT_WAIT_MS, type Run, type RunState } from './internal/buildRun.js';
import { endRun, flushRun, spillAtExit } from './internal/endRun.js';
import type { Instrumentation } from './internal/otelSdk.js';
import { attachProcessHooks } from './internal/processHooks.js';
import type { TelemetryStats } from './internal/RunSinks.js';
import type { Logger } from './logging/index.js';
import { withMonitoringDisabledContext } from './pipeline/context.js';
import { type Progress, ProgressTracker } from './pipeline/Progress.js';
import type { ProfileReport } from './pipeline/SelfCost.js';
import type { StageOptions } from './pipeline/Stages.js';

export { LIVE_KEYS } from './internal/LiveTuning.js';
export type { TelemetryStats } from './internal/RunSinks.js';
export { resolveDatabaseUrl } from './internal/runOptions.js';
export type { StageOptions } from './pipeline/Stages.js';

export class Telemetry {
  readonly experimentId: string;
  readonly config: Config;
  /** Resolves when the schema is migrated and the experiment row exists (or setup gave up). */
  readonly ready: Promise<void>;
  private readonly run: Run;
  private readonly state: RunState = { shuttingDown: false, shutdownDeadline: undefined };
  private failure: string | null = null;
  private shutdownPromise: Promise<void> | undefined;
  private readonly shutdownListeners: Array<() => void> = [];
  private readonly detachProcessHooks: () => void;

  /** Use register(); the constructor expects a resolved database URL (or none). */
  constructor(
    config: Config,
    databaseUrl: string | undefined,
    attributes: Record<string, string | number | boolean> = {},
    instrumentations: Instrumentation[] = [],
  ) {
    this.config = config;
    this.run = buildRun({ config, databaseUrl, attributes, instrumentations, state: this.state });
    this.experimentId = this.run.experimentId;
    this.ready = this.run.ready;
    this.detachProcessHooks = attachProcessHooks({
      forceFlush: () => this.forceFlush(),
      shutdown: () => this.shutdown(),
      interrupt: (signal) => this.interrupt(signal),
      fail: (error) => this.fail(error),
      crash: (error) => this.crash(error),
    });
    process.once('exit', this.onExit);
  }

  /**
   * process 'exit' before shutdown() has finished — also during one nobody awaited: what is left
   * is spooled synchronously (spillAtExit). Removed once shutdown() is done.
   */
  private readonly onExit = (code: number): void => spillAtExit(this.run, code, this.failure);

  getLogger(name: string): Logger {
    return this.run.loggers.getLogger(name);
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
      return await this.run.stages.run(name, fn, options);
    } finally {
      // logging.database.wait_for_flush: back-pressure at stage boundaries — a stage resolves only
      // once what it recorded is stored, instead of letting a fast producer outrun the queue.
      if (this.config.values.logging.database.wait_for_flush) await this.forceFlush();
    }
  }

  /**
   * An uncaught exception with no handler of the application's: the stages still running end as
   * ERROR with it recorded, running progress nodes fail with it, and the run fails — before
   * shutdown flushes them.
   */
  private crash(error: Error): void {
    this.run.stages.crash(error);
    this.fail(error);
    this.run.progressTracker?.failRunning(this.failure!);
  }

  /**
   * Ctrl-C or SIGTERM with no handler of the application's: the stages still running end as
   * ERROR (so their spans are stored), running progress nodes as interrupted, and the run as
   * failed — each with "interrupted by <signal>" — before shutdown flushes them.
   */
  private interrupt(signal: NodeJS.Signals): void {
    const reason = `interrupted by ${signal}`;
    this.run.stages.interrupt(signal, reason);
    this.run.progressTracker?.interrupt(reason);
    this.fail(reason);
  }

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
    else if (this.run.parentSpanContext && process.env.TRACEPARENT) env.TRACEPARENT = process.env.TRACEPARENT;
    if (carrier.tracestate) env.TRACESTATE = carrier.tracestate;
    return env;
  }

  /** Progress of one node of the pipeline; `advance()` does no I/O. */
  progress(nodeId: string, options: { total?: number } = {}): Progress {
    const tracker = this.run.progressTracker;
    if (!tracker) return ProgressTracker.noop(nodeId);
    return tracker.progress(nodeId, options);
  }

  /** Nothing inside fn is traced, logged to the sinks or measured. */
  withMonitoringDisabled<T>(fn: () => T): T {
    return context.with(withMonitoringDisabledContext(context.active()), fn);
  }

  stats(): TelemetryStats {
    const { selfCost, sinks } = this.run;
    sinks.buildStaged(); // their building counts in this reading's own cost, their records below
    const sinceStart = selfCost.sinceStart();
    return sinks.stats({
      cpuRatio: sinceStart.cpuOverheadPercent / 100,
      bufferBytes: selfCost.bufferBytes(),
    });
  }

  /**
   * The seed's MonitoringProfiler: pipetel's estimated CPU overhead (% of the rest of the
   * process's CPU time) and buffer memory over the window since the previous profile() call
   * (the first window starts at register()). Each call starts a new window.
   */
  profile(): ProfileReport {
    return this.run.selfCost.profile();
  }

  /** Writes everything recorded so far to the database and waits for it. */
  forceFlush(timeoutMs = this.config.values.shutdown.timeout * 1000): Promise<void> {
    return flushRun(this.run, timeoutMs);
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
    if (!this.shutdownPromise) {
      this.detachProcessHooks();
      this.shutdownPromise = endRun(
        this.run,
        this.state,
        this.config.values.shutdown.timeout * 1000,
        () => this.failure,
      ).finally(() => {
        process.removeListener('exit', this.onExit);
        for (const listener of this.shutdownListeners.splice(0)) listener();
      });
    }
    return this.shutdownPromise;
  }

  /** @internal Called when shutdown() has finished, before its promise resolves (the registry forgets this instance). */
  onShutdown(listener: () => void): void {
    this.shutdownListeners.push(listener);
  }

  /**
   * Waits for setup (migrations, the experiment row) at most maxMs — and only about a second when
   * the server has not even completed a connection by then (it accepts and never answers): the
   * pipeline does not wait on the database, the records go to the queue and the spool meanwhile.
   */
  async waitForSetup(maxMs: number): Promise<void> {
    const after = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
    let connected = false;
    void this.run.connected.then(() => {
      connected = true;
    });
    // (It used to race the connection against the second, which stopped every wait at one second:
    // a migration that took longer on a loaded machine returned before the schema existed.)
    const unanswered = after(CONNECT_WAIT_MS).then(() => {
      if (!connected) return;
      return new Promise<void>(() => undefined); // connected: only ready or maxMs end the wait
    });
    await Promise.race([this.run.ready, after(maxMs), unanswered]);
  }
}
